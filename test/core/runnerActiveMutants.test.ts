/**
 * One run in progress (src/core/runner/activeRun.ts) driven directly, in-process: the run is given
 * a real Unix socket server in a real scratch folder, the program's side of its socket is a socket
 * of this test, and the program's process is a real one (`sh`, or `sleep` leading its own process
 * group, as the cold launcher starts it) whose exit is reported to the run as a launcher reports
 * it, or held back. That way each ordering the launchers can produce (a call before the process is
 * reported, an exit before the socket's last data, a worker that dies, an exit report that never
 * comes) is forced here at will, which a python3 child does only by chance. The time limits are
 * read off node's mock timers, so no test waits for them. Written for the runner-active mutation
 * group (docs/testing.md), whose other test files reach this module only through whole runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { ProgramOutcome } from '../../src/protocol/run.js';
import { ActiveRun, EXIT_WAIT_MS, type Launcher, type RunSettings } from '../../src/core/runner/activeRun.js';
import { signalNumber, workerConfig } from '../../src/core/runner/processes.js';
import { ScriptedTools, deferred, processAlive } from '../helpers/scriptedTools.js';

const IMG = '/images/desk.png';
/** Limits long enough never to fire in a test that does not mock the timers. */
const SETTINGS: RunSettings = { timeoutMs: 60_000, memoryMB: 512, maxStdoutBytes: 1024, killGraceMs: 2000, startTimeoutMs: 60_000, isolation: 'process', lineTrace: false };
/** Limits for the tests that read the timers off node's mock clock. */
const SHORT: Partial<RunSettings> = { timeoutMs: 2500, startTimeoutMs: 1000, killGraceMs: 500 };
const TEST = { timeout: 30_000 };

// The real clock, kept before any test mocks setTimeout.
const realSetTimeout = globalThis.setTimeout.bind(globalThis);
const realDelay = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await realDelay(10);
  }
}

/** Whether `p` is still unsettled after `ms` of real time (it cannot settle by itself in these tests). */
async function stillPending(p: Promise<unknown>, ms = 150): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await realDelay(ms);
  return !settled;
}

class TestLauncher implements Launcher {
  readonly requests: Record<string, unknown>[] = [];
  released = 0;
  constructor(private readonly onLaunch?: (run: ActiveRun) => void) {}
  launch(run: ActiveRun, request: Record<string, unknown>): void {
    this.requests.push(request);
    this.onLaunch?.(run);
  }
  release(): void {
    this.released++;
  }
}

interface Setup {
  run: ActiveRun;
  launcher: TestLauncher;
  server: Server;
  dir: string;
  tools: ScriptedTools;
}

async function setUp(t: TestContext, o: { tools?: ScriptedTools; settings?: Partial<RunSettings>; onLaunch?: (run: ActiveRun) => void; program?: string } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'valor-active-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'work'));
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(join(dir, 's'), resolve);
  });
  t.after(() => server.close());
  const tools = o.tools ?? new ScriptedTools();
  const launcher = new TestLauncher(o.onLaunch);
  const run = new ActiveRun({ program: o.program ?? 'final_answer = 1', imagePath: IMG, tools }, { ...SETTINGS, ...o.settings }, dir, server, launcher);
  return { run, launcher, server, dir, tools };
}

/**
 * A real process standing in for the program's, leading its own process group; reported started
 * to the run, and its exit reported as the cold launcher does (signal names as numbers) unless
 * `report` is false.
 */
function startProcess(t: TestContext, run: ActiveRun, o: { script?: string; report?: boolean } = {}): { pid: number; gone: Promise<void> } {
  const proc = spawn('sh', ['-c', o.script ?? 'exec sleep 60'], { detached: true, stdio: 'ignore' });
  const pid = proc.pid!;
  t.after(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  });
  const gone = new Promise<void>((resolve) =>
    proc.on('exit', (code, sig) => {
      if (o.report !== false) run.onExit(code, sig === null ? null : signalNumber(sig));
      resolve();
    }),
  );
  run.onStarted(pid);
  return { pid, gone };
}

