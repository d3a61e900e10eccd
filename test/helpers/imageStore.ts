/**
 * What the in-process tests of the tool server's image store share: fixture images, an image
 * store with limits no test reaches unless it sets them, and the assertion that a promise fails
 * with a given HttpError.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpError } from '../../src/server/errors.js';
import { ImageStore } from '../../src/server/images.js';
import { ByteLru } from '../../src/server/lru.js';
import { FIXTURES } from './toolServer.js';

/** The bytes of test/fixtures/images/`name`. */
export const fixtureImage = (name: string): Buffer => readFileSync(join(FIXTURES, 'images', name));

type StoreOptions = ConstructorParameters<typeof ImageStore>[0];

/** A store in `dir` (which it owns) reading files under `allowRoots`, 100 MP / 100 MB limits; not yet initialised. */
export function newStore(dir: string, allowRoots: string[], extra: Partial<StoreOptions> = {}): ImageStore {
  return new ImageStore({ dir, ownsDir: true, allowRoots, maxPixels: 1e8, diskBudgetBytes: 1e8, cache: new ByteLru<object>(1e8), ...extra });
}

/** `newStore`, initialised. */
export async function openStore(dir: string, allowRoots: string[], extra: Partial<StoreOptions> = {}): Promise<ImageStore> {
  const s = newStore(dir, allowRoots, extra);
  await s.init();
  return s;
}

/** `p` rejects with an HttpError of this status and code, its message matching `message`. */
export async function assertHttpError(p: Promise<unknown>, status: number, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HttpError, String(e));
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}
