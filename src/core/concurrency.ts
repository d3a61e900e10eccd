/**
 * Bounded concurrency: a counting semaphore and a `mapLimit` built on it. Used wherever many
 * independent network calls would otherwise all start at once (judges, crop checks, reward
 * batches), so a slow or rate-limited endpoint sees a steady, bounded load.
 */

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

/**
 * Maps `items` through `fn` with at most `limit` calls in flight; results keep the input order.
 * The first rejection rejects the whole map (calls already running are left to finish).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const sem = createSemaphore(Math.max(1, Math.min(limit, items.length || 1)));
  return Promise.all(items.map((item, i) => sem.run(() => fn(item, i), signal)));
}
