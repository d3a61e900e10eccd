/**
 * What the view derives from a run record: one `CallView` per tool call with the boxes to draw,
 * the depth region, the VQA crop. Pure functions of the record, so they are tested without a
 * browser and the drawing code only reads these arrays.
 */
import { z } from 'zod';
import type { BBox } from '../src/protocol/tools.js';
import { shownLine, type BoxFate, type BoxStage, type GroundingResult, type ToolName, type TraceEntry } from '../src/protocol/run.js';
import type { ViewRunRecord } from '../src/protocol/webview.js';
import { callColor } from './colors.js';

/** The detector's default box threshold (docs/valor.md §2), used when a call does not record its own. */
export const DEFAULT_BOX_THRESHOLD = 0.35;

export interface ViewBox {
  /** `TraceEntry.index` of the call that produced it. */
  call: number;
  bbox: BBox;
  label: string;
  /** Detector confidence; null when the record has none (then the box is always shown). */
  score: number | null;
  /** Position in the list the program received, or null for a candidate below the program's threshold. */
  resultIndex: number | null;
  /** Text drawn on the box: label and score. */
  text: string;
}

export interface CallView {
  index: number;
  tool: ToolName;
  /** 1-based program line of the call (what `revealLine` sends); null if unknown. */
  line: number | null;
  /** The line a person sees: the `.vprog` document's line when the run came from one (see `shownLine`). */
  shownLine: number | null;
  variable: string | null;
  args: Record<string, unknown>;
  result: unknown;
  error: { type: string; message: string } | null;
  ms: number;
  cached: boolean;
  /** Detection calls: colour of the call (one per gd_detect call, in order). */
  color: string | null;
  /** Detection calls: boxes sorted by score, highest first (the visible set is always a prefix). */
  boxes: ViewBox[];
  /** Whether `boxes` are the low-threshold candidates (the slider can re-filter them). */
  hasCandidates: boolean;
  /** The threshold the program's own call used. */
  threshold: number | null;
  /** Lowest score among the candidates (the slider's lower end). */
  minScore: number;
  /** Depth calls: the region sampled and the value returned. */
  region: BBox | null;
  depth: number | null;
  /** VQA calls: the crop sent (null = the whole image), the question and the answer. */
  crop: BBox | null;
  wholeImage: boolean;
  question: string | null;
  answer: string | null;
}

const BBoxLike = z.tuple([z.number(), z.number(), z.number(), z.number()]);
const DetectionLike = z.object({ bbox: BBoxLike, label: z.string().catch(''), score: z.number().optional() });
const DetectionList = z.array(z.unknown());

function detectionsOf(value: unknown): Array<z.infer<typeof DetectionLike>> {
  const list = DetectionList.safeParse(value);
  if (!list.success) return [];
  const out: Array<z.infer<typeof DetectionLike>> = [];
  for (const item of list.data) {
    const d = DetectionLike.safeParse(item);
    if (d.success) out.push(d.data);
  }
  return out;
}

function sameBox(a: BBox, b: BBox): boolean {
  return Math.abs(a[0] - b[0]) < 0.5 && Math.abs(a[1] - b[1]) < 0.5 && Math.abs(a[2] - b[2]) < 0.5 && Math.abs(a[3] - b[3]) < 0.5;
}

function boxText(label: string, score: number | null): string {
  return score === null ? label : `${label} ${score.toFixed(2)}`;
}

function bboxArg(v: unknown): BBox | null {
  const r = BBoxLike.safeParse(v);
  return r.success ? r.data : null;
}

/** The calls of a run in program order, with everything the view draws for them. */
export function buildCalls(run: ViewRunRecord): CallView[] {
  const entries: TraceEntry[] = [...(run.trace ?? [])].sort((a, b) => a.index - b.index);
  let detectOrdinal = 0;
  return entries.map((e) => {
    const detail = e.detail ?? {};
    const base: CallView = {
      index: e.index,
      tool: e.tool,
      line: e.line,
      shownLine: shownLine(run, e.line),
      variable: e.variable ?? null,
      args: e.args,
      result: e.result,
      error: e.error ?? null,
      ms: e.ms,
      cached: detail.cached === true,
      color: null,
      boxes: [],
      hasCandidates: false,
      threshold: null,
      minScore: 0,
      region: null,
      depth: null,
      crop: null,
      wholeImage: false,
      question: null,
      answer: null,
    };
    if (e.tool === 'gd_detect') {
      base.color = callColor(detectOrdinal++);
      const result = detectionsOf(e.result);
      const candidates = detail.candidates;
      base.threshold = detail.box_threshold ?? (candidates ? DEFAULT_BOX_THRESHOLD : null);
      base.hasCandidates = candidates !== undefined && candidates.length > 0;
      const source = base.hasCandidates && candidates ? candidates : result;
      const used = new Set<number>();
      base.boxes = source.map((d) => {
        const score = typeof d.score === 'number' ? d.score : null;
        let resultIndex: number | null = null;
        if (base.hasCandidates) {
          const i = result.findIndex((r, k) => !used.has(k) && r.label === d.label && sameBox(r.bbox, d.bbox));
          if (i >= 0) {
            used.add(i);
            resultIndex = i;
          }
        } else {
          resultIndex = used.size;
          used.add(used.size);
        }
        return { call: e.index, bbox: d.bbox, label: d.label, score, resultIndex, text: boxText(d.label, score) };
      });
      // Stable sort keeps the record's order among equal scores; unscored boxes go first (always shown).
      base.boxes.sort((a, b) => (b.score ?? Infinity) - (a.score ?? Infinity));
      const scores = base.boxes.map((b) => b.score).filter((s): s is number => s !== null);
      base.minScore = scores.length ? Math.min(...scores) : 0;
    } else if (e.tool === 'depth') {
      base.region = detail.region ?? bboxArg(e.args['bbox']);
      base.depth = typeof e.result === 'number' ? e.result : null;
    } else {
      const asked = bboxArg(e.args['bbox']);
      base.crop = detail.crop ?? asked;
      base.wholeImage = base.crop === null;
      base.question = typeof e.args['prompt'] === 'string' ? e.args['prompt'] : null;
      base.answer = typeof e.result === 'string' ? e.result : e.result === null || e.result === undefined ? null : JSON.stringify(e.result);
    }
    return base;
  });
}

