/**
 * The passes of Pillow's resize over 8-bit pixels, with the coefficients of pilCoefficients.ts:
 * horizontal (interleaved rows in, interleaved rows out), vertical into bytes or straight into
 * the three normalised float planes of a model's input, Pillow's NEAREST, and bytes to planes.
 * Unrolled for 2 and 3 taps (a bilinear enlargement reads 2); the clip to 0..255 is clip8.
 */
import { clip8, HALF, PRECISION_BITS, type Axis } from './pilCoefficients.js';

/**
 * The rescale + normalise of an 8-bit channel value as a table: `lut[c * 256 + byte]` is the
 * float32 that transformers' processors give for `byte` in channel `c` (same operations, same
 * float32 rounding). Computed by the caller once per processor.
 */
export type ChannelLut = Float32Array;

/** Interleaved RGB bytes to the three CHW float planes, each byte through its channel's table. */
export function toPlanes(px: Uint8Array, plane: number, lut: ChannelLut, out: Float32Array): void {
  const p2 = 2 * plane;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[i] = lut[px[j]!]!;
    out[plane + i] = lut[256 + px[j + 1]!]!;
    out[p2 + i] = lut[512 + px[j + 2]!]!;
  }
}

/** Horizontal pass over source rows `first .. first + rows`, into `dst` (rows × outW × channels bytes). */
export function horizontal(src: Uint8Array, inW: number, channels: number, first: number, rows: number, outW: number, a: Axis, dst: Uint8Array): void {
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
export function verticalBytes(src: Uint8Array, rowStart: number, rowLen: number, outH: number, a: Axis, dst: Uint8Array): void {
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
export function verticalPlanes(src: Uint8Array, rowStart: number, w: number, outH: number, a: Axis, lut: ChannelLut, out: Float32Array): void {
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
export function nearest(src: Uint8Array | Uint8ClampedArray, inW: number, inH: number, channels: number, outW: number, outH: number, out: Uint8Array | Uint8ClampedArray): void {
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
