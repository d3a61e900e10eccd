import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_IDS, RUNS_VIEW_ID, RUN_VIEW_TYPE } from '../../src/extension/commandIds.js';
import { startExtension, stub, watchRejections } from './harness.js';

test('activation registers every declared command and the providers, and leaves heavy modules unloaded', async (t) => {
  const rejections = watchRejections(t);
  const h = await startExtension(t);
  assert.deepEqual([...stub.commands.keys()].sort(), [...COMMAND_IDS].sort());
  assert.equal(stub.codeLensProviders.length, 1);
  assert.equal(stub.hoverProviders.length, 2, 'scores, and line values of the last run');
  assert.ok(stub.treeProviders.has(RUNS_VIEW_ID));
  assert.ok(stub.serializers.has(RUN_VIEW_TYPE));
  const item = stub.statusItems.find((s) => s.id === 'valor.toolServer');
  assert.ok(item?.visible);
  assert.match(item.text, /VALOR tools/);
  assert.equal(item.command, 'valor.showLogs');
  assert.match(stub.outputText('VALOR'), /VALOR Studio activated \(trusted workspace\)/);

  const loaded = Object.keys(require.cache);
  assert.ok(loaded.some((p) => p.includes('/src/extension/main.ts')), 'the check below can see loaded modules');
  for (const heavy of ['/node_modules/openai/', '/src/core/llmClient.ts', '/src/core/runner/', '/src/core/rewards/score.ts', '/src/core/grounding/verifier.ts', '/src/core/pipeline.ts', '/node_modules/sharp/']) {
    assert.ok(!loaded.some((p) => p.includes(heavy)), `${heavy} is loaded only on first use`);
  }

  // Without an editor, a document command explains what to do instead of throwing.
  await stub.executeCommand('valor.runProgram');
  const m = stub.messages.at(-1);
  assert.equal(m?.severity, 'error');
  assert.match(m!.message, /no \.vprog document is active/);
  assert.deepEqual(m!.items, ['New Query from Image…']);

  await h.stop();
  assert.equal(stub.commands.size, 0, 'every registration is disposed with the extension');
  assert.deepEqual(rejections, []);
});

test('every registered command runs without an unhandled rejection when invoked with no context', async (t) => {
  const rejections = watchRejections(t);
  await startExtension(t, { config: { 'valor.toolServer.url': 'http://127.0.0.1:9' } });
  stub.answers = undefined;
  for (const id of COMMAND_IDS) {
    // Dialogs are dismissed (no scripted answers), so each command stops at its first question.
    await assert.doesNotReject(Promise.resolve(stub.executeCommand(id)), id);
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(rejections, []);
});

test('the built bundle dist/extension.js activates too, registering every command, with no native package loaded', async (t) => {
  const { existsSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { ROOT } = await import('./harness.js');
  const { createExtensionContext, resetStub, addWorkspaceFolder } = await import('../helpers/vscodeStub.js');
  const bundle = join(ROOT, 'dist', 'extension.js');
  if (!existsSync(bundle)) {
    // `npm test` builds first; a lone run of this file builds the bundles itself.
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
  }
  const rejections = watchRejections(t);
  resetStub();
  addWorkspaceFolder(ROOT);
  const { createRequire } = await import('node:module');
  const ext = createRequire(__filename)(bundle) as { activate(ctx: unknown): Promise<{ supervisor: unknown }>; deactivate(): Promise<void> };
  const ctx = createExtensionContext(ROOT);
  t.after(async () => {
    await ctx.disposeAll();
    await ext.deactivate();
  });
  const api = await ext.activate(ctx);
  assert.ok(api.supervisor);
  assert.deepEqual([...stub.commands.keys()].sort(), [...COMMAND_IDS].sort());
  const natives = Object.keys(require.cache).filter((p) => /node_modules\/(sharp|onnxruntime-node|@huggingface)\//.test(p));
  assert.deepEqual(natives, [], 'native and model packages load on first use only');
  assert.deepEqual(rejections, []);
});
