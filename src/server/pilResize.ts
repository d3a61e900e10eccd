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
 */

/** Pillow's resampling filter ids (`PIL.Image.Resampling`), as preprocessor configs store them. */
export const PIL_RESAMPLE = { NEAREST: 0, LANCZOS: 1, BILINEAR: 2, BICUBIC: 3, BOX: 4, HAMMING: 5 } as const;

interface Filter {
  support: number;
  fn: (x: number) => number;
}

const sinc = (x: number): number => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};

const FILTERS: Record<number, Filter> = {
  [PIL_RESAMPLE.BOX]: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [PIL_RESAMPLE.BILINEAR]: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  [PIL_RESAMPLE.HAMMING]: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      const px = a * Math.PI;
      return (Math.sin(px) / px) * (0.54 + 0.46 * Math.cos(px));
    },
  },
  [PIL_RESAMPLE.BICUBIC]: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  [PIL_RESAMPLE.LANCZOS]: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

/**
 * Pillow's clip8 on a sum already shifted down: below 0 gives 0, above 255 gives 255. (Sums stay
 * below 2^31 — 255 × 2^22 × the filter's absolute mass — so the int32 shift is exact.) Two
 * well-predicted compares are faster here than a table lookup.
 */
const clip8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * One axis of a resize: for output index o, `taps` weights `kk[o*taps ..]` applied to the source
 * indices `start[o] ..`. Weights are Pillow's fixed-point coefficients; zero weights at either end
 * are dropped and shorter outputs padded with zeros, so every output has the same tap count.
 */
interface Axis {
  taps: number;
  start: Int32Array;
  kk: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc, then trimmed to a fixed tap count. */
function axis(inSize: number, outSize: number, filter: Filter): Axis {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const ss = 1 / filterscale;
  const k = new Float64Array(ksize);
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const raw = new Int32Array(outSize * ksize);
  let taps = 1;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    let lo = -1;
    let hi = -1;
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? (k[x] as number) / ww : (k[x] as number);
      const q = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
      raw[xx * ksize + x] = q;
      if (q !== 0) {
        if (lo < 0) lo = x;
        hi = x;
      }
    }
    if (lo < 0) {
      lo = 0;
      hi = 0;
    }
    first[xx] = xmin + lo;
    count[xx] = hi - lo + 1;
    for (let x = 0; x < count[xx]!; x++) raw[xx * ksize + x] = raw[xx * ksize + lo + x]!;
    if (count[xx]! > taps) taps = count[xx]!;
  }
  if (taps > inSize) taps = inSize;
  const start = new Int32Array(outSize);
  const kk = new Int32Array(outSize * taps);
  for (let xx = 0; xx < outSize; xx++) {
    // Keep the taps inside the source: move the window left and put the weights at their offsets.
    const s = Math.min(first[xx]!, inSize - taps);
    const shift = first[xx]! - s;
    start[xx] = s;
    for (let x = 0; x < count[xx]!; x++) kk[xx * taps + shift + x] = raw[xx * ksize + x]!;
  }
  return { taps, start, kk };
}

interface Plan {
  /** Undefined when the width stays. */
  h?: Axis;
  /** Undefined when the height stays. */
  v?: Axis;
  /** Source rows the vertical pass reads (all rows when there is none): Pillow's ybox. */
  firstRow: number;
  rows: number;
}

const plans = new Map<string, Plan>();
const MAX_PLANS = 64;

/** The coefficient tables of one resize, computed once and kept (a few dozen sizes at most in practice). */
function planFor(inW: number, inH: number, outW: number, outH: number, resample: number): Plan {
  const key = `${inW}x${inH}>${outW}x${outH}/${resample}`;
  const known = plans.get(key);
  if (known) return known;
  const filter = FILTERS[resample];
  if (!filter) throw new Error(`unsupported resample filter ${resample}`);
  const h = outW !== inW ? axis(inW, outW, filter) : undefined;
  const v = outH !== inH ? axis(inH, outH, filter) : undefined;
  let firstRow = 0;
  let rows = inH;
  if (v) {
    firstRow = v.start[0]!;
    rows = v.start[outH - 1]! + v.taps - firstRow;
    for (let i = 0; i < outH; i++) v.start[i] = v.start[i]! - firstRow;
  }
  const plan: Plan = { h, v, firstRow, rows };
  if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value as string);
  plans.set(key, plan);
  return plan;
}

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
 * The rescale + normalise of an 8-bit channel value as a table: `lut[c * 256 + byte]` is the
 * float32 that transformers' processors give for `byte` in channel `c` (same operations, same
 * float32 rounding). Computed by the caller once per processor.
 */
