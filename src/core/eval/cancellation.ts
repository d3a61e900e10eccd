/**
 * Cancellation in an eval run: one controller that every question in flight listens on, linked
 * to the caller's signal, and telling a cancellation apart from a failure.
 */
import { setMaxListeners } from 'node:events';
import { ChatError } from '../chat.js';

/** Whether `err` is the run being cancelled rather than a failure. */
export function isAbort(err: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return true;
  const e = err as { name?: string } | null;
  return e?.name === 'AbortError' || (err instanceof ChatError && err.kind === 'cancelled');
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

/** Waits `ms`, or rejects with an AbortError when `signal` aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal.aborted) return rej(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      rej(abortError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RunAbort {
  /** What every question in flight listens on (generator call, program run, tool calls). */
  readonly signal: AbortSignal;
  abort(): void;
  /** Stops following the caller's signal. */
  dispose(): void;
}

/** A controller for the run that aborts with `outer`; sized for `concurrency` questions' listeners. */
export function linkAbort(outer: AbortSignal | undefined, concurrency: number): RunAbort {
  const ctl = new AbortController();
  setMaxListeners(Math.max(10, concurrency * 8), ctl.signal);
  const onOuterAbort = (): void => ctl.abort();
  if (outer?.aborted) ctl.abort();
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  return { signal: ctl.signal, abort: () => ctl.abort(), dispose: () => outer?.removeEventListener('abort', onOuterAbort) };
}
