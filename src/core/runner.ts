/**
 * The program runner (design.md "Program execution"): runs a VALOR program in a python3 child and
 * answers its tool calls from a `Tools` implementation, tracing every call.
 *
 * Warm mode (default): one python3 parent imports numpy once and forks a fresh child per run, so
 * nothing a program does survives into the next run while interpreter start-up is paid once.
 * Cold mode: one python3 per run (the benchmark baseline, and what runs if warm is turned off).
 * In both, each child talks to us over its own Unix socket in the run's private scratch
 * directory, so concurrent runs never share a channel, and the program's output goes to a file
 * there (bounded), never into a protocol stream.
 *
 * The process is the security boundary: address-space, CPU and file-size limits, a wall-clock
 * timeout, a scrubbed environment, a scratch working directory, and the whole process group
 * killed on timeout, cancel or dispose. The restricted builtins and import whitelist inside the
 * child are defence in depth only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ProgramError, ProgramOutcome, TraceEntry } from '../protocol/run.js';
import { Detection } from '../protocol/tools.js';
import type { ProgramRunnerLike, RunRequest } from './runnerTypes.js';
import { ToolError, type BBox, type ToolResult, type Tools } from './tools.js';
import { PYTHON_WORKER_SOURCE } from './pythonWorker.js';

export interface ProgramRunnerOptions {
  /** Fork runs from a warm python3 parent (default true). False: a fresh python3 per run. */
  warm?: boolean;
  /** python3 executable (default: env VALOR_PYTHON, else `python3`). Needs numpy. */
  python?: string;
  /** Defaults for requests that leave them out. */
  timeoutMs?: number;
  memoryMB?: number;
  maxStdoutBytes?: number;
  /** How long python3 may take to start and import numpy, and a warm parent to fork (default 60 000). */
  startTimeoutMs?: number;
  /** Extra wait after the time limit before the process group is killed from here (default 2000). */
  killGraceMs?: number;
  /** Where run scratch directories are made (default the OS temp dir). */
  tmpDir?: string;
  /** Environment the python processes are started from, before scrubbing (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Told about every python process started (the warm parent, each program's process); for diagnostics and tests. */
  onProcess?: (event: RunnerProcessEvent) => void;
}

export interface RunnerProcessEvent {
  kind: 'worker' | 'program';
  pid: number;
}

export type RunnerSetupErrorCode = 'python-missing' | 'numpy-missing' | 'start-failed';

/**
 * python3 could not be started or set up (missing executable, numpy not installed, start-up
 * failed). `run` rejects with it: it is a configuration problem, not a program failure.
 */
export class RunnerSetupError extends Error {
  constructor(
    message: string,
    readonly code: RunnerSetupErrorCode,
  ) {
    super(message);
    this.name = 'RunnerSetupError';
  }
}

export const RUNNER_DEFAULTS = { timeoutMs: 60_000, memoryMB: 2048, maxStdoutBytes: 64 * 1024 } as const;

const KEPT_ENV = /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_[A-Z_]+|TZ|TMPDIR|TEMP|TMP|PYTHONPATH|PYTHONHOME|VIRTUAL_ENV|CONDA_PREFIX|CONDA_DEFAULT_ENV|LD_LIBRARY_PATH|DYLD_LIBRARY_PATH|SYSTEMROOT|WINDIR|COMSPEC|PATHEXT)$/i;
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION)/i;
const SECRET_PREFIX = /^(OPENAI_|VALOR_|HF_|HUGGING_?FACE|AWS_|AZURE_|GOOGLE_|GCP_|GEMINI_|ANTHROPIC_)/i;

/**
 * The environment programs run with: a short allow-list of essentials, minus anything whose name
 * looks like a credential, plus settings that keep numeric libraries to one thread per run (many
 * runs share the cores; threads would also eat the address-space cap) and hashing reproducible.
 */
export function programEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || !KEPT_ENV.test(name) || SECRET_NAME.test(name) || SECRET_PREFIX.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, {
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
    PYTHONHASHSEED: '0',
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
    MKL_NUM_THREADS: '1',
    NUMEXPR_NUM_THREADS: '1',
  });
  return env;
}

// ------------------------------------------------------------------ child messages

