// The architecture's import and globals rules (docs/architecture.md "Rules") are enforced, not
// only written down: ESLint's Node API lints small in-memory files with a forbidden import under
// each folder (at two depths, since a relative path reaches a folder through a depth-dependent
// number of `../`), and the TypeScript compiler checks snippets with each part's tsconfig options,
// so a rule that vanished from eslint.config.mjs or a tsconfig fails here.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { REPO } from '../helpers/cli.js';

let eslint: ESLint;
before(() => {
  eslint = new ESLint({ cwd: REPO });
});

/** Messages of `no-restricted-imports` for `code` as if it were the file at `path`. */
async function restricted(path: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(REPO, path) });
  assert.ok(r, 'ESLint returned a result');
  const fatal = r.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${path} parses`);
  return r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const use = (spec: string) => `import * as m from '${spec}';\nexport const x = m;\n`;

// [file, specifier that must be refused, what the message must say]
const FORBIDDEN: Array<[string, string, RegExp]> = [
  ['webview/x.ts', '../src/core/lineTrace.js', /webview\/ imports only webview\/ and src\/protocol\//],
  ['webview/panels/x.ts', '../../src/core/replay.js', /webview\/ imports only/],
  ['webview/panels/x.ts', '../../test/helpers/cli.js', /webview\/ imports only/],
  ['webview/x.ts', '../src/extension/runPanel.js', /webview\/ imports only/],
  ['webview/x.ts', 'node:fs', /Only zod/],
  ['webview/stage/x.ts', 'sharp', /Only zod/],
  ['webview/x.ts', 'vscode', /Only src\/extension may import vscode/],
  ['src/server/x.ts', '../extension/runPanel.js', /src\/server never imports src\/extension or src\/cli/],
  ['src/server/sub/x.ts', '../../cli/main.js', /src\/server never imports/],
  ['src/server/x.ts', 'vscode', /Only src\/extension/],
  ['src/core/x.ts', 'vscode', /Only src\/extension/],
  ['src/core/x.ts', '../extension/main.js', /src\/core never imports src\/extension, src\/cli, src\/host or src\/server/],
  ['src/core/x.ts', '../host/webviewHtml.js', /src\/core never imports/],
  ['src/host/x.ts', '../extension/main.js', /src\/host never imports src\/extension or src\/cli/],
  ['src/host/x.ts', '../cli/config.js', /src\/host never imports/],
  ['src/host/x.ts', 'vscode', /Only src\/extension/],
  ['src/core/eval/x.ts', '../../cli/config.js', /src\/core never imports/],
  ['src/core/runner/x.ts', '../../server/http.js', /src\/core never imports/],
  ['src/protocol/x.ts', '../core/replay.js', /src\/protocol imports only other src\/protocol files/],
  ['src/protocol/x.ts', 'node:path', /Only zod/],
  ['src/protocol/x.ts', 'vscode', /Only src\/extension/],
  ['src/cli/commands/x.ts', '../../extension/commands.js', /src\/cli never imports src\/extension/],
  ['src/cli/x.ts', 'vscode', /Only src\/extension/],
];

// Imports each folder may make (the rules must not refuse the architecture itself).
const ALLOWED: Array<[string, string]> = [
  ['webview/x.ts', '../src/protocol/run.js'],
  ['webview/panels/x.ts', '../../src/protocol/webview.js'],
  ['webview/panels/x.ts', '../dom.js'],
  ['webview/x.ts', 'zod'],
  ['src/protocol/x.ts', './run.js'],
  ['src/protocol/x.ts', 'zod'],
  ['src/core/x.ts', '../protocol/run.js'],
  ['src/core/eval/x.ts', '../../protocol/run.js'],
  ['src/core/x.ts', 'node:fs'],
  ['src/server/x.ts', '../core/diskCache.js'],
  ['src/cli/commands/x.ts', '../../core/replay.js'],
  ['src/extension/x.ts', 'vscode'],
  ['src/extension/x.ts', '../cli/config.js'],
  ['src/extension/x.ts', '../host/webviewHtml.js'],
  ['src/cli/commands/x.ts', '../../host/runViewPage.js'],
  ['src/host/x.ts', '../core/runStore.js'],
];

describe('lint boundaries', () => {
  for (const [file, spec, message] of FORBIDDEN) {
    test(`${file} may not import ${spec}`, async () => {
      const got = await restricted(file, use(spec));
      assert.equal(got.length, 1, `one error, got ${JSON.stringify(got)}`);
      assert.match(got[0]!, message);
    });
  }
  test('the imports the architecture makes are allowed', async () => {
    for (const [file, spec] of ALLOWED) assert.deepEqual(await restricted(file, use(spec)), [], `${file} importing ${spec}`);
  });
  test('a type-only import and a re-export are checked too', async () => {
    assert.equal((await restricted('webview/x.ts', "import type { RunRecord } from '../src/core/runStore.js';\nexport type R = RunRecord;\n")).length, 1);
    assert.equal((await restricted('src/protocol/x.ts', "export { replayRecord } from '../core/replay.js';\n")).length, 1);
  });
});

/** Diagnostics of `code` compiled with the options of the tsconfig at `config` (a repo path). */
function compile(config: string, code: string): string[] {
  const path = join(REPO, config);
  const read = ts.readConfigFile(path, ts.sys.readFile);
  assert.equal(read.error, undefined);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, join(path, '..'));
  const file = join(REPO, config, '..', '__snippet.ts');
  const host = ts.createCompilerHost(parsed.options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (f) => (f === file ? code : readFile(f));
  host.fileExists = (f) => f === file || fileExists(f);
  const program = ts.createProgram([file], parsed.options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('tsconfig globals', () => {
  test('src/ (Node) has Node\u2019s types and no DOM', () => {
    assert.deepEqual(compile('src/tsconfig.json', 'export const b = Buffer.from("x"); export const r = fetch;\n'), []);
    assert.match(compile('src/tsconfig.json', 'export const t = document.title;\n').join('\n'), /Cannot find name 'document'/);
  });
  test('webview/ (the browser) has the DOM and no Node types', () => {
    assert.deepEqual(compile('webview/tsconfig.json', 'export const t = document.title;\n'), []);
    assert.match(compile('webview/tsconfig.json', 'export const p = process.env;\n').join('\n'), /Cannot find name 'process'/);
    assert.match(compile('webview/tsconfig.json', 'export const b = Buffer.from("x");\n').join('\n'), /Cannot find name 'Buffer'/);
  });
  test('src/protocol/ is checked under the browser config too', () => {
    const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(join(REPO, 'webview/tsconfig.json'), ts.sys.readFile).config, ts.sys, join(REPO, 'webview'));
    const protocol = parsed.fileNames.filter((f) => f.includes('/src/protocol/'));
    assert.ok(protocol.some((f) => f.endsWith('/src/protocol/run.ts')), 'run.ts is in the browser program');
    assert.ok(!parsed.fileNames.some((f) => f.includes('/src/core/')), 'no src/core file is');
  });
});
