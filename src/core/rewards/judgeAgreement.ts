/**
 * Agreement between two judge sets (ours and a VALOR-shaped prompt folder, src/core/rewards/
 * judgeSet.ts) on the same replies: per judged reward, how many verdicts both sets gave, the share
 * where they agree, and Cohen's kappa. Only real judge verdicts count: a verdict scored by rule
 * (degenerate text), skipped by the format gate, or in error on either side is left out and
 * counted as such, never taken as a 0.
 */
import type { Verdict } from '../../protocol/run.js';
import { cohensKappa } from '../kappa.js';
import type { ScoredReply } from './score.js';
import { JUDGE_REWARDS, type JudgeReward } from './rubrics.js';

export interface RewardAgreement {
  reward: JudgeReward;
  /** Replies where both sets gave a verdict (pass/fail) from a judge call. */
  compared: number;
  agree: number;
  /** agree / compared; null when nothing was compared. */
  rate: number | null;
  kappa: number | null;
  kappa_note?: string;
  /** How often each set passed, over the compared replies. */
  pass_rate: { a: number | null; b: number | null };
  /** Left out: scored by rule or skipped by the gate (same on both sides), or in error on a side. */
  not_judged: number;
  errors: { a: number; b: number };
}

const judged = (v: Verdict | undefined): v is Verdict & { value: 0 | 1 } =>
  v !== undefined && (v.state === 'pass' || v.state === 'fail') && v.judge !== 'rule' && v.judge !== 'gate' && (v.value === 0 || v.value === 1);

export function judgeAgreement(a: readonly ScoredReply[], b: readonly ScoredReply[]): RewardAgreement[] {
  if (a.length !== b.length) throw new RangeError(`the two judge sets scored different numbers of replies (${a.length} and ${b.length})`);
  return JUDGE_REWARDS.map((reward) => {
    const pairs: Array<[number, number]> = [];
    let notJudged = 0;
    const errors = { a: 0, b: 0 };
    for (let i = 0; i < a.length; i++) {
      const va = a[i]?.verdicts.find((v) => v.reward === reward);
      const vb = b[i]?.verdicts.find((v) => v.reward === reward);
      if (va?.state === 'error') errors.a++;
      if (vb?.state === 'error') errors.b++;
      if (judged(va) && judged(vb)) pairs.push([va.value, vb.value]);
      else if (va?.state !== 'error' && vb?.state !== 'error') notJudged++;
    }
    const agree = pairs.filter(([x, y]) => x === y).length;
    const k = cohensKappa(pairs);
    const passRate = (side: 0 | 1): number | null => (pairs.length ? pairs.filter((p) => p[side] === 1).length / pairs.length : null);
    return {
      reward,
      compared: pairs.length,
      agree,
      rate: pairs.length ? agree / pairs.length : null,
      kappa: k.kappa,
      ...(k.note ? { kappa_note: k.note } : {}),
      pass_rate: { a: passRate(0), b: passRate(1) },
      not_judged: notJudged,
      errors,
    };
  });
}
