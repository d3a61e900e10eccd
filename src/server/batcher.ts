/**
 * Batching in front of a model queue: requests that wait for the same model at once run as one
 * inference (up to `maxBatch`, only jobs that `compatible` says can share a run). Each request
 * takes one place in the model's queue as before; when a place comes up, it takes every waiting
 * compatible job with it, and the places of the jobs it took return at once when their turn
 * comes. With `maxBatch` 1 this is the plain queue.
 *
 * A batch that fails is retried one job at a time, so a job that breaks the model fails alone.
 */
import { abortError, type ModelQueue } from './queue.js';

interface Pending<J, R> {
  job: J;
  signal?: AbortSignal;
  resolve: (r: { value: R; batch: number; ms: number }) => void;
  reject: (err: unknown) => void;
  taken: boolean;
}

export class Batcher<J, R> {
  private readonly pending: Array<Pending<J, R>> = [];
  /** Inferences run, and the requests they served (health shows both). */
  runs = 0;
  served = 0;

  constructor(
    private readonly queue: ModelQueue,
    readonly maxBatch: number,
    private readonly compatible: (a: J, b: J) => boolean,
    private readonly runBatch: (jobs: J[]) => Promise<R[]>,
  ) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`batch size must be a positive integer, got ${maxBatch}`);
  }

  /** Runs `job`, alone or with others; `batch` is the size of the run it was part of, `ms` that run's time. */
  submit(job: J, signal?: AbortSignal): Promise<{ value: R; batch: number; ms: number }> {
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const item: Pending<J, R> = { job, signal, resolve, reject, taken: false };
      this.pending.push(item);
      this.queue
        .run(async () => {
          if (item.taken) return;
          await this.runTaken(this.take(item));
        }, signal)
        .catch((err: unknown) => {
          // Abandoned while waiting (or the queue refused it): drop it unless a batch holds it.
          if (!item.taken) {
            this.remove(item);
            reject(err);
          }
        });
    });
  }

  /** `head` and the waiting jobs compatible with it, oldest first; aborted ones are dropped. */
  private take(head: Pending<J, R>): Array<Pending<J, R>> {
    const batch = [head];
    head.taken = true;
    this.remove(head);
    for (let i = 0; i < this.pending.length && batch.length < this.maxBatch; ) {
      const p = this.pending[i] as Pending<J, R>;
      if (p.signal?.aborted) {
        this.pending.splice(i, 1);
        p.taken = true;
        p.reject(abortError());
        continue;
      }
      if (this.compatible(head.job, p.job)) {
        this.pending.splice(i, 1);
        p.taken = true;
        batch.push(p);
        continue;
      }
      i++;
    }
    return batch;
  }

  private async runTaken(batch: Array<Pending<J, R>>): Promise<void> {
    const t0 = performance.now();
    try {
      const values = await this.runBatch(batch.map((b) => b.job));
      const ms = performance.now() - t0;
      this.runs++;
      this.served += batch.length;
      batch.forEach((b, i) => b.resolve({ value: values[i] as R, batch: batch.length, ms }));
    } catch (err) {
      if (batch.length === 1) {
        (batch[0] as Pending<J, R>).reject(err);
        return;
      }
      for (const b of batch) await this.runTaken([b]);
    }
  }

  private remove(item: Pending<J, R>): void {
    const i = this.pending.indexOf(item);
    if (i >= 0) this.pending.splice(i, 1);
  }
}
