/**
 * BENCHMARK BASELINE ONLY: the tool server's preprocessing as it was before the fused path
 * (commit 935bf2e, src/server/pilResize.ts + the separate normalise loop of fastPixelValues),
 * kept unchanged so bench/preprocess.ts can state the speed-up within one run. Not used by the
 * product; test/server/pilResize.test.ts checks the live code against Pillow itself.
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

/** Per output index: first source index, tap count, and fixed-point weights (Pillow's precompute_coeffs + normalize_coeffs_8bpc). */
function coefficients(inSize: number, outSize: number, filter: Filter): { bounds: Int32Array; ksize: number; kk: Int32Array } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
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
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? (k[x] as number) / ww : (k[x] as number);
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, ksize, kk };
}

/**
 * Resizes interleaved 8-bit pixels (`channels` per pixel) to `outW`×`outH` exactly as Pillow does
 * with `resample` (a PIL_RESAMPLE id).
 */
export function pilResize(src: Uint8Array | Uint8ClampedArray, inW: number, inH: number, channels: number, outW: number, outH: number, resample: number): Uint8ClampedArray {
  if (inW === outW && inH === outH) return Uint8ClampedArray.from(src);
  if (resample === PIL_RESAMPLE.NEAREST) return nearest(src, inW, inH, channels, outW, outH);
  const filter = FILTERS[resample];
  if (!filter) throw new Error(`unsupported resample filter ${resample}`);
  const horiz = coefficients(inW, outW, filter);
  const vert = coefficients(inH, outH, filter);
  const needH = outW !== inW;
  const needV = outH !== inH;
  let img: Uint8ClampedArray | Uint8Array = src;
  let w = inW;
  let h = inH;
  let vBounds = vert.bounds;
  if (needH) {
    // Only the source rows the vertical pass reads (Pillow's ybox_first..ybox_last).
    const first = needV ? (vert.bounds[0] as number) : 0;
    const last = needV ? (vert.bounds[outH * 2 - 2] as number) + (vert.bounds[outH * 2 - 1] as number) : inH;
    if (needV) {
      vBounds = Int32Array.from(vert.bounds);
      for (let i = 0; i < outH; i++) vBounds[i * 2] = (vBounds[i * 2] as number) - first;
    }
    const rows = last - first;
    img = channels === 3 ? horizontal3(img, inW, first, rows, outW, horiz) : horizontalN(img, inW, channels, first, rows, outW, horiz);
    w = outW;
    h = rows;
  }
  if (needV) {
    img = vertical(img, w * channels, outH, vBounds, vert);
    h = outH;
  }
  void h;
  return img instanceof Uint8ClampedArray ? img : Uint8ClampedArray.from(img);
}

const HALF = 2 ** (PRECISION_BITS - 1);
const TOP = 2 ** (PRECISION_BITS + 8);
// Sums stay below 2^31 (255 × 2^22 × the filter's absolute mass), so `>>` is exact here.
const clip = (v: number): number => (v >= TOP ? 255 : v <= 0 ? 0 : v >> PRECISION_BITS);

type Coeffs = { bounds: Int32Array; ksize: number; kk: Int32Array };

function horizontal3(src: Uint8Array | Uint8ClampedArray, inW: number, first: number, rows: number, outW: number, c: Coeffs): Uint8ClampedArray {
  const out = new Uint8ClampedArray(outW * rows * 3);
  const { bounds, ksize, kk } = c;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + first) * inW * 3;
    let o = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2] as number;
      const xmax = bounds[xx * 2 + 1] as number;
      const kOff = xx * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = rowIn + xmin * 3;
      for (let x = 0; x < xmax; x++, p += 3) {
        const kv = kk[kOff + x] as number;
        s0 += (src[p] as number) * kv;
        s1 += (src[p + 1] as number) * kv;
        s2 += (src[p + 2] as number) * kv;
      }
      out[o++] = clip(s0);
      out[o++] = clip(s1);
      out[o++] = clip(s2);
    }
  }
  return out;
}

function horizontalN(src: Uint8Array | Uint8ClampedArray, inW: number, channels: number, first: number, rows: number, outW: number, c: Coeffs): Uint8ClampedArray {
  const out = new Uint8ClampedArray(outW * rows * channels);
  const acc = new Float64Array(channels);
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + first) * inW * channels;
    const rowOut = y * outW * channels;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = c.bounds[xx * 2] as number;
      const xmax = c.bounds[xx * 2 + 1] as number;
      const kOff = xx * c.ksize;
      acc.fill(HALF);
      for (let x = 0; x < xmax; x++) {
        const kv = c.kk[kOff + x] as number;
        const p = rowIn + (x + xmin) * channels;
        for (let ch = 0; ch < channels; ch++) acc[ch] = (acc[ch] as number) + (src[p + ch] as number) * kv;
      }
      for (let ch = 0; ch < channels; ch++) out[rowOut + xx * channels + ch] = clip(acc[ch] as number);
    }
  }
  return out;
}

/** Vertical pass, row by row: each output row is a weighted sum of whole input rows. */
function vertical(src: Uint8Array | Uint8ClampedArray, rowLen: number, outH: number, bounds: Int32Array, c: Coeffs): Uint8ClampedArray {
  const out = new Uint8ClampedArray(rowLen * outH);
  const acc = new Float64Array(rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2] as number;
    const ymax = bounds[yy * 2 + 1] as number;
    const kOff = yy * c.ksize;
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const kv = c.kk[kOff + y] as number;
      const base = (y + ymin) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] = (acc[i] as number) + (src[base + i] as number) * kv;
    }
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = clip(acc[i] as number);
  }
  return out;
}

/**
 * Pillow's NEAREST resize: its affine nearest-neighbour transform, whose source coordinate is
 * accumulated by repeated addition (so rounding follows Pillow's, not (x + 0.5) × scale).
 */
function nearest(src: Uint8Array | Uint8ClampedArray, inW: number, inH: number, channels: number, outW: number, outH: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(outW * outH * channels);
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
  return out;
}

/** The old fastPixelValues: resize, then rescale + normalise in a separate loop. */
export function pixelValuesBefore(src: Uint8Array, inW: number, inH: number, outW: number, outH: number, resample: number, mean: number[], std: number[], rf = 1 / 255): Float32Array {
  const px = inW === outW && inH === outH ? src : pilResize(src, inW, inH, 3, outW, outH, resample);
  const plane = outW * outH;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const m = mean[c] as number;
    const s = std[c] as number;
    const base = c * plane;
    for (let i = 0; i < plane; i++) {
      let v = px[i * 3 + c] as number;
      v = Math.fround(rf * v);
      v = Math.fround((v - m) / s);
      out[base + i] = v;
    }
  }
  return out;
}
