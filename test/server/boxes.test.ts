// Box arithmetic of the tool server (src/server/boxes.ts) in-process: the refusals a program author
// sees, clipping at every edge, depth's central region, VQA's padded crop, the median of a map.
// Known values are worked out by hand from the pixel convention (x1 <= x < x2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { centralRegion, checkBox, medianValid, paddedCrop, pixelBox } from '../../src/server/boxes.js';
import { HttpError } from '../../src/server/errors.js';

const W = 640;
const H = 480;

function refused(box: number[], re: RegExp, field?: string): void {
  assert.throws(
    () => checkBox(box as [number, number, number, number], W, H, field),
    (e: unknown) => {
      assert.ok(e instanceof HttpError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.code, 'bad_bbox');
      assert.match(e.message, re);
      return true;
    },
    JSON.stringify(box),
  );
}

describe('checkBox', () => {
  it('keeps a box inside the image as it is', () => {
    assert.deepEqual(checkBox([10, 20, 30, 40], W, H), [10, 20, 30, 40]);
    assert.deepEqual(checkBox([0, 0, W, H], W, H), [0, 0, W, H]);
  });

  it('clips a box partly outside at each edge, right and bottom included', () => {
    assert.deepEqual(checkBox([600, 400, 700, 500], W, H), [600, 400, 640, 480]);
    assert.deepEqual(checkBox([600, 10, 641, 20], W, H), [600, 10, 640, 20]);
    assert.deepEqual(checkBox([10, 470, 20, 481], W, H), [10, 470, 20, 480]);
    assert.deepEqual(checkBox([-5, -7, 10, 12], W, H), [0, 0, 10, 12]);
    assert.deepEqual(checkBox([-1, -1, W + 1, H + 1], W, H), [0, 0, W, H]);
  });

  it('refuses a box that only touches the right or bottom edge as entirely outside', () => {
    refused([W, 10, W + 50, 50], /entirely outside the 640×480 image/);
    refused([10, H, 50, H + 20], /entirely outside the 640×480 image/);
    // ...and one that only touches the left or top edge.
    refused([-50, 10, 0, 50], /entirely outside/);
    refused([10, -20, 50, 0], /entirely outside/);
  });

  it('keeps a one-pixel sliver just inside each edge', () => {
    assert.deepEqual(checkBox([W - 1, 0, W + 5, 1], W, H), [W - 1, 0, W, 1]);
    assert.deepEqual(checkBox([0, H - 1, 1, H + 5], W, H), [0, H - 1, 1, H]);
    assert.deepEqual(checkBox([-5, -5, 1, 1], W, H), [0, 0, 1, 1]);
  });

  it('names what is wrong: inverted, zero area, non-finite, with the field', () => {
    refused([100, 100, 50, 200], /^bbox \[100, 100, 50, 200\] is inverted \(x2 < x1\)/);
    refused([100, 200, 150, 100], /inverted \(y2 < y1\)/);
    // Zero width but inverted height: the message names the inversion that is there.
    refused([100, 200, 100, 150], /inverted \(y2 < y1\)/);
    refused([100, 100, 100, 200], /zero area \(x1 == x2\)/);
    refused([100, 100, 200, 100], /zero area \(y1 == y2\)/);
    refused([Number.NaN, 0, 1, 1], /non-finite/);
    refused([0, 0, Number.POSITIVE_INFINITY, 1], /non-finite/);
    refused([1.234, 0, 0.5, 1], /^crop \[1\.23, 0, 0\.5, 1\] is inverted/, 'crop');
  });
});

describe('centralRegion', () => {
  it('is the middle half of each side in whole pixels', () => {
    assert.deepEqual(centralRegion([100, 100, 200, 180], W, H), [125, 120, 175, 160]);
    assert.deepEqual(centralRegion([0, 0, W, H], W, H), [160, 120, 480, 360]);
    assert.deepEqual(centralRegion([100, 100, 200, 180], W, H, 1), [100, 100, 200, 180]);
  });

  it('is at least one pixel each way', () => {
    assert.deepEqual(centralRegion([10, 10, 11, 11], W, H), [10, 10, 11, 11]);
    assert.deepEqual(centralRegion([10.2, 20.2, 10.4, 20.4], W, H), [10, 20, 11, 21]);
  });

  it('stays inside the image at the right and bottom edge', () => {
    assert.deepEqual(centralRegion([639.5, 479.5, 640, 480], W, H), [639, 479, 640, 480]);
    assert.deepEqual(centralRegion([W - 2, H - 2, W, H], W, H), [639, 479, 640, 480]);
  });
});

describe('pixelBox', () => {
  it('covers a fractional box with whole pixels', () => {
    assert.deepEqual(pixelBox([10.2, 20.7, 30.1, 40.9], W, H), [10, 20, 31, 41]);
  });
  it('clamps to the image and keeps one pixel at the right and bottom edge', () => {
    assert.deepEqual(pixelBox([-3, -3, 700, 500], W, H), [0, 0, W, H]);
    assert.deepEqual(pixelBox([W, H, W + 10, H + 10], W, H), [W - 1, H - 1, W, H]);
    assert.deepEqual(pixelBox([5, 5, 5, 5], W, H), [5, 5, 6, 6]);
  });
});

describe('paddedCrop', () => {
  it('pads by a quarter of the width and height on each side (VALOR\'s crop)', () => {
    assert.deepEqual(paddedCrop([100, 100, 200, 180], W, H), [75, 80, 225, 200]);
    assert.deepEqual(paddedCrop([100, 100, 200, 180], W, H, 0.5), [50, 60, 250, 220]);
  });
  it('is clamped at all four edges', () => {
    assert.deepEqual(paddedCrop([0, 0, 40, 40], W, H), [0, 0, 50, 50]);
    assert.deepEqual(paddedCrop([600, 440, 640, 480], W, H), [590, 430, 640, 480]);
  });
});

describe('medianValid', () => {
  // A 4×3 map, row-major; 0, negative, NaN and Infinity are not depths.
  const map = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 0, -1, Number.NaN, Number.POSITIVE_INFINITY]);
  it('is the median of the region, averaging the two middle values of an even count', () => {
    assert.equal(medianValid(map, 4, [0, 0, 4, 2]), 4.5);
    assert.equal(medianValid(map, 4, [1, 0, 4, 2]), 5);
    assert.equal(medianValid(map, 4, [2, 1, 3, 2]), 7);
    assert.equal(medianValid(map, 4, [0, 0, 1, 1]), 1);
  });
  it('sorts numerically, not as text', () => {
    assert.equal(medianValid(Float32Array.from([10, 9, 100]), 3, [0, 0, 3, 1]), 10);
  });
  it('skips values that are not depths, and reports none found', () => {
    assert.equal(medianValid(map, 4, [0, 1, 4, 3]), 6.5);
    assert.equal(medianValid(map, 4, [0, 2, 4, 3]), undefined);
  });
});
