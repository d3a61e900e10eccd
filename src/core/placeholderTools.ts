/**
 * Stand-in tools for VALOR's syntax reward (docs/valor.md §3): the program runs to the end with these
 * instead of the vision models. They go through the same runner and the same Python tool
 * functions as real runs, so a program that passes here called the tools exactly as the real
 * API requires (the reference code's placeholders took other keyword names; §7).
 */
import type { BBox, Detection, ToolResult, Tools } from './tools.js';
import { ToolError } from './tools.js';

/** What the placeholders answer; fixed so the syntax verdict never depends on a model. */
export const PLACEHOLDER_ANSWERS = {
  /** Depth in metres returned for every box. */
  depth: 2.5,
  vqa: 'yes',
  /** Size of the image the placeholder boxes are laid out in. */
  image: { width: 640, height: 480 },
} as const;

const DETAIL = { model: 'placeholder' } as const;

function checkBBox(tool: string, bbox: unknown, allowNull: boolean): void {
  if (bbox === null && allowNull) return;
  const ok = Array.isArray(bbox) && bbox.length === 4 && bbox.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!ok) {
    throw new ToolError(
      `${tool}: bbox must be a list of 4 numbers [x1, y1, x2, y2]${allowNull ? ' or None for the whole image' : ''}; got ${JSON.stringify(bbox) ?? String(bbox)}`,
      'TypeError',
    );
  }
}

export class PlaceholderTools implements Tools {
  /**
   * One detection per comma-separated phrase, labelled with the phrase. Boxes sit side by side
   * (left to right in phrase order) so programs comparing positions get a definite answer.
   */
  async gd_detect(_img_pth: string, prompt: string, _signal?: AbortSignal): Promise<ToolResult<Detection[]>> {
    if (typeof prompt !== 'string') throw new ToolError(`gd_detect: prompt must be a string of comma-separated phrases; got ${typeof prompt}`, 'TypeError');
    const phrases = prompt
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const { width, height } = PLACEHOLDER_ANSWERS.image;
    const w = Math.max(8, Math.floor(width / Math.max(phrases.length, 1) / 2));
    const value = phrases.map((label, i): Detection => {
      const x1 = Math.min(width - w, 20 + i * (w + 10));
      const bbox: BBox = [x1, Math.round(height * 0.25), x1 + w, Math.round(height * 0.75)];
      return { bbox, label, score: 1 };
    });
    return { value, detail: DETAIL };
  }

  async depth(_img_pth: string, bbox: BBox, _signal?: AbortSignal): Promise<ToolResult<number>> {
    checkBBox('depth', bbox, false);
    return { value: PLACEHOLDER_ANSWERS.depth, detail: DETAIL };
  }

  async vqa(_img_pth: string, bbox: BBox | null, prompt: string, _signal?: AbortSignal): Promise<ToolResult<string>> {
    checkBBox('vqa', bbox, true);
    if (typeof prompt !== 'string') throw new ToolError(`vqa: prompt must be a string; got ${typeof prompt}`, 'TypeError');
    return { value: PLACEHOLDER_ANSWERS.vqa, detail: DETAIL };
  }
}
