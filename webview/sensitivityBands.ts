/**
 * The answer each position of a call's threshold slider would give, from the run record's
 * sensitivity report (`RunRecord.sensitivity`, written by `valor run --sensitivity`): pure
 * functions of the recorded intervals, so nothing is re-run in the view.
 */
import { describeOutcome, type DetectSensitivity, type SensitivityReport, type ThresholdInterval } from '../src/protocol/sensitivity.js';

export interface SliderBand {
  /** The part of the slider's range [min, 1] the interval covers. */
  from: number;
  to: number;
  /** The answer there as a person reads it (`"one"`, `error ZeroDivisionError`, `unknown`). */
  label: string;
  outcome: string | null;
  /** same: the recorded answer; changed: a different one; unknown: a replay lacked a recorded call. */
  kind: 'same' | 'changed' | 'unknown';
}

/** The sensitivity of one gd_detect call, by its `TraceEntry.index`. */
export function detectSensitivityOf(report: SensitivityReport | undefined, call: number): DetectSensitivity | null {
  return report?.detect.find((d) => d.call === call) ?? null;
}

function kindOf(outcome: string | null, recorded: string): SliderBand['kind'] {
  return outcome === null ? 'unknown' : outcome === recorded ? 'same' : 'changed';
}

/** The recorded intervals clipped to the slider's range, in order; empty ones dropped. */
export function sliderBands(d: DetectSensitivity, recorded: string, min: number): SliderBand[] {
  const out: SliderBand[] = [];
  for (const i of d.intervals) {
    const from = Math.max(min, i.from);
    const to = Math.min(1, i.to);
    if (to <= from) continue;
    out.push({ from, to, label: describeOutcome(i.outcome), outcome: i.outcome, kind: kindOf(i.outcome, recorded) });
  }
  return out;
}

/**
 * The interval holding threshold `t` (`from <= t < to`; t = 1 falls in the last one). Null when
 * `t` lies outside what was explored (a partial analysis covers a window around the threshold).
 */
export function intervalAt(d: DetectSensitivity, t: number): ThresholdInterval | null {
  const last = d.intervals.at(-1);
  for (const i of d.intervals) if (t >= i.from && t < i.to) return i;
  return last && t >= last.from && t <= last.to ? last : null;
}

/** What the slider shows beside it at threshold `t`. */
export function answerAt(d: DetectSensitivity, recorded: string, t: number): { label: string; kind: SliderBand['kind'] | 'unexplored' } {
  const i = intervalAt(d, t);
  if (!i) return { label: 'not analysed here', kind: 'unexplored' };
  return { label: describeOutcome(i.outcome), kind: kindOf(i.outcome, recorded) };
}
