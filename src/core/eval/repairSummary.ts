/**
 * The repair section of an eval summary (`valor eval --repair N`, docs/eval.md "Repair"): the
 * results with and without repair, over the evaluated questions, overall and per benchmark, and
 * its lines for the terminal. A pure function of the results, like the rest of the summary.
 */
import { aggregate, type Metrics } from './metrics.js';
import type { EvalResult } from './result.js';

/** Results with and without repair, over the evaluated questions (docs/eval.md "Repair"). */
export interface RepairSummary {
  max_repairs: number;
  /** Questions whose first attempt failed in a repairable way. */
  needed: number;
  /** Of those, the ones a repair made run without failing. */
  repaired: number;
  /** Repairs asked of the model in all. */
  attempts: number;
  /** How many repairs the repaired questions needed: { "1": n, "2": m, ... }. */
  repaired_after: Record<string, number>;
  /** The metrics of the first attempts (VALOR's single attempt). */
  without: Metrics;
  /** The metrics with repair (the same as the summary's `metrics`). */
  with: Metrics;
  /** Mean score per benchmark (the file's `benchmark` field; `(none)` when absent), without and with repair. */
  by_benchmark: Record<string, { n: number; without: number | null; with: number | null; repaired: number }>;
}

const scored = (r: Pick<EvalResult, 'type' | 'score' | 'correct' | 'error_kind' | 'invalid'>) => ({ type: r.type, score: r.score, correct: r.correct, error_kind: r.error_kind, invalid: r.invalid });

/** The repair section of a summary, or undefined when no result was made with `--repair`. */
export function repairSummary(evaluated: readonly EvalResult[]): RepairSummary | undefined {
  if (!evaluated.some((r) => r.repair)) return undefined;
  const withoutOf = (r: EvalResult) => (r.repair ? scored({ type: r.type, ...r.repair.original }) : scored(r));
  const repaired_after: Record<string, number> = {};
  let needed = 0;
  let repaired = 0;
  let attempts = 0;
  const groups = new Map<string, EvalResult[]>();
  for (const r of evaluated) {
    const key = r.benchmark ?? '(none)';
    groups.set(key, [...(groups.get(key) ?? []), r]);
    if (!r.repair) continue;
    attempts += r.repair.repairs;
    if (r.repair.stopped !== 'not_needed') needed++;
    if (r.repair.stopped === 'passed') {
      repaired++;
      repaired_after[String(r.repair.repairs)] = (repaired_after[String(r.repair.repairs)] ?? 0) + 1;
    }
  }
  const by_benchmark = Object.fromEntries(
    [...groups.keys()].sort().map((k) => {
      const list = groups.get(k) ?? [];
      return [k, { n: list.length, without: aggregate(list.map(withoutOf)).overall.score, with: aggregate(list.map(scored)).overall.score, repaired: list.filter((r) => r.repair?.stopped === 'passed').length }];
    }),
  );
  return {
    max_repairs: Math.max(...evaluated.map((r) => r.repair?.max_repairs ?? 0)),
    needed,
    repaired,
    attempts,
    repaired_after,
    without: aggregate(evaluated.map(withoutOf)),
    with: aggregate(evaluated.map(scored)),
    by_benchmark,
  };
}

export function repairLines(r: RepairSummary, pct: (x: number | null) => string): string[] {
  const after = Object.entries(r.repaired_after).map(([k, n]) => `${n} after ${k}`).join(', ');
  const lines = [
    `repair (--repair ${r.max_repairs}): ${r.repaired} of ${r.needed} failed question${r.needed === 1 ? '' : 's'} repaired${after ? ` (${after})` : ''}; ${r.attempts} repair${r.attempts === 1 ? '' : 's'} asked`,
    `  without repair ${pct(r.without.overall.score)} (${r.without.overall.correct} correct)  with repair ${pct(r.with.overall.score)} (${r.with.overall.correct} correct)`,
  ];
  const names = Object.keys(r.by_benchmark);
  if (names.length > 1 || (names.length === 1 && names[0] !== '(none)')) {
    for (const [k, b] of Object.entries(r.by_benchmark)) lines.push(`  ${k.padEnd(12)} n=${b.n} without ${pct(b.without)}  with ${pct(b.with)}  repaired ${b.repaired}`);
  }
  return lines;
}
