/** Which detection box is under a point of the stage: the smallest visible box that holds it. */
import type { ViewBox } from '../model.js';
import { visibleBoxes } from '../model.js';
import type { Transform } from './geometry.js';
import type { StageScene } from './scene.js';

export function boxAt(scene: StageScene | null, t: Transform, px: number, py: number): ViewBox | null {
  if (!scene || !scene.layers.boxes) return null;
  const x = (px - t.ox) / t.s;
  const y = (py - t.oy) / t.s;
  let best: ViewBox | null = null;
  let bestArea = Infinity;
  for (const call of scene.calls) {
    if (call.tool !== 'gd_detect') continue;
    for (const b of visibleBoxes(call, scene.thresholds)) {
      const [x1, y1, x2, y2] = b.bbox;
      if (x >= x1 && x <= x2 && y >= y1 && y <= y2) {
        const area = (x2 - x1) * (y2 - y1);
        // The smallest box under the pointer is the one a person means among nested boxes.
        if (area < bestArea) {
          best = b;
          bestArea = area;
        }
      }
    }
  }
  return best;
}
