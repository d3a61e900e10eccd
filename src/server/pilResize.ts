/**
 * Image resizing that gives the same bytes as Pillow's `Image.resize` on 8-bit RGB images, the
 * resize behind transformers' Python image processors (the models' reference preprocessing),
 * and the same resize fused with the processors' rescale + normalise into CHW float32.
 *
 * transformers.js resizes with sharp, whose filters differ from Pillow's (no antialiasing when
 * shrinking, other kernels): on a 640×480 photo shrunk to 224×224 the normalised pixel values
 * differ by up to ~0.5, enough to move detector scores far beyond 1e-4. Pillow's algorithm is
 * separable convolution with the filter widened by the shrink factor, coefficients in 22-bit
 * fixed point, and a rounded, clipped 8-bit result after each pass (horizontal, then vertical);
 * this is that algorithm, step for step, in the same integer arithmetic.
 *
 * Speed (the tool server resizes every image it is asked about): the coefficient tables are
 * computed once per (source size, output size, filter) and kept; taps whose weight is zero are
 * trimmed so every output reads the same small number of taps (2 for a bilinear enlargement),
 * with unrolled loops for up to 4 taps; the clip to 0..255 is a table lookup on the shifted sum
 * (no branch), and in the fused path that same lookup gives the normalised float, so the last
 * pass writes the model's input planes directly. The intermediate rows live in one reused buffer.
 *
 * Here: the two entry points. The filters are in pilFilters.ts, the coefficient tables and their
 * cache in pilCoefficients.ts, the passes in pilPasses.ts.
 */

import { planFor, type Axis } from './pilCoefficients.js';
import { PIL_RESAMPLE } from './pilFilters.js';
import { type ChannelLut, horizontal, nearest, toPlanes, verticalBytes, verticalPlanes } from './pilPasses.js';

/**
 * A plain Uint8Array over the same memory: a Buffer or a Uint8ClampedArray is another object
 * shape, and loops that see one kind only stay fast.
 */
function plainBytes(a: Uint8Array | Uint8ClampedArray): Uint8Array {
  return a.constructor === Uint8Array ? (a as Uint8Array) : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The intermediate rows (after the horizontal pass), reused across calls. */
let scratch = new Uint8Array(0);
function scratchOf(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/**
 * Resizes interleaved 8-bit pixels (`channels` per pixel) to `outW`×`outH` exactly as Pillow does
 * with `resample` (a PIL_RESAMPLE id).
 */
export function pilResize(pixels: Uint8Array | Uint8ClampedArray, inW: number, inH: number, channels: number, outW: number, outH: number, resample: number): Uint8ClampedArray {
  if (inW === outW && inH === outH) return Uint8ClampedArray.from(pixels);
  const src = plainBytes(pixels);
  const out = new Uint8ClampedArray(outW * outH * channels);
  if (resample === PIL_RESAMPLE.NEAREST) {
    nearest(src, inW, inH, channels, outW, outH, out);
    return out;
  }
  const plan = planFor(inW, inH, outW, outH, resample);
  const bytes = new Uint8Array(out.buffer);
  if (!plan.v) {
    horizontal(src, inW, channels, 0, inH, outW, plan.h as Axis, bytes);
    return out;
  }
  let rows: Uint8Array = src;
  let rowStart = 0;
  let w = inW;
  if (plan.h) {
    rows = scratchOf(outW * plan.rows * channels);
    horizontal(src, inW, channels, plan.firstRow, plan.rows, outW, plan.h, rows);
    w = outW;
  } else {
    rowStart = plan.firstRow;
  }
  verticalBytes(rows, rowStart, w * channels, outH, plan.v, bytes);
  return out;
}

/**
 * Pillow's resize (as `pilResize`, RGB) followed by the per-channel table `lut`, written as CHW
 * float32 planes: the model's `pixel_values` in one pass over the output. `resample` NEAREST and
 * equal sizes are handled too.
 */
export function pilResizeToPlanes(pixels: Uint8Array | Uint8ClampedArray, inW: number, inH: number, outW: number, outH: number, resample: number, lut: ChannelLut): Float32Array {
  const src = plainBytes(pixels);
  // Shared memory: the model's thread reads it without a copy on this thread.
  const out = new Float32Array(new SharedArrayBuffer(12 * outW * outH));
  if (inW === outW && inH === outH) {
    toPlanes(src, outW * outH, lut, out);
    return out;
  }
  if (resample === PIL_RESAMPLE.NEAREST) {
    const px = new Uint8Array(outW * outH * 3);
    nearest(src, inW, inH, 3, outW, outH, px);
    toPlanes(px, outW * outH, lut, out);
    return out;
  }
  const plan = planFor(inW, inH, outW, outH, resample);
  if (!plan.v) {
    const px = scratchOf(outW * outH * 3);
    horizontal(src, inW, 3, 0, inH, outW, plan.h as Axis, px);
    toPlanes(px, outW * outH, lut, out);
    return out;
  }
  let rows: Uint8Array = src;
  let rowStart = 0;
  let w = inW;
  if (plan.h) {
    rows = scratchOf(outW * plan.rows * 3);
    horizontal(src, inW, 3, plan.firstRow, plan.rows, outW, plan.h, rows);
    w = outW;
  } else {
    rowStart = plan.firstRow;
  }
  verticalPlanes(rows, rowStart, w, outH, plan.v, lut, out);
  return out;
}