interface Child {
  sock: Socket;
  /** The run's end of the connection. */
  serverSide: Socket;
  answers: unknown[];
  closed: Promise<void>;
  /** Writes the messages (objects as JSON, strings as they are), one a line, and waits until the run has read them. */
  send(...msgs: unknown[]): Promise<void>;
  /** The n-th answer the run wrote back (1-based), once it has come. */
  answer(n: number): Promise<unknown>;
}

/** The program's side of the run's socket. */
async function connectChild(t: TestContext, s: Setup): Promise<Child> {
  // The run's own 'connection' listener was added first, so it has taken the socket when this one fires.
  const accepted = once(s.server, 'connection') as Promise<[Socket]>;
  const sock = connect(s.run.socketPath);
  sock.on('error', () => undefined);
  t.after(() => sock.destroy());
  const [serverSide] = await accepted;
  // Waiters are checked whenever either end reads something or the run's end closes.
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of [...waiters]) w();
  };
  const waitFor = (cond: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!cond()) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  let received = 0;
  serverSide.on('data', (d: string) => {
    received += Buffer.byteLength(d);
    changed();
  });
  serverSide.on('close', changed);
  let sent = 0;
  const answers: unknown[] = [];
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      answers.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
    changed();
  });
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  return {
    sock,
    serverSide,
    answers,
    closed,
    async send(...msgs) {
      const text = `${msgs.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n')}\n`;
      sent += Buffer.byteLength(text);
      sock.write(text);
      await waitFor(() => received >= sent || serverSide.destroyed);
    },
    async answer(n) {
      await waitFor(() => answers.length >= n);
      return answers[n - 1];
    },
  };
}

const call = (tool: string, args: Record<string, unknown>, line: number | null, variable: string | null = null) => ({ t: 'call', tool, args, line, variable });
const done = (extra: Record<string, unknown> = {}) => ({ t: 'done', ok: true, final_answer: null, error: null, ...extra });
const errorOf = (o: ProgramOutcome) => o.error;
/** A tool that never answers, recording the signal it was given. */
function hangingVqa(): { tools: ScriptedTools; signal: () => AbortSignal | undefined } {
  let signal: AbortSignal | undefined;
  const tools = new ScriptedTools({
    vqa: (_i, _b, _p, s) => {
      signal = s;
      return new Promise<string>(() => undefined);
    },
  });
  return { tools, signal: () => signal };
}

const ENDED_IN_CALL = 'the run ended while this call was in progress';

