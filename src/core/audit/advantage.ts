/**
 * GRPO's group-relative advantage, computed the way verl's `compute_grpo_outcome_advantage`
 * (verl/trainer/ppo/core_algos.py) computes it from the totals of one prompt's group:
 *
 *   A_i = (r_i − mean(r)) / (std(r) + ε),   ε = 1e-6
 *
 * - std is torch.std's default: the unbiased (Bessel-corrected, n − 1) sample standard deviation.
 * - A group of one gets mean 0 and std 1 there (so A = r); we do the same.
 * - Zero spread (every total equal, e.g. all 5 replies scored 1): r_i − mean is 0 for everyone,
 *   so every advantage is 0 and the group teaches the policy nothing; ε only keeps the division
 *   defined. We say so in `note` rather than printing five silent zeros.
 * - A failed total (a judge in error: `null`) is never counted as 0. It is left out of the
 *   group's mean and std, its advantage is null, and `excluded` names it; the statistics are
 *   those of the complete members only. (A trainer that received such a reply would have to
 *   decide itself; ours refuses to invent a number.)
 */

/** verl's default `epsilon` for GRPO. */
export const GRPO_EPSILON = 1e-6;

export interface GroupAdvantage {
  /** Per member, in input order; null for members without a total. */
  advantages: Array<number | null>;
  /** Mean and unbiased std of the complete totals (null when none are complete). */
  mean: number | null;
  std: number | null;
  /** Members with a total. */
  counted: number;
  /** Input positions left out because their total is null. */
  excluded: number[];
  /** True when every counted total is the same (all advantages 0). */
  zeroSpread: boolean;
  note?: string;
}

export function grpoAdvantages(totals: ReadonlyArray<number | null>, epsilon = GRPO_EPSILON): GroupAdvantage {
  const excluded: number[] = [];
  const values: number[] = [];
  totals.forEach((t, i) => {
    if (t === null || !Number.isFinite(t)) excluded.push(i);
    else values.push(t);
  });
  const notes: string[] = [];
  if (excluded.length > 0) {
    notes.push(
      `${excluded.length} of ${totals.length} repl${excluded.length === 1 ? 'y has' : 'ies have'} no total (a judge failed): left out of the mean and std, advantage shown as none, never as 0`,
    );
  }
  const n = values.length;
  if (n === 0) {
    notes.push('no reply has a total, so there is no advantage');
    return { advantages: totals.map(() => null), mean: null, std: null, counted: 0, excluded, zeroSpread: false, note: notes.join('; ') };
  }
  let mean: number;
  let std: number;
  if (n === 1) {
    // verl: a group of one is centred at 0 with scale 1.
    mean = 0;
    std = 1;
    notes.push('only one reply has a total: as in verl, mean 0 and std 1 are used, so its advantage is its total');
  } else {
    mean = values.reduce((s, v) => s + v, 0) / n;
    const ss = values.reduce((s, v) => s + (v - mean) * (v - mean), 0);
    std = Math.sqrt(ss / (n - 1));
  }
  const zeroSpread = n > 1 && values.every((v) => v === values[0]);
  if (zeroSpread) notes.push(`every counted reply has the same total (${values[0]}): std is 0, so every advantage is 0 and this group gives GRPO no signal`);
  const advantages = totals.map((t) => {
    if (t === null || !Number.isFinite(t)) return null;
    if (zeroSpread) return 0;
    return (t - mean) / (std + epsilon);
  });
  return { advantages, mean, std, counted: n, excluded, zeroSpread, ...(notes.length ? { note: notes.join('; ') } : {}) };
}
