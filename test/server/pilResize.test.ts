// Our Pillow resize against Pillow itself: sha256 of Pillow's Image.resize output for fixture
// pictures × output sizes × all six filters (test/fixtures/images/pillow-resize.json, written by
// scripts/fixtures/make_pillow_resize.py with Pillow), and the fused resize + normalise path
// against the plain resize followed by the same per-channel table.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeRgb } from '../../src/server/images.js';
import { pilResize, pilResizeToPlanes } from '../../src/server/pilResize.js';
import { FIXTURES } from '../helpers/toolServer.js';

interface Case {
  image: string;
  input_sha256: string;
  width: number;
  height: number;
  filter: string;
  resample: number;
  sha256: string;
}
const golden = JSON.parse(readFileSync(join(FIXTURES, 'images', 'pillow-resize.json'), 'utf8')) as { pillow: string; cases: Case[] };
const sha = (b: Uint8Array | Uint8ClampedArray): string => createHash('sha256').update(b).digest('hex');

async function decoded(): Promise<Map<string, { data: Buffer; width: number; height: number }>> {
  const out = new Map<string, { data: Buffer; width: number; height: number }>();
  for (const name of new Set(golden.cases.map((c) => c.image))) out.set(name, await decodeRgb(readFileSync(join(FIXTURES, 'images', name)), 1e8));
  return out;
}

describe('Pillow-exact resize', () => {
  it(`gives Pillow ${golden.pillow}'s bytes for every picture, size and filter`, async () => {
    const images = await decoded();
    assert.ok(golden.cases.length > 200);
    const wrong: string[] = [];
    for (const c of golden.cases) {
      const img = images.get(c.image)!;
      assert.equal(sha(img.data), c.input_sha256, `${c.image}: sharp decodes other bytes than Pillow; the comparison would be meaningless`);
      const out = pilResize(img.data, img.width, img.height, 3, c.width, c.height, c.resample);
      assert.equal(out.length, c.width * c.height * 3);
      if (sha(out) !== c.sha256) wrong.push(`${c.image} -> ${c.width}x${c.height} ${c.filter}`);
    }
    assert.deepEqual(wrong, [], `differs from Pillow in ${wrong.length} of ${golden.cases.length} cases`);
  });

  it('fuses the per-channel table into the last pass with the same result as resizing first', async () => {
    const images = await decoded();
    // A table that keeps byte and channel recoverable: lut[c][b] = c * 1000 + b + 0.25.
    const lut = new Float32Array(768);
    for (let c = 0; c < 3; c++) for (let b = 0; b < 256; b++) lut[c * 256 + b] = c * 1000 + b + 0.25;
    const sizes: Array<[number, number]> = [[800, 800], [37, 53], [61, 47], [61, 20], [90, 47], [1, 1]];
    for (const [name, img] of images) {
      for (const [w, h] of sizes) {
        for (const resample of [0, 1, 2, 3, 4, 5]) {
          const planes = pilResizeToPlanes(img.data, img.width, img.height, w, h, resample, lut);
          const bytes = pilResize(img.data, img.width, img.height, 3, w, h, resample);
          const plane = w * h;
          assert.equal(planes.length, 3 * plane);
          for (let i = 0; i < plane; i++) {
            for (let c = 0; c < 3; c++) {
              const want = c * 1000 + (bytes[i * 3 + c] as number) + 0.25;
              if (planes[c * plane + i] !== want) assert.fail(`${name} -> ${w}x${h} filter ${resample}: channel ${c} pixel ${i} is ${planes[c * plane + i]}, resize says ${want}`);
            }
          }
        }
      }
    }
  });

  it('gives the same result when called again (reused tables and buffers hold no state)', async () => {
    const images = await decoded();
    const a = images.get('noise-61x47.png')!;
    const b = images.get('scene-320x240.png')!;
    const first = sha(pilResize(a.data, a.width, a.height, 3, 800, 800, 2));
    pilResize(b.data, b.width, b.height, 3, 800, 800, 2);
    pilResize(b.data, b.width, b.height, 3, 37, 53, 1);
    assert.equal(sha(pilResize(a.data, a.width, a.height, 3, 800, 800, 2)), first);
  });
});
