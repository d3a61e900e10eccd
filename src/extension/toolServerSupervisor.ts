/**
 * Owns the embedded tool server process: a restart policy on top of the one starter
 * (src/host/toolServerProcess.ts `launchToolServer`, which spawns and waits for the ready line):
 * starts it on demand, restarts it a bounded number of times after a crash (with backoff), stops
 * the whole process tree, and streams its output to a log. One instance per extension host; the
 * status bar and every command that needs tools go through it.
 *
 * Kept free of `vscode` so its restart logic is tested with real child processes under plain node.
 */
import type { ChildProcess } from 'node:child_process';
import { killTree } from '../host/processTree.js';
import { launchToolServer, redactServerLine, ToolServerStartError, TOOL_SERVER_READY_TIMEOUT_MS, type ReadyInfo, type ServerCommand } from '../host/toolServerProcess.js';

export { ToolServerStartError, type ReadyInfo, type ServerCommand };

export type ServerState =
  | { kind: 'stopped' }
  | { kind: 'starting'; attempt: number }
  | ({ kind: 'ready' } & ReadyInfo)
  | { kind: 'error'; message: string };

export interface SupervisorOptions {
  /** Built on every (re)start, so changed settings apply to the next process. */
  command: () => ServerCommand | Promise<ServerCommand>;
  /** Receives every output line of the server (token redacted) and our own notes. */
  log: (line: string) => void;
  /** Restarts allowed after crashes before giving up (re-read at each crash). */
  maxRestarts: () => number;
  /** Delay before restart number `attempt` (1-based). Default 500 ms doubling, at most 10 s. */
  backoffMs?: (attempt: number) => number;
  /** How long a start may take to print its ready line (default TOOL_SERVER_READY_TIMEOUT_MS). */
  readyTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping. */
  stopGraceMs?: number;
  /** A server that stayed up this long has its crash count reset. */
  stableMs?: number;
}


type Listener = (state: ServerState) => void;

export class ToolServerSupervisor {
  private state: ServerState = { kind: 'stopped' };
  private child: ChildProcess | undefined;
  private starting: Promise<ReadyInfo> | undefined;
  private crashes = 0;
  private readyAt = 0;
  /** Incremented by stop(): a start or restart from an older generation must give up quietly. */
  private generation = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private cancelBackoff: (() => void) | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly recent: string[] = [];
  private disposed = false;

  constructor(private readonly opts: SupervisorOptions) {}

  get current(): ServerState {
    return this.state;
  }

  /** Number of processes started since construction (for tests and the log). */
  spawnCount = 0;

