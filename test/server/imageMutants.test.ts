// The image store's details that a mutation run of src/server/images.ts found untested, in-process
// with real sharp and real image files made here: every accepted format, the pixel limit read from
// the header alone, corrupt headers, the disk budget's deletions, the path checks' answers (the
// same 403 whether or not a path outside exists), when a path is read again, the pixel cache's
// keys, read errors that appear only while a file is read (/proc files), and closing twice.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ImageStore, decodeRgb, probe } from '../../src/server/images.js';
import { pngHeader } from '../helpers/pngHeader.js';
import { assertHttpError, fixtureImage, openStore } from '../helpers/imageStore.js';

const solid = (width: number, height: number, background: string) => sharp({ create: { width, height, channels: 3, background } });
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('probe and decodeRgb: formats, limits and damaged headers', () => {
  it('accepts WebP, GIF, TIFF and AVIF (which sharp reports as heif) with their size', async () => {
    for (const [fmt, reported] of [
      ['webp', 'webp'],
      ['gif', 'gif'],
      ['tiff', 'tiff'],
      ['avif', 'heif'],
    ] as const) {
      const bytes = await solid(8, 6, '#c80a0a').toFormat(fmt).toBuffer();
      assert.deepEqual(await probe(bytes, 1e8), { format: reported, width: 8, height: 6 }, fmt);
      const d = await decodeRgb(bytes, 1e8);
      assert.deepEqual([d.width, d.height, d.data.length], [8, 6, 8 * 6 * 3], fmt);
    }
  });

  it('a 1 × 1 image is a valid image', async () => {
    assert.deepEqual(await probe(fixtureImage('pixel-1x1.png'), 1e8), { format: 'png', width: 1, height: 1 });
  });

  it('refuses a 20000 × 20000 image from its header with the size and the limit, not as a damaged file', async () => {
    // sharp's own default limit (268 megapixels) would call it an error of the input; the server
    // reads the header without that limit and says what is too large and what to do.
    await assertHttpError(probe(pngHeader(20_000, 20_000), 1e8), 413, 'image_too_large', /^the image is 20000×20000 = 400\.0 megapixels; the server accepts at most 100\.0 megapixels \(--max-megapixels\): downscale it first$/);
  });

  it('a damaged header is a 422 that says the file is damaged, not an unsupported format', async () => {
    const damaged = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10, 0, 0]);
    await assertHttpError(probe(damaged, 1e8), 422, 'corrupt_image', /^the image could not be read \([^)\n]*corrupt header[^\n]*\): the file is damaged or truncated; re-export or re-download it$/);
  });

  it('decoding enforces the pixel limit itself', async () => {
    // 320 × 240 = 76,800 pixels.
    await assertHttpError(decodeRgb(fixtureImage('scene-320x240.png'), 76_799), 422, 'corrupt_image', /^the image could not be decoded \(Input image exceeds pixel limit\)/);
    const ok = await decodeRgb(fixtureImage('scene-320x240.png'), 76_800);
    assert.equal(ok.data.length, 320 * 240 * 3);
  });
});

