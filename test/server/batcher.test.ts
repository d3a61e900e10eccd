// The detector's batching in front of its queue, in process: jobs that wait at once share a run
// (up to the batch size, only compatible ones), a failing batch is retried job by job, and a job
// whose client left before its turn never runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher } from '../../src/server/batcher.js';
import { ModelQueue } from '../../src/server/queue.js';

interface Job {
  id: number;
  size: number;
}

function recorder(opts: { failOn?: number; ms?: number } = {}): { runs: number[][]; run: (jobs: Job[]) => Promise<string[]> } {
  const runs: number[][] = [];
  return {
    runs,
    run: async (jobs) => {
      runs.push(jobs.map((j) => j.id));
      await new Promise((r) => setTimeout(r, opts.ms ?? 30));
      if (jobs.some((j) => j.id === opts.failOn)) throw new Error(`job ${opts.failOn} breaks the model`);
      return jobs.map((j) => `out ${j.id}`);
    },
  };
}

describe('detect batching', () => {
  it('runs the first job alone and the ones that waited meanwhile together, up to the batch size, compatible only', async () => {
    const rec = recorder();
    const b = new Batcher<Job, string>(new ModelQueue(1), 3, (x, y) => x.size === y.size, rec.run);
    const jobs: Job[] = [{ id: 0, size: 1 }, { id: 1, size: 1 }, { id: 2, size: 2 }, { id: 3, size: 1 }, { id: 4, size: 1 }, { id: 5, size: 1 }];
    const out = await Promise.all(jobs.map((j) => b.submit(j)));
    assert.deepEqual(out.map((o) => o.value), jobs.map((j) => `out ${j.id}`));
    assert.deepEqual(rec.runs, [[0], [1, 3, 4], [2], [5]]);
    assert.deepEqual(out.map((o) => o.batch), [1, 3, 1, 3, 3, 1]);
    assert.equal(b.runs, 4);
    assert.equal(b.served, 6);
  });

  it('with batch size 1 runs every job alone, in order', async () => {
    const rec = recorder();
    const b = new Batcher<Job, string>(new ModelQueue(1), 1, () => true, rec.run);
    await Promise.all([0, 1, 2].map((id) => b.submit({ id, size: 1 })));
    assert.deepEqual(rec.runs, [[0], [1], [2]]);
  });

  it('retries a failed batch job by job, so only the job that breaks the model fails', async () => {
    const rec = recorder({ failOn: 2 });
    const b = new Batcher<Job, string>(new ModelQueue(1), 4, () => true, rec.run);
    const settled = await Promise.allSettled([0, 1, 2, 3].map((id) => b.submit({ id, size: 1 })));
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((settled[2] as PromiseRejectedResult).reason), /job 2 breaks the model/);
    assert.deepEqual(rec.runs, [[0], [1, 2, 3], [1], [2], [3]]);
  });

  it('drops a waiting job whose request was abandoned, before it runs', async () => {
    const rec = recorder({ ms: 60 });
    const b = new Batcher<Job, string>(new ModelQueue(1), 4, () => true, rec.run);
    const leaving = new AbortController();
    const first = b.submit({ id: 0, size: 1 });
    const gone = b.submit({ id: 1, size: 1 }, leaving.signal);
    const stays = b.submit({ id: 2, size: 1 });
    leaving.abort();
    await assert.rejects(gone, { name: 'AbortError' });
    await Promise.all([first, stays]);
    assert.deepEqual(rec.runs, [[0], [2]]);
  });

  it('refuses a batch size that is not a positive integer', () => {
    assert.throws(() => new Batcher<Job, string>(new ModelQueue(1), 0, () => true, async () => []), /positive integer/);
  });
});
