/**
 * The detector fixture's goldens (test/fixtures/models/grounding-dino-tiny/golden.json, written by
 * scripts/fixtures/make_goldens.py with transformers' own processor, onnxruntime and
 * `post_process_grounded_object_detection` in Python) and how a test compares our detections with
 * them: the golden boxes whose phrase was asked, clipped to the image, within 1 px, same phrase,
 * scores within 1e-4.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Detection } from '../../src/protocol/tools.js';
import { normalizeLabel, type RawDetections } from '../../src/server/grounding.js';
import { FIXTURES } from './toolServer.js';

export const GD = join(FIXTURES, 'models', 'grounding-dino-tiny');

export interface GoldenDetection {
  box: [number, number, number, number];
  score: number;
  label: string;
  phrase: string;
  asked: boolean;
}
export interface GoldenCase {
  image: string;
  image_size: { width: number; height: number };
  strict: boolean;
  prompt: string;
  caption: string;
  input_ids: number[];
  attention_mask: number[];
  token_type_ids: number[];
  raw: { logits_shape: number[]; logits: Array<Array<number | null | string>>; pred_boxes: number[][] };
  results: Array<{ box_threshold: number; text_threshold: number; detections: GoldenDetection[] }>;
}
export interface GdGolden {
  cases: GoldenCase[];
  synthetic: {
    pixel_values_shape: number[];
    input_ids: number[];
    attention_mask: number[];
    token_type_ids: number[];
    raw: { logits_shape: number[]; logits: Array<Array<number | null | string>>; pred_boxes: number[][] };
  };
}

export const gdGolden = JSON.parse(readFileSync(join(GD, 'golden.json'), 'utf8')) as GdGolden;

/** Golden numbers may be JSON null or strings for -inf (masked text positions). */
export const num = (v: number | null | string): number => (typeof v === 'number' ? v : v === null || /-inf/i.test(String(v)) ? -Infinity : Number(v));

/** The golden logits as the model's full [1, queries, 256] tensor (-inf beyond the caption). */
export function goldenRaw(c: { raw: GoldenCase['raw'] }, inputIds: number[]): RawDetections {
  const [, q, t] = c.raw.logits_shape as [number, number, number];
  const logits = new Float32Array(q * t).fill(-Infinity);
  c.raw.logits.forEach((row, i) => row.forEach((v, j) => (logits[i * t + j] = num(v))));
  const boxes = Float32Array.from(c.raw.pred_boxes.flat());
  return { logits, logitsDims: [1, q, t], predBoxes: boxes, boxDims: [1, q, 4], inputIds: inputIds.map(BigInt), bytes: 0 };
}

const clipBox = (b: number[], w: number, h: number): number[] => [Math.min(Math.max(b[0] as number, 0), w), Math.min(Math.max(b[1] as number, 0), h), Math.min(Math.max(b[2] as number, 0), w), Math.min(Math.max(b[3] as number, 0), h)];

/** Our detections must be exactly the golden boxes whose phrase was asked. */
export function assertSameDetections(ours: Detection[], golden: GoldenDetection[], w: number, h: number, what: string): void {
  const expected = golden
    .filter((d) => d.asked)
    .map((d) => ({ ...d, box: clipBox(d.box, w, h) as [number, number, number, number] }))
    .filter((d) => d.box[2] - d.box[0] >= 0.5 && d.box[3] - d.box[1] >= 0.5);
  assert.equal(ours.length, expected.length, `${what}: ${ours.length} detections, golden ${expected.length}`);
  const left = [...expected];
  for (const d of ours) {
    const i = left.findIndex((g) => Math.abs(g.score - d.score) <= 1e-4 && g.box.every((v, k) => Math.abs(v - (d.bbox[k] as number)) <= 1) && normalizeLabel(d.label) === g.phrase);
    assert.ok(i >= 0, `${what}: ${JSON.stringify(d)} has no golden counterpart in ${JSON.stringify(left)}`);
    left.splice(i, 1);
  }
}
