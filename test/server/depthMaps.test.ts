// The depth map arithmetic in-process (src/server/depth.ts), no model: the bicubic resize on the
// Python reference's own network output against the reference's resized maps (torch bicubic,
// align_corners=False) and on small maps worked out by hand, and the map's downsampling for
// viewers worked out by hand. depthInProcess.test.ts runs the depth model itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downsampleDepth, resizeBicubic } from '../../src/server/depth.js';
import { assertLikeReference, daGolden, f32 } from '../helpers/depthGolden.js';

describe('resizeBicubic against the reference (torch bicubic, align_corners=False)', () => {
  it('resizes the reference network output to the image as the reference post-processing does', () => {
    for (const c of daGolden.cases.filter((k) => k.predicted_depth.data_f32le_base64)) {
      const [h, w] = c.predicted_depth.shape.slice(-2) as [number, number];
      const src = f32(c.predicted_depth.data_f32le_base64 as string);
      assert.equal(src.length, w * h);
      assertLikeReference(resizeBicubic(src, w, h, c.image_size.width, c.image_size.height), c, c.image);
    }
  });

  it('gives a copy at the same size, and keeps a constant map constant', () => {
    const src = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const same = resizeBicubic(src, 3, 2, 3, 2);
    assert.deepEqual([...same], [1, 2, 3, 4, 5, 6]);
    assert.notEqual(same, src, 'a new array: the caller may write into it');
    const flat = resizeBicubic(new Float32Array(4 * 3).fill(2.5), 4, 3, 9, 7);
    assert.equal(flat.length, 63);
    for (const v of flat) assert.ok(Math.abs(v - 2.5) < 1e-6, String(v));
  });

  it('upsamples two columns to four with the bicubic weights worked out by hand', () => {
    // 2 → 4: output o reads source position (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
    // Weights (a = -0.75) at fraction t: c2(1 + t), c1(t), c1(1 - t), c2(2 - t) with
    // c1(x) = (1.25x - 2.25)x² + 1, c2(x) = ((-0.75x + 3.75)x - 6)x + 3:
    //   t = 0.75: -0.03515625, 0.26171875, 0.87890625, -0.10546875
    //   t = 0.25: -0.10546875, 0.87890625, 0.26171875, -0.03515625
    // Taps past the edge read the edge column (source [10, 20]):
    //   o = 0: taps -2..1 → 10, 10, 10, 20 → 11.0546875 - 2.109375 = 8.9453125 (bicubic overshoots)
    //   o = 1: taps -1..2 → 10, 10, 20, 20 → 7.734375 + 4.53125 = 12.265625
    //   o = 2, 3 mirror them: 30 - 12.265625, 30 - 8.9453125.
    const want = [8.9453125, 12.265625, 17.734375, 21.0546875];
    const row = resizeBicubic(Float32Array.from([10, 20]), 2, 1, 4, 1);
    want.forEach((v, i) => assert.ok(Math.abs((row[i] as number) - v) < 1e-5, `x ${i}: ${row[i]} vs ${v}`));
    const col = resizeBicubic(Float32Array.from([10, 20]), 1, 2, 1, 4);
    want.forEach((v, i) => assert.ok(Math.abs((col[i] as number) - v) < 1e-5, `y ${i}: ${col[i]} vs ${v}`));
    // Down 4 → 2 (no antialiasing, as torch): positions 0.5 and 2.5, t = 0.5, weights -0.09375,
    // 0.59375, 0.59375, -0.09375; source [0, 8, 16, 24]: o = 0 taps -1..2 → 0, 0, 8, 16 →
    // 4.75 - 1.5 = 3.25; o = 1 taps 1..4 → 8, 16, 24, 24 → -0.75 + 9.5 + 14.25 - 2.25 = 20.75.
    const down = resizeBicubic(Float32Array.from([0, 8, 16, 24]), 4, 1, 2, 1);
    assert.deepEqual([...down], [3.25, 20.75]);
  });
});

describe('downsampleDepth', () => {
  it('averages the valid values of each cell and gives the range of the valid values', () => {
    // 4 × 2 to 2 × 1 (long side 4 → 2): cell 0 = x 0..1, cell 1 = x 2..3, both rows.
    // Invalid: Infinity, NaN, 0 and negatives. Cell 0: 1, 2, 5 → 8/3; cell 1: 3, 4, 8 → 5.
    const map = Float32Array.from([1, 2, 3, 4, 5, Infinity, 8, -1]);
    const d = downsampleDepth(map, 4, 2, 2);
    assert.deepEqual([d.width, d.height, d.min, d.max], [2, 1, 1, 8]);
    assert.ok(Math.abs((d.data[0] as number) - 8 / 3) < 1e-6, String(d.data[0]));
    assert.equal(d.data[1], 5);
  });

  it('keeps the size when the map is already small enough, and a cell without valid values stays NaN', () => {
    const d = downsampleDepth(Float32Array.from([0, 2, Number.NaN, 4]), 2, 2, 8);
    assert.deepEqual([d.width, d.height, d.min, d.max], [2, 2, 2, 4]);
    assert.ok(Number.isNaN(d.data[0]) && Number.isNaN(d.data[2]));
    assert.deepEqual([d.data[1], d.data[3]], [2, 4]);
  });

  it('gives a range of 0..0 when nothing is valid', () => {
    const d = downsampleDepth(Float32Array.from([0, -1, Number.NaN, Infinity]), 4, 1, 2);
    assert.deepEqual([d.width, d.height, d.min, d.max], [2, 1, 0, 0]);
    assert.ok(Number.isNaN(d.data[0]) && Number.isNaN(d.data[1]));
  });

  it('rounds the smaller size, never below one pixel, and maps rows and columns to cells by position', () => {
    // 5 × 3, long side to 2: scale 0.4 → 2 × 1.2 → 2 × 1. Columns 0..2 → cell 0 (x·2/5 < 1.2... floor 0,0,0), 3..4 → cell 1.
    const map = new Float32Array(15);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) map[y * 5 + x] = x < 3 ? 1 + y : 10 + y;
    const d = downsampleDepth(map, 5, 3, 2);
    assert.deepEqual([d.width, d.height], [2, 1]);
    assert.deepEqual([...d.data], [2, 11]);
    // 100 × 1 to 10: the height 0.1 rounds to 0, kept at 1.
    const line = downsampleDepth(new Float32Array(100).fill(3), 100, 1, 10);
    assert.deepEqual([line.width, line.height, line.data.length], [10, 1, 10]);
    // 1 × 4 to 2 (portrait): the long side is the height; rows 0..1 → cell 0, 2..3 → cell 1.
    const tall = downsampleDepth(Float32Array.from([1, 3, 5, 9]), 1, 4, 2);
    assert.deepEqual([tall.width, tall.height, ...tall.data], [1, 2, 2, 7]);
  });
});

