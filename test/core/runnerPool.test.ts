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
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ActiveRun } from '../../src/core/runner/activeRun.js';
import { ColdLauncher, WarmLauncher } from '../../src/core/runner/pool.js';
import { pythonWorkerPath, workerConfig, type RunnerProcessEvent } from '../../src/core/runner/processes.js';
import { eventually, processAlive as alive } from '../helpers/scriptedTools.js';

const FAKE = resolve(__dirname, '..', 'fixtures', 'runner', 'fakeWorker.mjs');
const HINT = "Set the runner's `python` option or the VALOR_PYTHON environment variable to a Python 3.8+ executable with numpy installed.";

type Told = ['started', number] | ['exit', number | null, number | null] | ['failed', string, string] | ['died', string];

/** What a launcher may call on a run, recorded in order. */
class RecordingRun {
  static count = 0;
  readonly id = `fake-run-${++RecordingRun.count}`;
  pid: number | null = null;
  exited = false;
  readonly told: Told[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly workDir: string) {}
  private tell(t: Told): void {
    this.told.push(t);
    for (const w of this.waiters.splice(0)) w();
  }
  onStarted(pid: number): void {
    this.pid = pid;
    this.tell(['started', pid]);
  }
  onExit(code: number | null, sig: number | null): void {
    this.exited = true;
    this.tell(['exit', code, sig]);
  }
  onLaunchFailed(err: Error): void {
    this.exited = true;
    this.tell(['failed', err.name, err.message]);
  }
  onWorkerDied(description: string): void {
    this.exited = true;
    this.tell(['died', description]);
  }
  /** Resolves once the run has been told `n` things. */
  async heard(n: number, what = `${n} calls`): Promise<Told[]> {
    const deadline = Date.now() + 30_000;
    while (this.told.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; heard ${JSON.stringify(this.told)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.told;
  }
  /** A request as ActiveRun makes one: it carries the run's id, which the worker's events name. */
  request(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { id: this.id, ...extra };
  }
  asRun(): ActiveRun {
    return this as unknown as ActiveRun;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let launcher: string;
let logFile: string;
let launchedFile: string;
const stray: number[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'valor-pool-'));
  // The "python" the launchers start: a shell script that runs the fake worker on this node.
  launcher = join(dir, 'fake-python');
  // It notes its pid first (exec keeps it), so a worker killed before node is up is still seen.
  launchedFile = join(dir, 'launched.txt');
  writeFileSync(launcher, `#!/bin/sh\necho $$ >> "${launchedFile}"\nexec "${process.execPath}" "${FAKE}" "$@"\n`);
  chmodSync(launcher, 0o755);
  logFile = join(dir, 'log.jsonl');
});

after(() => {
  for (const pid of stray) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function env(behaviour = 'ok'): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', FAKE_WORKER: behaviour, FAKE_LOG: logFile };
}

/** The log lines the fake workers wrote, from `from` on. */
function logged(from = 0): Record<string, unknown>[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .slice(from)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const logLength = () => logged().length;

/** The pids of the "python" processes started so far. */
function launched(): number[] {
  if (!existsSync(launchedFile)) return [];
  return readFileSync(launchedFile, 'utf8').trim().split('\n').filter(Boolean).map(Number);
}

/** How long a fake worker takes to be ready here now, for start timeouts that a slow machine still meets. */
async function startTimeout(): Promise<number> {
  const w = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
  const t0 = Date.now();
  await w.acquire();
  const ms = Date.now() - t0;
  await w.dispose();
  return Math.max(1500, 4 * ms);
}

describe('ColdLauncher: one process per run', () => {
  it('starts the worker in cold mode in the run folder, hands it the request, and reports start and exit', async () => {
    const events: RunnerProcessEvent[] = [];
    const cold = new ColdLauncher(launcher, env(), 'process', (e) => events.push(e));
    const work = mkdtempSync(join(dir, 'cold-'));
    const run = new RecordingRun(work);
    const from = logLength();
    cold.launch(run.asRun(), run.request({ program: 'final_answer = 1', fake: 'exit:0' }));
    const told = await run.heard(2);
    const pid = run.pid!;
    assert.deepEqual(told, [
      ['started', pid],
      ['exit', 0, null],
    ]);
    assert.deepEqual(events, [{ kind: 'program', pid }]);
    const [start, request] = logged(from);
    assert.deepEqual(start, { pid, start: 'cold', script: pythonWorkerPath(), config: JSON.stringify(workerConfig('process')), cwd: work });
    assert.deepEqual(request, { pid, request: { id: run.id, program: 'final_answer = 1', fake: 'exit:0' } });
  });

  it('an exit code and a signal reach the run as numbers; no stderr means it is the program that ended so', async () => {
    const cold = new ColdLauncher(launcher, env(), 'process');
    const coded = new RecordingRun(dir);
    cold.launch(coded.asRun(), coded.request({ fake: 'exit:3' }));
    assert.deepEqual((await coded.heard(2)).at(-1), ['exit', 3, null]);
    const killed = new RecordingRun(dir);
    cold.launch(killed.asRun(), killed.request({ fake: 'killed' }));
    assert.deepEqual((await killed.heard(2)).at(-1), ['exit', null, 9]);
  });

  it('what the worker said on stderr before failing makes a set-up error, not a program result', async () => {
    const cold = new ColdLauncher(launcher, env(), 'process');
    const run = new RecordingRun(dir);
    cold.launch(run.asRun(), run.request({ fake: 'setup-fails' }));
    const told = await run.heard(2);
    assert.equal(told[0]![0], 'started');
    assert.deepEqual(told[1], ['failed', 'RunnerSetupError', `The Python worker (${launcher}) failed to start (exit code 1):\nTraceback (most recent call last):\nModuleNotFoundError: no module named numpy\n${HINT}`]);
  });

  it('a python that does not exist fails the launch with what to set, and nothing else is told', async () => {
    const missing = join(dir, 'no-such-python');
    const cold = new ColdLauncher(missing, env(), 'process');
    const run = new RecordingRun(dir);
    cold.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python executable '${missing}' was not found. ${HINT}`]]);
    await sleep(200);
    assert.equal(run.told.length, 1);
  });

  it('dispose kills the process groups of runs still going, but not of runs released', async () => {
    const cold = new ColdLauncher(launcher, env(), 'process');
    const going = new RecordingRun(dir);
    const released = new RecordingRun(dir);
    cold.launch(going.asRun(), going.request({ fake: 'sleep' }));
    cold.launch(released.asRun(), released.request({ fake: 'sleep' }));
    await going.heard(1);
    await released.heard(1);
    stray.push(going.pid!, released.pid!);
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
    const warm = new WarmLauncher(launcher, env(), 'sandbox', async () => dir, 60_000, (e) => events.push(e));
    try {
      assert.equal(warm.workerPid, null, 'no worker before the first run');
      const from = logLength();
      const run = new RecordingRun(dir);
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
      const [start, request] = logged(from);
      assert.equal(start!.pid, worker);
      assert.deepEqual([start!.start, start!.script, start!.cwd, JSON.parse(String(start!.config)).isolation], ['warm', pythonWorkerPath(), dir, 'sandbox']);
      assert.deepEqual(request, { pid: worker, request: { op: 'run', id: run.id, program: 'x = 1', fake: 'exit:5' } });
      // The same worker takes the next run.
      const second = new RecordingRun(dir);
      warm.launch(second.asRun(), second.request({ fake: 'exit:0' }));
      assert.deepEqual((await second.heard(2)).at(-1), ['exit', 0, null]);
      assert.equal(warm.workerPid, worker);
      assert.equal(logged(from).filter((l) => 'start' in l).length, 1, 'one worker for both runs');
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that never says ready fails the run with the start timeout, and is killed', async () => {
    const warm = new WarmLauncher(launcher, env('silent'), 'process', async () => dir, 400);
    const before = launched().length;
    const run = new RecordingRun(dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python worker (${launcher}) failed to start (no answer within 0.4 s)\n${HINT}`]]);
    const pids = launched().slice(before);
    assert.equal(pids.length, 1);
    await eventually(() => !alive(pids[0]!), 15_000, 'the silent worker to be killed');
    await warm.dispose();
  });

  it('a worker that fails before ready: its stderr and exit code in the set-up error; the next run tries a new worker', async () => {
    const warm = new WarmLauncher(launcher, env('fails'), 'process', async () => dir, 60_000);
    const before = launched().length;
    const run = new RecordingRun(dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'RunnerSetupError', `The Python worker (${launcher}) failed to start (exited with code 4):\nworker.py: something went wrong\nRuntimeError: cannot start\n${HINT}`]]);
    assert.equal(warm.workerPid, null, 'a dead worker is not reported as the worker');
    const again = new RecordingRun(dir);
    warm.launch(again.asRun(), again.request());
    assert.equal((await again.heard(1))[0]![0], 'failed');
    assert.equal(launched().length - before, 2, 'a new worker for the second run');
    await warm.dispose();
  });

  it('a worker that dies with a run started fails that run with its pid and how it died; the next run gets a new worker', async () => {
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    try {
      const run = new RecordingRun(dir);
      warm.launch(run.asRun(), run.request({ fake: 'die' }));
      await run.heard(1);
      const worker = warm.workerPid!;
      stray.push(run.pid!);
      assert.deepEqual((await run.heard(2))[1], ['died', `(pid ${worker}) exited with code 3`]);
      const next = new RecordingRun(dir);
      warm.launch(next.asRun(), next.request({ fake: 'exit:0' }));
      assert.deepEqual((await next.heard(2)).at(-1), ['exit', 0, null]);
      assert.notEqual(warm.workerPid, worker);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker killed from outside: the run started on it is told it was killed, by signal name', async () => {
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    try {
      const run = new RecordingRun(dir);
      warm.launch(run.asRun(), run.request({ fake: 'sleep' }));
      await run.heard(1);
      stray.push(run.pid!);
      const worker = warm.workerPid!;
      process.kill(worker, 'SIGKILL');
      assert.deepEqual((await run.heard(2))[1], ['died', `(pid ${worker}) was killed by SIGKILL`]);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that does not start a run within the start timeout is replaced once; a second that does not either fails the run', async () => {
    const timeout = await startTimeout();
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, timeout);
    const from = logLength();
    const before = launched().length;
    const run = new RecordingRun(dir);
    warm.launch(run.asRun(), run.request({ fake: 'nofork' }));
    assert.deepEqual(await run.heard(1), [['died', 'did not start the program']]);
    const starts = launched().slice(before);
    assert.equal(starts.length, 2, 'the hung worker was replaced once');
    assert.deepEqual(
      logged(from).filter((l) => 'request' in l).map((l) => l.pid),
      starts,
      'the run was sent to each',
    );
    for (const pid of starts) await eventually(() => !alive(pid), 15_000, `hung worker ${pid} to be killed`);
    await warm.dispose();
  });

  it('a run that was not started when its worker hung goes to the next worker and runs there', async () => {
    const timeout = await startTimeout();
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, timeout);
    try {
      // Two runs on the first worker: one it starts, then one it ignores. The ignored one's timer
      // kills the worker: the started run is lost with it, the other is retried.
      const ignored = new RecordingRun(dir);
      const started = new RecordingRun(dir);
      warm.launch(started.asRun(), started.request({ fake: 'sleep' }));
      await started.heard(1);
      stray.push(started.pid!);
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
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    try {
      await warm.acquire();
      const from = logLength();
      const run = new RecordingRun(dir);
      // The fake starts this one half a second after it got it.
      warm.launch(run.asRun(), run.request({ fake: 'slow' }));
      await eventually(() => logged(from).some((l) => 'request' in l), 15_000, 'the worker to get the request');
      warm.release(run.asRun());
      await eventually(() => logged(from).some((l) => 'program' in l), 15_000, 'the worker to start the program');
      const program = Number(logged(from).find((l) => 'program' in l)!.program);
      stray.push(program);
      await eventually(() => !alive(program), 15_000, 'the orphaned program to be killed');
      assert.deepEqual(run.told, []);
      // The worker carries on.
      const next = new RecordingRun(dir);
      warm.launch(next.asRun(), next.request({ fake: 'exit:0' }));
      assert.deepEqual((await next.heard(2)).at(-1), ['exit', 0, null]);
    } finally {
      await warm.dispose();
    }
  });

  it('a run that ended while waiting for the worker is never sent to it', async () => {
    let letGo: (d: string) => void = () => undefined;
    const gate = new Promise<string>((r) => (letGo = r));
    const warm = new WarmLauncher(launcher, env(), 'process', () => gate, 60_000);
    try {
      const from = logLength();
      const run = new RecordingRun(dir);
      warm.launch(run.asRun(), run.request({ fake: 'exit:0' }));
      run.exited = true; // cancelled meanwhile
      letGo(dir);
      await warm.acquire();
      await sleep(300);
      assert.deepEqual(run.told, []);
      assert.equal(logged(from).filter((l) => 'request' in l).length, 0);
    } finally {
      await warm.dispose();
    }
  });

  it('one worker is started for runs asked for together', async () => {
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    try {
      const from = logLength();
      const runs = [new RecordingRun(dir), new RecordingRun(dir), new RecordingRun(dir)];
      for (const r of runs) warm.launch(r.asRun(), r.request({ fake: 'exit:0' }));
      for (const r of runs) assert.deepEqual((await r.heard(2)).at(-1), ['exit', 0, null]);
      assert.equal(logged(from).filter((l) => 'start' in l).length, 1);
    } finally {
      await warm.dispose();
    }
  });

  it('a worker that floods its event channel without a newline is killed: a started run is told why, one not started yet is retried', async () => {
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    try {
      const before = launched().length;
      const started = new RecordingRun(dir);
      warm.launch(started.asRun(), started.request({ fake: 'sleep' }));
      await started.heard(1);
      stray.push(started.pid!);
      const first = warm.workerPid!;
      const flooding = new RecordingRun(dir);
      warm.launch(flooding.asRun(), flooding.request({ fake: 'flood' }));
      assert.deepEqual((await started.heard(2))[1], ['died', `(pid ${first}) sent an oversized message`]);
      // Retried once on a new worker, which floods too.
      assert.deepEqual(await flooding.heard(1), [['died', 'did not start the program']]);
      assert.equal(launched().length - before, 2);
    } finally {
      await warm.dispose();
    }
  });

  it('dispose kills the worker and waits for it; a run asked for afterwards fails; a second dispose is harmless', async () => {
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    await warm.acquire();
    const worker = warm.workerPid!;
    await warm.dispose();
    assert.equal(alive(worker), false, 'gone when dispose resolves');
    assert.equal(warm.workerPid, null);
    const run = new RecordingRun(dir);
    warm.launch(run.asRun(), run.request());
    assert.deepEqual(await run.heard(1), [['failed', 'Error', 'ProgramRunner was disposed']]);
    await warm.dispose();
  });

  it('a run not started yet when the launcher is disposed is not retried: it is told the runner was shut down', async () => {
    const warm = new WarmLauncher(launcher, env(), 'process', async () => dir, 60_000);
    const run = new RecordingRun(dir);
    warm.launch(run.asRun(), run.request({ fake: 'nofork' }));
    await eventually(() => logged().some((l) => (l.request as { id?: string } | undefined)?.id === run.id), 15_000, 'the request to arrive');
    await warm.dispose();
    assert.deepEqual(await run.heard(1), [['died', 'was shut down']]);
  });
});
