/**
 * The integration suite inside a real VS Code (loaded by @vscode/test-electron through
 * runElectron.ts): activation, commands, opening a `.vprog`, and running it against the
 * protocol-speaking fixture tool server with the real python3 runner. A tiny sequential runner
 * (no test framework inside the extension host); `run` throws when a test fails.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';
import type { ValorExtensionApi } from '../../src/extension/main.js';

const tests: Array<[string, () => Promise<void>]> = [];
const test = (name: string, fn: () => Promise<void>) => tests.push([name, fn]);

const workspace = process.env.VALOR_E2E_WORKSPACE ?? '';
let api: ValorExtensionApi;
let tools: ProtocolToolServer | undefined;

const DOC = (program: string) =>
  `# image: scene.png\n# query: How many mugs are there?\n\n<plan>\n1. Detect the mugs.\n2. Count them.\n</plan>\n<answer>\n${program}\n</answer>\n`;

async function waitFor<T>(what: string, get: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the extension activates and registers every contributed command', async () => {
  const ext = vscode.extensions.getExtension<ValorExtensionApi>('valor-studio.valor-studio');
  assert.ok(ext, 'the extension under development is installed');
  api = await ext.activate();
  const manifest = ext.packageJSON as { contributes: { commands: Array<{ command: string }> } };
  const registered = new Set(await vscode.commands.getCommands(true));
  for (const c of manifest.contributes.commands) assert.ok(registered.has(c.command), `${c.command} is registered`);
});

test('a .vprog document gets the vprog language and the Run / Score / Verify CodeLens', async () => {
  const path = join(workspace, 'count.vprog');
  writeFileSync(path, DOC('mugs = gd_detect(img_pth, "mug")\nfinal_answer = len(mugs)'));
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
  assert.equal(doc.languageId, 'vprog');
  await vscode.window.showTextDocument(doc);
  const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
  const titles = lenses.map((l) => l.command?.title ?? '');
  assert.ok(titles.some((t) => t.includes('Run')), titles.join(', '));
  assert.ok(titles.some((t) => t.includes('Score')));
  assert.ok(titles.some((t) => t.includes('Verify boxes')));
});

test('running the document against the fixture tool server records the run and its answer', async () => {
  tools = await startProtocolToolServer({
    objects: [
      { label: 'mug', bbox: [20, 100, 60, 150], score: 0.9 },
      { label: 'mug', bbox: [80, 100, 120, 150], score: 0.8 },
    ],
  });
  await vscode.workspace.getConfiguration('valor').update('toolServer.url', tools.url, vscode.ConfigurationTarget.Workspace);
  await vscode.workspace.getConfiguration('valor').update('run.openViewAfterRun', true, vscode.ConfigurationTarget.Workspace);
  await api.keys.set('toolServer', tools.token);
  const uri = vscode.Uri.file(join(workspace, 'count.vprog'));
  await vscode.commands.executeCommand('valor.runProgram', uri);
  const stored = await waitFor('the run', () => api.store.get(uri.toString()).run);
  assert.equal(stored.record.error, null, JSON.stringify(stored.record.error));
  assert.equal(stored.record.final_answer, 2);
  const runs = join(workspace, '.valor', 'runs');
  assert.ok(existsSync(runs));
  const files = readdirSync(runs).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1);
  assert.equal(JSON.parse(readFileSync(join(runs, files[0]!), 'utf8')).final_answer, 2);
  assert.ok(tools.calls.some((c) => c.route === '/v1/detect'), 'the tool server was called');
});

test('a runtime error shows in the Problems panel on its document line', async () => {
  const path = join(workspace, 'broken.vprog');
  writeFileSync(path, DOC('mugs = gd_detect(img_pth, "mug")\nfinal_answer = mugs[9]["bbox"]'));
  const uri = vscode.Uri.file(path);
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  await vscode.commands.executeCommand('valor.runProgram', uri);
  const diag = await waitFor('the runtime diagnostic', () => vscode.languages.getDiagnostics(uri).find((d) => d.code === 'runtime'));
  // Program line 2 is document line 9 (0-based): header (2) + blank + plan (4) + <answer> + line 1.
  assert.equal(diag.range.start.line, 9);
  assert.match(diag.message, /IndexError/);
});

export async function run(): Promise<void> {
  const failed: string[] = [];
  try {
    for (const [name, fn] of tests) {
      try {
        await fn();
        console.log(`ok - ${name}`);
      } catch (err) {
        failed.push(name);
        console.error(`not ok - ${name}\n${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  } finally {
    await tools?.close();
  }
  if (failed.length > 0) throw new Error(`${failed.length} of ${tests.length} VS Code tests failed: ${failed.join('; ')}`);
}
