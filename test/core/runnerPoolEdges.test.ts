/**
 * The launchers' edges that the runner-pool mutation run found unchecked (docs/testing.md): what
 * a worker says on stderr and how that becomes a set-up error or not, a worker whose stdin is gone,
 * a python path that cannot be spawned at all, an event split across chunks, a CLI left to finish
 * while its worker is alive, and what a run on a disposed worker is told. Same stand-in worker as
 * runnerPool.test.ts (test/fixtures/runner/fakeWorker.mjs), real processes throughout.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ColdLauncher, WarmLauncher } from '../../src/core/runner/pool.js';
import type { RunnerProcessEvent } from '../../src/core/runner/processes.js';
import { FakePython, RecordingRun, SETUP_HINT } from '../helpers/fakeWorker.js';
import { eventually, processAlive as alive } from '../helpers/scriptedTools.js';

let fake: FakePython;
before(() => {
  fake = new FakePython();
});
after(() => fake.cleanup());

describe('ColdLauncher: stderr, pipes and spawn failures', () => {
  const cold = () => new ColdLauncher(fake.path, fake.env(), 'process');

  it('a long start-up complaint keeps its end: the last lines, the real error among them, are in the set-up error', async () => {
    const run = new RecordingRun(fake.dir);
    cold().launch(run.asRun(), run.request({ fake: 'long-stderr' }));
    const told = await run.heard(2);
    const dots = '.'.repeat(60);
    const last = [395, 396, 397, 398, 399].map((i) => `warning ${i}: ${dots}`).join('\n');
    assert.deepEqual(told[1], ['failed', 'RunnerSetupError', `The Python worker (${fake.path}) failed to start (exit code 1):\n${last}\nModuleNotFoundError: no module named numpy\n${SETUP_HINT}`]);
  });

  it('stderr is not a failure by itself: a warning and exit 0 is a normal end, blank stderr and exit 2 is the program’s exit', async () => {
    const warned = new RecordingRun(fake.dir);
    cold().launch(warned.asRun(), warned.request({ fake: 'warn-ok' }));
    assert.deepEqual((await warned.heard(2))[1], ['exit', 0, null]);
    const blank = new RecordingRun(fake.dir);
    cold().launch(blank.asRun(), blank.request({ fake: 'blank-stderr' }));
    assert.deepEqual((await blank.heard(2))[1], ['exit', 2, null]);
  });

  it('a worker killed by a signal after saying something on stderr: the set-up error names the signal', async () => {
    const run = new RecordingRun(fake.dir);
    cold().launch(run.asRun(), run.request({ fake: 'stderr-killed' }));
    assert.deepEqual((await run.heard(2))[1], ['failed', 'RunnerSetupError', `The Python worker (${fake.path}) failed to start (killed by SIGKILL):\nFatal Python error: Segmentation fault\n${SETUP_HINT}`]);
  });

  it('the worker’s stdout is not a pipe nobody reads: a megabyte written there does not block it', async () => {
    const run = new RecordingRun(fake.dir);
    cold().launch(run.asRun(), run.request({ fake: 'chatty' }));
    assert.deepEqual((await run.heard(2))[1], ['exit', 0, null]);
  });

  it('a worker that exits without reading its request: the failed write is no crash, and its exit is reported', async () => {
    const launcher = new ColdLauncher(fake.path, fake.env('exit-now'), 'process');
    const run = new RecordingRun(fake.dir);
    // A request larger than a pipe holds, so the write fails with EPIPE for certain.
    launcher.launch(run.asRun(), run.request({ program: 'x'.repeat(1024 * 1024) }));
    assert.deepEqual((await run.heard(2))[1], ['exit', 0, null]);
  });

  it('a python path that cannot even be spawned (a NUL byte in it) fails the launch with the reason', () => {
    const bad = '/usr/bin/python\0x';
    const run = new RecordingRun(fake.dir);
    new ColdLauncher(bad, fake.env(), 'process').launch(run.asRun(), run.request());
    assert.deepEqual(run.told, [
      ['failed', 'RunnerSetupError', `The Python executable '${bad}' could not be started (The argument 'file' must be a string without null bytes. Received '/usr/bin/python\\x00x'). ${SETUP_HINT}`],
    ]);
  });
});

describe('WarmLauncher: spawn failures, chunks, pipes and disposal', () => {
  it('a python that does not exist: the run is told what to set, and no worker is reported', async () => {
    const missing = join(fake.dir, 'no-such-python');
    const warm = new WarmLauncher(missing, fake.env(), 'process', async () => fake.dir, 60_000);
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python executable '${missing}' was not found. ${SETUP_HINT}`]]);
    assert.equal(warm.workerPid, null);
    await warm.dispose();
  });

  it('a python that appears after a failed start is used by the next run: the failure is not kept', async () => {
    const later = join(fake.dir, 'python-installed-later');
    const warm = new WarmLauncher(later, fake.env(), 'process', async () => fake.dir, 60_000);
    try {
      const first = new RecordingRun(fake.dir);
      warm.launch(first.asRun(), first.request());
      assert.equal((await first.heard(1))[0]![0], 'failed');
      copyFileSync(fake.path, later);
      chmodSync(later, 0o755);
      const second = new RecordingRun(fake.dir);
      warm.launch(second.asRun(), second.request({ fake: 'exit:0' }));
      assert.deepEqual((await second.heard(2)).at(-1), ['exit', 0, null]);
    } finally {
      await warm.dispose();
    }
  });

  it('an event that arrives in two chunks is read whole', async () => {
    const events: RunnerProcessEvent[] = [];
    const warm = new WarmLauncher(fake.path, fake.env('split'), 'process', async () => fake.dir, 60_000, (e) => events.push(e));
    try {
      await warm.acquire();
      assert.ok(warm.workerPid !== null);
      assert.deepEqual(events, [{ kind: 'worker', pid: warm.workerPid }]);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that stops reading its stdin: the failed write is no crash; the run is retried once, then told it did not start', async () => {
    const timeout = await fake.startTimeout();
    const warm = new WarmLauncher(fake.path, fake.env('deaf'), 'process', async () => fake.dir, timeout);
    try {
      const run = new RecordingRun(fake.dir);
      warm.launch(run.asRun(), run.request({ program: 'x'.repeat(1024 * 1024) }));
      assert.deepEqual(await run.heard(1), [['died', 'did not start the program']]);
    } finally {
      await warm.dispose();
    }
  });

  it('a run started on the worker when the launcher is disposed is told the worker was disposed', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request({ fake: 'sleep' }));
    await run.heard(1);
    fake.stray.push(run.pid!);
    const worker = warm.workerPid!;
    await warm.dispose();
    assert.deepEqual((await run.heard(2))[1], ['died', `(pid ${worker}) was disposed`]);
  });

  it('a CLI that is done is not kept alive by its idle worker', async () => {
    // A separate node process makes a launcher, starts a worker and returns: it must exit on its own.
    const script = [
      `const pool = await import(${JSON.stringify(join(__dirname, '..', '..', 'src', 'core', 'runner', 'pool.ts'))});`,
      'const { WarmLauncher } = pool.default ?? pool;',
      `const w = new WarmLauncher(${JSON.stringify(fake.path)}, ${JSON.stringify(fake.env())}, 'process', async () => ${JSON.stringify(fake.dir)}, 60000);`,
      'await w.acquire();',
      'console.log(w.workerPid);',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // A guard so that a kept-alive CLI fails the test instead of hanging it.
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    clearTimeout(guard);
    const worker = Number(out.trim());
    fake.stray.push(worker);
    assert.deepEqual([code, sig], [0, null], 'the CLI ended by itself');
    assert.ok(worker > 0, out);
    // The worker then sees its stdin close and goes too.
    await eventually(() => !alive(worker), 15_000, 'the idle worker to go once its CLI is gone');
  });
});
