// mapLimit's two answers to an abort: 'reject' (default) rejects at once; 'stop' starts nothing
// more, waits for the calls in flight and resolves with what finished (the eval pool relies on it
// so that no record is written after the summary).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapLimit } from '../../src/core/concurrency.js';

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('mapLimit on abort', () => {
  it("'stop' starts no further item and resolves after the running ones settle", async () => {
    const ac = new AbortController();
    const g = gate();
    const started: number[] = [];
    const finished: number[] = [];
    const p = mapLimit(
      [0, 1, 2, 3, 4, 5],
      2,
      async (x) => {
        started.push(x);
        if (x === 1) {
          ac.abort();
          await g.wait;
        }
        if (x === 0) await g.wait;
        finished.push(x);
        return x * 10;
      },
      ac.signal,
      { onAbort: 'stop' },
    );
    let settled = false;
    void p.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'the map must wait for the calls in flight');
    g.open();
    const out = await p;
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(finished.sort(), [0, 1]);
    assert.deepEqual(out.slice(0, 2), [0, 10]);
    assert.equal(out.length, 6);
    assert.equal(out[2], undefined);
  });

  it("the default rejects with the abort error and starts no further item", async () => {
    const ac = new AbortController();
    const started: number[] = [];
    const p = mapLimit(
      [0, 1, 2, 3],
      1,
      async (x) => {
        started.push(x);
        if (x === 1) ac.abort();
        return x;
      },
      ac.signal,
    );
    await assert.rejects(p, (e: Error) => e.name === 'AbortError');
    assert.deepEqual(started, [0, 1]);
  });
});
