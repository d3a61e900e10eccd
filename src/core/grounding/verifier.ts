/**
 * VALOR's grounding verifier (docs/valor.md §4): detections at a low threshold, then a
 * vision-language model in three stages, keeping every candidate with its fate.
 *
 * 1. coarse: the clean image, the same image with numbered boxes and labels, and the numbered
 *    list; the model partitions the indices into keep and drop (a note per drop). Many
 *    candidates are split into batches of at most `coarseBatch` (40), each drawn on its own.
 * 2. crop: each survivor cropped with 10% padding and resized to a 640-px long side; keep
 *    true/false with a reason. Concurrent, bounded.
 * 3. dedup: per label, the survivors drawn and numbered again; exactly one box kept per
 *    physical object, each other box naming the kept box it duplicates.
 *
 * Boxes are numbered from 1, as in VALOR's reference ("indices are 1-based"; vision models count
 * from 1 more reliably): box number n is the candidate at index n - 1 of the detection list, in
 * the drawn labels, the lists, the expected replies and the reasons, across all stages. Records
 * keep the 0-based `index`; `boxNumber` converts. Replies naming 0 or any unlisted number are
 * re-asked, never mapped. Prompts are ours.
 */
import type { BoxFate, GroundingResult } from '../../protocol/run.js';
import type { Detection } from '../../protocol/tools.js';
import type { ChatClient, JsonSchemaFormat } from '../chat.js';
import { createSemaphore, mapLimit } from '../concurrency.js';
import { inspectImage } from '../image.js';
import { cropBox, drawBoxes, encodeImage, loadUpright, type RawImage } from './annotate.js';
import { askStructured, type CallContext, type Check, type ImageSource, type Part } from './structuredCall.js';

export { GroundingError } from './structuredCall.js';

export interface Thresholds {
  box_threshold: number;
  text_threshold: number;
}

/** VALOR's recall-oriented thresholds for the verifier's input (docs/valor.md §4). */
export const VERIFIER_THRESHOLDS: Readonly<Thresholds> = Object.freeze({ box_threshold: 0.1, text_threshold: 0.1 });

export interface VerifyBoxesOptions {
  imagePath: string;
  /** The `gd_detect` prompt: comma-separated noun phrases. */
  prompt: string;
  /** Low-threshold detections for `prompt` on the image (the tool server, or a test's own). */
  detect: (thresholds: Thresholds, signal?: AbortSignal) => Promise<Detection[]>;
  vlm: ChatClient;
  /** Verifier calls in flight at once. Default 4. */
  concurrency?: number;
  /** Largest coarse-stage batch. Default 40. */
  coarseBatch?: number;
  thresholds?: Thresholds;
  /** Long side of full images sent to the model (halved on a size rejection). Default 2048. */
  maxImageSide?: number;
  /** Smallest long side tried after size rejections. Default 256. */
  minImageSide?: number;
  timeoutMs?: number;
  /** Ask the verifier even when replies are cached (`--refresh`). */
  refresh?: boolean;
  cwd?: string;
  signal?: AbortSignal;
  onStage?: (stage: 'detect' | 'coarse' | 'crop' | 'dedup' | 'done', info: { remaining: number }) => void;
  /** Each image drawn for the model (numbered boxes), as PNG, for saving beside the result. */
  onAnnotated?: (image: { stage: 'coarse' | 'dedup'; numbers: number[]; png: Buffer }) => void;
}

/** The number a person and the model see for the candidate at `index` (from 1). */
export const boxNumber = (index: number): number => index + 1;

export interface VerifyBoxesResult extends GroundingResult {
  /** Requests made to the verifier, with their messages and replies (images as data URLs). */
  transcript: CallContext['transcript'];
}

const COARSE_SYSTEM = `You review object detections for a detector training set. You see a photo, the same photo with numbered boxes and labels drawn on it, and the list of those boxes (number, label, pixel box [x1, y1, x2, y2], x to the right, y down).
The boxes are numbered from 1. Sort every listed number into "keep" or "drop".
Keep a box when it tightly frames one whole instance of exactly what its label says.
Drop a box when the label is wrong for what it frames, when it frames background, a fragment, or several objects at once, or when it is badly placed or much too large. When unsure, drop.
Give a short note for every dropped box saying why.
Reply with JSON only: {"keep": [numbers], "drop": [{"index": number, "note": "why"}]}. Every listed number must appear exactly once, in keep or in drop; use no other numbers.`;

const CROP_SYSTEM = `You check one detection for a detector training set. You see a crop around one box (with a small margin) and the label the detector gave it.
Answer keep true only when the labelled object is the clear, dominant subject of the crop, it is not cut off by the crop edges in a way that hides a large part of it, and the crop does not frame several such objects as one. Otherwise answer keep false.
Reply with JSON only: {"keep": true or false, "reason": "one short sentence"}.`;

