// Cache keys and the disk cache's file rules (src/core/contentHash.ts, src/core/diskCache.ts) in
// detail: the stable JSON every cache key is the hash of (each JSON rule, so two requests that
// differ never share a key and two equal ones always do), the key pattern that keeps entries
// inside the folder, and where an entry's file lives. diskCache.test.ts holds the main cases;
// these were added for mutants that survived it (docs/testing.md).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashJson, stableStringify } from '../../src/core/contentHash.js';
import { cacheKey, createDiskCache } from '../../src/core/diskCache.js';

test('stableStringify: every value kind, as JSON.stringify writes it', () => {
  assert.equal(stableStringify(true), 'true');
  assert.equal(stableStringify(false), 'false');
  assert.equal(stableStringify(null), 'null');
  assert.equal(stableStringify(-0.5), '-0.5');
  assert.equal(stableStringify(Number.NEGATIVE_INFINITY), 'null');
  assert.equal(stableStringify('a\nb'), '"a\\nb"');
  assert.equal(stableStringify([]), '[]');
  assert.equal(stableStringify({}), '{}');
  // At the top level, nothing JSON can hold becomes null.
  assert.equal(stableStringify(undefined), 'null');
  assert.equal(stableStringify(() => 1), 'null');
  // In arrays they become null; in objects the key is dropped.
  assert.equal(stableStringify([undefined, () => 1, Symbol('s'), 1]), '[null,null,null,1]');
  assert.equal(stableStringify({ f: () => 1, s: Symbol('s'), u: undefined, k: 0 }), '{"k":0}');
  for (const v of [{ b: [true, { d: null, c: 'x' }], a: -1 }, [1, 'two', [3]], { 'key "q"': 1 }]) {
    assert.deepEqual(JSON.parse(stableStringify(v)), v);
  }
  assert.equal(stableStringify({ 'key "q"': 1 }), '{"key \\"q\\"":1}');
});

test('stableStringify: keys sorted at every depth, toJSON honoured, BigInt and cycles refused', () => {
  assert.equal(stableStringify({ b: { z: 1, y: [{ d: 1, c: 2 }] }, a: 0 }), '{"a":0,"b":{"y":[{"c":2,"d":1}],"z":1}}');
  assert.equal(stableStringify({ when: new Date(0) }), '{"when":"1970-01-01T00:00:00.000Z"}');
  assert.equal(stableStringify({ t: { toJSON: () => ({ y: 2, x: 1 }) } }), '{"t":{"x":1,"y":2}}');
  assert.throws(() => stableStringify({ n: 1n }), (e: unknown) => e instanceof TypeError && /BigInt/.test(e.message));
  const cyc: unknown[] = [];
  cyc.push([cyc]);
  assert.throws(() => stableStringify(cyc), (e: unknown) => e instanceof TypeError && /cycle/.test(e.message));
  // The same object twice side by side, and nested under two keys, is not a cycle.
  const shared = { k: [1] };
  assert.equal(stableStringify({ a: shared, b: { c: shared } }), '{"a":{"k":[1]},"b":{"c":{"k":[1]}}}');
});

test('hashJson and cacheKey: the sha256 of the stable JSON', () => {
  // sha256 of '{"a":1,"b":[2,3]}' (worked out with python's hashlib).
  assert.equal(hashJson({ b: [2, 3], a: 1 }), 'efbd0040190fb0871831e606c581f8a66db79d8e2bb836745a70051306956070');
  assert.equal(cacheKey({ b: [2, 3], a: 1 }), 'efbd0040190fb0871831e606c581f8a66db79d8e2bb836745a70051306956070');
  // Requests that differ only where a careless key would not look: value types, array order, nesting.
  const keys = [{ q: '1' }, { q: 1 }, { q: [1, 2] }, { q: [2, 1] }, { q: { r: 1 } }, { q: null }, { Q: 1 }].map(cacheKey);
  assert.equal(new Set(keys).size, keys.length);
});

