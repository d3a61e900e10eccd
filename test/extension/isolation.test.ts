// The extension's side of the isolation setting: the setting is read and validated (user scope
// only, so a workspace cannot weaken it), and a refused sandbox is shown with the setting to open,
// not with the numpy hint of other set-up errors; the status bar item says which mode is in force.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { readConfig } from '../../src/extension/config.js';
import { describeFailure } from '../../src/extension/errors.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';
import { startExtension, stub, watchRejections } from './harness.js';

test('valor.run.isolation: sandbox by default, process when set, machine scope, bad values reported', () => {
  assert.equal(readConfig(() => undefined).config.run.isolation, 'sandbox');
  assert.equal(readConfig((k) => (k === 'run.isolation' ? 'process' : undefined)).config.run.isolation, 'process');
  const bad = readConfig((k) => (k === 'run.isolation' ? 'off' : undefined));
  assert.equal(bad.config.run.isolation, 'sandbox');
  assert.deepEqual(bad.problems.map((p) => p.key), ['valor.run.isolation']);
  const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { contributes: { configuration: { properties: Record<string, { scope?: string; enum?: string[] }> }[] } };
  const prop = manifest.contributes.configuration.map((c) => c.properties['valor.run.isolation']).find(Boolean);
  assert.equal(prop?.scope, 'machine');
  assert.deepEqual(prop?.enum, ['sandbox', 'process']);
});

test('a refused sandbox is shown with what is missing and the setting to open', { skip: process.platform !== 'linux' && 'simulates a Linux kernel without Landlock' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'valor-ext-iso-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, 'python3-without-landlock');
  writeFileSync(wrapper, `#!/bin/sh\nexec python3 ${JSON.stringify(resolve('test/helpers/python_without_landlock.py'))} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const runner = new ProgramRunner({ python: wrapper });
  t.after(() => runner.dispose());
  const err = await runner.run({ program: 'final_answer = 1', imagePath: '/i.png', tools: new ScriptedTools() }).then(
    () => assert.fail('the run should be refused'),
    (e: unknown) => e,
  );
  const f = describeFailure(err, { doing: 'Run' });
  assert.ok(f);
  assert.match(f.message, /^Run failed: the OS sandbox for programs is not available here: missing Landlock/);
  assert.match(f.message, /valor\.run\.isolation/);
  assert.doesNotMatch(f.message, /numpy/);
  assert.deepEqual(f.actions[0], { kind: 'openSettings', query: 'valor.run.isolation' });
});

test('the tool server status bar item shows the isolation setting in force, and follows a change', async (t) => {
  const rejections = watchRejections(t);
  const h = await startExtension(t);
  const item = () => stub.statusItems.find((s) => s.id === 'valor.toolServer')!;
  assert.match(String(item().tooltip), /Programs run in the OS sandbox \(Landlock \+ seccomp; valor\.run\.isolation is "sandbox"\)/);
  assert.doesNotMatch(item().text, /no sandbox/);
  assert.equal(item().backgroundColor, undefined);

  stub.setConfig('valor.run.isolation', 'process');
  assert.match(item().text, /^\$\(circle-outline\) VALOR tools \$\(warning\) no sandbox$/);
  assert.match(String(item().tooltip), /Programs run without the OS sandbox \(valor\.run\.isolation is "process"\)/);
  assert.equal(item().backgroundColor?.id, 'statusBarItem.warningBackground');

  stub.setConfig('valor.run.isolation', 'sandbox');
  assert.doesNotMatch(item().text, /no sandbox/);
  await h.stop();
  assert.deepEqual(rejections, []);
});

test('a socket failure is told by its code, not its text: refused is the tool server, a message that merely mentions ECONNREFUSED is not', () => {
  const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
  const f = describeFailure(refused, { doing: 'Run' });
  assert.ok(f);
  assert.match(f.message, /^Run failed: the tool server did not answer/);
  assert.deepEqual(f.actions[0], { kind: 'restartServer' });
  const g = describeFailure(new Error('the judge said: ECONNREFUSED is a socket error'), { doing: 'Run' });
  assert.ok(g);
  assert.doesNotMatch(g.message, /tool server/);
});
