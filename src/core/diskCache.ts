/**
 * A content-keyed JSON cache on disk: one file per entry under `<dir>/<key[0..2]>/<key>.json`.
 * Writes are atomic (temp file in the same folder, then rename), so a reader never sees half a
 * file and two processes writing the same key both leave a whole one. A missing, unreadable or
 * corrupt entry is a miss, never an error: a cache must not be able to break a run.
 * Used for language-model replies, and later for tool and judge results.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashJson } from './contentHash.js';

export interface DiskCache<T> {
  readonly dir: string;
  /** The cached value for `key`, or undefined (miss, unreadable, or rejected by `validate`). */
  get(key: string): Promise<T | undefined>;
  /** Store `value` under `key` atomically. Failures to write are reported, not thrown, via the returned boolean. */
  set(key: string, value: T): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Path of the entry file for `key` (whether or not it exists). */
  pathOf(key: string): string;
}

export interface DiskCacheOptions<T> {
  /** Checks a value read back (e.g. a zod `safeParse`); returning undefined makes it a miss. */
  validate?: (raw: unknown) => T | undefined;
}

const KEY_RE = /^[A-Za-z0-9_-]{8,128}$/;

/** Key for any JSON-able description of a request (sha256 of its stable JSON). */
export const cacheKey = (parts: unknown): string => hashJson(parts);

export function createDiskCache<T>(dir: string, opts: DiskCacheOptions<T> = {}): DiskCache<T> {
  const pathOf = (key: string): string => {
    // Keys become file names: refuse anything that could escape the folder.
    if (!KEY_RE.test(key)) throw new TypeError(`disk cache key must match ${KEY_RE} (use cacheKey(...)); got ${JSON.stringify(key.slice(0, 40))}`);
    return join(dir, key.slice(0, 2), `${key}.json`);
  };
  return {
    dir,
    pathOf,
    async get(key) {
      let text: string;
      try {
        text = await readFile(pathOf(key), 'utf8');
      } catch {
        return undefined;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        return undefined;
      }
      return opts.validate ? opts.validate(raw) : (raw as T);
    },
    async set(key, value) {
      const file = pathOf(key);
      const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await mkdir(join(dir, key.slice(0, 2)), { recursive: true });
        await writeFile(tmp, JSON.stringify(value));
        await rename(tmp, file);
        return true;
      } catch {
        await rm(tmp, { force: true }).catch(() => undefined);
        return false;
      }
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}