test('disk cache keys: 8 to 128 letters, digits, - and _; anything else is refused with the key named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-cache-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = createDiskCache<number>(dir);
  for (const ok of ['abcdefgh', 'A_b-9'.padEnd(8, 'x'), 'k'.repeat(128)]) assert.equal(cache.pathOf(ok), join(dir, ok.slice(0, 2), `${ok}.json`));
  for (const bad of ['abcdefg', 'k'.repeat(129), 'abcdefg/', 'abc.defgh', '../abcdefgh', 'abcdefgh\n', ' abcdefgh']) {
    assert.throws(() => cache.pathOf(bad), (e: unknown) => e instanceof TypeError && e.message.startsWith('disk cache key must match') && e.message.includes(JSON.stringify(bad.slice(0, 40))), bad);
  }
  // A long bad key is quoted by its first 40 characters only.
  const long = `/${'z'.repeat(100)}`;
  assert.throws(() => cache.pathOf(long), (e: unknown) => e instanceof TypeError && e.message.endsWith(`got ${JSON.stringify(long.slice(0, 40))}`));
  await assert.rejects(cache.set('../../x', 1), /key must match/);
  await assert.rejects(cache.delete('../../x'), /key must match/);
});

test('disk cache: an entry is one JSON file in the folder named by the key\'s first two characters', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-cache-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = createDiskCache<{ v: number[] }>(dir);
  const key = 'Qz_entry-0001';
  assert.equal(cache.dir, dir);
  assert.equal(await cache.set(key, { v: [1, 2] }), true);
  assert.deepEqual(await readdir(dir), ['Qz']);
  assert.deepEqual(await readdir(join(dir, 'Qz')), [`${key}.json`]);
  assert.equal(await readFile(join(dir, 'Qz', `${key}.json`), 'utf8'), '{"v":[1,2]}');
  // Without validate, whatever JSON is there is returned.
  assert.deepEqual(await cache.get(key), { v: [1, 2] });
  // A second key with the same first two characters shares the folder.
  assert.equal(await cache.set('Qz_entry-0002', { v: [] }), true);
  assert.deepEqual((await readdir(join(dir, 'Qz'))).sort(), [`${key}.json`, 'Qz_entry-0002.json']);
  await cache.delete(key);
  assert.deepEqual(await readdir(join(dir, 'Qz')), ['Qz_entry-0002.json']);
  // Deleting what is not there is fine.
  await cache.delete(key);
});

test('disk cache: a failed write leaves no temporary file behind', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-cache-fail-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = createDiskCache<unknown>(dir);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  // JSON.stringify throws after the folder exists: the write is reported as failed, nothing is left.
  assert.equal(await cache.set('abcdefgh', cyclic), false);
  assert.deepEqual(await readdir(join(dir, 'ab')), []);
  assert.equal(await cache.get('abcdefgh'), undefined);
  // The temporary file is written but cannot be renamed over a folder: it is removed again.
  await mkdir(join(dir, 'ab', 'abcdefgh.json'));
  assert.equal(await cache.set('abcdefgh', { ok: 1 }), false);
  assert.deepEqual(await readdir(join(dir, 'ab')), ['abcdefgh.json']);
  assert.equal(await cache.get('abcdefgh'), undefined, 'a folder where the entry should be is a miss');
});

test('disk cache: a file that is not JSON is a miss before validate sees it, even a validate that fills defaults', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-cache-corrupt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // A validate that upgrades old entries by filling a default would turn "nothing read" into a
  // value: the corrupt file must never reach it.
  const seen: unknown[] = [];
  const cache = createDiskCache<{ n: number; v: number }>(dir, {
    validate: (raw) => {
      seen.push(raw);
      return { n: 0, v: 1, ...(raw as object) };
    },
  });
  assert.equal(await cache.set('abcdefgh', { n: 2, v: 2 }), true);
  assert.deepEqual(await cache.get('abcdefgh'), { n: 2, v: 2 });
  await writeFile(cache.pathOf('abcdefgh'), '{"n": 2, "v"', 'utf8');
  assert.equal(await cache.get('abcdefgh'), undefined);
  assert.equal(await cache.get('zzzzzzzz'), undefined, 'a missing file too');
  assert.deepEqual(seen, [{ n: 2, v: 2 }]);
});
