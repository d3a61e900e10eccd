// How depth(img, bbox) turns a depth map and a box into one number (src/server/depthReading.ts),
// in-process, with the box clipped by checkBox as the depth route does. The box used runs past the
// right and bottom edge of the image, where a missing clip would read the wrong pixels.
// Known values are worked out by hand: the map holds 1 + x + 10·y at pixel (x, y).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BBox } from '../../src/protocol/tools.js';
import { checkBox } from '../../src/server/boxes.js';
import { readDepth } from '../../src/server/depthReading.js';
import { HttpError } from '../../src/server/errors.js';

const W = 8;
const H = 6;
function depthMap(holes: Array<[number, number]> = []): Float32Array {
  const m = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) m[y * W + x] = 1 + x + 10 * y;
  for (const [x, y] of holes) m[y * W + x] = Number.NaN;
  return m;
}

// Runs past the right (x2 = 20 > 8) and bottom (y2 = 15 > 6) edge; clipped it is [4, 2, 8, 6].
const PAST_EDGE: BBox = [4, 2, 20, 15];

function noValidDepth(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HttpError, String(e));
    assert.equal(e.status, 422);
    assert.equal(e.code, 'no_valid_depth');
    assert.match(e.message, re);
    return true;
  });
}

describe('readDepth, median reading', () => {
  it('reads the centre of the box clipped at the right and bottom edge', () => {
    const clipped = checkBox(PAST_EDGE, W, H);
    assert.deepEqual(clipped, [4, 2, 8, 6]);
    // Centre half of [4, 8) is [5, 7); of [2, 6) is [3, 5): pixels 36, 37, 46, 47.
    assert.deepEqual(readDepth(depthMap(), W, H, PAST_EDGE, clipped, 'median'), { value: 41.5, region: [5, 3, 7, 5] });
  });

  it('falls back to the whole clipped box when the centre holds no valid depth', () => {
    const clipped = checkBox(PAST_EDGE, W, H);
    const map = depthMap([
      [5, 3],
      [6, 3],
      [5, 4],
      [6, 4],
    ]);
    // The 12 valid pixels of [4, 8) × [2, 6): 25..28, 35, 38, 45, 48, 55..58; median (38 + 45) / 2.
    assert.deepEqual(readDepth(map, W, H, PAST_EDGE, clipped, 'median'), { value: 41.5, region: [4, 2, 8, 6] });
  });

  it('says so when nothing in the box is a valid depth', () => {
    const clipped = checkBox([0, 0, 2, 1], W, H);
    noValidDepth(() => readDepth(depthMap([[0, 0], [1, 0]]), W, H, [0, 0, 2, 1], clipped, 'median'), /no valid \(finite, positive\) depth anywhere inside bbox \[0,0,2,1\]; try a larger box/);
  });
});

describe('readDepth, centre reading (the reference\'s way)', () => {
  it('reads the one pixel at the centre of the box as given, clamped to the image', () => {
    // Centre of the unclipped box: (trunc(12), trunc(8.5)) = (12, 8), clamped to (7, 5): 1 + 7 + 50.
    assert.deepEqual(readDepth(depthMap(), W, H, PAST_EDGE, checkBox(PAST_EDGE, W, H), 'center'), { value: 58, region: [7, 5, 8, 6] });
    // Inside the image: (trunc(2.5), trunc(1.5)) = (2, 1): 1 + 2 + 10.
    assert.deepEqual(readDepth(depthMap(), W, H, [1, 1, 4, 2], [1, 1, 4, 2], 'center'), { value: 13, region: [2, 1, 3, 2] });
    // Left of and above the image, clamped to (0, 0).
    assert.deepEqual(readDepth(depthMap(), W, H, [-9, -9, 1, 1], [0, 0, 1, 1], 'center'), { value: 1, region: [0, 0, 1, 1] });
  });

  it('refuses an invalid centre pixel instead of returning it, and names the pixel', () => {
    noValidDepth(() => readDepth(depthMap([[7, 5]]), W, H, PAST_EDGE, checkBox(PAST_EDGE, W, H), 'center'), /no valid depth at the centre pixel \(7, 5\) of bbox \[4,2,20,15\] \(value NaN\).*--depth-reading center/);
    const zero = depthMap();
    zero[1 * W + 2] = 0;
    noValidDepth(() => readDepth(zero, W, H, [1, 1, 4, 2], [1, 1, 4, 2], 'center'), /centre pixel \(2, 1\).*\(value 0\)/);
  });
});
