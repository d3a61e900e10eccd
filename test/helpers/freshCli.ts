/**
 * A bundle of the `valor` CLI built from the current sources, for tests that must run the real
 * command as a child process but cannot rely on dist/ being up to date (a plain
 * `node scripts/run-tests.mjs` after editing). Same esbuild settings as scripts/build.mjs; the
 * bundle lives under test-artifacts/ (git-ignored) inside the repo, so packages resolve from
 * node_modules. One bundle per test process, so parallel test files never write the same file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { REPO } from './cli.js';

let built: Promise<string> | undefined;

export function freshCli(): Promise<string> {
  built ??= (async () => {
    const dir = join(REPO, 'test-artifacts', 'cli');
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, `cli-${process.pid}.js`);
    await esbuild.build({
      entryPoints: [join(REPO, 'src', 'cli', 'main.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      sourcemap: true,
      logLevel: 'error',
      external: ['vscode', 'onnxruntime-node', 'sharp', '@huggingface/transformers'],
    });
    return outfile;
  })();
  return built;
}
