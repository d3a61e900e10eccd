/**
 * One queue per model: at most `concurrency` inferences run at once (default 1: a second
 * session.run on the same model only competes for the same cores or GPU). Waiting work whose
 * request was abandoned (client disconnected) is dropped before it starts.
 */
export class ModelQueue {
  private active = 0;
  private readonly waiting: Array<{ start: () => void; signal?: AbortSignal; onAbort: () => void; cancel: () => void }> = [];

  constructor(readonly concurrency = 1) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`model concurrency must be a positive integer, got ${concurrency}`);
  }

  /** Requests running or waiting. */
  get load(): number {
    return this.active + this.waiting.length;
  }

  get running(): number {
    return this.active;
  }

  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        signal?.removeEventListener('abort', item.onAbort);
        this.active++;
        fn().then(resolve, reject).finally(() => {
          this.active--;
          this.next();
        });
      };
      const item = {
        start,
        signal,
        cancel: () => reject(abortError()),
        onAbort: () => {
          const i = this.waiting.indexOf(item);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            reject(abortError());
          }
        },
      };
      if (this.active < this.concurrency) {
        start();
      } else {
        signal?.addEventListener('abort', item.onAbort, { once: true });
        this.waiting.push(item);
      }
    });
  }

  private next(): void {
    while (this.active < this.concurrency) {
      const item = this.waiting.shift();
      if (!item) return;
      if (item.signal?.aborted) {
        item.signal.removeEventListener('abort', item.onAbort);
        item.cancel();
        continue;
      }
      item.start();
    }
  }
}

export function abortError(): Error {
  const e = new Error('The request was cancelled');
  e.name = 'AbortError';
  return e;
}
