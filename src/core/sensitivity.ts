/**
 * What-if sensitivity of a run's answer (issue #15), from the record alone: no model is called
 * again, every variant is a replay (src/core/replay.ts) with one call's result changed.
 *
 * - gd_detect: the detector keeps a candidate when its score is above the box threshold
 *   (GroundingDINO's post-processing: `score > box_threshold`), so the kept set only changes at
 *   the candidates' scores. For each interval between two neighbouring scores the program is
 *   replayed once with the call's candidates re-filtered there; neighbouring intervals with the
 *   same answer are merged. An interval whose replay needed a call the record lacks (a depth of
 *   a box that was not kept in the recorded run) has an unknown answer and says so.
 * - depth: the smallest relative change of the value, up and down, that changes the answer:
 *   a geometric scan, then bisection between the last unchanged and the first changed factor.
 *   A flip that reverts between two scan points is not seen (the scan is 0.5 % … 1000 %).
 */
import type { RunRecord, TraceEntry } from '../protocol/run.js';
import { describeOutcome, type DepthFlip, type DepthSensitivity, type DetectSensitivity, type SensitivityReport, type ThresholdInterval } from '../protocol/sensitivity.js';
import type { Detection } from '../protocol/tools.js';
import { NO_RECORDED_RESULT, outcomeKey, replayRecord, type ReplayOverrides } from './replay.js';
import type { ProgramRunnerLike } from './runnerTypes.js';

// The report's shapes are a contract (stored in run records, shown by the run view).
export type { DepthFlip, DepthSensitivity, DetectSensitivity, SensitivityReport, ThresholdInterval };

export interface SensitivityOptions {
  runner: ProgramRunnerLike;
  /** Most replays per gd_detect call (intervals nearest the recorded threshold first; default 64). */
  maxReplaysPerCall?: number;
  /** Bisection stops when the flip point is known to this relative precision (default 0.001). */
  depthPrecision?: number;
  /** Only thresholds within this distance of each call's recorded one (default: all). */
  window?: number;
  /** Skip the depth analysis (the eval flip share needs only the threshold). */
  detectOnly?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const SCAN_UP = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const SCAN_DOWN = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.9, 0.99];

/** A candidate as the program sees a detection (integer pixel box). */
function programView(d: Detection): Detection {
  return { bbox: d.bbox.map((x) => Math.round(x)) as Detection['bbox'], label: d.label, score: d.score };
}

const f2 = (x: number) => x.toFixed(2);

export function summariseDetect(d: Omit<DetectSensitivity, 'summary'>, recorded: string): string {
  const parts: string[] = [];
  const home = d.intervals.find((i) => d.threshold >= i.from && d.threshold < i.to);
  if (home && home.outcome === recorded) parts.push(`stable for ${f2(home.from)}–${f2(home.to)}`);
  else parts.push(`at the recorded threshold the re-filtered run gives ${describeOutcome(home?.outcome ?? null)}`);
  for (const i of d.intervals) {
    if (i === home) continue;
    const where = i.from <= 0 ? `< ${f2(i.to)}` : i.to >= 1 ? `≥ ${f2(i.from)}` : `${f2(i.from)}–${f2(i.to)}`;
    parts.push(`at ${where} → ${describeOutcome(i.outcome)}${i.outcome === recorded ? ' (same)' : ''}`);
  }
  return parts.join('; ');
}

async function detectSensitivity(record: RunRecord, e: TraceEntry, o: SensitivityOptions, count: () => void): Promise<DetectSensitivity | null> {
  const cands = e.detail?.candidates;
  const threshold = e.detail?.box_threshold;
  if (!cands || threshold === undefined || e.error) return null;
  const recorded = outcomeKey(record);
  const scores = [...new Set(cands.map((c) => c.score))].sort((a, b) => a - b);
  // Interval starts: 0, then each distinct score (at t = s the candidate with score s is dropped).
  const allStarts = [0, ...scores.filter((s) => s > 0 && s < 1)];
  const nextOf = (from: number) => allStarts[allStarts.indexOf(from) + 1] ?? 1;
  const w = o.window;
  let starts = w === undefined ? allStarts : allStarts.filter((from) => nextOf(from) > threshold - w && from <= threshold + w);
  const max = o.maxReplaysPerCall ?? 64;
  let partial = false;
  if (starts.length > max) {
    partial = true;
    const home = starts.filter((s) => s <= threshold).length - 1;
    const lo = Math.max(0, Math.min(home - (max >> 1), starts.length - max));
    starts = starts.slice(lo, lo + max);
  }
  const raw: ThresholdInterval[] = [];
  for (let i = 0; i < starts.length; i++) {
    const from = starts[i]!;
    const to = nextOf(from);
    const kept = cands.filter((c) => c.score > from).map(programView);
    const overrides: ReplayOverrides = { detections: new Map([[e.index, kept]]) };
    count();
    const r = await replayRecord(record, { runner: o.runner, overrides, timeoutMs: o.timeoutMs, signal: o.signal });
    const missing = r.missing.map((m) => `${m.tool}(${JSON.stringify(m.args)})`);
    const unknown = r.record.error?.type === NO_RECORDED_RESULT || missing.length > 0;
    raw.push({ from, to, kept: kept.length, outcome: unknown ? null : outcomeKey(r.record), ...(missing.length ? { missing } : {}) });
  }
  const intervals: ThresholdInterval[] = [];
  for (const i of raw) {
    const last = intervals.at(-1);
    if (last && last.outcome !== null && last.outcome === i.outcome && last.to === i.from) {
      last.to = i.to;
      last.kept = Math.max(last.kept, i.kept);
    } else intervals.push({ ...i });
  }
  const home = intervals.find((i) => threshold >= i.from && threshold < i.to) ?? null;
  const base = {
    call: e.index,
    line: e.line,
    prompt: String((e.args as { prompt?: unknown }).prompt ?? ''),
    threshold,
    candidates: cands.length,
    intervals,
    stable: home && home.outcome === recorded ? { from: home.from, to: home.to } : null,
    partial,
  };
  return { ...base, summary: summariseDetect(base, recorded) };
}

