/**
 * Human overrides of reward verdicts: the subject key a (query, reply) pair's overrides are filed
 * under (sha256 of the stable JSON {kind, query, reply}; the target is the reward name), and a
 * reward set with the latest overrides applied and its total recomputed.
 */
import type { Override, RewardSet, Verdict } from '../../protocol/run.js';
import { hashJson } from '../contentHash.js';
import { asIndex, type OverrideIndex } from '../overrideIndex.js';
import { computeTotal, resolveWeights } from './total.js';

export function rewardSubject(query: string, reply: string): string {
  return hashJson({ kind: 'reward', query, reply });
}

/**
 * A copy of `set` with the latest overrides of `subject` applied: the verdict takes the person's
 * value (its rationale and the judge's record stay), `overridden` lists what was applied, and the
 * total is recomputed with the set's weights.
 */
export function applyRewardOverrides(set: RewardSet, subject: string, overrides: OverrideIndex | readonly Override[]): RewardSet {
  const mine = asIndex(overrides).forSubject('reward', subject);
  if (mine.size === 0) return set;
  const overridden: Record<string, Override> = { ...(set.overridden ?? {}) };
  const verdicts = set.verdicts.map((v): Verdict => {
    const o = mine.get(v.reward);
    if (!o) return v;
    overridden[v.reward] = o;
    return { ...v, value: o.value, state: o.value >= 1 ? 'pass' : 'fail' };
  });
  const weights = resolveWeights(set.weights);
  const { total, incomplete } = computeTotal(verdicts, weights, set.total_rule);
  return { ...set, verdicts, total, incomplete, overridden };
}