const CallMessage = z.object({
  t: z.literal('call'),
  tool: z.enum(['gd_detect', 'depth', 'vqa']),
  args: z.record(z.string(), z.unknown()),
  line: z.number().int().nullable(),
  variable: z.string().nullable(),
});
const ErrorPayload = z.object({
  type: z.string(),
  message: z.string(),
  line: z.number().int().nullable(),
  traceback: z.string().optional(),
});
const DoneMessage = z.object({
  t: z.literal('done'),
  ok: z.boolean(),
  final_answer: z.unknown().optional(),
  error: ErrorPayload.nullable().optional(),
  img_pth_reassigned: z.boolean().optional(),
  stdout_truncated: z.boolean().optional(),
});
const ChildMessage = z.discriminatedUnion('t', [CallMessage, DoneMessage]);
type DoneMessage = z.infer<typeof DoneMessage>;

const WorkerEvent = z.discriminatedUnion('ev', [
  z.object({ ev: z.literal('ready'), pid: z.number().int() }),
  z.object({ ev: z.literal('started'), id: z.string(), pid: z.number().int() }),
  z.object({ ev: z.literal('exit'), id: z.string().nullable(), pid: z.number().int(), code: z.number().int().nullable(), signal: z.number().int().nullable() }),
]);

const MAX_LINE = 64 * 1024 * 1024;

/** Splits a byte stream into lines (UTF-8). */
function lineSplitter(onLine: (line: string) => void, onOverflow: () => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() !== '') onLine(line);
      nl = buf.indexOf('\n');
    }
    if (buf.length > MAX_LINE) {
      buf = '';
      onOverflow();
    }
  };
}

function killGroup(pid: number): void {
  // The program's process leads its own process group (setsid); kill the group, and the process
  // itself in case it has not got that far yet.
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function signalName(sig: number | null): string {
  if (sig === null) return '';
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ' };
  return names[sig] ?? `signal ${sig}`;
}

function parseFatal(stderr: string): { code: RunnerSetupErrorCode; message: string } | null {
  for (const line of stderr.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as { fatal?: unknown; message?: unknown };
      if (v.fatal === 'numpy-missing' && typeof v.message === 'string') return { code: 'numpy-missing', message: v.message };
    } catch {
      // not ours
    }
  }
  return null;
}

function setupError(python: string, how: { spawnError?: NodeJS.ErrnoException; stderr?: string; exit?: string }): RunnerSetupError {
  const hint = 'Set the runner\'s `python` option or the VALOR_PYTHON environment variable to a Python 3.8+ executable with numpy installed.';
  if (how.spawnError?.code === 'ENOENT') {
    return new RunnerSetupError(`The Python executable '${python}' was not found. ${hint}`, 'python-missing');
  }
  if (how.spawnError) {
    return new RunnerSetupError(`The Python executable '${python}' could not be started (${how.spawnError.message}). ${hint}`, 'python-missing');
  }
  const fatal = parseFatal(how.stderr ?? '');
  if (fatal) {
    return new RunnerSetupError(`${fatal.message}. Install it with \`${python} -m pip install numpy\`, or point VALOR_PYTHON at a Python that has it.`, fatal.code);
  }
  const tail = (how.stderr ?? '').trim().split('\n').slice(-6).join('\n');
  return new RunnerSetupError(`The Python worker (${python}) failed to start${how.exit ? ` (${how.exit})` : ''}${tail ? `:\n${tail}` : ''}\n${hint}`, 'start-failed');
}

// ------------------------------------------------------------------ argument checks