  onDidChangeState(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Starts the server if needed and resolves once it is ready. */
  async ensureStarted(signal?: AbortSignal): Promise<ReadyInfo> {
    if (this.disposed) throw new ToolServerStartError('the tool server supervisor was shut down', []);
    if (this.state.kind === 'ready') return this.state;
    let starting = this.starting;
    if (!starting) {
      this.crashes = 0;
      starting = this.track(this.startLoop(this.generation));
    }
    return signal ? raceAbort(starting, signal) : starting;
  }

  /** Stops the server (the whole process tree) and cancels pending restarts. */
  async stop(): Promise<void> {
    this.generation++;
    this.cancelBackoff?.();
    const child = this.child;
    this.child = undefined;
    if (child) {
      this.opts.log(`[valor] stopping tool server (pid ${child.pid})`);
      await killTree(child, this.opts.stopGraceMs ?? 3000);
    }
    this.starting = undefined;
    this.setState({ kind: 'stopped' });
  }

  /** Stops and starts again; the crash count starts over. */
  async restart(signal?: AbortSignal): Promise<ReadyInfo> {
    await this.stop();
    return this.ensureStarted(signal);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.stop();
    this.disposed = true;
    this.listeners.clear();
  }

  /** The last lines the server printed (for error messages). */
  lastLines(n = 8): string[] {
    return this.recent.slice(-n);
  }

  private setState(s: ServerState): void {
    this.state = s;
    for (const l of [...this.listeners]) {
      try {
        l(s);
      } catch {
        // A listener's bug must not break supervision.
      }
    }
  }

  /** Starts until ready, counting failures against the restart budget; throws when it runs out. */
  private async startLoop(gen: number): Promise<ReadyInfo> {
    for (;;) {
      try {
        return await this.startOnce(gen);
      } catch (err) {
        if (gen !== this.generation) throw new ToolServerStartError('the tool server was stopped while starting', this.lastLines());
        this.countFailure((err as Error).message);
        if (this.state.kind === 'error') throw new ToolServerStartError(this.state.message, this.lastLines());
        await this.backoff(this.crashes);
        if (gen !== this.generation) throw new ToolServerStartError('the tool server was stopped while starting', this.lastLines());
      }
    }
  }

  /** Counts one crash or failed start; moves to `error` once the restart budget is spent. */
  private countFailure(why: string): void {
    this.crashes++;
    const limit = this.opts.maxRestarts();
    if (this.crashes > limit) {
      const message = `${why}; gave up after ${limit} restart${limit === 1 ? '' : 's'}`;
      this.opts.log(`[valor] ${message}`);
      this.setState({ kind: 'error', message });
    }
  }

  private backoff(attempt: number): Promise<void> {
    const ms = (this.opts.backoffMs ?? ((a) => Math.min(10_000, 500 * 2 ** (a - 1))))(attempt);
    this.opts.log(`[valor] restarting the tool server in ${ms} ms (restart ${attempt} of ${this.opts.maxRestarts()})`);
    this.setState({ kind: 'starting', attempt: attempt + 1 });
    return new Promise((resolve) => {
      const done = () => {
        if (this.restartTimer) clearTimeout(this.restartTimer);
        this.restartTimer = undefined;
        this.cancelBackoff = undefined;
        resolve();
      };
      this.restartTimer = setTimeout(done, ms);
      // stop() ends the wait early; the loop then sees the new generation and gives up.
      this.cancelBackoff = done;
    });
  }

  private async startOnce(gen: number): Promise<ReadyInfo> {
    this.setState({ kind: 'starting', attempt: this.crashes + 1 });
    const cmd = await this.opts.command();
    if (gen !== this.generation) throw new Error('stopped');
    this.opts.log(`[valor] starting tool server: ${[cmd.executable, ...cmd.args].map(quoteArg).join(' ')}`);
    const readyTimeoutMs = this.opts.readyTimeoutMs ?? TOOL_SERVER_READY_TIMEOUT_MS;
    const launched = launchToolServer(cmd, {
      readyTimeoutMs,
      // Own process group, so stop() can signal the server and everything it started.
      detached: true,
      onLine: (line) => {
        const safe = redactServerLine(line);
        this.recent.push(safe);
        if (this.recent.length > 50) this.recent.shift();
        this.opts.log(safe);
      },
    });
    const child = launched.child;
    this.spawnCount++;
    this.child = child;
    let ready: ReadyInfo | undefined;

    child.on('exit', (code, sig) => {
      const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      if (this.child === child) this.child = undefined;
      if (gen !== this.generation) {
        this.opts.log(`[valor] tool server ${how}`);
        return;
      }
      this.opts.log(`[valor] tool server ${how}${ready ? '' : ' before it was ready'}`);
      // A failed start: the launch rejects and startLoop decides about another attempt.
      if (!ready) return;
      // Crashed after being ready: supervise a restart in the background.
      if (Date.now() - this.readyAt > (this.opts.stableMs ?? 60_000)) this.crashes = 0;
      this.onCrash(gen, `the tool server ${how}`);
    });

    try {
      ready = await launched.ready;
    } catch (err) {
      if (gen !== this.generation) throw new Error('stopped');
      const reason = err instanceof ToolServerStartError ? err.reason : undefined;
      if (reason === 'timeout') {
        this.opts.log(`[valor] the tool server printed no ready line within ${Math.round(readyTimeoutMs / 1000)} s; stopping it`);
        void killTree(child, 1000);
      } else if (reason === 'spawn') {
        this.opts.log(`[valor] ${(err as Error).message}`);
      }
      throw err;
    }
    if (gen !== this.generation) throw new Error('stopped');
    this.readyAt = Date.now();
    this.setState({ kind: 'ready', ...ready });
    return ready;
  }

  private onCrash(gen: number, why: string): void {
    this.countFailure(why);
    if (this.state.kind === 'error') return;
    const attempt = this.backoff(this.crashes).then(() => {
      if (gen !== this.generation) throw new ToolServerStartError('the tool server was stopped while restarting', this.lastLines());
      return this.startLoop(gen);
    });
    // Nobody may be waiting for a background restart: its failure is already in the state.
    this.track(attempt);
  }

  /** Makes `attempt` the start in progress; cleared whichever way it ends, so the next call may try again. */
  private track(attempt: Promise<ReadyInfo>): Promise<ReadyInfo> {
    this.starting = attempt;
    const clear = () => {
      if (this.starting === attempt) this.starting = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  }
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a);
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}