/** How many of a call's boxes are drawn at a threshold: all with score >= t (unscored always). */
export function visibleCount(call: CallView, threshold: number | null): number {
  if (threshold === null || !call.hasCandidates) return call.boxes.length;
  // boxes are sorted by score descending, so the visible ones are a prefix: binary search its end.
  let lo = 0;
  let hi = call.boxes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const s = call.boxes[mid]?.score ?? null;
    if (s === null || s >= threshold) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The boxes of a call drawn at the chosen thresholds (a prefix of `call.boxes`). */
export function visibleBoxes(call: CallView, chosen: Record<string, number>): ViewBox[] {
  return call.boxes.slice(0, visibleCount(call, effectiveThreshold(call, chosen)));
}

/** The threshold a call is shown at: the person's choice, else the program's own. */
export function effectiveThreshold(call: CallView, chosen: Record<string, number>): number | null {
  if (!call.hasCandidates) return null;
  const c = chosen[String(call.index)];
  return typeof c === 'number' && Number.isFinite(c) ? c : call.threshold;
}

export type GroundingFilter = 'all' | 'kept' | BoxStage;

export function groundingMatches(box: BoxFate, filter: GroundingFilter): boolean {
  if (filter === 'all') return true;
  if (filter === 'kept') return box.kept;
  return !box.kept && box.dropped_at === filter;
}

export function groundingCounts(g: GroundingResult): { kept: number; coarse: number; crop: number; dedup: number; total: number } {
  const c = { kept: 0, coarse: 0, crop: 0, dedup: 0, total: g.boxes.length };
  for (const b of g.boxes) {
    if (b.kept) c.kept++;
    else if (b.dropped_at) c[b.dropped_at]++;
  }
  return c;
}

/** Image size from the record (grounding results carry it too), when the image itself is missing. */
export function recordedImageSize(run: ViewRunRecord): { width: number; height: number } | null {
  const w = run.image?.width ?? run.grounding?.[0]?.image.width;
  const h = run.image?.height ?? run.grounding?.[0]?.image.height;
  return w && h ? { width: w, height: h } : null;
}

/** Largest box extent, the last resort for the drawing size when neither image nor record says. */
export function extentOf(calls: CallView[]): { width: number; height: number } {
  let w = 1;
  let h = 1;
  const grow = (b: BBox | null): void => {
    if (!b) return;
    w = Math.max(w, b[2]);
    h = Math.max(h, b[3]);
  };
  for (const c of calls) {
    for (const b of c.boxes) grow(b.bbox);
    grow(c.region);
    grow(c.crop);
  }
  return { width: Math.ceil(w), height: Math.ceil(h) };
}

/** Short JSON of a value for display, cut at `max` characters. */
export function preview(value: unknown, max = 160): string {
  let s: string;
  try {
    s = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Stable JSON (sorted keys) to compare two values structurally. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return v;
  }) ?? 'undefined';
}

export interface CallDiff {
  index: number;
  a: CallView | null;
  b: CallView | null;
  differs: boolean;
  /** What differs: 'tool', 'args', 'result', 'error', 'missing'. */
  what: string[];
}

/** Calls of two runs side by side, by position, with what differs between them. */
export function diffCalls(a: CallView[], b: CallView[]): CallDiff[] {
  const n = Math.max(a.length, b.length);
  const out: CallDiff[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    const what: string[] = [];
    if (!x || !y) what.push('missing');
    else {
      if (x.tool !== y.tool) what.push('tool');
      if (stableJson(x.args) !== stableJson(y.args)) what.push('args');
      if (stableJson(x.result) !== stableJson(y.result)) what.push('result');
      if (stableJson(x.error) !== stableJson(y.error)) what.push('error');
    }
    out.push({ index: i, a: x, b: y, differs: what.length > 0, what });
  }
  return out;
}

/**
 * `next` with every top-level field that holds the same value as in `prev` replaced by `prev`'s
 * object, so a record sent again whole (same run, a new verdict) keeps the identity of the parts
 * that did not change and only the panels showing the changed parts re-render.
 */
export function keepUnchanged<T extends object>(prev: T, next: T): T {
  const out = { ...next } as Record<string, unknown>;
  const old = prev as Record<string, unknown>;
  for (const k of Object.keys(out)) {
    if (k in old && old[k] !== out[k] && stableJson(old[k]) === stableJson(out[k])) out[k] = old[k];
  }
  return out as T;
}