function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return `a list of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v === 'object') return `a dict with keys ${Object.keys(v as object).join(', ') || '(none)'}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v)}`;
  return `${typeof v === 'number' ? 'the number' : typeof v} ${String(v)}`;
}

function checkBBox(tool: string, v: unknown, allowNone: boolean): BBox | null {
  if (v === null && allowNone) return null;
  if (Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as BBox;
  let hint = '';
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'bbox' in v) hint = "; this looks like a whole detection: pass its box, e.g. det['bbox']";
  throw new ToolError(
    `${tool}: bbox must be a list of 4 numbers [x1, y1, x2, y2]${allowNone ? ' or None (whole image)' : ''}, got ${describeValue(v)}${hint}`,
    'TypeError',
  );
}

function checkString(tool: string, param: string, v: unknown): string {
  if (typeof v === 'string') return v;
  throw new ToolError(`${tool}: ${param} must be a string, got ${describeValue(v)}`, 'TypeError');
}

interface Dispatched {
  value: unknown;
  detail?: TraceEntry['detail'];
}

/** Calls the tool with checked arguments and shapes its answer as the program receives it. */
async function dispatch(tools: Tools, tool: 'gd_detect' | 'depth' | 'vqa', args: Record<string, unknown>, signal: AbortSignal): Promise<Dispatched> {
  const img = checkString(tool, 'img_pth', args.img_pth);
  let res: ToolResult<unknown>;
  if (tool === 'gd_detect') {
    const prompt = checkString(tool, 'prompt', args.prompt);
    const r = await tools.gd_detect(img, prompt, signal);
    const parsed = z.array(Detection).safeParse(r.value);
    if (!parsed.success) throw new ToolError('gd_detect: the tool returned detections of the wrong shape (expected a list of {bbox, label, score})', 'ToolError');
    // Programs see integer pixel boxes (valor.md §2).
    res = { value: parsed.data.map((d) => ({ bbox: d.bbox.map((x) => Math.round(x)), label: d.label, score: d.score })), detail: r.detail };
  } else if (tool === 'depth') {
    const bbox = checkBBox(tool, args.bbox, false) as BBox;
    const r = await tools.depth(img, bbox, signal);
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) throw new ToolError(`depth: the tool returned ${describeValue(r.value)} instead of a finite number`, 'ToolError');
    res = r;
  } else {
    const bbox = checkBBox(tool, args.bbox, true);
    const prompt = checkString(tool, 'prompt', args.prompt);
    const r = await tools.vqa(img, bbox, prompt, signal);
    if (typeof r.value !== 'string') throw new ToolError(`vqa: the tool returned ${describeValue(r.value)} instead of a string`, 'ToolError');
    res = r;
  }
  return { value: res.value, ...(res.detail !== undefined ? { detail: res.detail } : {}) };
}

// ------------------------------------------------------------------ one run

interface RunSettings {
  timeoutMs: number;
  memoryMB: number;
  maxStdoutBytes: number;
  killGraceMs: number;
  startTimeoutMs: number;
}

/** How long to wait for a killed process's exit to be reported before giving up on seeing it. */
const EXIT_WAIT_MS = 5000;

interface Launcher {
  /** Start the program's process; the run hears back through its methods. */
  launch(run: ActiveRun, request: Record<string, unknown>): void;
  /** Forget about a run (it has finished). */
  release(run: ActiveRun): void;
}

let runCounter = 0;

class ActiveRun {
  readonly id = `r${++runCounter}-${process.pid}`;
  readonly started = performance.now();
  pid: number | null = null;
  exited = false;
  private trace: TraceEntry[] = [];
  private conn: Socket | null = null;
  private connClosed = false;
  private done: DoneMessage | null = null;
  private verdict: { error: ProgramError } | null = null;
  private finished = false;
  private inFlight: { entry: TraceEntry; t0: number } | null = null;
  private readonly toolAbort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private afterExitTimer: NodeJS.Timeout | null = null;
  private exitStatus: { code: number | null; sig: number | null } | null = null;
  private resolveOutcome!: (o: ProgramOutcome) => void;
  private rejectOutcome!: (e: Error) => void;
  readonly outcome: Promise<ProgramOutcome>;

  constructor(
    readonly req: RunRequest,
    readonly settings: RunSettings,
    readonly dir: string,
    readonly server: Server,
    private readonly launcher: Launcher,
  ) {
    this.outcome = new Promise((res, rej) => {
      this.resolveOutcome = res;
      this.rejectOutcome = rej;
    });
    server.on('connection', (s) => this.onConnection(s));
  }

  get socketPath(): string {
    return join(this.dir, 's');
  }

  get stdoutPath(): string {
    return join(this.dir, 'stdout');
  }

  get workDir(): string {
    return join(this.dir, 'work');
  }

  request(): Record<string, unknown> {
    return {
      id: this.id,
      program: this.req.program,
      img_pth: this.req.imagePath,
      socket: this.socketPath,
      cwd: this.workDir,
      stdout_path: this.stdoutPath,
      timeout_s: this.settings.timeoutMs / 1000,
      memory_mb: this.settings.memoryMB,
      max_stdout: this.settings.maxStdoutBytes,
    };
  }

  start(signal: AbortSignal | undefined): void {
    // Last resort: whatever goes wrong below (a lost event, a wedged worker), the run ends.
    const s = this.settings;
    this.timers.push(
      setTimeout(() => {
        this.fail({ type: 'Timeout', message: `the run did not finish within ${(s.timeoutMs + s.startTimeoutMs) / 1000} s (time limit plus start-up allowance) and was stopped`, line: null });
      }, s.timeoutMs + s.startTimeoutMs + s.killGraceMs + EXIT_WAIT_MS),
    );
    if (signal) {
      const onAbort = () => this.fail({ type: 'Cancelled', message: 'the run was cancelled', line: null });
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void this.outcome.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
      }
    }
    if (!this.verdict) this.launcher.launch(this, this.request());
  }

  // ---- process events (from the launcher)

  onStarted(pid: number): void {
    this.pid = pid;
    if (this.verdict) {
      killGroup(pid);
      return;
    }
    // The child stops itself at the limit (reporting the line it was on); this is the backstop
    // for one that cannot, and it also covers the interpreter's start-up in cold mode.
    this.timers.push(
      setTimeout(() => {
        this.fail({
          type: 'Timeout',
          message: `the program did not finish within its ${this.settings.timeoutMs / 1000} s time limit and was stopped; look for a loop that never ends, or raise the timeout`,
          line: this.inFlight?.entry.line ?? null,
        });
      }, this.settings.timeoutMs + this.settings.killGraceMs),
    );
  }

  onExit(code: number | null, sig: number | null): void {
    this.exited = true;
    this.exitStatus = { code, sig };
    if (this.done || this.verdict) {
      this.maybeFinish();
      return;
    }
    // The exit can overtake the last data on the socket: judge once the socket has closed (or,
    // when the child never connected, after a moment in case its connection is still queued).
    if (this.conn && !this.connClosed) return;
    this.afterExitTimer = setTimeout(() => this.judgeExit(), this.conn ? 0 : 500);
  }

  private judgeExit(): void {
    if (this.done || this.verdict) {
      this.maybeFinish();
      return;
    }
    const { code, sig } = this.exitStatus ?? { code: null, sig: null };
    const how = sig !== null ? `was killed by ${signalName(sig)}` : `exited with code ${code}`;
    const memoryHint = sig === 9 ? '; it may have run out of memory' : '';
    this.fail({ type: 'WorkerCrash', message: `the program's Python process ${how} without reporting a result${memoryHint}`, line: this.inFlight?.entry.line ?? null });
  }

  /** The warm parent died: this run cannot finish. */
  onWorkerDied(description: string): void {
    if (this.pid !== null && !this.exited) killGroup(this.pid);
    this.exited = true;
    this.fail({ type: 'WorkerCrash', message: `the Python worker ${description} while the program was running; run it again`, line: this.inFlight?.entry.line ?? null });
    this.maybeFinish();
  }

  onLaunchFailed(err: Error): void {
    this.exited = true;
    if (this.finished) return;
    this.finished = true;
    void this.cleanup().then(() => this.rejectOutcome(err));
  }

  // ---- the socket

  private onConnection(sock: Socket): void {
    if (this.conn || this.finished) {
      sock.destroy();
      return;
    }
    this.conn = sock;
    sock.setEncoding('utf8');
    const feed = lineSplitter(
      (line) => this.onMessage(line),
      () => this.fail({ type: 'WorkerError', message: 'the program process sent an oversized message', line: null }),
    );
    sock.on('data', feed);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.connClosed = true;
      if (this.exited) this.judgeExit();
    });
  }

  private onMessage(line: string): void {
    let msg: z.infer<typeof ChildMessage>;
    try {
      msg = ChildMessage.parse(JSON.parse(line));
    } catch {
      this.fail({ type: 'WorkerError', message: 'the program process sent a malformed message', line: null });
      return;
    }
    if (msg.t === 'done') {
      if (!this.done && !this.verdict) {
        this.done = msg;
        this.closeInFlight(msg.error?.type ?? 'Cancelled');
        this.maybeFinish();
        // The process exits by itself after `done`; make sure of it.
        if (!this.exited) {
          this.timers.push(
            setTimeout(() => {
              if (this.pid !== null && !this.exited) killGroup(this.pid);
              this.forceExitAfter(EXIT_WAIT_MS);
            }, this.settings.killGraceMs),
          );
        }
      }
      return;
    }
    void this.onCall(msg);
  }

  private async onCall(msg: z.infer<typeof CallMessage>): Promise<void> {
    const entry: TraceEntry = {
      index: this.trace.length,
      tool: msg.tool,
      line: msg.line,
      variable: msg.variable,
      args: msg.args,
      result: null,
      error: null,
      ms: 0,
    };
    this.trace.push(entry);
    const t0 = performance.now();
    this.inFlight = { entry, t0 };
    let outcome: { ok: true; r: Dispatched } | { ok: false; type: string; message: string };
    try {
      outcome = { ok: true, r: await dispatch(this.req.tools, msg.tool, msg.args, this.toolAbort.signal) };
    } catch (err) {
      outcome = { ok: false, type: err instanceof ToolError ? err.type : 'ToolError', message: err instanceof Error ? err.message : String(err) };
    }
    // A run that ended meanwhile has already closed this entry; the late answer is dropped.
    if (this.inFlight?.entry !== entry || this.done || this.verdict) return;
    this.inFlight = null;
    entry.ms = performance.now() - t0;
    if (outcome.ok) {
      entry.result = outcome.r.value;
      if (outcome.r.detail !== undefined) entry.detail = outcome.r.detail;
      this.conn?.write(`${JSON.stringify({ t: 'result', ok: true, value: outcome.r.value })}\n`);
    } else {
      entry.error = { type: outcome.type, message: outcome.message };
      this.conn?.write(`${JSON.stringify({ t: 'result', ok: false, type: outcome.type, message: outcome.message })}\n`);
    }
  }

  /** Ends a tool call still waiting for its tool when the run ends. */
  private closeInFlight(type: string): void {
    this.toolAbort.abort();
    if (!this.inFlight) return;
    this.inFlight.entry.error = { type, message: 'the run ended while this call was in progress' };
    this.inFlight.entry.ms = performance.now() - this.inFlight.t0;
    this.inFlight = null;
  }

  // ---- finishing

  /** Ends the run with an error of ours (timeout, cancel, crash); the process group is killed. */
  fail(error: ProgramError): void {
    if (this.finished || this.verdict || this.done) return;
    this.verdict = { error };
    this.closeInFlight(error.type);
    if (this.pid !== null && !this.exited) {
      killGroup(this.pid);
      this.forceExitAfter(EXIT_WAIT_MS);
    }
    // A process that never started (or is already gone) leaves nothing to wait for.
    if (this.pid === null) this.exited = true;
    this.maybeFinish();
  }

  /** After a SIGKILL the exit report is due at once; if it never comes, do not wait forever. */
  private forceExitAfter(ms: number): void {
    this.timers.push(
      setTimeout(() => {
        this.exited = true;
        this.maybeFinish();
      }, ms),
    );
  }

  private maybeFinish(): void {
    if (this.finished) return;
    if (!this.done && !this.verdict) return;
    if (!this.exited) return;
    this.finished = true;
    void this.finish();
  }

  private async finish(): Promise<void> {
    const stdout = await this.readStdout();
    const ms = performance.now() - this.started;
    const d = this.done;
    let outcome: ProgramOutcome;
    if (d) {
      const error = d.error ?? null;
      outcome = {
        ok: d.ok && !error,
        final_answer: d.ok ? (d.final_answer ?? null) : null,
        error,
        trace: this.trace,
        stdout: stdout.text,
        stdout_truncated: Boolean(d.stdout_truncated) || stdout.truncated,
        img_pth_reassigned: Boolean(d.img_pth_reassigned),
        ms,
      };
    } else {
      outcome = {
        ok: false,
        final_answer: null,
        error: this.verdict?.error ?? { type: 'WorkerCrash', message: 'the run ended without a result', line: null },
        trace: this.trace,
        stdout: stdout.text,
        stdout_truncated: stdout.truncated,
        img_pth_reassigned: false,
        ms,
      };
    }
    await this.cleanup();
    this.resolveOutcome(outcome);
  }

  private async readStdout(): Promise<{ text: string; truncated: boolean }> {
    const max = this.settings.maxStdoutBytes;
    try {
      const fh = await open(this.stdoutPath, 'r');
      try {
        const buf = Buffer.alloc(max + 1);
        const { bytesRead } = await fh.read(buf, 0, max + 1, 0);
        return { text: buf.subarray(0, Math.min(bytesRead, max)).toString('utf8'), truncated: bytesRead > max };
      } finally {
        await fh.close();
      }
    } catch {
      return { text: '', truncated: false };
    }
  }

  private async cleanup(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (this.afterExitTimer) clearTimeout(this.afterExitTimer);
    this.toolAbort.abort();
    this.conn?.destroy();
    this.server.close();
    this.launcher.release(this);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

// ------------------------------------------------------------------ launchers

class ColdLauncher implements Launcher {
  private readonly procs = new Map<ActiveRun, ChildProcess>();

  constructor(
    private readonly python: string,
    private readonly env: Record<string, string>,
    private readonly onProcess?: (e: RunnerProcessEvent) => void,
  ) {}

  launch(run: ActiveRun, request: Record<string, unknown>): void {
    let proc: ChildProcess;
    try {
      proc = spawn(this.python, ['-c', PYTHON_WORKER_SOURCE, 'cold'], {
        cwd: run.workDir,
        env: this.env,
        detached: true,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
    } catch (err) {
      run.onLaunchFailed(setupError(this.python, { spawnError: err as NodeJS.ErrnoException }));
      return;
    }
    this.procs.set(run, proc);
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | undefined;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      if (stderr.length < 16_384) stderr += s;
    });
    proc.stdin?.on('error', () => undefined);
    proc.on('error', (err) => {
      spawnError = err as NodeJS.ErrnoException;
      if (proc.pid === undefined) run.onLaunchFailed(setupError(this.python, { spawnError }));
    });
    proc.on('exit', (code, sig) => {
      this.procs.delete(run);
      // Once set up, the child's fd 2 goes to the run's output file: anything that reached this
      // pipe was said while python3 was starting (too old, broken install, numpy missing).
      if (code !== 0 && stderr.trim() !== '') {
        run.onLaunchFailed(setupError(this.python, { stderr, exit: sig ? `killed by ${sig}` : `exit code ${code}` }));
        return;
      }
      run.onExit(code, sig === null ? null : signalNumber(sig));
    });
    if (proc.pid !== undefined) {
      run.onStarted(proc.pid);
      this.onProcess?.({ kind: 'program', pid: proc.pid });
    }
    proc.stdin?.end(`${JSON.stringify(request)}\n`);
  }

  release(run: ActiveRun): void {
    this.procs.delete(run);
  }

  dispose(): void {
    for (const proc of this.procs.values()) if (proc.pid !== undefined) killGroup(proc.pid);
    this.procs.clear();
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25 };
  return map[sig] ?? 0;
}

/** The warm python3 parent: forks one child per run request. */
class WarmWorker {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  /** Settles when the process has exited (and been reaped). */
  readonly gone: Promise<void>;
  dead = false;
  private deathNote = 'exited';
  private readonly runs = new Map<string, ActiveRun>();
  /** Told when this worker is lost (hung or dead) before it started the run. */
  private readonly onLost = new Map<string, () => void>();
  /** Runs that ended before their process was reported: kill it when it is. */
  private readonly orphans = new Set<string>();
  private readonly startTimers = new Map<string, NodeJS.Timeout>();
  private stderr = '';

  constructor(
    readonly python: string,
    env: Record<string, string>,
    cwd: string,
    private readonly startTimeoutMs: number,
    private readonly onProcess?: (e: RunnerProcessEvent) => void,
  ) {
    this.proc = spawn(python, ['-c', PYTHON_WORKER_SOURCE, 'warm'], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    // The worker must not keep a finished CLI alive; runs in progress hold their own handles.
    this.proc.unref();
    for (const s of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    this.proc.stdin?.on('error', () => undefined);
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-16_384);
    });
    this.gone = new Promise<void>((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.once('error', () => resolve());
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(setupError(python, { stderr: this.stderr, exit: `no answer within ${startTimeoutMs / 1000} s` }));
        this.kill('did not start in time');
      }, startTimeoutMs);
      this.proc.on('error', (err) => {
        clearTimeout(timer);
        this.dead = true;
        reject(setupError(python, { spawnError: err as NodeJS.ErrnoException }));
      });
      this.proc.on('exit', (code, sig) => {
        clearTimeout(timer);
        const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
        reject(setupError(python, { stderr: this.stderr, exit: how }));
        this.onDeath(this.dead ? this.deathNote : how);
      });
      this.proc.stdout?.setEncoding('utf8');
      this.proc.stdout?.on(
        'data',
        lineSplitter(
          (line) => {
            let ev: z.infer<typeof WorkerEvent>;
            try {
              ev = WorkerEvent.parse(JSON.parse(line));
            } catch {
              return;
            }
            if (ev.ev === 'ready') {
              clearTimeout(timer);
              this.onProcess?.({ kind: 'worker', pid: ev.pid });
              resolve();
            } else this.onEvent(ev);
          },
          () => this.kill('sent an oversized message'),
        ),
      );
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number | null {
    return this.proc.pid ?? null;
  }

  submit(run: ActiveRun, request: Record<string, unknown>, onLost: () => void): void {
    this.runs.set(run.id, run);
    this.onLost.set(run.id, onLost);
    this.startTimers.set(
      run.id,
      setTimeout(() => {
        // A parent that does not fork within this time is hung: replace it.
        this.startTimers.delete(run.id);
        if (this.runs.get(run.id) === run && run.pid === null) this.kill('stopped answering');
      }, this.startTimeoutMs),
    );
    this.proc.stdin?.write(`${JSON.stringify({ op: 'run', ...request })}\n`);
  }

  release(run: ActiveRun): void {
    const t = this.startTimers.get(run.id);
    if (t) clearTimeout(t);
    this.startTimers.delete(run.id);
    this.onLost.delete(run.id);
    if (this.runs.get(run.id) === run) {
      this.runs.delete(run.id);
      if (run.pid === null && !this.dead) this.orphans.add(run.id);
    }
  }

  private onEvent(ev: z.infer<typeof WorkerEvent>): void {
    if (ev.ev === 'started') {
      const t = this.startTimers.get(ev.id);
      if (t) clearTimeout(t);
      this.startTimers.delete(ev.id);
      if (this.orphans.delete(ev.id)) {
        killGroup(ev.pid);
        return;
      }
      const run = this.runs.get(ev.id);
      if (!run) return;
      this.onProcess?.({ kind: 'program', pid: ev.pid });
      run.onStarted(ev.pid);
    } else if (ev.ev === 'exit' && ev.id !== null) {
      this.runs.get(ev.id)?.onExit(ev.code, ev.signal);
    }
  }

  kill(note: string): void {
    if (!this.dead) this.deathNote = note;
    this.dead = true;
    if (this.proc.pid !== undefined) killGroup(this.proc.pid);
  }

  private onDeath(description: string): void {
    this.dead = true;
    for (const t of this.startTimers.values()) clearTimeout(t);
    this.startTimers.clear();
    const runs = [...this.runs.values()];
    const lost = new Map(this.onLost);
    this.runs.clear();
    this.onLost.clear();
    this.orphans.clear();
    for (const run of runs) {
      // Nothing of a run that had not started yet has happened: it can go to a fresh worker.
      const retry = run.pid === null ? lost.get(run.id) : undefined;
      if (retry) retry();
      else run.onWorkerDied(`(pid ${this.proc.pid}) ${description}`);
    }
  }
}

class WarmLauncher implements Launcher {
  private worker: WarmWorker | null = null;
  private starting: Promise<WarmWorker> | null = null;
  private readonly byRun = new Map<ActiveRun, WarmWorker>();
  private disposed = false;

  constructor(
    private readonly python: string,
    private readonly env: Record<string, string>,
    private readonly cwd: () => Promise<string>,
    private readonly startTimeoutMs: number,
    private readonly onProcess?: (e: RunnerProcessEvent) => void,
  ) {}

  get workerPid(): number | null {
    return this.worker && !this.worker.dead ? this.worker.pid : null;
  }

  /** A live, ready worker; a dead or dying one is replaced. */
  async acquire(): Promise<WarmWorker> {
    if (this.worker && !this.worker.dead) {
      await this.worker.ready;
      if (!this.worker.dead) return this.worker;
    }
    if (!this.starting) {
      this.starting = (async () => {
        const cwd = await this.cwd();
        if (this.disposed) throw new Error('ProgramRunner was disposed');
        const w = new WarmWorker(this.python, this.env, cwd, this.startTimeoutMs, this.onProcess);
        this.worker = w;
        try {
          await w.ready;
          return w;
        } finally {
          this.starting = null;
        }
      })();
    }
    return this.starting;
  }

  launch(run: ActiveRun, request: Record<string, unknown>, retried = false): void {
    this.acquire().then(
      (w) => {
        if (run.exited) return; // cancelled or timed out while waiting for the worker
        this.byRun.set(run, w);
        w.submit(run, request, () => {
          this.byRun.delete(run);
          if (!retried && !this.disposed) this.launch(run, request, true);
          else run.onWorkerDied(this.disposed ? 'was shut down' : 'did not start the program');
        });
      },
      (err: Error) => run.onLaunchFailed(err),
    );
  }

  release(run: ActiveRun): void {
    this.byRun.get(run)?.release(run);
    this.byRun.delete(run);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    w.proc.ref(); // keep the event loop alive until the exit is seen
    w.kill('was disposed');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([w.gone, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ the runner

export class ProgramRunner implements ProgramRunnerLike {
  readonly python: string;
  readonly warm: boolean;
  private readonly opts: ProgramRunnerOptions;
  private readonly env: Record<string, string>;
  private readonly cold: ColdLauncher;
  private readonly warmLauncher: WarmLauncher;
  private readonly active = new Set<ActiveRun>();
  private disposed = false;
  private baseDir: Promise<string> | null = null;

  constructor(options: ProgramRunnerOptions = {}) {
    this.opts = options;
    this.python = options.python ?? (process.env.VALOR_PYTHON || 'python3');
    // fork() is POSIX-only; elsewhere every run starts its own interpreter.
    this.warm = (options.warm ?? true) && process.platform !== 'win32';
    this.env = programEnv(options.env ?? process.env);
    this.cold = new ColdLauncher(this.python, this.env, options.onProcess);
    this.warmLauncher = new WarmLauncher(this.python, this.env, () => this.scratchBase(), options.startTimeoutMs ?? 60_000, options.onProcess);
  }

  /** pid of the warm python3 parent, when one is running. */
  get workerPid(): number | null {
    return this.warm ? this.warmLauncher.workerPid : null;
  }

  /**
   * Starts the warm worker now (otherwise the first run does), so start-up problems surface early.
   * Rejects with RunnerSetupError when python3 or numpy is missing.
   */
  async warmUp(): Promise<void> {
    if (this.warm) await this.warmLauncher.acquire();
  }

  private scratchBase(): Promise<string> {
    this.baseDir ??= mkdtemp(join(this.opts.tmpDir ?? tmpdir(), 'valor-'));
    return this.baseDir;
  }

  async run(req: RunRequest, signal?: AbortSignal): Promise<ProgramOutcome> {
    if (this.disposed) throw new Error('ProgramRunner.run was called after dispose(); create a new runner');
    const settings: RunSettings = {
      timeoutMs: req.timeoutMs ?? this.opts.timeoutMs ?? RUNNER_DEFAULTS.timeoutMs,
      memoryMB: req.memoryMB ?? this.opts.memoryMB ?? RUNNER_DEFAULTS.memoryMB,
      maxStdoutBytes: req.maxStdoutBytes ?? this.opts.maxStdoutBytes ?? RUNNER_DEFAULTS.maxStdoutBytes,
      killGraceMs: this.opts.killGraceMs ?? 2000,
      startTimeoutMs: this.opts.startTimeoutMs ?? 60_000,
    };
    if (signal?.aborted) {
      return { ok: false, final_answer: null, error: { type: 'Cancelled', message: 'the run was cancelled before it started', line: null }, trace: [], stdout: '', ms: 0 };
    }
    const dir = await mkdtemp(join(await this.scratchBase(), 'run-'));
    await mkdir(join(dir, 'work'));
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(join(dir, 's'), () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (this.disposed) {
      server.close();
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      return { ok: false, final_answer: null, error: { type: 'Cancelled', message: 'the runner was shut down', line: null }, trace: [], stdout: '', ms: 0 };
    }
    const launcher = this.warm ? this.warmLauncher : this.cold;
    const run = new ActiveRun(req, settings, dir, server, launcher);
    this.active.add(run);
    try {
      run.start(signal);
      return await run.outcome;
    } finally {
      this.active.delete(run);
    }
  }

  /** Stops everything: runs in progress end as Cancelled, all python processes are killed. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const pending = [...this.active].map((r) => r.outcome.catch(() => undefined));
    for (const run of this.active) run.fail({ type: 'Cancelled', message: 'the runner was shut down', line: null });
    this.cold.dispose();
    await this.warmLauncher.dispose();
    await Promise.all(pending);
    if (this.baseDir) {
      const base = await this.baseDir.catch(() => null);
      if (base) await rm(base, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