describe('a run: its request and its start', () => {
  it('tells the worker the program, the image, its own socket, folders and limits in the units the worker reads', TEST, async (t) => {
    const s = await setUp(t, { settings: { timeoutMs: 2500, memoryMB: 768, maxStdoutBytes: 4096, isolation: 'sandbox', lineTrace: true }, program: 'final_answer = 7' });
    const expected = {
      id: s.run.id,
      ...workerConfig('sandbox'),
      program: 'final_answer = 7',
      img_pth: IMG,
      socket: join(s.dir, 's'),
      cwd: join(s.dir, 'work'),
      stdout_path: join(s.dir, 'stdout'),
      timeout_s: 2.5,
      memory_mb: 768,
      max_stdout: 4096,
      line_trace: true,
    };
    assert.deepEqual(s.run.request(), expected);
    assert.equal(expected.isolation, 'sandbox');
    s.run.start(undefined);
    assert.deepEqual(s.launcher.requests, [expected], 'start hands the launcher that request');
    const other = await setUp(t);
    assert.notEqual(other.run.id, s.run.id, 'each run has its own id (the warm worker tells runs apart by it)');
    s.run.fail({ type: 'Cancelled', message: 'done with it', line: null });
    await s.run.outcome;
  });

  it('a signal aborted already ends the run as Cancelled with nothing launched, and everything of the run is gone', TEST, async (t) => {
    const s = await setUp(t);
    const ac = new AbortController();
    ac.abort();
    s.run.start(ac.signal);
    const o = await s.run.outcome;
    assert.deepEqual({ ...o, ms: 0 }, {
      ok: false,
      final_answer: null,
      error: { type: 'Cancelled', message: 'the run was cancelled', line: null },
      trace: [],
      stdout: '',
      stdout_truncated: false,
      img_pth_reassigned: false,
      ms: 0,
      isolation: 'process',
    });
    assert.deepEqual(s.launcher.requests, [], 'no process asked for');
    assert.equal(s.launcher.released, 1);
    assert.equal(s.server.listening, false, 'the socket server is closed');
    assert.equal(existsSync(s.dir), false, 'the scratch folder is removed');
  });

  it('a signal shared by many runs keeps a listener only while a run is in progress', TEST, async (t) => {
    const ac = new AbortController();
    for (let i = 0; i < 3; i++) {
      const s = await setUp(t);
      s.run.start(ac.signal);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
      startProcess(t, s.run);
      const c = await connectChild(t, s);
      await c.send(done({ final_answer: i }));
      assert.equal((await s.run.outcome).final_answer, i);
      await realDelay(0);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0, `run ${i} left its listener`);
    }
  });

  it('aborting during a tool call: Cancelled, the call marked and its tool told to stop, the process group killed', TEST, async (t) => {
    const { tools, signal } = hangingVqa();
    const s = await setUp(t, { tools });
    const ac = new AbortController();
    const t0 = performance.now();
    s.run.start(ac.signal);
    const p = startProcess(t, s.run);
    const c = await connectChild(t, s);
    await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'Is it day?' }, 3, 'day'));
    await until(() => signal() !== undefined, 'the tool call');
    assert.equal(signal()!.aborted, false);
    ac.abort();
    const o = await s.run.outcome;
    const waited = performance.now() - t0;
    assert.deepEqual(errorOf(o), { type: 'Cancelled', message: 'the run was cancelled', line: null });
    assert.equal(o.trace.length, 1);
    assert.deepEqual(o.trace[0]!.error, { type: 'Cancelled', message: ENDED_IN_CALL });
    assert.equal(signal()!.aborted, true, 'the tool is told to stop');
    assert.equal(processAlive(p.pid), false, 'the process is gone when the run reports');
    await c.closed;
    // Durations are the run's own: no more than the time this test waited for it.
    assert.ok(o.ms >= 0 && o.ms <= waited, `run ${o.ms} ms, waited ${waited} ms`);
    assert.ok(o.trace[0]!.ms >= 0 && o.trace[0]!.ms <= o.ms, `call ${o.trace[0]!.ms} ms, run ${o.ms} ms`);
  });

  it('the last resort: with no process ever reported, Timeout after the time limit, start-up allowance, kill grace and exit wait', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const s = await setUp(t, { settings: SHORT });
    s.run.start(undefined);
    // 2500 + 1000 + 500 + 5000 ms.
    assert.equal(EXIT_WAIT_MS, 5000);
    t.mock.timers.tick(8999);
    assert.equal(await stillPending(s.run.outcome), true, 'not before 9 s');
    t.mock.timers.tick(1);
    const o = await s.run.outcome;
    assert.deepEqual(errorOf(o), { type: 'Timeout', message: 'the run did not finish within 3.5 s (time limit plus start-up allowance) and was stopped', line: null });
    assert.equal(s.launcher.released, 1);
  });
});

