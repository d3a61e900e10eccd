/**
 * Starting the program processes: cold (one python3 per run) or warm (one python3 parent that
 * imports numpy once and forks a child per run; replaced when it dies or hangs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { WorkerEvent } from '../../protocol/programWire.js';
import type { IsolationMode } from '../../protocol/run.js';
import type { ActiveRun, Launcher } from './activeRun.js';
import { RunnerSetupError, killGroup, setupError, signalNumber, workerArgs, type RunnerProcessEvent } from './processes.js';
import { lineSplitter } from './wire.js';

/** How much of what a worker says on stderr while starting is kept for the set-up error. */
const STDERR_KEPT = 16_384;

export class ColdLauncher implements Launcher {
  private readonly procs = new Map<ActiveRun, ChildProcess>();

  constructor(
    private readonly python: string,
    private readonly env: Record<string, string>,
    private readonly isolation: IsolationMode,
    private readonly onProcess?: (e: RunnerProcessEvent) => void,
  ) {}

  launch(run: ActiveRun, request: Record<string, unknown>): void {
    let proc: ChildProcess;
    try {
      const args = workerArgs('cold', this.isolation);
      proc = spawn(this.python, args, {
        cwd: run.workDir,
        env: this.env,
        detached: true,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
    } catch (err) {
      run.onLaunchFailed(err instanceof RunnerSetupError ? err : setupError(this.python, { spawnError: err as NodeJS.ErrnoException }));
      return;
    }
    this.procs.set(run, proc);
    let stderr = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      // The end says what went wrong (a traceback's last line): keep the last 16 KiB.
      stderr = (stderr + s).slice(-STDERR_KEPT);
    });
    proc.stdin?.on('error', () => undefined);
    proc.on('error', (err) => {
      if (proc.pid === undefined) run.onLaunchFailed(setupError(this.python, { spawnError: err as NodeJS.ErrnoException }));
    });
    // 'close', not 'exit': it comes once stderr is read to its end, so a set-up error has the last
    // lines (where the error is). Only the worker holds that pipe: the program's fd 2 is its output file.
    proc.on('close', (code, sig) => {
      this.procs.delete(run);
      if (proc.pid === undefined) return; // never started: told above
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

/** The warm parent's events are a few dozen bytes; a longer line means it is broken. */
const WORKER_EVENT_MAX = 64 * 1024;

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
    isolation: IsolationMode,
    private readonly startTimeoutMs: number,
    private readonly onProcess?: (e: RunnerProcessEvent) => void,
  ) {
    this.proc = spawn(python, workerArgs('warm', isolation), { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    // The worker must not keep a finished CLI alive; runs in progress hold their own handles.
    this.proc.unref();
    for (const s of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    this.proc.stdin?.on('error', () => undefined);
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_KEPT);
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
            let ev: WorkerEvent;
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
          WORKER_EVENT_MAX,
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
    clearTimeout(this.startTimers.get(run.id));
    this.startTimers.delete(run.id);
    this.onLost.delete(run.id);
    if (this.runs.get(run.id) === run) {
      this.runs.delete(run.id);
      if (run.pid === null && !this.dead) this.orphans.add(run.id);
    }
  }

  private onEvent(ev: WorkerEvent): void {
    if (ev.ev === 'started') {
      clearTimeout(this.startTimers.get(ev.id));
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

export class WarmLauncher implements Launcher {
  private worker: WarmWorker | null = null;
  private starting: Promise<WarmWorker> | null = null;
  private readonly byRun = new Map<ActiveRun, WarmWorker>();
  private disposed = false;

  constructor(
    private readonly python: string,
    private readonly env: Record<string, string>,
    private readonly isolation: IsolationMode,
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
        const w = new WarmWorker(this.python, this.env, cwd, this.isolation, this.startTimeoutMs, this.onProcess);
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
