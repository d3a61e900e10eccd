/**
 * The runner's launchers (src/core/runner/pool.ts), cold and warm, against real processes that
 * misbehave on cue: test/fixtures/runner/fakeWorker.mjs speaks the worker's process protocol and
 * can stay silent, fail at start, print junk, ignore a run, die with a run in flight or overflow
 * its channel, which the real python worker cannot be made to do when a test wants it. The run
 * side is a recording double of ActiveRun (only the five members a launcher uses), so each test
 * sees exactly what the launcher told the run. The real worker's behaviour end to end stays with
 * runnerLimits.test.ts and runnerLifecycle.test.ts. Written for the runner-pool mutation group
 * (docs/testing.md), which otherwise reached pool.ts only through slow end-to-end files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ColdLauncher, WarmLauncher } from '../../src/core/runner/pool.js';
import { pythonWorkerPath, workerConfig, type RunnerProcessEvent } from '../../src/core/runner/processes.js';
import { FakePython, RecordingRun, SETUP_HINT } from '../helpers/fakeWorker.js';
import { eventually, processAlive as alive } from '../helpers/scriptedTools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let fake: FakePython;
before(() => {
  fake = new FakePython();
});
after(() => fake.cleanup());

describe('ColdLauncher: one process per run', () => {
  it('starts the worker in cold mode in the run folder, hands it the request, and reports start and exit', async () => {
    const events: RunnerProcessEvent[] = [];
    const cold = new ColdLauncher(fake.path, fake.env(), 'process', (e) => events.push(e));
    const work = mkdtempSync(join(fake.dir, 'cold-'));
    const run = new RecordingRun(work);
    const from = fake.logLength();
    cold.launch(run.asRun(), run.request({ program: 'final_answer = 1', fake: 'exit:0' }));
    const told = await run.heard(2);
    const pid = run.pid!;
    assert.deepEqual(told, [
      ['started', pid],
      ['exit', 0, null],
    ]);
    assert.deepEqual(events, [{ kind: 'program', pid }]);
    const [start, request] = fake.logged(from);
    // pgrp: the process leads its own group, so killing the group takes whatever it started.
    assert.deepEqual(start, { pid, start: 'cold', script: pythonWorkerPath(), config: JSON.stringify(workerConfig('process')), cwd: work, pgrp: pid });
    assert.deepEqual(request, { pid, request: { id: run.id, program: 'final_answer = 1', fake: 'exit:0' } });
  });

  it('an exit code and a signal reach the run as numbers; no stderr means it is the program that ended so', async () => {
    const cold = new ColdLauncher(fake.path, fake.env(), 'process');
    const coded = new RecordingRun(fake.dir);
    cold.launch(coded.asRun(), coded.request({ fake: 'exit:3' }));
    assert.deepEqual((await coded.heard(2)).at(-1), ['exit', 3, null]);
    const killed = new RecordingRun(fake.dir);
    cold.launch(killed.asRun(), killed.request({ fake: 'killed' }));
    assert.deepEqual((await killed.heard(2)).at(-1), ['exit', null, 9]);
  });

  it('what the worker said on stderr before failing makes a set-up error, not a program result', async () => {
    const cold = new ColdLauncher(fake.path, fake.env(), 'process');
    const run = new RecordingRun(fake.dir);
    cold.launch(run.asRun(), run.request({ fake: 'setup-fails' }));
    const told = await run.heard(2);
    assert.equal(told[0]![0], 'started');
    assert.deepEqual(told[1], ['failed', 'RunnerSetupError', `The Python worker (${fake.path}) failed to start (exit code 1):\nTraceback (most recent call last):\nModuleNotFoundError: no module named numpy\n${SETUP_HINT}`]);
  });

  it('a python that does not exist fails the launch with what to set, and nothing else is told', async () => {
    const missing = join(fake.dir, 'no-such-python');
    const cold = new ColdLauncher(missing, fake.env(), 'process');
    const run = new RecordingRun(fake.dir);
    cold.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python executable '${missing}' was not found. ${SETUP_HINT}`]]);
    await sleep(200);
    assert.equal(run.told.length, 1);
  });

  it('dispose kills the process groups of runs still going, but not of runs released', async () => {
    const cold = new ColdLauncher(fake.path, fake.env(), 'process');
    const going = new RecordingRun(fake.dir);
    const released = new RecordingRun(fake.dir);
    cold.launch(going.asRun(), going.request({ fake: 'sleep' }));
    cold.launch(released.asRun(), released.request({ fake: 'sleep' }));
    await going.heard(1);
    await released.heard(1);
    fake.stray.push(going.pid!, released.pid!);
    cold.release(released.asRun());
    cold.dispose();
    await eventually(() => !alive(going.pid!), 15_000, 'the running process to be killed');
    assert.deepEqual((await going.heard(2)).at(-1), ['exit', null, 9]);
    await sleep(300);
    assert.ok(alive(released.pid!), 'a released run is not the launcher’s to kill');
    process.kill(released.pid!, 'SIGKILL');
  });
});

describe('WarmLauncher: one parent, a process per run', () => {
  it('junk before ready is ignored; the worker is started warm in the scratch folder; runs start and exit; events for other runs are ignored', async () => {
    const events: RunnerProcessEvent[] = [];
    const warm = new WarmLauncher(fake.path, fake.env(), 'sandbox', async () => fake.dir, 60_000, (e) => events.push(e));
    try {
      assert.equal(warm.workerPid, null, 'no worker before the first run');
      const from = fake.logLength();
      const run = new RecordingRun(fake.dir);
      warm.launch(run.asRun(), run.request({ program: 'x = 1', fake: 'exit:5' }));
      const told = await run.heard(2);
      const worker = warm.workerPid!;
      assert.ok(worker > 0);
      assert.deepEqual(told, [
        ['started', run.pid!],
        ['exit', 5, null],
      ]);
      assert.deepEqual(events, [
        { kind: 'worker', pid: worker },
        { kind: 'program', pid: run.pid! },
      ]);
      const [start, request] = fake.logged(from);
      assert.equal(start!.pid, worker);
      assert.deepEqual([start!.start, start!.script, start!.cwd, JSON.parse(String(start!.config)).isolation, start!.pgrp], ['warm', pythonWorkerPath(), fake.dir, 'sandbox', worker]);
      assert.deepEqual(request, { pid: worker, request: { op: 'run', id: run.id, program: 'x = 1', fake: 'exit:5' } });
      // The same worker takes the next run.
      const second = new RecordingRun(fake.dir);
      warm.launch(second.asRun(), second.request({ fake: 'exit:0' }));
      assert.deepEqual((await second.heard(2)).at(-1), ['exit', 0, null]);
      assert.equal(warm.workerPid, worker);
      assert.equal(fake.logged(from).filter((l) => 'start' in l).length, 1, 'one worker for both runs');
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that never says ready fails the run with the start timeout, and is killed', async () => {
    const warm = new WarmLauncher(fake.path, fake.env('silent'), 'process', async () => fake.dir, 400);
    const before = fake.launched().length;
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python worker (${fake.path}) failed to start (no answer within 0.4 s)\n${SETUP_HINT}`]]);
    const pids = fake.launched().slice(before);
    assert.equal(pids.length, 1);
    await eventually(() => !alive(pids[0]!), 15_000, 'the silent worker to be killed');
    await warm.dispose();
  });

  it('a worker that fails before ready: its stderr and exit code in the set-up error; the next run tries a new worker', async () => {
    const warm = new WarmLauncher(fake.path, fake.env('fails'), 'process', async () => fake.dir, 60_000);
    const before = fake.launched().length;
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python worker (${fake.path}) failed to start (exited with code 4):\nworker.py: something went wrong\nRuntimeError: cannot start\n${SETUP_HINT}`]]);
    assert.equal(warm.workerPid, null, 'a dead worker is not reported as the worker');
    const again = new RecordingRun(fake.dir);
    warm.launch(again.asRun(), again.request());
    assert.equal((await again.heard(1))[0]![0], 'failed');
    assert.equal(fake.launched().length - before, 2, 'a new worker for the second run');
    await warm.dispose();
  });

  it('a worker that dies with a run started fails that run with its pid and how it died; the next run gets a new worker', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    try {
      const run = new RecordingRun(fake.dir);
      warm.launch(run.asRun(), run.request({ fake: 'die' }));
      await run.heard(1);
      const worker = warm.workerPid!;
      fake.stray.push(run.pid!);
      assert.deepEqual((await run.heard(2))[1], ['died', `(pid ${worker}) exited with code 3`]);
      const next = new RecordingRun(fake.dir);
      warm.launch(next.asRun(), next.request({ fake: 'exit:0' }));
      assert.deepEqual((await next.heard(2)).at(-1), ['exit', 0, null]);
      assert.notEqual(warm.workerPid, worker);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker killed from outside: the run started on it is told it was killed, by signal name', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    try {
      const run = new RecordingRun(fake.dir);
      warm.launch(run.asRun(), run.request({ fake: 'sleep' }));
      await run.heard(1);
      fake.stray.push(run.pid!);
      const worker = warm.workerPid!;
      process.kill(worker, 'SIGKILL');
      assert.deepEqual((await run.heard(2))[1], ['died', `(pid ${worker}) was killed by SIGKILL`]);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that does not start a run within the start timeout is replaced once; a second that does not either fails the run', async () => {
    const timeout = await fake.startTimeout();
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, timeout);
    const from = fake.logLength();
    const before = fake.launched().length;
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request({ fake: 'nofork' }));
    assert.deepEqual(await run.heard(1), [['died', 'did not start the program']]);
    const starts = fake.launched().slice(before);
    assert.equal(starts.length, 2, 'the hung worker was replaced once');
    assert.deepEqual(
      fake.logged(from).filter((l) => 'request' in l).map((l) => l.pid),
      starts,
      'the run was sent to each',
    );
    for (const pid of starts) await eventually(() => !alive(pid), 15_000, `hung worker ${pid} to be killed`);
    await warm.dispose();
  });

  it('a run that was not started when its worker hung goes to the next worker and runs there', async () => {
    const timeout = await fake.startTimeout();
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, timeout);
    try {
      // Two runs on the first worker: one it starts, then one it ignores. The ignored one's timer
      // kills the worker: the started run is lost with it, the other is retried.
      const ignored = new RecordingRun(fake.dir);
      const started = new RecordingRun(fake.dir);
      warm.launch(started.asRun(), started.request({ fake: 'sleep' }));
      await started.heard(1);
      fake.stray.push(started.pid!);
      const first = warm.workerPid!;
      warm.launch(ignored.asRun(), ignored.request({ fake: 'nofork' }));
      assert.deepEqual((await started.heard(2))[1], ['died', `(pid ${first}) stopped answering`]);
      // The retry on the new worker is ignored too (same request), so it ends as not started.
      assert.deepEqual(await ignored.heard(1), [['died', 'did not start the program']]);
    } finally {
      await warm.dispose();
    }
  });

  it('a run released after it was sent but before its process was reported: that process is killed when it is, and the run hears nothing', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    try {
      await warm.acquire();
      const from = fake.logLength();
      const run = new RecordingRun(fake.dir);
      // The fake starts this one half a second after it got it.
      warm.launch(run.asRun(), run.request({ fake: 'slow' }));
      await eventually(() => fake.logged(from).some((l) => 'request' in l), 15_000, 'the worker to get the request');
      warm.release(run.asRun());
      await eventually(() => fake.logged(from).some((l) => 'program' in l), 15_000, 'the worker to start the program');
      const program = Number(fake.logged(from).find((l) => 'program' in l)!.program);
      fake.stray.push(program);
      await eventually(() => !alive(program), 15_000, 'the orphaned program to be killed');
      assert.deepEqual(run.told, []);
      // The worker carries on.
      const next = new RecordingRun(fake.dir);
      warm.launch(next.asRun(), next.request({ fake: 'exit:0' }));
      assert.deepEqual((await next.heard(2)).at(-1), ['exit', 0, null]);
    } finally {
      await warm.dispose();
    }
  });

  it('a run that ended while waiting for the worker is never sent to it', async () => {
    let letGo: (d: string) => void = () => undefined;
    const gate = new Promise<string>((r) => (letGo = r));
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', () => gate, 60_000);
    try {
      const from = fake.logLength();
      const run = new RecordingRun(fake.dir);
      warm.launch(run.asRun(), run.request({ fake: 'exit:0' }));
      run.exited = true; // cancelled meanwhile
      letGo(fake.dir);
      await warm.acquire();
      await sleep(300);
      assert.deepEqual(run.told, []);
      assert.equal(fake.logged(from).filter((l) => 'request' in l).length, 0);
    } finally {
      await warm.dispose();
    }
  });

  it('one worker is started for runs asked for together', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    try {
      const from = fake.logLength();
      const runs = [new RecordingRun(fake.dir), new RecordingRun(fake.dir), new RecordingRun(fake.dir)];
      for (const r of runs) warm.launch(r.asRun(), r.request({ fake: 'exit:0' }));
      for (const r of runs) assert.deepEqual((await r.heard(2)).at(-1), ['exit', 0, null]);
      assert.equal(fake.logged(from).filter((l) => 'start' in l).length, 1);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that floods its event channel without a newline is killed: a started run is told why, one not started yet is retried', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    try {
      const before = fake.launched().length;
      const started = new RecordingRun(fake.dir);
      warm.launch(started.asRun(), started.request({ fake: 'sleep' }));
      await started.heard(1);
      fake.stray.push(started.pid!);
      const first = warm.workerPid!;
      const flooding = new RecordingRun(fake.dir);
      warm.launch(flooding.asRun(), flooding.request({ fake: 'flood' }));
      assert.deepEqual((await started.heard(2))[1], ['died', `(pid ${first}) sent an oversized message`]);
      // Retried once on a new worker, which floods too.
      assert.deepEqual(await flooding.heard(1), [['died', 'did not start the program']]);
      assert.equal(fake.launched().length - before, 2);
    } finally {
      await warm.dispose();
    }
  });

  it('dispose kills the worker and waits for it; a run asked for afterwards fails; a second dispose is harmless', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    await warm.acquire();
    const worker = warm.workerPid!;
    await warm.dispose();
    assert.equal(alive(worker), false, 'gone when dispose resolves');
    assert.equal(warm.workerPid, null);
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'Error', 'ProgramRunner was disposed']]);
    await warm.dispose();
  });

  it('a run not started yet when the launcher is disposed is not retried: it is told the runner was shut down', async () => {
    const warm = new WarmLauncher(fake.path, fake.env(), 'process', async () => fake.dir, 60_000);
    const run = new RecordingRun(fake.dir);
    warm.launch(run.asRun(), run.request({ fake: 'nofork' }));
    await eventually(() => fake.logged().some((l) => (l.request as { id?: string } | undefined)?.id === run.id), 15_000, 'the request to arrive');
    await warm.dispose();
    assert.deepEqual(await run.heard(1), [['died', 'was shut down']]);
  });
});
