/**
 * One run in progress: its scratch directory and socket, the tool calls it makes (answered from
 * its `Tools` and traced, one call at a time: toolCall.ts), its timers, and how it ends (result,
 * timeout, cancel, crash; the outcome it reports: runOutcome.ts).
 */
import { rm } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChildMessage, type CallMessage, type DoneMessage } from '../../protocol/programWire.js';
import type { IsolationMode, ProgramError, ProgramOutcome, TraceEntry } from '../../protocol/run.js';
import type { RunRequest } from '../runnerTypes.js';
import { killGroup, signalName, workerConfig } from './processes.js';
import { boundedAnswer, boundedError, CHILD_LIMITS, depthWithin } from './childLimits.js';
import { readStdout, runOutcome } from './runOutcome.js';
import { answerCall, recordAnswer, traceEntryFor } from './toolCall.js';
import { lineSplitter } from './wire.js';

export interface RunSettings {
  timeoutMs: number;
  memoryMB: number;
  maxStdoutBytes: number;
  killGraceMs: number;
  startTimeoutMs: number;
  isolation: IsolationMode;
  /** Ask the program's process for a line-level trace (src/protocol/lineTrace.ts). */
  lineTrace: boolean;
}

/** How long to wait for a killed process's exit to be reported before giving up on seeing it. */
export const EXIT_WAIT_MS = 5000;

export interface Launcher {
  /** Start the program's process; the run hears back through its methods. */
  launch(run: ActiveRun, request: Record<string, unknown>): void;
  /** Forget about a run (it has finished). */
  release(run: ActiveRun): void;
}

let runCounter = 0;

export class ActiveRun {
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
  /** A call that arrived before the launcher reported the process (served on onStarted). */
  private earlyCall: CallMessage | null = null;
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
      ...workerConfig(this.settings.isolation),
      program: this.req.program,
      img_pth: this.req.imagePath,
      socket: this.socketPath,
      cwd: this.workDir,
      stdout_path: this.stdoutPath,
      timeout_s: this.settings.timeoutMs / 1000,
      memory_mb: this.settings.memoryMB,
      max_stdout: this.settings.maxStdoutBytes,
      line_trace: this.settings.lineTrace,
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
        signal.addEventListener('abort', onAbort);
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
    // The result overtook the start report: the process goes now, as when the result comes after
    // it, and a call held until now is not made (the run has its result).
    if (this.done) {
      this.stopProcess();
      return;
    }
    // A call that overtook the start report is served now that the process is known.
    const early = this.earlyCall;
    this.earlyCall = null;
    if (early) this.serve(early);
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