const DEDUP_SYSTEM = `You remove duplicate detections for a detector training set. You see a photo and the same photo with boxes numbered from 1 that were all judged correct, all with the same label. Several boxes may frame the same physical object (overlapping, nested or nearly identical boxes).
Keep exactly one box per physical object: the one that covers the whole object with the least background. Every other box of that object is dropped as a duplicate of the kept box.
Reply with JSON only: {"keep": [numbers], "drop": [{"index": number, "duplicate_of": number, "note": "why"}]}. Every listed number must appear exactly once, in keep or in drop; duplicate_of must be a number you keep; use no other numbers.`;

const intArray = { type: 'array', items: { type: 'integer' } };

const COARSE_FORMAT: JsonSchemaFormat = {
  type: 'json_schema',
  json_schema: {
    name: 'coarse_partition',
    strict: true,
    schema: {
      type: 'object',
      properties: {
        keep: intArray,
        drop: {
          type: 'array',
          items: { type: 'object', properties: { index: { type: 'integer' }, note: { type: 'string' } }, required: ['index', 'note'], additionalProperties: false },
        },
      },
      required: ['keep', 'drop'],
      additionalProperties: false,
    },
  },
};

const CROP_FORMAT: JsonSchemaFormat = {
  type: 'json_schema',
  json_schema: {
    name: 'crop_check',
    strict: true,
    schema: { type: 'object', properties: { keep: { type: 'boolean' }, reason: { type: 'string' } }, required: ['keep', 'reason'], additionalProperties: false },
  },
};

const DEDUP_FORMAT: JsonSchemaFormat = {
  type: 'json_schema',
  json_schema: {
    name: 'dedup_partition',
    strict: true,
    schema: {
      type: 'object',
      properties: {
        keep: intArray,
        drop: {
          type: 'array',
          items: {
            type: 'object',
            properties: { index: { type: 'integer' }, duplicate_of: { type: 'integer' }, note: { type: 'string' } },
            required: ['index', 'duplicate_of', 'note'],
            additionalProperties: false,
          },
        },
      },
      required: ['keep', 'drop'],
      additionalProperties: false,
    },
  },
};

function listRanges(ns: number[]): string {
  return ns.join(', ');
}

export interface Partition {
  keep: number[];
  drop: Array<{ index: number; note: string; duplicate_of?: number }>;
}

/**
 * Checks that `value` partitions exactly `expected` into keep and drop; every problem is named
 * (missing, repeated, not in the list, wrong types) so the re-ask can quote it.
 */
export function checkPartition(expected: readonly number[], withDuplicateOf: boolean): Check<Partition> {
  return (value) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return { ok: false, problem: 'the reply is not a JSON object with "keep" and "drop"' };
    const v = value as { keep?: unknown; drop?: unknown };
    if (!Array.isArray(v.keep) || !Array.isArray(v.drop)) return { ok: false, problem: '"keep" and "drop" must both be arrays' };
    const keep: number[] = [];
    for (const k of v.keep) {
      if (typeof k !== 'number' || !Number.isInteger(k)) return { ok: false, problem: `"keep" holds ${JSON.stringify(k)}, which is not a box number` };
      keep.push(k);
    }
    const drop: Partition['drop'] = [];
    for (const d of v.drop) {
      const dd = d as { index?: unknown; note?: unknown; duplicate_of?: unknown } | null;
      if (!dd || typeof dd !== 'object' || typeof dd.index !== 'number' || !Number.isInteger(dd.index)) {
        return { ok: false, problem: `"drop" holds ${JSON.stringify(d)}; each entry needs an integer "index"` };
      }
      const note = typeof dd.note === 'string' ? dd.note : '';
      if (withDuplicateOf) {
        if (typeof dd.duplicate_of !== 'number' || !Number.isInteger(dd.duplicate_of)) {
          return { ok: false, problem: `the drop of box ${dd.index} has no integer "duplicate_of"` };
        }
        drop.push({ index: dd.index, note, duplicate_of: dd.duplicate_of });
      } else drop.push({ index: dd.index, note });
    }
    const allowed = new Set(expected);
    const seen = new Map<number, number>();
    for (const n of [...keep, ...drop.map((d) => d.index)]) seen.set(n, (seen.get(n) ?? 0) + 1);
    const missing = expected.filter((n) => !seen.has(n));
    const repeated = [...seen].filter(([, c]) => c > 1).map(([n]) => n);
    const unknown = [...seen.keys()].filter((n) => !allowed.has(n));
    const problems: string[] = [];
    if (missing.length) problems.push(`box${missing.length > 1 ? 'es' : ''} ${listRanges(missing)} ${missing.length > 1 ? 'are' : 'is'} missing`);
    if (repeated.length) problems.push(`box${repeated.length > 1 ? 'es' : ''} ${listRanges(repeated)} appear${repeated.length > 1 ? '' : 's'} more than once`);
    if (unknown.length) problems.push(`${listRanges(unknown)} ${unknown.length > 1 ? 'are' : 'is'} not in the list`);
    if (withDuplicateOf) {
      const kept = new Set(keep);
      const bad = drop.filter((d) => d.duplicate_of === undefined || !kept.has(d.duplicate_of));
      if (bad.length) problems.push(`duplicate_of must name a kept box (wrong for ${bad.map((d) => `${d.index}→${d.duplicate_of}`).join(', ')})`);
    }
    if (problems.length) return { ok: false, problem: `${problems.join('; ')}. The numbers to sort are exactly: ${listRanges([...expected])}` };
    return { ok: true, value: { keep, drop } };
  };
}

