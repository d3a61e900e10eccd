/**
 * How `depth(img, bbox)` turns a depth map and a box into one number.
 * - `median` (our default): the median of the valid (finite, positive) depths in the central
 *   half of the box (width and height), falling back to the whole box when the centre holds
 *   none. A loose box's edges are background; one pixel can be a hole or noise.
 * - `center` (the reference's way, docs/valor.md §2): the single pixel at the box centre,
 *   `(trunc((x1 + x2) / 2), trunc((y1 + y2) / 2))` of the box as given, clamped to the image.
 *   Where that pixel is invalid (MoGe masks it, +∞) the reference returns that value; JSON has
 *   no infinity and a silent stand-in would hide it, so the server answers `no_valid_depth`.
 * The reading used goes into every answer (`reading`) and so into the run's trace.
 */
import type { BBox } from '../protocol/tools.js';
import { centralRegion, medianValid, pixelBox } from './boxes.js';
import { HttpError } from './errors.js';

export type DepthReading = 'median' | 'center';
export const DEPTH_READINGS: readonly DepthReading[] = ['median', 'center'];

/** The depth for `box` (as the request gave it) and `clipped` (checkBox's result). */
export function readDepth(map: Float32Array, width: number, height: number, box: BBox, clipped: BBox, reading: DepthReading): { value: number; region: BBox } {
  if (reading === 'center') {
    const x = Math.min(Math.max(Math.trunc((box[0] + box[2]) / 2), 0), width - 1);
    const y = Math.min(Math.max(Math.trunc((box[1] + box[3]) / 2), 0), height - 1);
    const v = map[y * width + x] as number;
    if (!(Number.isFinite(v) && v > 0)) {
      throw new HttpError(422, 'no_valid_depth', `the depth model gave no valid depth at the centre pixel (${x}, ${y}) of bbox ${JSON.stringify(box)} (value ${v}); the server reads one pixel because it runs with --depth-reading center (the reference's way); the default median reading avoids such holes`);
    }
    return { value: v, region: [x, y, x + 1, y + 1] };
  }
  let region = centralRegion(clipped, width, height);
  let value = medianValid(map, width, region);
  if (value === undefined) {
    // Nothing valid in the centre (a hole in the map): the whole box is the next best evidence.
    region = pixelBox(clipped, width, height);
    value = medianValid(map, width, region);
  }
  if (value === undefined) {
    throw new HttpError(422, 'no_valid_depth', `the depth model gave no valid (finite, positive) depth anywhere inside bbox ${JSON.stringify(box)}; try a larger box`);
  }
  return { value, region };
}
