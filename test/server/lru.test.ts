// The tool server's byte-budget LRU (src/server/lru.ts) in-process: which entry goes first, the
// byte count after replacing, deleting and refusing an entry, eviction callbacks, per-kind stats,
// and merged concurrent misses in getOrCompute.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteLru } from '../../src/server/lru.js';

function withEvictions(budget: number): { lru: ByteLru<string>; evicted: string[] } {
  const evicted: string[] = [];
  const lru = new ByteLru<string>(budget, (k, v) => evicted.push(`${k}=${v}`));
  return { lru, evicted };
}

describe('ByteLru', () => {
  it('evicts the least recently used entry once the budget is exceeded, and counts bytes', () => {
    const { lru, evicted } = withEvictions(10);
    lru.set('a', 'A', 4);
    lru.set('b', 'B', 4);
    assert.deepEqual([lru.size, lru.bytes], [2, 8]);
    assert.equal(lru.get('a'), 'A'); // a is now the most recent
    lru.set('c', 'C', 4); // 12 > 10: b goes
    assert.deepEqual(evicted, ['b=B']);
    assert.deepEqual([lru.has('a'), lru.has('b'), lru.has('c')], [true, false, true]);
    assert.deepEqual([lru.size, lru.bytes], [2, 8]);
  });

  it('keeps entries that fill the budget exactly', () => {
    const { lru, evicted } = withEvictions(10);
    lru.set('a', 'A', 6);
    lru.set('b', 'B', 4);
    assert.deepEqual(evicted, []);
    assert.equal(lru.bytes, 10);
    lru.set('c', 'C', 1);
    assert.deepEqual(evicted, ['a=A']);
    assert.equal(lru.bytes, 5);
  });

  it('evicts as many old entries as a large one needs', () => {
    const { lru, evicted } = withEvictions(10);
    for (const k of ['a', 'b', 'c']) lru.set(k, k.toUpperCase(), 3);
    lru.set('d', 'D', 8);
    assert.deepEqual(evicted, ['a=A', 'b=B', 'c=C']);
    assert.deepEqual([lru.size, lru.bytes], [1, 8]);
  });

  it('replacing a key counts only its new size and moves it to the front', () => {
    const { lru, evicted } = withEvictions(10);
    lru.set('a', 'A1', 4);
    lru.set('b', 'B', 4);
    lru.set('a', 'A2', 2);
    assert.deepEqual([lru.size, lru.bytes], [2, 6]);
    assert.equal(lru.get('a'), 'A2');
    lru.set('c', 'C', 4); // 10: nothing goes
    assert.deepEqual(evicted, []);
    lru.set('d', 'D', 1); // 11: b is the oldest (a was set and read after it)
    assert.deepEqual(evicted, ['b=B']);
  });

  it('refuses an entry larger than the whole budget, dropping the old value of that key', () => {
    const { lru, evicted } = withEvictions(10);
    lru.set('a', 'A', 4);
    lru.set('big', 'X', 11);
    assert.equal(lru.has('big'), false);
    assert.deepEqual(evicted, [], 'a new key too large to keep evicts nothing');
    lru.set('a', 'A2', 11);
    assert.equal(lru.has('a'), false);
    assert.deepEqual(evicted, ['a=A'], 'the old value is reported as evicted');
    assert.deepEqual([lru.size, lru.bytes], [0, 0]);
  });

  it('an entry of exactly the budget is kept', () => {
    const lru = new ByteLru<string>(10);
    lru.set('a', 'A', 10);
    assert.equal(lru.get('a'), 'A');
    assert.equal(lru.bytes, 10);
  });

  it('delete frees the bytes; deleting a missing key changes nothing', () => {
    const { lru, evicted } = withEvictions(10);
    lru.set('a', 'A', 4);
    lru.set('b', 'B', 5);
    lru.delete('a');
    lru.delete('nope');
    assert.deepEqual([lru.size, lru.bytes, lru.get('a')], [1, 5, undefined]);
    lru.set('c', 'C', 5); // 10: fits because a's bytes were freed
    assert.deepEqual(evicted, []);
  });

  it('stats by kind, and clear reports every entry', () => {
    const { lru, evicted } = withEvictions(100);
    lru.set('i1', 'I1', 10, 'image');
    lru.set('i2', 'I2', 20, 'image');
    lru.set('d1', 'D1', 5, 'depth');
    lru.set('x', 'X', 1);
    assert.deepEqual(lru.statsByKind(), { image: { entries: 2, bytes: 30 }, depth: { entries: 1, bytes: 5 }, default: { entries: 1, bytes: 1 } });
    lru.clear();
    assert.deepEqual(evicted, ['i1=I1', 'i2=I2', 'd1=D1', 'x=X']);
    assert.deepEqual([lru.size, lru.bytes], [0, 0]);
    assert.deepEqual(lru.statsByKind(), {});
    // Without a callback, clear still empties it.
    const quiet = new ByteLru<string>(10);
    quiet.set('a', 'A', 1);
    quiet.clear();
    assert.equal(quiet.size, 0);
  });

  it('getOrCompute: a miss computes and stores with the size reported; a hit does not compute', async () => {
    const lru = new ByteLru<string>(100);
    let runs = 0;
    const compute = async (): Promise<{ value: string; bytes: number }> => {
      runs++;
      return { value: `v${runs}`, bytes: 7 };
    };
    assert.deepEqual(await lru.getOrCompute('k', 'depth', compute), { value: 'v1', hit: false });
    assert.deepEqual(lru.statsByKind(), { depth: { entries: 1, bytes: 7 } });
    assert.deepEqual(await lru.getOrCompute('k', 'depth', compute), { value: 'v1', hit: true });
    assert.equal(runs, 1);
    assert.deepEqual([lru.hits, lru.misses], [1, 1]);
  });

  it('getOrCompute: concurrent misses on one key share one computation', async () => {
    const lru = new ByteLru<string>(100);
    let runs = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const compute = async (): Promise<{ value: string; bytes: number }> => {
      runs++;
      await gate;
      return { value: 'map', bytes: 3 };
    };
    const first = lru.getOrCompute('img', 'depth', compute);
    const second = lru.getOrCompute('img', 'depth', compute);
    release();
    assert.deepEqual(await Promise.all([first, second]), [
      { value: 'map', hit: false },
      { value: 'map', hit: true },
    ]);
    assert.equal(runs, 1);
    assert.deepEqual([lru.hits, lru.misses], [0, 1]);
  });

  it('getOrCompute: a failed computation is not cached and the next call computes again', async () => {
    const lru = new ByteLru<string>(100);
    await assert.rejects(lru.getOrCompute('k', 'depth', async () => Promise.reject(new Error('model failed'))), /model failed/);
    assert.equal(lru.has('k'), false);
    assert.deepEqual(await lru.getOrCompute('k', 'depth', async () => ({ value: 'ok', bytes: 1 })), { value: 'ok', hit: false });
  });
});
