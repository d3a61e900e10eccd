import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashJson, sha256File, sha256Hex, stableStringify } from '../../src/core/contentHash.js';
import { cacheKey, createDiskCache } from '../../src/core/diskCache.js';

test('stableStringify: key order does not matter, JSON rules otherwise', () => {
  assert.equal(stableStringify({ b: 1, a: { d: [1, undefined, 'x'], c: null } }), '{"a":{"c":null,"d":[1,null,"x"]},"b":1}');
  assert.equal(stableStringify({ a: 1, b: 2 }), stableStringify({ b: 2, a: 1 }));
  assert.equal(stableStringify({ a: undefined, n: NaN, i: Infinity }), '{"i":null,"n":null}');
  assert.equal(stableStringify(new Date(0)), JSON.stringify(new Date(0)));
  assert.equal(stableStringify('é"'), JSON.stringify('é"'));
  const round = { z: [{ y: 1, x: 2 }], w: 'v' };
  assert.deepEqual(JSON.parse(stableStringify(round)), round);
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  assert.throws(() => stableStringify(cyc), /cycle/);
  const shared = { k: 1 };
  assert.equal(stableStringify([shared, shared]), '[{"k":1},{"k":1}]', 'a repeated (non-cyclic) object is fine');
  assert.equal(hashJson({ a: 1, b: 2 }), hashJson({ b: 2, a: 1 }));
  assert.notEqual(hashJson({ a: 1 }), hashJson({ a: 2 }));
});

test('sha256Hex and sha256File agree with node:crypto; a missing file rejects', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-hash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = Buffer.alloc(3_000_000, 7);
  const f = join(dir, 'x.bin');
  await writeFile(f, data);
  const expected = createHash('sha256').update(data).digest('hex');
  assert.equal(await sha256File(f), expected);
  assert.equal(sha256Hex(data), expected);
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  await assert.rejects(sha256File(join(dir, 'missing')), /ENOENT/);
  await assert.rejects(sha256File(f, AbortSignal.abort()), (e: Error) => e.name === 'AbortError');
});

test('disk cache: set/get, atomic files only, corrupt or invalid entries are misses, bad keys refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = createDiskCache<{ n: number }>(dir, { validate: (raw) => (typeof (raw as { n?: unknown })?.n === 'number' ? (raw as { n: number }) : undefined) });
  const k = cacheKey({ tool: 'depth', args: [1, 2] });
  assert.equal(await cache.get(k), undefined);
  assert.equal(await cache.set(k, { n: 5 }), true);
  assert.deepEqual(await cache.get(k), { n: 5 });
  // concurrent writers of the same key leave one whole file and no temp files
  await Promise.all(Array.from({ length: 20 }, (_, i) => cache.set(k, { n: i })));
  const v = await cache.get(k);
  assert.ok(v && v.n >= 0 && v.n < 20);
  const files = await readdir(join(dir, k.slice(0, 2)));
  assert.deepEqual(files, [`${k}.json`]);
  await writeFile(cache.pathOf(k), '{"n": 1', 'utf8');
  assert.equal(await cache.get(k), undefined, 'truncated JSON is a miss');
  await writeFile(cache.pathOf(k), '{"n": "x"}', 'utf8');
  assert.equal(await cache.get(k), undefined, 'rejected by validate');
  await cache.delete(k);
  assert.equal(await cache.get(k), undefined);
  assert.throws(() => cache.pathOf('../../etc/passwd'), /key must match/);
  // an unwritable folder reports false instead of throwing
  const blocked = join(dir, 'blocked');
  await writeFile(blocked, 'a file where a folder should be');
  assert.equal(await createDiskCache(blocked).set(k, { n: 1 }), false);
});
