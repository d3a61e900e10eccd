/**
 * Pillow's resize coefficients in its own integer arithmetic: for each axis, per output index, the
 * 22-bit fixed-point weights of the source pixels it reads (Pillow's precompute_coeffs +
 * normalize_coeffs_8bpc), trimmed to one tap count per axis; and the plan of one resize (both
 * axes and the source rows the vertical pass reads), computed once per (source size, output size,
 * filter) and kept. The passes that apply them are in pilPasses.ts.
 */
import { FILTERS, type Filter } from './pilFilters.js';

export const PRECISION_BITS = 32 - 8 - 2;
export const HALF = 1 << (PRECISION_BITS - 1);

/**
 * Pillow's clip8 on a sum already shifted down: below 0 gives 0, above 255 gives 255. (Sums stay
 * below 2^31 — 255 × 2^22 × the filter's absolute mass — so the int32 shift is exact.) Two
 * well-predicted compares are faster here than a table lookup.
 */
export const clip8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * One axis of a resize: for output index o, `taps` weights `kk[o*taps ..]` applied to the source
 * indices `start[o] ..`. Weights are Pillow's fixed-point coefficients; zero weights at either end
 * are dropped and shorter outputs padded with zeros, so every output has the same tap count.
 */
export interface Axis {
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

export interface Plan {
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
export function planFor(inW: number, inH: number, outW: number, outH: number, resample: number): Plan {
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
