/**
 * One language-model call under one deadline, retries and waits included: each attempt gets what
 * is left of the deadline, a failure the classifier marks retryable is retried with exponential
 * backoff and jitter (or the server's `Retry-After`, capped), and a retry that would pass the
 * deadline is not started. Cancellation takes the same path and returns promptly even when the
 * attempt itself is slow to notice. Used by llmClient.ts.
 */
import { APIUserAbortError } from 'openai';
import { ChatError } from './chat.js';
import type { Classified } from './llmFailures.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff step; doubles per retry, with jitter. */
  retryBaseMs: number;
  /** Longest single wait between attempts (also caps `Retry-After`). */
  retryMaxMs: number;
  /** Jitter source in [0, 1). */
  random: () => number;
  /** The endpoint as timeout messages name it. */
  url: string;
  /** What a failed attempt was. */
  classify: (e: unknown) => Classified;
}

const TIMEOUT = Symbol('timeout');
const CANCEL = Symbol('cancel');

export function cancelled(): ChatError {
  return new ChatError('the language-model call was cancelled', 'cancelled');
}

/** Rejects when `signal` aborts; the returned `off` detaches the listener. */
function abortRace(signal: AbortSignal): { promise: Promise<never>; off: () => void } {
  let off = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    const on = (): void => reject(signal.reason);
    if (signal.aborted) return on();
    signal.addEventListener('abort', on, { once: true });
    off = () => signal.removeEventListener('abort', on);
  });
  promise.catch(() => undefined);
  return { promise, off };
}

/** Waits `ms`, rejecting with a cancelled ChatError as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', on);
      resolve();
    }, ms);
    const on = (): void => {
      clearTimeout(t);
      reject(cancelled());
    };
    signal?.addEventListener('abort', on, { once: true });
  });
}

function timedOut(url: string, limit: number): ChatError {
  return new ChatError(`no answer from ${url} within ${limit} ms (timeout): the server may be overloaded or stuck; raise the timeout or check the server`, 'timeout');
}

/**
 * Runs `attempt` until it succeeds, fails for good, or `deadline` (a Date.now() time, `limit` ms
 * after the call began) passes; `mayRetry` lets streaming refuse once output was delivered.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  time: { limit: number; deadline: number },
  signal: AbortSignal | undefined,
  attempt: (signal: AbortSignal) => Promise<T>,
  mayRetry: () => boolean = () => true,
): Promise<T> {
  const { limit, deadline } = time;
  for (let i = 0; ; i++) {
    if (signal?.aborted) throw cancelled();
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut(policy.url, limit);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(TIMEOUT), remaining);
    const onAbort = (): void => ac.abort(CANCEL);
    signal?.addEventListener('abort', onAbort, { once: true });
    const race = abortRace(ac.signal);
    let failure: Classified;
    try {
      return await Promise.race([attempt(ac.signal), race.promise]);
    } catch (e) {
      if (ac.signal.aborted && ac.signal.reason === CANCEL) throw cancelled();
      if (ac.signal.aborted && ac.signal.reason === TIMEOUT) throw timedOut(policy.url, limit);
      if (e instanceof ChatError) throw e;
      if (e instanceof APIUserAbortError) throw cancelled();
      failure = policy.classify(e);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      race.off();
    }
    const tries = i + 1;
    if (!failure.retryable || i >= policy.maxRetries || !mayRetry()) {
      const suffix = failure.retryable && tries > 1 ? ` (gave up after ${tries} attempts)` : '';
      throw new ChatError(failure.message + suffix, failure.kind, failure.status);
    }
    const backoff = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** i) * (0.5 + 0.5 * policy.random());
    const wait = Math.min(policy.retryMaxMs, failure.retryAfterMs ?? backoff);
    if (Date.now() + wait >= deadline) {
      throw new ChatError(`${failure.message} (gave up after ${tries} attempts: the next retry would pass the ${limit} ms timeout)`, failure.kind, failure.status);
    }
    await sleep(wait, signal);
  }
}
