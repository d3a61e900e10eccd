// Image paths in-process (src/server/images.ts ImageStore): a path is allowed by whole folder
// components of an allowed root, never by string prefix; symlinks out and `..` are refused.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpError } from '../../src/server/errors.js';
import type { ImageStore } from '../../src/server/images.js';
import { fixtureImage, openStore } from '../helpers/imageStore.js';

describe('ImageStore path resolution', () => {
  let base: string;
  let root: string;
  let store: ImageStore;
  const png = fixtureImage('scene-320x240.png');

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'valor-paths-'));
    root = join(base, 'root');
    for (const d of ['root/sub', 'root-evil', 'rootx']) mkdirSync(join(base, d), { recursive: true });
    for (const f of ['root/..dots.png', 'root/a.png', 'root/sub/b.png', 'root-evil/a.png', 'rootx/a.png']) writeFileSync(join(base, f), png);
    symlinkSync(join(base, 'root-evil', 'a.png'), join(root, 'out.png'));
    store = await openStore(join(base, 'store'), [root]);
  });
  after(async () => {
    await store?.close();
    rmSync(base, { recursive: true, force: true });
  });

  const forbidden = async (path: string): Promise<void> => {
    await assert.rejects(store.resolve({ path }), (e: unknown) => {
      assert.ok(e instanceof HttpError, String(e));
      assert.equal(e.status, 403, path);
      assert.equal(e.code, 'path_forbidden');
      assert.match(e.message, /outside the server's allowed folders .*--allow-root/);
      return true;
    });
  };

  it('serves files inside the root and its subfolders', async () => {
    const a = await store.resolve({ path: join(root, 'a.png') });
    assert.deepEqual([a.width, a.height], [320, 240]);
    const b = await store.resolve({ path: join(root, 'sub', '..', 'sub', 'b.png') });
    assert.equal(b.sha256, a.sha256);
    const dots = await store.resolve({ path: join(root, '..dots.png') });
    assert.equal(dots.sha256, a.sha256, 'a file name starting with two dots is inside the root');
  });

  it('refuses a sibling folder whose name only starts with the root\'s name', async () => {
    await forbidden(join(base, 'root-evil', 'a.png'));
    await forbidden(join(base, 'rootx', 'a.png'));
    await forbidden(`${root}-evil/a.png`);
  });

  it('refuses `..` out of the root and a symlink pointing out', async () => {
    await forbidden(join(root, '..', 'root-evil', 'a.png'));
    await forbidden(join(root, 'out.png'));
  });

  it('refuses the root folder itself as not a file', async () => {
    await assert.rejects(store.resolve({ path: root }), (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === 'bad_path');
  });
});