describe('ImageStore details', () => {
  let base: string;
  const png = fixtureImage('scene-320x240.png');
  const other = fixtureImage('scene-224x224.png');

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'valor-store-m-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const open = (dir: string, extra: Parameters<typeof openStore>[2] = {}): Promise<ImageStore> => openStore(dir, [base], extra);

  it('creates a nested store folder, and opens an existing one', async () => {
    const dir = join(base, 'deep', 'er', 'store');
    const a = await open(dir, { ownsDir: false });
    assert.ok(existsSync(dir));
    await a.put(png);
    const b = await open(dir);
    assert.equal((await b.put(png)).width, 320);
    await b.close();
  });

  it('deletes the file of an upload forgotten to stay within the disk budget', async () => {
    const store = await open(join(base, 'budget'), { diskBudgetBytes: png.length + other.length - 1 });
    const a = await store.put(png);
    const b = await store.put(other);
    assert.deepEqual(store.stats(), { entries: 1, bytes: other.length });
    for (let i = 0; i < 200 && existsSync(a.file); i++) await sleep(10);
    assert.equal(existsSync(a.file), false, 'the forgotten upload is removed from disk');
    assert.equal(existsSync(b.file), true);
    await assertHttpError(store.resolve({ sha256: a.sha256 }), 404, 'unknown_image', /upload its bytes with POST \/v1\/images first/);
    await store.close();
  });

  it('closing twice, or after the folder is gone, is fine', async () => {
    const dir = join(base, 'twice');
    const store = await open(dir);
    await store.put(png);
    await store.close();
    await store.close();
    assert.equal(existsSync(dir), false);
  });

  it('keeps pixels per image: two images decode to their own pixels, and cached pixels need no file', async () => {
    const store = await open(join(base, 'pixels'));
    const a = await store.put(png);
    const b = await store.put(other);
    const pa = await store.decode(a);
    const pb = await store.decode(b);
    assert.deepEqual([pa.sha256, pa.width, pa.height, pa.data.length], [a.sha256, 320, 240, 320 * 240 * 3]);
    assert.deepEqual([pb.sha256, pb.width, pb.height, pb.data.length], [b.sha256, 224, 224, 224 * 224 * 3]);
    // The pixels stay cached: decoding again reads no file (here, the file is gone).
    unlinkSync(a.file);
    assert.equal(await store.decode(a), pa);
    await store.close();
  });

  describe('paths', () => {
    let rootA: string;
    let rootB: string;
    let store: ImageStore;
    before(async () => {
      rootA = mkdtempSync(join(base, 'ra-'));
      rootB = mkdtempSync(join(base, 'rb-'));
      store = await open(join(base, 'paths-store'), { allowRoots: [rootA, rootB] });
    });
    after(async () => {
      await store?.close();
    });

    const forbidden = (path: string) => assertHttpError(store.resolve({ path }), 403, 'path_forbidden', new RegExp(`^image path ${esc(path)} is outside the server's allowed folders \\(${esc(rootA)}, ${esc(rootB)}\\): start the server with --allow-root <folder>, or upload the bytes with POST /v1/images$`));

    it('gives the same 403, naming every allowed folder, for a path outside whether or not it exists', async () => {
      const outside = join(base, 'outside.png');
      writeFileSync(outside, png);
      await forbidden(outside);
      await forbidden(join(base, 'no-such-file.png'));
    });

    it('the folder above an allowed root is outside it', async () => {
      await forbidden(dirname(rootA));
      await forbidden(join(rootA, '..'));
    });

    it('a folder inside a root is refused as not a regular file', async () => {
      await assertHttpError(store.resolve({ path: rootB }), 400, 'bad_path', new RegExp(`^image path ${esc(rootB)} is not a regular file$`));
    });

    it('reads a path again when its size or its modification time changes, and only then', async () => {
      // Two uncompressed TIFFs of the same size and different pixels.
      const red = await solid(8, 6, '#ff0000').tiff({ compression: 'none' }).toBuffer();
      const green = await solid(8, 6, '#00ff00').tiff({ compression: 'none' }).toBuffer();
      assert.equal(red.length, green.length);
      const file = join(rootA, 'swap.tiff');
      writeFileSync(file, red);
      utimesSync(file, 1_000_000, 1_000_000);
      const first = await store.resolve({ path: file });
      // Same size, same time: the path is not read again (the swapped content is not seen).
      writeFileSync(file, green);
      utimesSync(file, 1_000_000, 1_000_000);
      assert.equal((await store.resolve({ path: file })).sha256, first.sha256);
      // Same size, a new time: read again.
      utimesSync(file, 2_000_000, 2_000_000);
      const second = await store.resolve({ path: file });
      assert.notEqual(second.sha256, first.sha256);
      assert.equal(second.sha256, (await store.put(green)).sha256);
      // Another size, the same time as before: read again.
      writeFileSync(file, png);
      utimesSync(file, 2_000_000, 2_000_000);
      assert.equal(statSync(file).mtimeMs, 2_000_000_000);
      const third = await store.resolve({ path: file });
      assert.deepEqual([third.width, third.height, third.format], [320, 240, 'png']);
    });
  });

  describe('files that change while read (Linux /proc)', { skip: !existsSync('/proc/self/status') || !existsSync('/proc/sys/vm/drop_caches') }, () => {
    it('a file whose size says 0 but that reads past the limit is a 413', async () => {
      // /proc files report size 0 and give their text when read: the read itself must enforce the cap.
      const store = await open(join(base, 'proc1'), { allowRoots: ['/proc/self'], maxFileBytes: 100 });
      await assertHttpError(store.resolve({ path: '/proc/self/status' }), 413, 'image_too_large', /grew past 100 bytes while being read$/);
      await store.close();
    });

    it('a file that cannot be opened for reading is a 400 naming the reason', async () => {
      // drop_caches is write-only, for root too.
      const store = await open(join(base, 'proc2'), { allowRoots: ['/proc/sys/vm'] });
      await assertHttpError(store.resolve({ path: '/proc/sys/vm/drop_caches' }), 400, 'bad_path', /^image file \/proc\/sys\/vm\/drop_caches cannot be read \(EACCES\)$/);
      await store.close();
    });
  });
});
