/**
 * What a finished run reports (`ProgramOutcome`): the program's own `done` message when it sent
 * one (its answer or error, the tool-call trace, the bounded line trace), else the runner's
 * verdict (timeout, cancel, crash); with the program's output read back from its file, cut at the
 * byte limit.
 */
import { open } from 'node:fs/promises';
import type { DoneMessage } from '../../protocol/programWire.js';
import type { IsolationMode, ProgramError, ProgramOutcome, TraceEntry } from '../../protocol/run.js';
import { boundLineTrace } from '../lineTrace.js';

export interface FinishedRun {
  /** The child's `done` message (already bounded), or null when the run ended without one. */
  done: DoneMessage | null;
  /** The runner's own error, when it ended the run. */
  verdict: { error: ProgramError } | null;
  trace: TraceEntry[];
  stdout: { text: string; truncated: boolean };
  ms: number;
  isolation: IsolationMode;
  /** Whether the request asked for a line trace. */
  lineTrace: boolean;
}

export function runOutcome(run: FinishedRun): ProgramOutcome {
  const { done: d, stdout, trace, ms, isolation } = run;
  if (d) {
    const error = d.error ?? null;
    const lineTrace = run.lineTrace ? boundLineTrace(d.line_trace, trace.length) : undefined;
    return {
      ok: d.ok && !error,
      final_answer: d.ok ? (d.final_answer ?? null) : null,
      error,
      trace,
      stdout: stdout.text,
      stdout_truncated: Boolean(d.stdout_truncated) || stdout.truncated,
      img_pth_reassigned: Boolean(d.img_pth_reassigned),
      ms,
      isolation,
      ...(lineTrace ? { line_trace: lineTrace } : {}),
    };
  }
  return {
    ok: false,
    final_answer: null,
    error: run.verdict?.error ?? { type: 'WorkerCrash', message: 'the run ended without a result', line: null },
    trace,
    stdout: stdout.text,
    stdout_truncated: stdout.truncated,
    img_pth_reassigned: false,
    ms,
    isolation,
  };
}

/** The first `max` bytes of the program's output file, and whether there was more; empty when it cannot be read. */
export async function readStdout(path: string, max: number): Promise<{ text: string; truncated: boolean }> {
  try {
    const fh = await open(path, 'r');
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
