// The image store's path → hash memory is bounded (src/server/images.ts): it keeps at most 10,000
// paths and forgets the oldest beyond that, so a client naming many files cannot grow it without
// end. Seen from outside: a forgotten path is read again. 10,000 hard links to one tiny PNG make
// the distinct paths cheaply; this is its own file because it takes seconds.
import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fixtureImage, openStore } from '../helpers/imageStore.js';

describe('ImageStore path memory cap', () => {
  let base: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'valor-cap-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('remembers 10,000 paths and forgets the oldest when one more comes', async () => {
    const store = await openStore(join(base, 'store'), [base]);
    // The first path: an uncompressed TIFF that is later swapped for another of the same size and
    // time, which only a fresh read sees.
    const red = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff0000' } }).tiff({ compression: 'none' }).toBuffer();
    const green = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#00ff00' } }).tiff({ compression: 'none' }).toBuffer();
    assert.equal(red.length, green.length);
    const first = join(base, 'first.tiff');
    writeFileSync(first, red);
    utimesSync(first, 1_000_000, 1_000_000);
    const redSha = (await store.resolve({ path: first })).sha256;
    const swap = (): void => {
      writeFileSync(first, green);
      utimesSync(first, 1_000_000, 1_000_000);
    };
    const restore = (): void => {
      writeFileSync(first, red);
      utimesSync(first, 1_000_000, 1_000_000);
    };
    writeFileSync(join(base, 'dot.png'), fixtureImage('pixel-1x1.png'));
    // 9,999 more paths: 10,000 in all, none forgotten.
    for (let i = 0; i < 9_999; i++) {
      const p = join(base, `l${i}.png`);
      linkSync(join(base, 'dot.png'), p);
      await store.resolve({ path: p });
    }
    swap();
    assert.equal((await store.resolve({ path: first })).sha256, redSha, 'at 10,000 paths the first is still remembered');
    restore();
    // One more: the oldest (the first) is forgotten and read again.
    const p = join(base, 'one-more.png');
    linkSync(join(base, 'dot.png'), p);
    await store.resolve({ path: p });
    swap();
    const again = await store.resolve({ path: first });
    assert.notEqual(again.sha256, redSha, 'past 10,000 paths the oldest is read again');
    await store.close();
  });
});
