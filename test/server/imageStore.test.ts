// The server's image store in-process (src/server/images.ts): uploads kept once by content, the
// errors a bad upload or path gets (status, code and what to do), orientation, the pixel cache,
// and the store's folder. The HTTP tests reach the same code through the tool server's child
// process, where a mutation run sees no coverage; these call it directly.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { type ImageStore, decodeRgb, probe } from '../../src/server/images.js';
import { ByteLru } from '../../src/server/lru.js';
import { assertHttpError, fixtureImage, newStore, openStore } from '../helpers/imageStore.js';

describe('probe and decodeRgb', () => {
  it('reads format and size from the header', async () => {
    assert.deepEqual(await probe(fixtureImage('scene-320x240.png'), 1e8), { format: 'png', width: 320, height: 240 });
    assert.deepEqual(await probe(fixtureImage('scene-640x480.jpg'), 1e8), { format: 'jpeg', width: 640, height: 480 });
  });
  it('gives the upright size of an image turned by its EXIF orientation', async () => {
    const turned = await sharp(fixtureImage('scene-320x240.png')).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    assert.deepEqual(await probe(turned, 1e8), { format: 'jpeg', width: 240, height: 320 });
    const decoded = await decodeRgb(turned, 1e8);
    assert.deepEqual([decoded.width, decoded.height, decoded.data.length], [240, 320, 240 * 320 * 3]);
    // Orientation 5 (transposed) is the first that swaps width and height.
    const transposed = await sharp(fixtureImage('scene-320x240.png')).jpeg().withMetadata({ orientation: 5 }).toBuffer();
    assert.deepEqual(await probe(transposed, 1e8), { format: 'jpeg', width: 240, height: 320 });
    const mirrored = await sharp(fixtureImage('scene-320x240.png')).jpeg().withMetadata({ orientation: 4 }).toBuffer();
    assert.deepEqual(await probe(mirrored, 1e8), { format: 'jpeg', width: 320, height: 240 });
  });
  it('refuses what is not an image, a damaged one and one over the pixel limit, saying what to do', async () => {
    await assertHttpError(probe(fixtureImage('not-an-image.jpg'), 1e8), 415, 'unsupported_image', /not an image the server can read \(.+\); send JPEG, PNG/);
    await assertHttpError(probe(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'), 1e8), 415, 'unsupported_image', /^images in svg format are not accepted; send JPEG/);
    // 320 x 240 = 76800 pixels against a limit of 76799.
    await assertHttpError(probe(fixtureImage('scene-320x240.png'), 76_799), 413, 'image_too_large', /^the image is 320×240 = 0\.1 megapixels; the server accepts at most 0\.1 megapixels \(--max-megapixels\): downscale it first$/);
    assert.deepEqual(await probe(fixtureImage('scene-320x240.png'), 76_800), { format: 'png', width: 320, height: 240 });
    await assertHttpError(decodeRgb(fixtureImage('truncated.jpg'), 1e8), 422, 'corrupt_image', /^the image could not be decoded \([^\n]+\): the file is damaged or truncated/);
  });
  it('decodes grey and alpha images to three channels', async () => {
    for (const name of ['gray-160x120.png', 'alpha-160x120.png']) {
      const d = await decodeRgb(fixtureImage(name), 1e8);
      assert.deepEqual([d.width, d.height, d.data.length], [160, 120, 160 * 120 * 3], name);
    }
  });
});

describe('ImageStore', () => {
  let base: string;
  const png = fixtureImage('scene-320x240.png');

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'valor-store-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const open = (dir: string, extra: Parameters<typeof openStore>[2] = {}): Promise<ImageStore> => openStore(dir, [base], extra);

  it('keeps an upload once, by its sha256, as a file named by hash and format', async () => {
    const dir = join(base, 'store1');
    const store = await open(dir);
    const a = await store.put(png);
    const b = await store.put(Buffer.from(png));
    assert.equal(b, a);
    assert.equal(store.uploads, 1);
    assert.match(a.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual([a.width, a.height, a.format, a.bytes, a.file], [320, 240, 'png', png.length, join(dir, `${a.sha256}.png`)]);
    assert.deepEqual(readdirSync(dir), [`${a.sha256}.png`]);
    assert.deepEqual(store.stats(), { entries: 1, bytes: png.length });
    assert.equal(await store.resolve({ sha256: a.sha256 }), a);
    await store.close();
    assert.equal(existsSync(dir), false, 'a store that owns its folder removes it');
  });

  it('a store that does not own its folder leaves it', async () => {
    const dir = join(base, 'store2');
    const store = await open(dir, { ownsDir: false });
    await store.put(png);
    await store.close();
    assert.equal(existsSync(dir), true);
  });

  it('an unknown hash is a 404 that says to upload first', async () => {
    const store = await open(join(base, 'store3'));
    await assertHttpError(store.resolve({ sha256: 'ab'.repeat(32) }), 404, 'unknown_image', /^no image with sha256 (ab){32} on this server: upload its bytes with POST \/v1\/images first/);
    await store.close();
  });

  it('decodes once: pixels come from the cache, and a store whose bytes are gone says so', async () => {
    const cache = new ByteLru<object>(1e8);
    const store = await open(join(base, 'store4'), { cache });
    const a = await store.put(png);
    const first = await store.decode(a);
    assert.deepEqual([first.sha256, first.width, first.height, first.data.length], [a.sha256, 320, 240, 320 * 240 * 3]);
    assert.equal(await store.decode(a), first);
    assert.deepEqual(cache.statsByKind(), { images: { entries: 1, bytes: 320 * 240 * 3 } });
    cache.clear();
    unlinkSync(a.file);
    await assertHttpError(store.decode(a), 404, 'unknown_image', new RegExp(`^the bytes of image ${a.sha256} are gone from the server's store: upload them again`));
    await store.close();
  });

  it('paths: a NUL byte, a missing file, a file over the size limit, each with its own answer', async () => {
    const store = await open(join(base, 'store5'), { maxFileBytes: png.length - 1 });
    await assertHttpError(store.resolve({ path: join(base, 'a\0.png') }), 400, 'bad_path', /^image path contains a NUL byte$/);
    const missing = join(base, 'missing.png');
    await assertHttpError(store.resolve({ path: missing }), 404, 'image_not_found', new RegExp(`^image file ${missing.replace(/[.]/g, '\\.')} does not exist on the tool server's machine`));
    const big = join(base, 'big.png');
    writeFileSync(big, png);
    await assertHttpError(store.resolve({ path: big }), 413, 'image_too_large', new RegExp(`is ${png.length} bytes; the server reads files up to ${png.length - 1} bytes`));
    await store.close();
    const exact = await open(join(base, 'store6'), { maxFileBytes: png.length });
    assert.equal((await exact.resolve({ path: big })).bytes, png.length);
    await exact.close();
  });

  it('a path is hashed again only when the file changes', async () => {
    const store = await open(join(base, 'store7'));
    const file = join(base, 'changing.png');
    writeFileSync(file, png);
    const a = await store.resolve({ path: file });
    assert.equal(await store.resolve({ path: file }), a);
    assert.equal(store.uploads, 1);
    const other = fixtureImage('scene-224x224.png');
    writeFileSync(file, other);
    const b = await store.resolve({ path: file });
    assert.notEqual(b.sha256, a.sha256);
    assert.deepEqual([b.width, b.height], [224, 224]);
    await store.close();
  });

  it('with two allowed roots, a file in either is served', async () => {
    const one = mkdtempSync(join(base, 'one-'));
    const two = mkdtempSync(join(base, 'two-'));
    writeFileSync(join(one, 'a.png'), png);
    writeFileSync(join(two, 'b.png'), fixtureImage('scene-224x224.png'));
    const store = await open(join(base, 'store9'), { allowRoots: [one, two] });
    assert.equal((await store.resolve({ path: join(one, 'a.png') })).width, 320);
    assert.equal((await store.resolve({ path: join(two, 'b.png') })).width, 224);
    await store.close();
  });

  it('an allowed root that does not exist is refused at start, naming it', async () => {
    const gone = join(base, 'no-such-root');
    const s = newStore(join(base, 'store8'), [gone]);
    await assert.rejects(s.init(), new RegExp(`^Error: allowed root ${gone} does not exist: pass an existing folder with --allow-root$`));
    assert.deepEqual(s.allowRoots, [gone], 'before init the roots are the ones given');
  });
});
