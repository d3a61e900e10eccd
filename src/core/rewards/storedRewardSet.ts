/**
 * What a run record (and the extension's per-document results) keep of a scored reply: the
 * verdicts, the total, whether it is incomplete, the weights and the overrides applied. The
 * scorer's extras (audit subject, timing, total rule, judge-set reference) are left out.
 * One function, so a record written by `valor eval` and one written by the extension hold the
 * same fields.
 */
import type { RewardSet } from '../../protocol/run.js';

export function storedRewardSet(set: RewardSet): RewardSet {
  return { verdicts: set.verdicts, total: set.total, incomplete: set.incomplete, weights: set.weights, ...(set.overridden ? { overridden: set.overridden } : {}) };
}
