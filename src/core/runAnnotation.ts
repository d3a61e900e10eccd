/**
 * A run as one picture, for people without the run view (a GPU box over SSH, a notebook, a CI
 * artifact): the image with every detection of every `gd_detect` call in that call's colour
 * (the run view's palette), labelled with its phrase and score; each `depth` call's sampled
 * region, dashed, with the value in metres; each `vqa` call's crop, dashed, with the answer.
 * Drawn with sharp on the upright image, the frame of the trace's pixel coordinates.
 */
import type { RunRecord } from '../protocol/run.js';
import { callColor, OVERLAY } from '../protocol/callColors.js';
import type { BBox, Detection } from '../protocol/tools.js';
import { type DrawBox, drawBoxes, loadUpright } from './grounding/annotate.js';

const isBox = (v: unknown): v is BBox => Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** What is drawn for a run, in drawing order (exported for tests and other viewers). */
export function runOverlay(record: Pick<RunRecord, 'trace'>): DrawBox[] {
  const out: DrawBox[] = [];
  let detectOrdinal = 0;
  let n = 0;
  for (const t of record.trace) {
    if (t.tool === 'gd_detect') {
      const colour = callColor(detectOrdinal++);
      if (!Array.isArray(t.result)) continue;
      for (const d of t.result as Detection[]) {
        if (!isBox(d?.bbox)) continue;
        const score = typeof d.score === 'number' ? ` ${d.score.toFixed(2)}` : '';
        out.push({ number: ++n, bbox: d.bbox, label: String(d.label ?? ''), colour, text: `L${t.line ?? '?'} ${d.label ?? ''}${score}` });
      }
    } else if (t.tool === 'depth') {
      const region = isBox(t.detail?.region) ? t.detail.region : isBox(t.args.bbox) ? t.args.bbox : undefined;
      if (!region) continue;
      const value = typeof t.result === 'number' ? `${Number(t.result.toFixed(3))} m` : t.error ? 'failed' : '?';
      out.push({ number: ++n, bbox: region, label: 'depth', colour: OVERLAY.depth, text: `L${t.line ?? '?'} depth ${value}`, dashed: true });
    } else if (t.tool === 'vqa') {
      const crop = isBox(t.detail?.crop) ? t.detail.crop : undefined;
      if (!crop) continue;
      const answer = typeof t.result === 'string' ? JSON.stringify(t.result.length > 40 ? `${t.result.slice(0, 39)}…` : t.result) : t.error ? 'failed' : '?';
      out.push({ number: ++n, bbox: crop, label: 'vqa', colour: OVERLAY.crop, text: `L${t.line ?? '?'} vqa ${answer}`, dashed: true });
    }
  }
  return out;
}

/** The annotated image of a run, as PNG. `imagePath` defaults to the record's image. */
export async function annotateRun(record: Pick<RunRecord, 'trace' | 'image'>, imagePath: string = record.image.path): Promise<Buffer> {
  const raw = await loadUpright(imagePath);
  return (await drawBoxes(raw, runOverlay(record))).data;
}
