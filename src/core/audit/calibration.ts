/**
 * Judge calibration against people: how well a judge's verdicts agree with the human decisions in
 * the audit log, per reward, and (when a second judge scored the same items) how the two judges
 * agree with each other and each with the people. So a person can tell whether a cheaper judge
 * (a local model on vLLM, say) is as close to human judgment as the reference one.
 *
 * A human decision is the latest standing override of a verdict (src/core/audit.ts); it is
 * compared with the judge's own value on that item, not with the override's `machine_value`, so
 * any judge can be compared with decisions that were made while reviewing another one. Failed
 * judge verdicts (null) are left out of every comparison and counted in `failed`.
 */
import type { OverrideIndex } from '../audit.js';
import { mapLimit } from '../concurrency.js';
import { RewardName } from '../../protocol/run.js';
import { kappaWithInterval, type KappaInterval } from '../review/agreement.js';
import type { RewardValues, ReviewSource } from '../review/source.js';

export interface JudgedValues {
  subject: string;
  values: RewardValues;
}

/** Per reward: a judge's values against the standing human decisions on the same verdicts. */
export function agreementWithHumans(judged: Iterable<JudgedValues>, overrides: OverrideIndex, rewards: readonly RewardName[] = RewardName.options): Record<string, KappaInterval> {
  const pairs = new Map<RewardName, Array<[number, number]>>(rewards.map((r) => [r, []]));
  for (const j of judged) {
    const standing = overrides.forSubject('reward', j.subject);
    for (const r of rewards) {
      const v = j.values[r];
      const o = standing.get(r);
      if (v === null || v === undefined || !o) continue;
      pairs.get(r)!.push([v, o.value]);
    }
  }
  return Object.fromEntries(rewards.map((r) => [r, kappaWithInterval(pairs.get(r) ?? [])]));
}

/** Per reward: judge A against judge B on the items both scored. */
export function agreementBetweenJudges(items: Iterable<{ a: RewardValues; b: RewardValues }>, rewards: readonly RewardName[] = RewardName.options): Record<string, KappaInterval> {
  const pairs = new Map<RewardName, Array<[number, number]>>(rewards.map((r) => [r, []]));
  for (const { a, b } of items) {
    for (const r of rewards) {
      const x = a[r];
      const y = b[r];
      if (x === null || x === undefined || y === null || y === undefined) continue;
      pairs.get(r)!.push([x, y]);
    }
  }
  return Object.fromEntries(rewards.map((r) => [r, kappaWithInterval(pairs.get(r) ?? [])]));
}

export interface CalibrationRow {
  reward: RewardName;
  /** Items with a human decision on this reward. */
  reviewed: number;
  /** Verdicts of the (first, second) judge that failed. */
  failed: { first: number; second: number };
  first_vs_human: KappaInterval;
  second_vs_human?: KappaInterval;
  first_vs_second?: KappaInterval;
}

export interface CalibrationReport {
  source: string;
  items: number;
  /** Whether a second judge's verdicts were there to compare. */
  compared: boolean;
  rewards: CalibrationRow[];
  warnings: string[];
}

/** Reads every item of `source` (16 at a time) and reports per-reward agreement. */
export async function calibrate(source: ReviewSource, overrides: OverrideIndex, signal?: AbortSignal): Promise<CalibrationReport> {
  const loaded = await mapLimit(
    source.entries,
    16,
    async (e) => {
      const item = await source.load(e);
      const first: RewardValues = {};
      for (const v of item.verdicts) first[v.reward] = v.state === 'error' ? null : v.value;
      let second: RewardValues | undefined;
      if (item.second) {
        second = {};
        for (const [r, v] of Object.entries(item.second)) if (v) second[r as RewardName] = v.state === 'error' ? null : v.value;
      }
      return { subject: item.subject, first, second };
    },
    signal,
  );
  const compared = loaded.some((l) => l.second !== undefined);
  const rows: CalibrationRow[] = RewardName.options.map((reward) => {
    const first = agreementWithHumans(loaded.map((l) => ({ subject: l.subject, values: l.first })), overrides, [reward])[reward]!;
    const reviewed = loaded.filter((l) => overrides.get('reward', l.subject, reward)).length;
    const row: CalibrationRow = {
      reward,
      reviewed,
      failed: { first: loaded.filter((l) => l.first[reward] === null).length, second: loaded.filter((l) => l.second?.[reward] === null).length },
      first_vs_human: first,
    };
    if (compared) {
      const withSecond = loaded.filter((l) => l.second !== undefined);
      row.second_vs_human = agreementWithHumans(withSecond.map((l) => ({ subject: l.subject, values: l.second! })), overrides, [reward])[reward]!;
      row.first_vs_second = agreementBetweenJudges(withSecond.map((l) => ({ a: l.first, b: l.second! })), [reward])[reward]!;
    }
    return row;
  });
  return { source: source.description, items: loaded.length, compared, rewards: rows, warnings: source.warnings };
}
