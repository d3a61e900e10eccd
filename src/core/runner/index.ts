/**
 * The program runner (docs/architecture.md "Program execution"): runs a VALOR program in a python3 child and
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
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IsolationMode, ProgramOutcome } from '../../protocol/run.js';
import type { ProgramRunnerLike, RunRequest } from '../runnerTypes.js';
import { ActiveRun, type RunSettings } from './activeRun.js';
import { programEnv } from './env.js';
import { ColdLauncher, WarmLauncher } from './pool.js';
import { isolationFrom, RunnerSetupError, type RunnerProcessEvent } from './processes.js';

export { programEnv } from './env.js';
export { ISOLATION_HINT, RunnerSetupError, type RunnerProcessEvent, type RunnerSetupErrorCode } from './processes.js';

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
  /**
   * How programs are confined (docs/threat-model.md). `sandbox` (default; else env
   * VALOR_ISOLATION): the OS layer, and runs are refused with a RunnerSetupError where it is
   * missing. `process`: no OS confinement, only the separate process and its limits.
   */
  isolation?: IsolationMode;
  /** Record a line-level trace of every run (default true; src/protocol/lineTrace.ts). */
  lineTrace?: boolean;
  /** Told about every python process started (the warm parent, each program's process); for diagnostics and tests. */
  onProcess?: (event: RunnerProcessEvent) => void;
}

export const RUNNER_DEFAULTS = { timeoutMs: 60_000, memoryMB: 2048, maxStdoutBytes: 64 * 1024 } as const;

/** The longest Unix socket path the OS keeps whole (sun_path less its NUL: 104 bytes on macOS, 108 elsewhere). */
export const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

const SHUT_DOWN = 'the runner was shut down';
/** The outcome of a run that ended as Cancelled before any program started. */
const notStarted = (message: string): ProgramOutcome => ({ ok: false, final_answer: null, error: { type: 'Cancelled', message, line: null }, trace: [], stdout: '', ms: 0 });

export class ProgramRunner implements ProgramRunnerLike {
  readonly python: string;
  readonly warm: boolean;
  /** The isolation every run of this runner gets (recorded in each outcome). */
  readonly isolation: IsolationMode;
  private readonly opts: ProgramRunnerOptions;
  private readonly env: Record<string, string>;
  private readonly cold: ColdLauncher;
  private readonly warmLauncher: WarmLauncher;
  private readonly active = new Set<ActiveRun>();
  private disposed = false;
  private readonly setupProblem: Error | null = null;
  private baseDir: Promise<string> | null = null;

  constructor(options: ProgramRunnerOptions = {}) {
    this.opts = options;
    this.python = options.python ?? (process.env.VALOR_PYTHON || 'python3');
    // fork() is POSIX-only; elsewhere every run starts its own interpreter.
    this.warm = (options.warm ?? true) && process.platform !== 'win32';
    this.env = programEnv(options.env ?? process.env);
    // A bad VALOR_ISOLATION is reported by run()/warmUp(), not by the constructor.
    let isolation: IsolationMode = 'sandbox';
    try {
      isolation = isolationFrom(options.isolation, options.env ?? process.env);
    } catch (err) {
      this.setupProblem = err as Error;
    }
    this.isolation = isolation;
    this.cold = new ColdLauncher(this.python, this.env, this.isolation, options.onProcess);
    this.warmLauncher = new WarmLauncher(this.python, this.env, this.isolation, () => this.scratchBase(), options.startTimeoutMs ?? 60_000, options.onProcess);
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
    if (this.setupProblem) throw this.setupProblem;
    if (this.warm) await this.warmLauncher.acquire();
  }

  private scratchBase(): Promise<string> {
    this.baseDir ??= mkdtemp(join(this.opts.tmpDir ?? tmpdir(), 'valor-'));
    return this.baseDir;
  }

  async run(req: RunRequest, signal?: AbortSignal): Promise<ProgramOutcome> {
    if (this.disposed) throw new Error('ProgramRunner.run was called after dispose(); create a new runner');
    if (this.setupProblem) throw this.setupProblem;
    const settings: RunSettings = {
      timeoutMs: req.timeoutMs ?? this.opts.timeoutMs ?? RUNNER_DEFAULTS.timeoutMs,
      memoryMB: req.memoryMB ?? this.opts.memoryMB ?? RUNNER_DEFAULTS.memoryMB,
      maxStdoutBytes: req.maxStdoutBytes ?? this.opts.maxStdoutBytes ?? RUNNER_DEFAULTS.maxStdoutBytes,
      killGraceMs: this.opts.killGraceMs ?? 2000,
      startTimeoutMs: this.opts.startTimeoutMs ?? 60_000,
      isolation: this.isolation,
      lineTrace: this.opts.lineTrace ?? true,
    };
    if (signal?.aborted) {
      return notStarted('the run was cancelled before it started');
    }
    let prepared: { dir: string; server: Server };
    try {
      prepared = await this.prepareRun();
    } catch (err) {
      // dispose() removes the scratch folders while a run may still be making its own in them.
      if (this.disposed && !(err instanceof RunnerSetupError)) return notStarted(SHUT_DOWN);
      throw err;
    }
    const { dir, server } = prepared;
    if (this.disposed) {
      server.close();
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      return notStarted(SHUT_DOWN);
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

  /** A run's scratch folder (with its `work` folder) and the Unix socket server its program connects to. */
  private async prepareRun(): Promise<{ dir: string; server: Server }> {
    const dir = await mkdtemp(join(await this.scratchBase(), 'run-'));
    const socketPath = join(dir, 's');
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      // A longer path is cut short by the socket layer: the program could never connect back.
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw new RunnerSetupError(
        `the runner's scratch folder ${dir} is too deep for the program's Unix socket (${Buffer.byteLength(socketPath)} bytes, at most ${MAX_SOCKET_PATH}): point TMPDIR (or the runner's tmpDir) at a shorter folder`,
        'start-failed',
      );
    }
    await mkdir(join(dir, 'work'));
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return { dir, server };
  }

  /** Stops everything: runs in progress end as Cancelled, all python processes are killed. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const pending = [...this.active].map((r) => r.outcome.catch(() => undefined));
    for (const run of this.active) run.fail({ type: 'Cancelled', message: SHUT_DOWN, line: null });
    this.cold.dispose();
    await this.warmLauncher.dispose();
    await Promise.all(pending);
    if (this.baseDir) {
      const base = await this.baseDir.catch(() => null);
      if (base) await rm(base, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