const checkCrop: Check<{ keep: boolean; reason: string }> = (value) => {
  const v = value as { keep?: unknown; reason?: unknown } | null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, problem: 'the reply is not a JSON object with "keep" and "reason"' };
  if (typeof v.keep !== 'boolean') return { ok: false, problem: `"keep" was ${JSON.stringify(v.keep)}; it must be true or false` };
  if (typeof v.reason !== 'string') return { ok: false, problem: '"reason" must be a string' };
  return { ok: true, value: { keep: v.keep, reason: v.reason } };
};

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function boxLine(i: number, d: Detection): string {
  const b = d.bbox.map((x) => Math.round(x));
  return `${boxNumber(i)}: ${d.label} [${b.join(', ')}]`;
}

export async function verifyBoxes(o: VerifyBoxesOptions): Promise<VerifyBoxesResult> {
  const started = performance.now();
  const info = await inspectImage(o.imagePath, o.cwd);
  const thresholds = o.thresholds ?? VERIFIER_THRESHOLDS;
  o.onStage?.('detect', { remaining: 0 });
  const candidates = await o.detect(thresholds, o.signal);
  const ctx: CallContext = {
    vlm: o.vlm,
    semaphore: createSemaphore(Math.max(1, o.concurrency ?? 4)),
    maxSide: o.maxImageSide ?? 2048,
    minSide: o.minImageSide ?? 256,
    structured: true,
    timeoutMs: o.timeoutMs,
    refresh: o.refresh,
    signal: o.signal,
    transcript: [],
  };
  const fates: BoxFate[] = candidates.map((d, index) => ({ index, bbox: d.bbox, label: d.label, score: d.score, kept: true }));
  const result = (): VerifyBoxesResult => ({
    image: { path: info.path, sha256: info.sha256, width: info.width, height: info.height },
    prompt: o.prompt,
    boxes: fates,
    verifier_model: o.vlm.model,
    ms: Math.round(performance.now() - started),
    transcript: ctx.transcript,
  });
  if (candidates.length === 0) {
    o.onStage?.('done', { remaining: 0 });
    return result();
  }

  const raw: RawImage = await loadUpright(info.path);
  // Encodings are cached per size: a size rejection halves the size for every later request.
  const cleanCache = new Map<number, Promise<string>>();
  const clean: ImageSource = (side) => {
    let p = cleanCache.get(side);
    if (!p) cleanCache.set(side, (p = encodeImage(raw, side).then((e) => e.dataUrl)));
    return p;
  };
  const drawn = (indices: number[], stage: 'coarse' | 'dedup'): ImageSource => {
    let png: Promise<Buffer> | undefined;
    const bySide = new Map<number, Promise<string>>();
    return (side) => {
      png ??= drawBoxes(
        raw,
        indices.map((i) => ({ number: boxNumber(i), bbox: candidates[i]!.bbox, label: candidates[i]!.label })),
      ).then((d) => {
        o.onAnnotated?.({ stage, numbers: indices.map(boxNumber), png: d.data });
        return d.data;
      });
      let p = bySide.get(side);
      if (!p) bySide.set(side, (p = png.then((buf) => encodeImage(buf, side)).then((e) => e.dataUrl)));
      return p;
    };
  };
  const drop = (i: number, stage: BoxFate['dropped_at'], reason: string): void => {
    const f = fates[i]!;
    f.kept = false;
    f.dropped_at = stage;
    f.reason = reason;
  };

  // Stage 1: coarse partition, in batches.
  const all = candidates.map((_, i) => i);
  const batches = chunk(all, Math.max(1, o.coarseBatch ?? 40));
  o.onStage?.('coarse', { remaining: candidates.length });
  await mapLimit(
    batches,
    ctx.semaphore.limit,
    async (batch) => {
      const what = batches.length > 1 ? `the coarse filter of boxes ${boxNumber(batch[0]!)}-${boxNumber(batch[batch.length - 1]!)}` : 'the coarse filter';
      const parts: Part[] = [
        { type: 'text', text: `Detector prompt: "${o.prompt}". Image size ${info.width}x${info.height} pixels.\nThe photo:` },
        { type: 'image', source: clean },
        { type: 'text', text: 'The same photo with the numbered boxes:' },
        { type: 'image', source: drawn(batch, 'coarse') },
        { type: 'text', text: `The boxes (number: label [x1, y1, x2, y2]):\n${batch.map((i) => boxLine(i, candidates[i]!)).join('\n')}` },
      ];
      const p = await askStructured({
        ctx,
        stage: 'coarse',
        what,
        system: COARSE_SYSTEM,
        parts,
        format: COARSE_FORMAT,
        check: checkPartition(batch.map(boxNumber), false),
        reaskHint: 'Reply again with the complete JSON, sorting every listed number exactly once.',
      });
      for (const d of p.drop) drop(d.index - 1, 'coarse', d.note || 'dropped by the coarse filter (no note given)');
    },
    o.signal,
  );

  // Stage 2: per-box crop checks.
  const afterCoarse = all.filter((i) => fates[i]!.kept);
  o.onStage?.('crop', { remaining: afterCoarse.length });
  await mapLimit(
    afterCoarse,
    ctx.semaphore.limit,
    async (i) => {
      const d = candidates[i]!;
      let crop: Promise<string> | undefined;
      const source: ImageSource = (side) => {
        // Crops are 640 px; a size rejection below that re-encodes the crop smaller.
        crop ??= cropBox(raw, d.bbox, { padding: 0.1, longSide: 640 }).then((c) => c.data.toString('base64'));
        return side >= 640 ? crop.then((b64) => `data:image/jpeg;base64,${b64}`) : crop.then((b64) => encodeImage(Buffer.from(b64, 'base64'), side)).then((e) => e.dataUrl);
      };
      const r = await askStructured({
        ctx,
        stage: 'crop',
        what: `the crop check of box ${boxNumber(i)} (${d.label})`,
        system: CROP_SYSTEM,
        parts: [
          { type: 'text', text: `Label: "${d.label}".` },
          { type: 'image', source },
        ],
        format: CROP_FORMAT,
        check: checkCrop,
        reaskHint: 'Reply again with {"keep": true or false, "reason": "..."}.',
      });
      if (!r.keep) drop(i, 'crop', r.reason || 'rejected by the crop check (no reason given)');
    },
    o.signal,
  );

  // Stage 3: deduplication per label.
  const afterCrop = all.filter((i) => fates[i]!.kept);
  const byLabel = new Map<string, number[]>();
  for (const i of afterCrop) {
    const l = candidates[i]!.label;
    const list = byLabel.get(l) ?? [];
    list.push(i);
    byLabel.set(l, list);
  }
  const groups = [...byLabel.values()].flatMap((g) => chunk(g, Math.max(1, o.coarseBatch ?? 40))).filter((g) => g.length > 1);
  o.onStage?.('dedup', { remaining: afterCrop.length });
  await mapLimit(
    groups,
    ctx.semaphore.limit,
    async (group) => {
      const label = candidates[group[0]!]!.label;
      const p = await askStructured({
        ctx,
        stage: 'dedup',
        what: `deduplication of the "${label}" boxes ${group.map(boxNumber).join(', ')}`,
        system: DEDUP_SYSTEM,
        parts: [
          { type: 'text', text: `Label: "${label}". Image size ${info.width}x${info.height} pixels.\nThe photo:` },
          { type: 'image', source: clean },
          { type: 'text', text: 'The same photo with the numbered boxes:' },
          { type: 'image', source: drawn(group, 'dedup') },
          { type: 'text', text: `The boxes (number: label [x1, y1, x2, y2]):\n${group.map((i) => boxLine(i, candidates[i]!)).join('\n')}` },
        ],
        format: DEDUP_FORMAT,
        check: checkPartition(group.map(boxNumber), true),
        reaskHint: 'Reply again with the complete JSON, sorting every listed number exactly once and naming a kept box in each duplicate_of.',
      });
      for (const d of p.drop) drop(d.index - 1, 'dedup', `duplicate of box ${d.duplicate_of}${d.note ? `: ${d.note}` : ''}`);
    },
    o.signal,
  );
  o.onStage?.('done', { remaining: fates.filter((f) => f.kept).length });
  return result();
}
