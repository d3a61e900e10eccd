/**
 * The total reward (docs/valor.md §3): `format × Σ wᵢ·rᵢ` over the five weighted rewards, with VALOR's
 * reference weights by default. A needed verdict in `error` makes the total null and the set
 * incomplete: an unknown judgment is never counted as 0. When format is 0 the total is 0 and no
 * other verdict is needed.
 */
import type { RewardName, Verdict } from '../../protocol/run.js';

export type WeightedReward = Exclude<RewardName, 'format'>;
export type RewardWeights = Record<WeightedReward, number>;

export const WEIGHTED_REWARDS: readonly WeightedReward[] = ['logic', 'syntax', 'attribute', 'spatial', 'adherence'];

/** VALOR's reference weights (the paper only asks that they sum to 1). */
export const DEFAULT_WEIGHTS: Readonly<RewardWeights> = Object.freeze({ logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 });

/** Fills in defaults and checks: each weight finite and ≥ 0, and the five summing to 1. */
export function resolveWeights(partial: Partial<Record<string, number>> = {}): RewardWeights {
  for (const k of Object.keys(partial)) {
    if (!(WEIGHTED_REWARDS as readonly string[]).includes(k)) {
      throw new RangeError(`unknown reward weight "${k}": the weighted rewards are ${WEIGHTED_REWARDS.join(', ')} (format is a gate, not weighted)`);
    }
  }
  const w = { ...DEFAULT_WEIGHTS, ...partial } as RewardWeights;
  for (const k of WEIGHTED_REWARDS) {
    const v = w[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`reward weight ${k}=${String(v)} must be a number ≥ 0`);
  }
  const sum = WEIGHTED_REWARDS.reduce((s, k) => s + w[k], 0);
  if (Math.abs(sum - 1) > 1e-6) {
    throw new RangeError(`reward weights must sum to 1 (they sum to ${Number(sum.toFixed(6))}): ${WEIGHTED_REWARDS.map((k) => `${k}=${w[k]}`).join(', ')}`);
  }
  return w;
}

/** Parses `logic=0.3,syntax=0.1,...` (CLI and env); unnamed rewards keep their defaults. */
export function parseWeights(spec: string): RewardWeights {
  const out: Record<string, number> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)\s*=\s*([0-9.eE+-]+)$/.exec(part);
    if (!m || m[1] === undefined || m[2] === undefined) throw new RangeError(`cannot read weight "${part}": write name=value, e.g. logic=0.3`);
    out[m[1]] = Number(m[2]);
  }
  return resolveWeights(out);
}

export interface Total {
  total: number | null;
  incomplete: boolean;
}

/**
 * How format enters the total: `product` multiplies (a repeated tag, format 0.5, halves the total;
 * our default), `gate` uses it only as zero / non-zero (VALOR's reference code: 0.5 counts as 1).
 */
export type TotalRule = 'product' | 'gate';

export function computeTotal(verdicts: readonly Verdict[], weights: RewardWeights, rule: TotalRule = 'product'): Total {
  const by = new Map(verdicts.map((v) => [v.reward, v]));
  const format = by.get('format');
  if (!format || format.state === 'error' || format.value === null) return { total: null, incomplete: true };
  if (format.value === 0) return { total: 0, incomplete: false };
  const factor = rule === 'gate' ? 1 : format.value;
  let sum = 0;
  let incomplete = false;
  for (const k of WEIGHTED_REWARDS) {
    const w = weights[k];
    if (w === 0) continue;
    const v = by.get(k);
    if (!v || v.state === 'error' || v.value === null) {
      incomplete = true;
      continue;
    }
    sum += w * v.value;
  }
  if (incomplete) return { total: null, incomplete: true };
  // Rounded so 0.1 + 0.2 style float noise does not show up in records and comparisons.
  return { total: Math.round(factor * sum * 1e9) / 1e9, incomplete: false };
}