describe('a run: its process', () => {
  it('a process reported after the run ended is killed at once', TEST, async (t) => {
    const s = await setUp(t);
    const ac = new AbortController();
    s.run.start(ac.signal);
    ac.abort();
    assert.equal(errorOf(await s.run.outcome)?.type, 'Cancelled', 'a run with no process yet ends at once');
    const p = startProcess(t, s.run, { report: false });
    await until(() => !processAlive(p.pid), 'the late process to be killed');
  });

  it('a call sent before the process is reported is answered once it is; a second such call is a protocol violation', TEST, async (t) => {
    const s = await setUp(t);
    s.run.start(undefined);
    const c = await connectChild(t, s);
    await c.send(call('gd_detect', { img_pth: IMG, prompt: 'cup' }, 1, 'cups'));
    assert.equal(s.tools.calls.length, 0, 'held until the process is known');
    startProcess(t, s.run);
    assert.deepEqual(await c.answer(1), { t: 'result', ok: true, value: [{ bbox: [10, 20, 90, 120], label: 'cup', score: 0.9 }] });
    await c.send(done({ final_answer: 'one cup' }));
    const o = await s.run.outcome;
    assert.equal(o.final_answer, 'one cup');
    assert.deepEqual(o.trace.map((e) => [e.index, e.tool, e.line, e.variable]), [[0, 'gd_detect', 1, 'cups']]);
    assert.ok(o.trace[0]!.ms >= 0 && o.trace[0]!.ms <= o.ms, `call ${o.trace[0]!.ms} ms, run ${o.ms} ms`);

    const twice = await setUp(t);
    twice.run.start(undefined);
    const c2 = await connectChild(t, twice);
    await c2.send(call('gd_detect', { img_pth: IMG, prompt: 'cup' }, 1), call('depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, 2));
    assert.deepEqual(errorOf(await twice.run.outcome), {
      type: 'ProtocolViolation',
      message: "the program's process sent a tool call while another was being answered; the run was stopped",
      line: 2,
    });
    assert.equal(twice.tools.calls.length, 0);
  });

  it('a result sent before the process is reported: the held call is dropped and the process killed when it is reported', TEST, async (t) => {
    const s = await setUp(t);
    s.run.start(undefined);
    const c = await connectChild(t, s);
    await c.send(call('gd_detect', { img_pth: IMG, prompt: 'cup' }, 1, 'cups'), done({ final_answer: 'early' }));
    const p = startProcess(t, s.run);
    // As when the process is known at `done`: it goes now, not at its time limit.
    await until(() => !processAlive(p.pid), 'the process to be killed');
    const o = await s.run.outcome;
    assert.equal(o.final_answer, 'early');
    assert.deepEqual(o.trace, [], 'no call is made for a run that has its result');
    assert.deepEqual(s.tools.calls, []);
  });

  it('a second call before the first is answered ends the run on its line, the first call marked', TEST, async (t) => {
    const { tools, signal } = hangingVqa();
    const s = await setUp(t, { tools });
    s.run.start(undefined);
    const p = startProcess(t, s.run);
    const c = await connectChild(t, s);
    await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, 3));
    await until(() => signal() !== undefined, 'the first call');
    await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'q2' }, 5));
    const o = await s.run.outcome;
    assert.deepEqual(errorOf(o), { type: 'ProtocolViolation', message: "the program's process sent a tool call while another was being answered; the run was stopped", line: 5 });
    assert.deepEqual(o.trace.map((e) => [e.line, e.error]), [[3, { type: 'ProtocolViolation', message: ENDED_IN_CALL }]]);
    assert.equal(signal()!.aborted, true);
    assert.equal(processAlive(p.pid), false);
  });

  it('the 1000th tool call is answered; the 1001st ends the run as ToolCallLimit on its line', TEST, async (t) => {
    const s = await setUp(t);
    s.run.start(undefined);
    startProcess(t, s.run);
    const c = await connectChild(t, s);
    for (let i = 1; i <= 1000; i++) {
      await c.send(call('depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, 2));
      assert.deepEqual(await c.answer(i), { t: 'result', ok: true, value: 3 });
    }
    await c.send(call('depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, 9));
    const o = await s.run.outcome;
    assert.deepEqual(errorOf(o), { type: 'ToolCallLimit', message: 'the program made more than 1000 tool calls; a VALOR program needs a few (look for a loop around gd_detect, depth or vqa)', line: 9 });
    assert.equal(o.trace.length, 1000);
    assert.equal(s.tools.calls.length, 1000);
  });

  it("the backstop after the process started: Timeout after the time limit and kill grace, on the line of the call in flight, or none", TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const message = 'the program did not finish within its 2.5 s time limit and was stopped; look for a loop that never ends, or raise the timeout';
    const { tools, signal } = hangingVqa();
    const s = await setUp(t, { tools, settings: SHORT });
    s.run.start(undefined);
    const p = startProcess(t, s.run);
    const c = await connectChild(t, s);
    await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, 7));
    await until(() => signal() !== undefined, 'the call');
    t.mock.timers.tick(2999);
    // Ending the run tells the tool to stop at once: it has not been told before 3 s.
    assert.equal(signal()!.aborted, false, 'not before 3 s');
    assert.equal(await stillPending(s.run.outcome), true, 'not before 3 s');
    t.mock.timers.tick(1);
    const o = await s.run.outcome;
    assert.deepEqual(errorOf(o), { type: 'Timeout', message, line: 7 });
    assert.deepEqual(o.trace[0]!.error, { type: 'Timeout', message: ENDED_IN_CALL });
    assert.equal(signal()!.aborted, true);
    assert.equal(processAlive(p.pid), false);

    const idle = await setUp(t, { settings: SHORT });
    idle.run.start(undefined);
    startProcess(t, idle.run);
    t.mock.timers.tick(3000);
    assert.deepEqual(errorOf(await idle.run.outcome), { type: 'Timeout', message, line: null });
  });

  it('a process that exits without connecting is judged half a second later, by its exit code or signal', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    for (const [script, how] of [
      ['exit 3', 'exited with code 3 without reporting a result'],
      ['kill -KILL $$', 'was killed by SIGKILL without reporting a result; it may have run out of memory'],
      ['kill -TERM $$', 'was killed by SIGTERM without reporting a result'],
    ] as const) {
      const s = await setUp(t);
      s.run.start(undefined);
      await startProcess(t, s.run, { script }).gone;
      t.mock.timers.tick(499);
      assert.equal(await stillPending(s.run.outcome), true, `${script}: a connection may still be queued`);
      t.mock.timers.tick(1);
      assert.deepEqual(errorOf(await s.run.outcome), { type: 'WorkerCrash', message: `the program's Python process ${how}`, line: null }, script);
    }
  });

  it('a connection still queued when the exit is reported is heard', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const s = await setUp(t);
    s.run.start(undefined);
    await startProcess(t, s.run, { script: 'exit 0' }).gone;
    t.mock.timers.tick(499);
    const c = await connectChild(t, s);
    await c.send(done({ final_answer: 'late but whole' }));
    const o = await s.run.outcome;
    assert.equal(o.error, null);
    assert.equal(o.final_answer, 'late but whole');
  });

  it('an exit reported while the socket is open waits for the socket: its last data counts', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const s = await setUp(t);
    s.run.start(undefined);
    const c = await connectChild(t, s);
    await startProcess(t, s.run, { script: 'exit 0' }).gone;
    t.mock.timers.tick(1000);
    assert.equal(await stillPending(s.run.outcome), true);
    await c.send(done({ final_answer: 'after the exit' }));
    c.sock.end();
    assert.equal((await s.run.outcome).final_answer, 'after the exit');
  });

  it('the socket closing without a result is judged at the exit, whichever comes first', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const crash = { type: 'WorkerCrash', message: "the program's Python process exited with code 0 without reporting a result", line: null };
    // Exit first, then the socket closes: judged on the close, no timer.
    const first = await setUp(t);
    first.run.start(undefined);
    const c1 = await connectChild(t, first);
    await startProcess(t, first.run, { script: 'exit 0' }).gone;
    c1.sock.end();
    assert.deepEqual(errorOf(await first.run.outcome), crash);
    // The socket closes first, then the exit: judged at once (a zero-delay timer).
    const second = await setUp(t);
    second.run.start(undefined);
    const c2 = await connectChild(t, second);
    c2.sock.end();
    await once(c2.serverSide, 'close');
    await startProcess(t, second.run, { script: 'exit 0' }).gone;
    t.mock.timers.tick(0);
    assert.deepEqual(errorOf(await second.run.outcome), crash);
  });

  it('the warm parent dying ends the run as WorkerCrash on the line in flight and kills the program, with no exit report to wait for', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { tools, signal } = hangingVqa();
    const s = await setUp(t, { tools });
    s.run.start(undefined);
    const p = startProcess(t, s.run, { report: false });
    const c = await connectChild(t, s);
    await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, 4));
    await until(() => signal() !== undefined, 'the call');
    s.run.onWorkerDied('(pid 1234) was killed by SIGKILL');
    const o = await s.run.outcome;
    assert.deepEqual(errorOf(o), { type: 'WorkerCrash', message: "the Python worker (pid 1234) was killed by SIGKILL while the program was running; run it again", line: 4 });
    assert.deepEqual(o.trace[0]!.error, { type: 'WorkerCrash', message: ENDED_IN_CALL });
    await until(() => !processAlive(p.pid), "the program's process to be killed");
  });

  it('a run ended by the runner waits for the exit report, and after 5 s without one ends all the same', TEST, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const s = await setUp(t);
    s.run.start(undefined);
    const p = startProcess(t, s.run, { report: false });
    s.run.fail({ type: 'Cancelled', message: 'stop', line: null });
    await p.gone;
    assert.equal(await stillPending(s.run.outcome), true, 'the exit is not reported yet');
    t.mock.timers.tick(EXIT_WAIT_MS - 1);
    assert.equal(await stillPending(s.run.outcome), true);
    t.mock.timers.tick(1);
    assert.deepEqual(errorOf(await s.run.outcome), { type: 'Cancelled', message: 'stop', line: null });
    // The exit report coming after all finishes nothing a second time.
    s.run.onExit(null, 9);
    await realDelay(100);
    assert.equal(s.launcher.released, 1);
  });

  it('the first verdict stands', TEST, async (t) => {
    const s = await setUp(t);
    s.run.start(undefined);
    startProcess(t, s.run);
    s.run.fail({ type: 'Timeout', message: 'first', line: 2 });
    s.run.fail({ type: 'Cancelled', message: 'second', line: null });
    assert.deepEqual(errorOf(await s.run.outcome), { type: 'Timeout', message: 'first', line: 2 });
  });

  it('a launch that fails rejects the outcome with its error, once, and cleans up', TEST, async (t) => {
    const err = new Error('python3 is not there');
    const s = await setUp(t, { onLaunch: (run) => run.onLaunchFailed(err) });
    s.run.start(undefined);
    await assert.rejects(s.run.outcome, (e: unknown) => e === err);
    assert.equal(s.launcher.released, 1);
    assert.equal(s.server.listening, false);
    assert.equal(existsSync(s.dir), false);
    s.run.onLaunchFailed(new Error('again'));
    await realDelay(50);
    assert.equal(s.launcher.released, 1, 'a second report changes nothing');
  });
});