async function depthFlip(record: RunRecord, e: TraceEntry, sign: 1 | -1, o: SensitivityOptions, count: () => void): Promise<DepthFlip | null> {
  const value = e.result as number;
  const recorded = outcomeKey(record);
  const at = async (r: number): Promise<string | null> => {
    count();
    const res = await replayRecord(record, { runner: o.runner, overrides: { depth: new Map([[e.index, value * (1 + sign * r)]]) }, timeoutMs: o.timeoutMs, signal: o.signal });
    return res.missing.length > 0 ? null : outcomeKey(res.record);
  };
  let lo = 0;
  let found: number | null = null;
  let flipped: string | null = null;
  for (const r of sign > 0 ? SCAN_UP : SCAN_DOWN) {
    const k = await at(r);
    if (k !== recorded) {
      found = r;
      flipped = k;
      break;
    }
    lo = r;
  }
  if (found === null) return null;
  let hi: number = found;
  const precision = o.depthPrecision ?? 0.001;
  while (hi - lo > precision * Math.max(hi, 0.01)) {
    const mid: number = (lo + hi) / 2;
    const k = await at(mid);
    if (k !== recorded) {
      hi = mid;
      flipped = k;
    } else lo = mid;
  }
  return { relative: hi, outcome: flipped };
}

function pct(r: number): string {
  return `${(r * 100).toFixed(r < 0.1 ? 2 : 1)} %`;
}

/** The what-if report for a recorded run: every gd_detect with candidates, every depth call. */
export async function sensitivity(record: RunRecord, o: SensitivityOptions): Promise<SensitivityReport> {
  let replays = 0;
  const count = () => {
    replays++;
  };
  const detect: DetectSensitivity[] = [];
  const depth: DepthSensitivity[] = [];
  for (const e of record.trace) {
    if (o.signal?.aborted) break;
    if (e.tool === 'gd_detect') {
      const d = await detectSensitivity(record, e, o, count);
      if (d) detect.push(d);
    } else if (!o.detectOnly && e.tool === 'depth' && !e.error && typeof e.result === 'number' && Number.isFinite(e.result)) {
      const up = await depthFlip(record, e, 1, o, count);
      const down = await depthFlip(record, e, -1, o, count);
      const words = [
        up ? `+${pct(up.relative)} → ${describeOutcome(up.outcome)}` : 'no increase up to +1000 % changes the answer',
        down ? `−${pct(down.relative)} → ${describeOutcome(down.outcome)}` : 'no decrease down to −99 % changes the answer',
      ];
      depth.push({ call: e.index, line: e.line, value: e.result, up, down, summary: words.join('; ') });
    }
  }
  return { outcome: outcomeKey(record), detect, depth, replays };
}

/** Human lines for `valor run --sensitivity`. */
export function formatSensitivity(rep: SensitivityReport): string {
  const lines = [`sensitivity (${rep.replays} replays, recorded answer ${describeOutcome(rep.outcome)}):`];
  for (const d of rep.detect) {
    lines.push(`  gd_detect #${d.call} "${d.prompt}"${d.line ? ` (line ${d.line})` : ''}, threshold ${d.threshold}, ${d.candidates} candidates${d.partial ? ' (window around the threshold only)' : ''}: ${d.summary}`);
  }
  for (const d of rep.depth) lines.push(`  depth #${d.call}${d.line ? ` (line ${d.line})` : ''} = ${d.value}: ${d.summary}`);
  if (rep.detect.length === 0 && rep.depth.length === 0) lines.push('  no gd_detect call with recorded candidates and no depth call: nothing to vary');
  return `${lines.join('\n')}\n`;
}

/** Per benchmark run: how many answers change for a box threshold within ±window of the recorded one. */
export interface FlipShare {
  window: number;
  /** Records with an answer and at least one gd_detect call with recorded candidates. */
  analysed: number;
  /** Of those, answers that change somewhere in the window. */
  flipped: number;
  /** Of those, answers where some threshold in the window needed a call the record lacks (and none flipped). */
  unknown: number;
  /** flipped / analysed (null when nothing could be analysed). */
  share: number | null;
  /** Records without an answer or without candidates (not analysed). */
  skipped: number;
  replays: number;
}

/** The share of answers that flip within ±window of the threshold (`valor eval --sensitivity`). */
export async function flipShare(records: Iterable<RunRecord>, o: SensitivityOptions & { window: number }): Promise<FlipShare> {
  const out: FlipShare = { window: o.window, analysed: 0, flipped: 0, unknown: 0, share: null, skipped: 0, replays: 0 };
  for (const r of records) {
    if (o.signal?.aborted) break;
    const hasCandidates = r.trace.some((e) => e.tool === 'gd_detect' && e.detail?.candidates && e.detail.box_threshold !== undefined);
    if (r.error || !hasCandidates) {
      out.skipped++;
      continue;
    }
    const rep = await sensitivity(r, { ...o, detectOnly: true });
    out.replays += rep.replays;
    out.analysed++;
    const intervals = rep.detect.flatMap((d) => d.intervals);
    if (intervals.some((i) => i.outcome !== null && i.outcome !== rep.outcome)) out.flipped++;
    else if (intervals.some((i) => i.outcome === null)) out.unknown++;
  }
  out.share = out.analysed > 0 ? out.flipped / out.analysed : null;
  return out;
}
