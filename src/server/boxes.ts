/**
 * Box arithmetic shared by depth, VQA and detection: validation with messages a program author can
 * act on, the central sampling region for depth, the padded crop for VQA.
 *
 * Pixel convention: a box [x1, y1, x2, y2] covers the pixels with x1 <= x < x2 and y1 <= y < y2
 * (edges, not pixel centres), so [0, 0, W, H] is the whole image.
 */
import type { BBox } from '../protocol/tools.js';
import { HttpError } from './errors.js';

const fmt = (b: readonly number[]): string => `[${b.map((v) => (Number.isInteger(v) ? v : Number(v.toFixed(2)))).join(', ')}]`;

/**
 * The box clipped to the image. Zero-area, inverted and fully-outside boxes are refused (a
 * program passing one has a bug worth seeing); a box partly outside the image is clipped.
 */
export function checkBox(box: BBox, width: number, height: number, field = 'bbox'): BBox {
  const [x1, y1, x2, y2] = box;
  if (![x1, y1, x2, y2].every(Number.isFinite)) throw new HttpError(400, 'bad_bbox', `${field} ${fmt(box)} holds a non-finite number; pass 4 pixel coordinates [x1, y1, x2, y2]`);
  if (x2 < x1 || y2 < y1) {
    throw new HttpError(400, 'bad_bbox', `${field} ${fmt(box)} is inverted (${x2 < x1 ? 'x2 < x1' : 'y2 < y1'}); boxes are [x1, y1, x2, y2] with x1 < x2 and y1 < y2, as gd_detect returns them`);
  }
  if (x2 === x1 || y2 === y1) {
    throw new HttpError(400, 'bad_bbox', `${field} ${fmt(box)} has zero area (${x2 === x1 ? 'x1 == x2' : 'y1 == y2'}); pass a box with x1 < x2 and y1 < y2`);
  }
  if (x2 <= 0 || y2 <= 0 || x1 >= width || y1 >= height) {
    throw new HttpError(400, 'bad_bbox', `${field} ${fmt(box)} lies entirely outside the ${width}×${height} image; boxes are in pixels of the image, origin at the top-left`);
  }
  return [Math.max(0, x1), Math.max(0, y1), Math.min(width, x2), Math.min(height, y2)];
}

/**
 * The central part of a (clipped) box that depth is read from: the middle `fraction` of its
 * width and of its height, in whole pixels, at least one pixel each way. The centre avoids the
 * background that a loose box includes at its edges; a region rather than one pixel survives
 * holes and noise in the depth map.
 */
export function centralRegion(box: BBox, width: number, height: number, fraction = 0.5): BBox {
  const [x1, y1, x2, y2] = box;
  const span = (a: number, b: number, limit: number): [number, number] => {
    const c = (a + b) / 2;
    const half = ((b - a) * fraction) / 2;
    let lo = Math.round(c - half);
    let hi = Math.round(c + half);
    lo = Math.min(Math.max(lo, 0), limit - 1);
    hi = Math.max(Math.min(hi, limit), lo + 1);
    return [lo, hi];
  };
  const [rx1, rx2] = span(x1, x2, width);
  const [ry1, ry2] = span(y1, y2, height);
  return [rx1, ry1, rx2, ry2];
}

/** Integer pixel box covering a (clipped) box, at least one pixel each way. */
export function pixelBox(box: BBox, width: number, height: number): BBox {
  const x1 = Math.min(Math.max(Math.floor(box[0]), 0), width - 1);
  const y1 = Math.min(Math.max(Math.floor(box[1]), 0), height - 1);
  const x2 = Math.max(Math.min(Math.ceil(box[2]), width), x1 + 1);
  const y2 = Math.max(Math.min(Math.ceil(box[3]), height), y1 + 1);
  return [x1, y1, x2, y2];
}

/** VALOR's VQA crop: the box padded by `pad` of its width/height on each side, clamped (docs/valor.md §2). */
export function paddedCrop(box: BBox, width: number, height: number, pad = 0.25): BBox {
  const [x1, y1, x2, y2] = box;
  const pw = (x2 - x1) * pad;
  const ph = (y2 - y1) * pad;
  return pixelBox([x1 - pw, y1 - ph, x2 + pw, y2 + ph], width, height);
}

/** Median of the finite, positive values of `map` (row-major, `width` wide) inside `region`. */
export function medianValid(map: Float32Array, width: number, region: BBox): number | undefined {
  const [x1, y1, x2, y2] = region;
  const vals: number[] = [];
  for (let y = y1; y < y2; y++) {
    const row = y * width;
    for (let x = x1; x < x2; x++) {
      const v = map[row + x] as number;
      if (Number.isFinite(v) && v > 0) vals.push(v);
    }
  }
  if (vals.length === 0) return undefined;
  const sorted = Float64Array.from(vals).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