describe("a run: what the program's process sends", () => {
  it('done: the process killed at once, the answer kept, the socket closed, nothing of the run left behind', TEST, async (t) => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const s = await setUp(t);
    s.run.start(undefined);
    const p = startProcess(t, s.run);
    const c = await connectChild(t, s);
    writeFileSync(s.run.stdoutPath, 'printed\n');
    await c.send(done({ final_answer: { left: 'mug' } }));
    const o = await s.run.outcome;
    assert.deepEqual({ ...o, ms: 0 }, {
      ok: true,
      final_answer: { left: 'mug' },
      error: null,
      trace: [],
      stdout: 'printed\n',
      stdout_truncated: false,
      img_pth_reassigned: false,
      ms: 0,
      isolation: 'process',
    });
    assert.equal(processAlive(p.pid), false, 'a done message does not buy the process more time');
    await c.closed;
    assert.equal(s.server.listening, false);
    assert.equal(existsSync(s.dir), false);
    assert.equal(s.launcher.released, 1);
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timersBefore, 'no timer of the run is left to keep the process alive');
  });

  it('done: an answer over 1 MiB of JSON and error texts over their caps are cut; the output and the line trace as the settings say', TEST, async (t) => {
    const big = await setUp(t);
    big.run.start(undefined);
    startProcess(t, big.run);
    const c1 = await connectChild(t, big);
    await c1.send(done({ final_answer: 'x'.repeat(1 << 20) }));
    const answer = (await big.run.outcome).final_answer as string;
    // 2 quotes and 2**20 x: the marker, then the start of the JSON text.
    assert.equal(answer, `<final_answer too large: 1048578 bytes of JSON> "${'x'.repeat(4095)}`);

    const failed = await setUp(t);
    failed.run.start(undefined);
    startProcess(t, failed.run);
    const c2 = await connectChild(t, failed);
    await c2.send(done({ ok: false, final_answer: 'ignored', error: { type: 'E'.repeat(101), message: 'm'.repeat(9000), line: 3 } }));
    const o2 = await failed.run.outcome;
    assert.equal(o2.ok, false);
    assert.equal(o2.final_answer, null);
    assert.deepEqual(o2.error, {
      type: `${'E'.repeat(100)}… (1 more characters cut by the runner)`,
      message: `${'m'.repeat(8192)}… (808 more characters cut by the runner)`,
      line: 3,
    });

    const lineTrace = { version: 1, statement_lines: [1], lines: [[1, 1]], steps: [{ line: 1, hit: 1 }], dropped_steps: 0, truncated: false, max_hits_kept: 3 };
    for (const traced of [true, false]) {
      const s = await setUp(t, { settings: { lineTrace: traced, maxStdoutBytes: 10, isolation: 'sandbox' } });
      s.run.start(undefined);
      startProcess(t, s.run);
      const c = await connectChild(t, s);
      writeFileSync(s.run.stdoutPath, '0123456789abc');
      await c.send(done({ final_answer: 1, line_trace: lineTrace }));
      const o = await s.run.outcome;
      assert.deepEqual(o.line_trace, traced ? lineTrace : undefined);
      assert.deepEqual([o.stdout, o.stdout_truncated, o.isolation], ['0123456789', true, 'sandbox']);
    }
  });

  it('done while a call is in flight closes that call with the error type done gives, else Cancelled, and tells its tool to stop', TEST, async (t) => {
    for (const [error, type] of [
      [{ type: 'ValueError', message: 'bad', line: 2 }, 'ValueError'],
      [null, 'Cancelled'],
    ] as const) {
      const { tools, signal } = hangingVqa();
      const s = await setUp(t, { tools });
      s.run.start(undefined);
      startProcess(t, s.run);
      const c = await connectChild(t, s);
      await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, 2));
      await until(() => signal() !== undefined, 'the call');
      await c.send(done({ ok: error === null, final_answer: 'x', error }));
      const o = await s.run.outcome;
      assert.deepEqual(o.trace[0]!.error, { type, message: ENDED_IN_CALL });
      assert.ok(o.trace[0]!.ms >= 0 && o.trace[0]!.ms <= o.ms);
      assert.equal(signal()!.aborted, true);
    }
  });

  it("a tool's answer that comes after the run ended is dropped: the outcome's trace is not changed after it was reported", TEST, async (t) => {
    for (const end of ['done', 'cancel'] as const) {
      const late = deferred<string>();
      let asked = false;
      const tools = new ScriptedTools({
        vqa: () => {
          asked = true;
          return late.promise;
        },
      });
      const s = await setUp(t, { tools });
      const ac = new AbortController();
      s.run.start(ac.signal);
      startProcess(t, s.run);
      const c = await connectChild(t, s);
      await c.send(call('vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, 2));
      await until(() => asked, 'the call');
      if (end === 'done') await c.send(done({ final_answer: 'without it' }));
      else ac.abort();
      const o = await s.run.outcome;
      const entry = { ...o.trace[0]! };
      assert.deepEqual([entry.result, entry.error], [null, { type: 'Cancelled', message: ENDED_IN_CALL }], end);
      late.resolve('too late');
      await realDelay(50);
      assert.deepEqual(o.trace[0], entry, `${end}: the late answer changed the reported trace`);
    }
  });

  it('after done nothing more counts: a later call is not made', TEST, async (t) => {
    const s = await setUp(t);
    s.run.start(undefined);
    startProcess(t, s.run);
    const c = await connectChild(t, s);
    await c.send(done({ final_answer: 2 }), call('gd_detect', { img_pth: IMG, prompt: 'cup' }, 1));
    const o = await s.run.outcome;
    assert.equal(o.final_answer, 2);
    assert.deepEqual(o.trace, []);
    assert.deepEqual(s.tools.calls, []);
  });

  it('a malformed or wrongly shaped message is a WorkerError, and a result sent after it does not count', TEST, async (t) => {
    for (const bad of ['this is not json', JSON.stringify({ t: 'call', tool: 'rm', args: {}, line: 1, variable: null }), JSON.stringify({ t: 'result', ok: true })]) {
      const s = await setUp(t);
      s.run.start(undefined);
      startProcess(t, s.run);
      const c = await connectChild(t, s);
      await c.send(bad, done({ final_answer: 'forged' }));
      assert.deepEqual(errorOf(await s.run.outcome), { type: 'WorkerError', message: 'the program process sent a malformed message', line: null }, bad);
    }
  });

  it('a message nested deeper than 100 levels, or a line over 2 MiB, is a protocol violation', TEST, async (t) => {
    const deep = await setUp(t);
    deep.run.start(undefined);
    startProcess(t, deep.run);
    const c1 = await connectChild(t, deep);
    await c1.send(`{"t":"done","ok":true,"final_answer":${'['.repeat(150)}${']'.repeat(150)}}`);
    assert.deepEqual(errorOf(await deep.run.outcome), { type: 'ProtocolViolation', message: "the program's process sent a message nested deeper than 100 levels; the run was stopped", line: null });

    const long = await setUp(t);
    long.run.start(undefined);
    startProcess(t, long.run);
    const c2 = await connectChild(t, long);
    c2.sock.write('x'.repeat(2 * 1024 * 1024 + 1));
    assert.deepEqual(errorOf(await long.run.outcome), { type: 'ProtocolViolation', message: "the program's process sent a message over 2097152 bytes on its tool channel; the run was stopped", line: null });
  });

  it('a second connection to the socket is closed and never heard', TEST, async (t) => {
    const s = await setUp(t);
    s.run.start(undefined);
    startProcess(t, s.run);
    const first = await connectChild(t, s);
    const accepted = once(s.server, 'connection');
    const intruder = connect(s.run.socketPath);
    intruder.on('error', () => undefined);
    t.after(() => intruder.destroy());
    await accepted;
    intruder.write(`${JSON.stringify(done({ final_answer: 'forged' }))}\n`);
    await Promise.race([new Promise((resolve) => intruder.on('close', resolve)), s.run.outcome]);
    await first.send(done({ final_answer: 'real' }));
    assert.equal((await s.run.outcome).final_answer, 'real');
  });

  it('a process that hangs up with its answer unread (the socket errors) does not take the host down', TEST, async (t) => {
    const answered = deferred();
    const tools = new ScriptedTools({
      depth: () => {
        answered.resolve();
        return 2;
      },
    });
    const s = await setUp(t, { tools });
    s.run.start(undefined);
    const p = startProcess(t, s.run);
    // A client that never reads: the answer stays in its socket's buffer, so hanging up resets the connection.
    const accepted = once(s.server, 'connection') as Promise<[Socket]>;
    const sock = connect(s.run.socketPath);
    sock.pause();
    sock.on('error', () => undefined);
    t.after(() => sock.destroy());
    const [serverSide] = await accepted;
    // No 'error' listener of ours here: the run's own must take the reset.
    const closedByError = new Promise<boolean>((resolve) => serverSide.on('close', resolve));
    sock.write(`${JSON.stringify(call('depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, 1))}\n`);
    await answered.promise;
    await realDelay(50);
    sock.destroy();
    assert.equal(await closedByError, true, 'the connection was reset');
    process.kill(-p.pid, 'SIGKILL');
    assert.deepEqual(errorOf(await s.run.outcome), {
      type: 'WorkerCrash',
      message: "the program's Python process was killed by SIGKILL without reporting a result; it may have run out of memory",
      line: null,
    });
  });
});
