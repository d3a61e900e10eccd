/**
 * Bounded concurrency: a counting semaphore and a worker-pool `mapLimit`. Used wherever many
 * independent network calls would otherwise all start at once (judges, crop checks, reward
 * batches), so a slow or rate-limited endpoint sees a steady, bounded load.
 */
import { setMaxListeners } from 'node:events';

export interface Semaphore {
  /** Runs `fn` once a slot is free; the slot is released when `fn` settles. */
  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Slots in use now. */
  readonly active: number;
  /** Callers waiting for a slot now. */
  readonly waiting: number;
  readonly limit: number;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}

export function createSemaphore(limit: number): Semaphore {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be a positive integer, got ${limit}`);
  let active = 0;
  // Waiters are resolved in arrival order so no caller starves.
  const queue: Array<{ grant: () => void; reject: (e: Error) => void; signal?: AbortSignal; onAbort?: () => void }> = [];

  const release = (): void => {
    active--;
    while (queue.length > 0 && active < limit) {
      const next = queue.shift();
      if (!next) break;
      if (next.signal && next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
      active++;
      next.grant();
    }
  };

  const acquire = (signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (active < limit) {
      active++;
      return Promise.resolve();
    }
    return new Promise<void>((grant, reject) => {
      const entry: (typeof queue)[number] = { grant, reject, signal };
      if (signal) {
        entry.onAbort = (): void => {
          const i = queue.indexOf(entry);
          if (i >= 0) queue.splice(i, 1);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      queue.push(entry);
    });
  };

  return {
    async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      await acquire(signal);
      try {
        return await fn();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    limit,
  };
}

export interface MapLimitOptions {
  /**
   * What an abort of the signal does: `'reject'` (default) rejects the map with the abort error;
   * `'stop'` starts no further item and, once the calls already running have settled, resolves
   * with the results so far (`undefined` where an item never started).
   */
  onAbort?: 'reject' | 'stop';
}

/**
 * Maps `items` through `fn` with at most `limit` calls in flight; results keep the input order.
 * The first rejection rejects the whole map and no further item starts (calls already running are
 * left to finish). A pool of workers rather than one waiter per item, so a long list adds no
 * listeners to `signal`.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
  options: MapLimitOptions = {},
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const stopOnAbort = options.onAbort === 'stop';
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      if (signal?.aborted) {
        if (stopOnAbort) return;
        throw abortError(signal);
      }
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: items.length === 0 ? 0 : n }, worker));
  return results;
}

/**
 * A signal that aborts with `parent`, with no listener limit: for work that hands one signal to
 * many concurrent waiters (each adds an abort listener), without touching the caller's signal.
 */
export function childSignal(parent?: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  if (!parent) return { signal: ac.signal, dispose: () => undefined };
  if (parent.aborted) {
    ac.abort(parent.reason);
    return { signal: ac.signal, dispose: () => undefined };
  }
  const on = (): void => ac.abort(parent.reason);
  parent.addEventListener('abort', on, { once: true });
  return { signal: ac.signal, dispose: () => parent.removeEventListener('abort', on) };
}
