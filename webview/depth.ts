/**
 * The depth map as a heat map: decoding the float32 metres, a colour ramp, and its legend.
 * Near is warm (yellow), far is cool (dark blue): the ramp is perceptually ordered so the eye
 * reads "closer / farther" without the legend.
 */
import type { DepthMapData } from '../src/protocol/webview.js';

/** Control points of the ramp (near -> far), roughly the inferno/viridis family. */
const STOPS: ReadonlyArray<readonly [number, number, number]> = [
  [253, 231, 37],
  [94, 201, 98],
  [33, 145, 140],
  [59, 82, 139],
  [68, 1, 84],
];

/** 256-entry RGB lookup table for t in 0 (near) .. 1 (far). */
export const RAMP: Uint8ClampedArray = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1);
    const k = Math.min(STOPS.length - 2, Math.floor(t));
    const f = t - k;
    const a = STOPS[k] ?? [0, 0, 0];
    const b = STOPS[k + 1] ?? a;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round((a[c] ?? 0) + ((b[c] ?? 0) - (a[c] ?? 0)) * f);
  }
  return lut;
})();

/** Decodes the base64 little-endian float32 payload; throws with a clear message on a size mismatch. */
export function decodeDepth(map: DepthMapData): Float32Array {
  const bin = atob(map.data);
  const expected = map.width * map.height * 4;
  if (bin.length !== expected) {
    throw new Error(`the depth map has ${bin.length} bytes, expected ${expected} for ${map.width}x${map.height} float32 values`);
  }
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(map.width * map.height);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Paints the map into a canvas of the map's own size (CSS scales it onto the image). */
export function paintDepth(canvas: HTMLCanvasElement, map: DepthMapData, values: Float32Array): void {
  canvas.width = map.width;
  canvas.height = map.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(map.width, map.height);
  const span = map.max - map.min || 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? NaN;
    const o = i * 4;
    if (!Number.isFinite(v) || v <= 0) {
      img.data[o + 3] = 0;
      continue;
    }
    const t = Math.min(1, Math.max(0, (v - map.min) / span));
    const k = Math.round(t * 255) * 3;
    img.data[o] = RAMP[k] ?? 0;
    img.data[o + 1] = RAMP[k + 1] ?? 0;
    img.data[o + 2] = RAMP[k + 2] ?? 0;
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Paints the legend's colour bar (near on the left). */
export function paintRampBar(canvas: HTMLCanvasElement): void {
  canvas.width = 256;
  canvas.height = 1;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(256, 1);
  for (let i = 0; i < 256; i++) {
    img.data[i * 4] = RAMP[i * 3] ?? 0;
    img.data[i * 4 + 1] = RAMP[i * 3 + 1] ?? 0;
    img.data[i * 4 + 2] = RAMP[i * 3 + 2] ?? 0;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Metres for the legend and the depth labels. */
export function formatMetres(v: number): string {
  return `${v.toFixed(2)} m`;
}
