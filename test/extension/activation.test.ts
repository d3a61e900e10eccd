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

test('every registered command, invoked with no context, answers with what to do next and never rejects', async (t) => {
  const rejections = watchRejections(t);
  await startExtension(t, { config: { 'valor.toolServer.url': 'http://127.0.0.1:9' } });
  stub.answers = undefined;
  // showOpenDialog answers stub.openDialog (undefined: dismissed); count how often it is asked.
  let openDialogs = 0;
  Object.defineProperty(stub, 'openDialog', { configurable: true, get: () => (openDialogs++, undefined), set: () => undefined });
  t.after(() => {
    delete (stub as { openDialog?: unknown }).openDialog;
  });
  let treeRefreshes = 0;
  stub.treeProviders.get(RUNS_VIEW_ID)?.onDidChangeTreeData?.(() => treeRefreshes++);

  /** What one command visibly did. */
  interface Seen {
    messages: Array<{ severity: string; message: string; items: string[] }>;
    quickPicks: string[];
    executed: Array<[string, ...unknown[]]>;
    openDialogs: number;
    documents: Array<{ languageId: string; text: string }>;
    treeRefreshes: number;
  }
  const noActiveDoc = (verb: string) => (s: Seen): void => {
    assert.equal(s.messages.length, 1);
    assert.equal(s.messages[0]?.severity, 'error');
    assert.match(s.messages[0]?.message ?? '', new RegExp(`^${verb} failed: no \\.vprog document is active: open one, or start one from an image`));
    assert.deepEqual(s.messages[0]?.items, ['New Query from Image…']);
  };
  const expected: Record<(typeof COMMAND_IDS)[number], (s: Seen) => void> = {
    'valor.newQuery': (s) => {
      assert.equal(s.openDialogs, 1, 'asks for an image');
      assert.deepEqual(s.messages, [], 'a dismissed dialog is not an error');
    },
    'valor.generate': noActiveDoc('Generating the plan and program'),
    'valor.runProgram': noActiveDoc('Running the program'),
    'valor.replayRun': noActiveDoc('Replaying the last run'),
    'valor.analyzeSensitivity': noActiveDoc('Analyzing the answer\'s sensitivity'),
    'valor.fixWithModel': noActiveDoc('Fixing the program with the model'),
    'valor.score': noActiveDoc('Scoring'),
    'valor.verifyBoxes': noActiveDoc('Verifying boxes'),
    'valor.openRunView': noActiveDoc('Opening the run view'),
    'valor.overrideVerdict': noActiveDoc('Recording the override'),
    'valor.rejudgeReward': noActiveDoc('Re-judging'),
    'valor.rolloutGroup': noActiveDoc('Scoring the rollout group'),
    'valor.openRun': (s) => {
      assert.deepEqual(s.messages.map((m) => [m.severity, m.message]), [['warning', 'Opening the run failed: there are no runs in this workspace yet (.valor/runs is empty)']]);
    },
    'valor.showAgreement': (s) => {
      assert.equal(s.documents.length, 1, 'opens the agreement statistics');
      assert.equal(s.documents[0]?.languageId, 'markdown');
      assert.match(s.documents[0]?.text ?? '', /agreement/i);
    },
    'valor.startToolServer': (s) => {
      assert.equal(s.messages.length, 1);
      assert.equal(s.messages[0]?.severity, 'warning');
      assert.match(s.messages[0]?.message ?? '', /^Starting the tool server failed: a remote tool server is configured \(http:\/\/127\.0\.0\.1:9\); clear valor\.toolServer\.url/);
      assert.deepEqual(s.messages[0]?.items, ['Open Settings']);
    },
    'valor.stopToolServer': (s) => {
      assert.deepEqual(s.executed, [['setContext', 'valor.toolServerRunning', false]]);
      assert.deepEqual(s.messages, []);
    },
    'valor.restartToolServer': (s) => {
      assert.deepEqual(s.messages.map((m) => [m.severity, m.message]), [['info', 'Using the remote tool server at http://127.0.0.1:9; there is no embedded server to restart.']]);
    },
    'valor.showLogs': (s) => assert.deepEqual(s.executed, [['<show output>', 'VALOR']]),
    'valor.setApiKey': (s) => assert.deepEqual(s.quickPicks, ['Set the API key for…']),
    'valor.clearApiKey': (s) => assert.deepEqual(s.quickPicks, ['Forget the API key of…']),
    'valor.refreshRuns': (s) => assert.equal(s.treeRefreshes, 1),
    'valor.openSettings': (s) => assert.equal(s.executed[0]?.[0], 'workbench.action.openSettings'),
    'valor.openReviewQueue': (s) => assert.deepEqual(s.quickPicks, ['Review which judged items?']),
  };
  assert.deepEqual(Object.keys(expected).sort(), [...COMMAND_IDS].sort(), 'every command has its expectation');
  for (const id of COMMAND_IDS) {
    const m0 = stub.messages.length;
    const q0 = stub.shownQuickPicks.length;
    const e0 = stub.executed.length;
    const d0 = stub.documents.length;
    const o0 = openDialogs;
    const r0 = treeRefreshes;
    // Dialogs are dismissed (no scripted answers), so each command stops at its first question.
    await assert.doesNotReject(Promise.resolve(stub.executeCommand(id)), id);
    const seen: Seen = {
      messages: stub.messages.slice(m0).map((m) => ({ severity: m.severity, message: m.message, items: m.items })),
      quickPicks: stub.shownQuickPicks.slice(q0).map((q) => q.title ?? ''),
      executed: stub.executed.slice(e0).filter((e) => !(id !== 'valor.stopToolServer' && e.command === 'setContext')).map((e) => [e.command, ...e.args]),
      openDialogs: openDialogs - o0,
      documents: stub.documents.slice(d0).map((d) => ({ languageId: d.languageId, text: d.getText() })),
      treeRefreshes: treeRefreshes - r0,
    };
    try {
      expected[id](seen);
    } catch (err) {
      (err as Error).message = `${id}: ${(err as Error).message}\nseen: ${JSON.stringify(seen).slice(0, 600)}`;
      throw err;
    }
    for (const m of seen.messages) assert.doesNotMatch(m.message, /TypeError|ReferenceError|undefined|\[object Object\]/, `${id} shows an internal error`);
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

test('the command registry holds one spec per declared command, each in the file named for it, titled by package.json', async () => {
  await import('./harness.js');
  const { existsSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { COMMANDS } = await import('../../src/extension/commandIds.js');
  const { COMMAND_SPECS } = await import('../../src/extension/commands/registry.js');
  const root = join(__dirname, '..', '..');
  const titles = new Map(
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { contributes: { commands: Array<{ command: string; title: string }> } }).contributes.commands.map((c) => [c.command, c.title]),
  );
  assert.deepEqual(Object.keys(COMMAND_SPECS).sort(), Object.keys(COMMANDS).sort());
  for (const [key, spec] of Object.entries(COMMAND_SPECS)) {
    const file = join(root, 'src', 'extension', 'commands', `${key}.ts`);
    assert.ok(existsSync(file), `${key} lives in src/extension/commands/${key}.ts`);
    assert.match(readFileSync(file, 'utf8'), new RegExp(`export const ${key}: CommandSpec = `), `${key}.ts exports the spec named ${key}`);
    assert.ok(titles.get(COMMANDS[key as keyof typeof COMMANDS]), `${key} has its title in package.json`);
    assert.match(spec.doing, /^[A-Z][a-z-]+ing\b/, `${key}: the failure phrase names what was going on ("${spec.doing}")`);
  }
});