export type ChannelLut = Float32Array;

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

function toPlanes(px: Uint8Array, plane: number, lut: ChannelLut, out: Float32Array): void {
  const p2 = 2 * plane;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[i] = lut[px[j]!]!;
    out[plane + i] = lut[256 + px[j + 1]!]!;
    out[p2 + i] = lut[512 + px[j + 2]!]!;
  }
}

/** Horizontal pass over source rows `first .. first + rows`, into `dst` (rows × outW × channels bytes). */
function horizontal(src: Uint8Array, inW: number, channels: number, first: number, rows: number, outW: number, a: Axis, dst: Uint8Array): void {
  if (channels !== 3) {
    horizontalN(src, inW, channels, first, rows, outW, a, dst);
    return;
  }
  const { taps, start, kk } = a;
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + first) * inW * 3;
    if (taps === 2) {
      for (let xx = 0; xx < outW; xx++) {
        const p = rowIn + start[xx]! * 3;
        const k0 = kk[2 * xx]!;
        const k1 = kk[2 * xx + 1]!;
        dst[o] = clip8((HALF + src[p]! * k0 + src[p + 3]! * k1) >> PRECISION_BITS);
        dst[o + 1] = clip8((HALF + src[p + 1]! * k0 + src[p + 4]! * k1) >> PRECISION_BITS);
        dst[o + 2] = clip8((HALF + src[p + 2]! * k0 + src[p + 5]! * k1) >> PRECISION_BITS);
        o += 3;
      }
    } else if (taps === 3) {
      for (let xx = 0; xx < outW; xx++) {
        const p = rowIn + start[xx]! * 3;
        const k0 = kk[3 * xx]!;
        const k1 = kk[3 * xx + 1]!;
        const k2 = kk[3 * xx + 2]!;
        dst[o] = clip8((HALF + src[p]! * k0 + src[p + 3]! * k1 + src[p + 6]! * k2) >> PRECISION_BITS);
        dst[o + 1] = clip8((HALF + src[p + 1]! * k0 + src[p + 4]! * k1 + src[p + 7]! * k2) >> PRECISION_BITS);
        dst[o + 2] = clip8((HALF + src[p + 2]! * k0 + src[p + 5]! * k1 + src[p + 8]! * k2) >> PRECISION_BITS);
        o += 3;
      }
    } else {
      for (let xx = 0; xx < outW; xx++) {
        let p = rowIn + start[xx]! * 3;
        const kOff = xx * taps;
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        // Two taps a step (a shrink reads dozens).
        let x = 0;
        for (; x + 1 < taps; x += 2, p += 6) {
          const ka = kk[kOff + x]!;
          const kb = kk[kOff + x + 1]!;
          s0 += src[p]! * ka + src[p + 3]! * kb;
          s1 += src[p + 1]! * ka + src[p + 4]! * kb;
          s2 += src[p + 2]! * ka + src[p + 5]! * kb;
        }
        if (x < taps) {
          const kv = kk[kOff + x]!;
          s0 += src[p]! * kv;
          s1 += src[p + 1]! * kv;
          s2 += src[p + 2]! * kv;
        }
        dst[o] = clip8(s0 >> PRECISION_BITS);
        dst[o + 1] = clip8(s1 >> PRECISION_BITS);
        dst[o + 2] = clip8(s2 >> PRECISION_BITS);
        o += 3;
      }
    }
  }
}

function horizontalN(src: Uint8Array, inW: number, channels: number, first: number, rows: number, outW: number, a: Axis, dst: Uint8Array): void {
  const { taps, start, kk } = a;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + first) * inW * channels;
    const rowOut = y * outW * channels;
    for (let xx = 0; xx < outW; xx++) {
      const kOff = xx * taps;
      for (let ch = 0; ch < channels; ch++) {
        let s = HALF;
        for (let x = 0; x < taps; x++) s += src[rowIn + (start[xx]! + x) * channels + ch]! * kk[kOff + x]!;
        dst[rowOut + xx * channels + ch] = clip8(s >> PRECISION_BITS);
      }
    }
  }
}