  /** The process is gone and its socket has nothing more: a run still without a result crashed. */
  private judgeExit(): void {
    // A run that has its result, or our verdict, was finished when both that and the exit had
    // come (`fail` then changes nothing).
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
    // A process that we stopped (a verdict), or that reported its result, was past its set-up:
    // what it said on stderr while starting does not make its exit a set-up failure.
    if (this.verdict || this.done) {
      this.onExit(null, null);
      return;
    }
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
      (line) => {
        try {
          this.onMessage(line);
        } catch (err) {
          this.fail({ type: 'WorkerError', message: `the runner could not handle a message from the program's process: ${(err as Error)?.message ?? String(err)}`, line: null });
        }
      },
      () => this.fail({ type: 'ProtocolViolation', message: `the program's process sent a message over ${CHILD_LIMITS.maxLine} bytes on its tool channel; the run was stopped`, line: null }),
      CHILD_LIMITS.maxLine,
    );
    sock.on('data', feed);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.connClosed = true;
      if (this.exited) this.judgeExit();
    });
  }

  private onMessage(line: string): void {
    // Once the run has a result (or an error of ours), nothing more from the child counts.
    if (this.done || this.verdict || this.finished) return;
    let msg: ChildMessage;
    try {
      const raw: unknown = JSON.parse(line);
      if (!depthWithin(raw, CHILD_LIMITS.maxDepth)) {
        this.fail({ type: 'ProtocolViolation', message: `the program's process sent a message nested deeper than ${CHILD_LIMITS.maxDepth} levels; the run was stopped`, line: null });
        return;
      }
      msg = ChildMessage.parse(raw);
    } catch {
      this.fail({ type: 'WorkerError', message: 'the program process sent a malformed message', line: null });
      return;
    }
    if (msg.t === 'done') {
      this.done = { ...msg, error: boundedError(msg.error), ...(msg.ok ? { final_answer: boundedAnswer(msg.final_answer) } : {}) };
      this.closeInFlight(msg.error?.type ?? 'Cancelled');
      // The process has nothing left to say: it goes now (it would exit by itself; a forged
      // `done` must not buy the program more time).
      this.stopProcess();
      this.maybeFinish();
      return;
    }
    // The protocol is one call, one answer: a second call before the answer is not the worker's.
    if (this.inFlight) {
      this.fail({ type: 'ProtocolViolation', message: 'the program\'s process sent a tool call while another was being answered; the run was stopped', line: msg.line });
      return;
    }
    if (this.trace.length >= CHILD_LIMITS.maxToolCalls) {
      this.fail({ type: 'ToolCallLimit', message: `the program made more than ${CHILD_LIMITS.maxToolCalls} tool calls; a VALOR program needs a few (look for a loop around gd_detect, depth or vqa)`, line: msg.line });
      return;
    }
    if (this.pid === null) {
      if (this.earlyCall) {
        this.fail({ type: 'ProtocolViolation', message: 'the program\'s process sent a tool call while another was being answered; the run was stopped', line: msg.line });
        return;
      }
      this.earlyCall = msg;
      return;
    }
    this.serve(msg);
  }

  /** Answers one call; whatever goes wrong in here ends the run, never the host process. */
  private serve(msg: CallMessage): void {
    this.onCall(msg).catch((err: unknown) => this.fail({ type: 'WorkerError', message: `the runner could not handle a tool call: ${(err as Error)?.message ?? String(err)}`, line: msg.line }));
  }

  private async onCall(msg: CallMessage): Promise<void> {
    const { entry, argsBytes } = traceEntryFor(msg, this.trace.length);
    this.trace.push(entry);
    const t0 = performance.now();
    this.inFlight = { entry, t0 };
    const answer = await answerCall(this.req.tools, msg, argsBytes, this.toolAbort.signal, this.req.imagePath);
    // A run that ended meanwhile has already closed this entry (`closeInFlight`); the late answer is dropped.
    if (this.inFlight?.entry !== entry) return;
    this.inFlight = null;
    const reply = recordAnswer(entry, answer, performance.now() - t0);
    this.conn?.write(reply);
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
    this.stopProcess();
    // A process that never started (or is already gone) leaves nothing to wait for.
    if (this.pid === null) this.exited = true;
    this.maybeFinish();
  }

  /** Kills the process group, when there is a process still running. */
  private stopProcess(): void {
    if (this.pid === null || this.exited) return;
    killGroup(this.pid);
    this.forceExitAfter(EXIT_WAIT_MS);
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
    const stdout = await readStdout(this.stdoutPath, this.settings.maxStdoutBytes);
    const ms = performance.now() - this.started;
    const outcome = runOutcome({ done: this.done, verdict: this.verdict, trace: this.trace, stdout, ms, isolation: this.settings.isolation, lineTrace: this.settings.lineTrace });
    await this.cleanup();
    this.resolveOutcome(outcome);
  }

  private async cleanup(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (this.afterExitTimer) clearTimeout(this.afterExitTimer);
    this.toolAbort.abort();
    this.conn?.destroy();
    this.server.close();
    this.launcher.release(this);
    await rm(this.dir, { recursive: true }).catch(() => undefined);
  }
}
