/**
 * Agreement between a judge and a person on one reward, with Cohen's kappa and its 95%
 * confidence interval, for the review queue's running statistics.
 *
 * The interval is kappa ± 1.96·SE with the large-sample standard error of Fleiss, Cohen and
 * Everitt (1969), in the form given by Fleiss, Levin and Paik (Statistical Methods for Rates and
 * Proportions, §18.1), over the k×k table p_ij (judge i, person j, as fractions of n):
 *
 *   A = Σ_i p_ii · [1 − (p_i. + p_.i)(1 − κ)]²
 *   B = (1 − κ)² · Σ_{i≠j} p_ij · (p_.i + p_j.)²
 *   C = [κ − p_e(1 − κ)]²
 *   Var(κ) = (A + B − C) / (n · (1 − p_e)²)
 *
 * clipped to [−1, 1]. It is an asymptotic interval: with few items (say under 30) it is rough,
 * and with perfect agreement so far its width is 0, which says "no disagreement seen yet", not
 * certainty; the `note` says both. Kappa itself is undefined when both sides gave one value to
 * every item (chance agreement 100%).
 */
import { cohensKappa } from '../kappa.js';

export interface KappaInterval {
  n: number;
  agree: number;
  agreement: number | null;
  kappa: number | null;
  lo: number | null;
  hi: number | null;
  note?: string;
}

const Z95 = 1.959963984540054;

/** `pairs`: [judge value, person value] per compared verdict. */
export function kappaWithInterval(pairs: ReadonlyArray<readonly [number, number]>): KappaInterval {
  const n = pairs.length;
  const agree = pairs.filter(([a, b]) => a === b).length;
  if (n === 0) return { n, agree, agreement: null, kappa: null, lo: null, hi: null, note: 'nothing compared yet' };
  const k = cohensKappa(pairs);
  if (k.kappa === null) return { n, agree, agreement: agree / n, kappa: null, lo: null, hi: null, note: k.note };
  const kappa = k.kappa;
  const cats = [...new Set(pairs.flatMap(([a, b]) => [a, b]))];
  const p = (i: number, j: number): number => pairs.filter(([a, b]) => a === i && b === j).length / n;
  const row = (i: number): number => pairs.filter(([a]) => a === i).length / n;
  const col = (j: number): number => pairs.filter(([, b]) => b === j).length / n;
  const pe = cats.reduce((s, c) => s + row(c) * col(c), 0);
  let A = 0;
  let B = 0;
  for (const i of cats) {
    A += p(i, i) * (1 - (row(i) + col(i)) * (1 - kappa)) ** 2;
    for (const j of cats) if (i !== j) B += p(i, j) * (col(i) + row(j)) ** 2;
  }
  B *= (1 - kappa) ** 2;
  const C = (kappa - pe * (1 - kappa)) ** 2;
  const variance = Math.max(0, (A + B - C) / (n * (1 - pe) ** 2));
  const se = Math.sqrt(variance);
  const lo = Math.max(-1, kappa - Z95 * se);
  const hi = Math.min(1, kappa + Z95 * se);
  const notes: string[] = [];
  if (agree === n) notes.push('no disagreement seen yet: the interval has no width, which is not certainty');
  if (n < 30) notes.push(`only ${n} compared: the interval is rough`);
  return { n, agree, agreement: agree / n, kappa, lo, hi, ...(notes.length ? { note: notes.join('; ') } : {}) };
}