/** Vertical pass into interleaved bytes: each output row is a weighted sum of whole rows of `src`. */
function verticalBytes(src: Uint8Array, rowStart: number, rowLen: number, outH: number, a: Axis, dst: Uint8Array): void {
  const { taps, start, kk } = a;
  for (let yy = 0; yy < outH; yy++) {
    const base = (start[yy]! + rowStart) * rowLen;
    const kOff = yy * taps;
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let s = HALF;
      for (let y = 0, p = base + i; y < taps; y++, p += rowLen) s += src[p]! * kk[kOff + y]!;
      dst[o + i] = clip8(s >> PRECISION_BITS);
    }
  }
}

/** Vertical pass of RGB rows `w` pixels wide, straight into the three normalised float planes. */
function verticalPlanes(src: Uint8Array, rowStart: number, w: number, outH: number, a: Axis, lut: ChannelLut, out: Float32Array): void {
  const { taps, start, kk } = a;
  const rowLen = w * 3;
  const plane = w * outH;
  const l0 = lut.subarray(0, 256);
  const l1 = lut.subarray(256, 512);
  const l2 = lut.subarray(512, 768);
  const o0 = out.subarray(0, plane);
  const o1 = out.subarray(plane, 2 * plane);
  const o2 = out.subarray(2 * plane, 3 * plane);
  for (let yy = 0; yy < outH; yy++) {
    const base = (start[yy]! + rowStart) * rowLen;
    const kOff = yy * taps;
    let o = yy * w;
    if (taps === 2) {
      const k0 = kk[kOff]!;
      const k1 = kk[kOff + 1]!;
      const r1 = base + rowLen;
      for (let x = 0, i = 0; x < w; x++, i += 3, o++) {
        o0[o] = l0[clip8((HALF + src[base + i]! * k0 + src[r1 + i]! * k1) >> PRECISION_BITS)]!;
        o1[o] = l1[clip8((HALF + src[base + i + 1]! * k0 + src[r1 + i + 1]! * k1) >> PRECISION_BITS)]!;
        o2[o] = l2[clip8((HALF + src[base + i + 2]! * k0 + src[r1 + i + 2]! * k1) >> PRECISION_BITS)]!;
      }
    } else if (taps === 3) {
      const k0 = kk[kOff]!;
      const k1 = kk[kOff + 1]!;
      const k2 = kk[kOff + 2]!;
      const r1 = base + rowLen;
      const r2 = r1 + rowLen;
      for (let x = 0, i = 0; x < w; x++, i += 3, o++) {
        o0[o] = l0[clip8((HALF + src[base + i]! * k0 + src[r1 + i]! * k1 + src[r2 + i]! * k2) >> PRECISION_BITS)]!;
        o1[o] = l1[clip8((HALF + src[base + i + 1]! * k0 + src[r1 + i + 1]! * k1 + src[r2 + i + 1]! * k2) >> PRECISION_BITS)]!;
        o2[o] = l2[clip8((HALF + src[base + i + 2]! * k0 + src[r1 + i + 2]! * k1 + src[r2 + i + 2]! * k2) >> PRECISION_BITS)]!;
      }
    } else {
      for (let x = 0, i = 0; x < w; x++, i += 3, o++) {
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let y = 0, p = base + i; y < taps; y++, p += rowLen) {
          const kv = kk[kOff + y]!;
          s0 += src[p]! * kv;
          s1 += src[p + 1]! * kv;
          s2 += src[p + 2]! * kv;
        }
        o0[o] = l0[clip8(s0 >> PRECISION_BITS)]!;
        o1[o] = l1[clip8(s1 >> PRECISION_BITS)]!;
        o2[o] = l2[clip8(s2 >> PRECISION_BITS)]!;
      }
    }
  }
}

/**
 * Pillow's NEAREST resize: its affine nearest-neighbour transform, whose source coordinate is
 * accumulated by repeated addition (so rounding follows Pillow's, not (x + 0.5) × scale).
 */
function nearest(src: Uint8Array | Uint8ClampedArray, inW: number, inH: number, channels: number, outW: number, outH: number, out: Uint8Array | Uint8ClampedArray): void {
  const sx = inW / outW;
  const sy = inH / outH;
  let yo = sy * 0.5;
  for (let y = 0; y < outH; y++) {
    let xx = sx * 0.5;
    const iy = yo < 0 ? -1 : Math.trunc(yo);
    for (let x = 0; x < outW; x++) {
      const ix = xx < 0 ? -1 : Math.trunc(xx);
      if (ix >= 0 && ix < inW && iy >= 0 && iy < inH) {
        for (let c = 0; c < channels; c++) out[(y * outW + x) * channels + c] = src[(iy * inW + ix) * channels + c] as number;
      }
      xx += sx;
    }
    yo += sy;
  }
}
