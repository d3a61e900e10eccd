/**
 * The what-if sensitivity report of a run (issue #15; computed by src/core/sensitivity.ts from
 * the record alone): per `gd_detect` call the box-threshold intervals over which the answer stays
 * the same, per `depth` call the smallest relative change that flips it. `valor run
 * --sensitivity` stores it in the run record (`RunRecord.sensitivity`), so the run view can show
 * on each threshold slider the answer every position would give.
 *
 * Outcomes are keys as `outcomeKey` (src/core/replay.ts) writes them: `answer:<json>` or
 * `error:<Type>`; null when a replay needed a call the record lacks (the answer is unknown).
 */
import { z } from 'zod';

export const ThresholdInterval = z.object({
  /** The answer holds for box thresholds t with `from <= t < to` (`to` 1 for the last). */
  from: z.number(),
  to: z.number(),
  /** Detections kept in this interval. */
  kept: z.number().int().nonnegative(),
  /** The answer here (`answer:<json>`, `error:<Type>`), or null when unknown. */
  outcome: z.string().nullable(),
  /** Calls the replay had no recorded result for (why the outcome is unknown). */
  missing: z.array(z.string()).optional(),
});
export type ThresholdInterval = z.infer<typeof ThresholdInterval>;

export const DetectSensitivity = z.object({
  /** `TraceEntry.index` of the gd_detect call. */
  call: z.number().int(),
  line: z.number().int().nullable(),
  prompt: z.string(),
  threshold: z.number(),
  candidates: z.number().int().nonnegative(),
  intervals: z.array(ThresholdInterval),
  /** The interval holding the recorded threshold, when its answer is the recorded one. */
  stable: z.object({ from: z.number(), to: z.number() }).nullable(),
  /** Whether only a window of thresholds around the recorded one was explored (too many candidates). */
  partial: z.boolean(),
  summary: z.string(),
});
export type DetectSensitivity = z.infer<typeof DetectSensitivity>;

export const DepthFlip = z.object({
  /** Relative change (0.25 = +25 % or −25 %) at which the answer first differs. */
  relative: z.number(),
  outcome: z.string().nullable(),
});
export type DepthFlip = z.infer<typeof DepthFlip>;

export const DepthSensitivity = z.object({
  call: z.number().int(),
  line: z.number().int().nullable(),
  value: z.number(),
  up: DepthFlip.nullable(),
  down: DepthFlip.nullable(),
  summary: z.string(),
});
export type DepthSensitivity = z.infer<typeof DepthSensitivity>;

export const SensitivityReport = z.object({
  /** The recorded run's answer (`answer:<json>` or `error:<Type>`). */
  outcome: z.string(),
  detect: z.array(DetectSensitivity),
  depth: z.array(DepthSensitivity),
  /** Replays made. */
  replays: z.number().int().nonnegative(),
});
export type SensitivityReport = z.infer<typeof SensitivityReport>;

/** An outcome key as a person reads it: the answer's JSON, `error Type`, or `unknown`. */
export function describeOutcome(key: string | null): string {
  if (key === null) return 'unknown';
  if (key.startsWith('answer:')) return key.slice('answer:'.length);
  return key.replace(/^error:/, 'error ');
}
