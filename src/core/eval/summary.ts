/**
 * `summary.json` of an eval run: settings, model ids, the input's hash, per-question results in
 * input order, and everything computed from them (counts, metrics, errors by kind, reward means,
 * timing statistics). The computed parts are a pure function of the results (`summarize`), so
 * a resumed run, a run at another concurrency, and the merge of its shards all give the same
 * numbers.
 */
import type { PromptRef } from '../promptSource.js';
import type { JudgeSetRef } from '../rewards/judgeSet.js';
import type { RewardName } from '../../protocol/run.js';
import type { InputProblem } from './dataset.js';
import { type Metrics, aggregate, round } from './metrics.js';
import { repairLines, repairSummary, type RepairSummary } from './repairSummary.js';
import { ERROR_KINDS, type ErrorKind, type EvalResult, notEvaluated, type ResultRewards, RETRYABLE_KINDS } from './result.js';
import type { Shard } from './shard.js';

export { ERROR_KINDS, type ErrorKind, type EvalResult, notEvaluated, type ResultRepair, type ResultRewards, RETRYABLE_KINDS } from './result.js';

export const SUMMARY_FILE = 'summary.json';
export const REPORT_FILE = 'report.html';
/** The folder inside an eval output folder that holds its per-question run records. */
export const EVAL_RUNS_SUBDIR = 'runs';

export interface Stats {
  n: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

export interface RewardSummary {
  /** Questions with rewards. */
  n: number;
  /** Mean of each reward over the verdicts that did not fail (null when none). */
  means: Partial<Record<RewardName, number | null>>;
  /** Judge failures per reward (never counted as 0). */
  errors: Partial<Record<RewardName, number>>;
  /** Mean weighted total over the questions whose total is known. */
  total_mean: number | null;
  /** Questions whose total is unknown because a judge failed. */
  incomplete: number;
}

export interface Computed {
  counts: {
    /** Questions chosen by --shard and --limit. */
    selected: number;
    /** Questions with a result. */
    done: number;
    pending: number;
    correct: number;
    /** Results whose program produced an answer. */
    answered: number;
    /** Results with an error kind. */
    failed: number;
    /** Answers that could not be read as their type. */
    invalid: number;
    /** Results the metrics are computed over: done, minus `not_evaluated`. */
    evaluated: number;
    /** Results that failed for an infrastructure reason (outage, our own failure): not in the metrics; `--resume` runs them again. */
    not_evaluated: number;
  };
  /** Over the evaluated questions only (see `counts.evaluated`). */
  metrics: Metrics;
  errors: { by_kind: Record<ErrorKind, number>; program_types: Record<string, number> };
  rewards: RewardSummary | null;
  /** Present when the run repaired failed programs (`--repair N`, N > 0): results with and without repair. */
  repair?: RepairSummary;
  per_question_ms: { generate: Stats; run: Stats; total: Stats };
}

export interface EvalSettings {
  concurrency: number;
  limit: number | null;
  timeout_ms: number;
  memory_mb: number | null;
  score: boolean;
  tool_retries: number;
  regenerate: boolean;
  /** `--repair N`, when above 0. */
  repair?: number;
  sampling: Record<string, unknown>;
}

export interface EvalModels {
  /** `prompt`: which generation prompt was sent (ours or a prompt file, by sha256). */
  generator: { base_url: string; model: string; reported: string[]; prompt?: PromptRef };
  tools: { url: string; models?: Record<string, string> };
  /** `set`: which judge prompts (ours or a VALOR-shaped folder). */
  judges: { base_url: string; model: string; set?: JudgeSetRef } | null;
}

export interface EvalSummary extends Computed {
  version: 1;
  kind: 'valor-eval-summary';
  created: string;
  /** Every selected question has a result, and none failed for an infrastructure reason. */
  complete: boolean;
  /** The command that continues this run (`valor eval ... --resume`), when the CLI knows it. */
  resume_command?: string;
  /** This run was interrupted (cancelled) before it finished. */
  interrupted: boolean;
  input: {
    path: string;
    sha256: string;
    format: 'jsonl' | 'json';
    /** Lines (or array items) read. */
    entries: number;
    /** Lines that could be read as questions. */
    questions: number;
    /** Lines that could not, with why; skipped and counted, never scored. */
    problems: InputProblem[];
  };
  images: string;
  shard: Shard | null;
  /** Set by `valor eval merge`: the shard outputs combined. */
  merged_from?: { path: string; shard: Shard | null; done: number; wall_ms: number }[];
  settings: EvalSettings;
  models: EvalModels;
  timings: {
    /** Wall time of this session (a resumed run: since it resumed; a merge: the slowest shard). */
    wall_ms: number;
    /** Questions finished in this session. */
    session_done: number;
    /** session_done per second (a merge: the shards' sum). */
    questions_per_s: number | null;
    /** This process's peak RSS and heap, and its largest live heap right after a full GC (null: none ran). */
    memory: { peak_rss_mb: number; peak_heap_mb: number; live_heap_mb?: number | null } | null;
  };
  results: EvalResult[];
}

export function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { n: 0, mean: null, p50: null, p95: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
  return {
    n: sorted.length,
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    p50: at(0.5),
    p95: at(0.95),
    max: sorted[sorted.length - 1] as number,
  };
}

/** Sorts results into input order (line, then id): the order every summary uses. */
export function sortResults(results: EvalResult[]): EvalResult[] {
  return results.sort((a, b) => a.line - b.line || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Everything a summary computes from its results. `results` must be in input order. */
export function summarize(results: readonly EvalResult[], selected: number): Computed {
  const by_kind = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
  const program_types: Record<string, number> = {};
  let correct = 0;
  let failed = 0;
  let invalid = 0;
  let notEval = 0;
  for (const r of results) {
    if (notEvaluated(r)) notEval++;
    if (r.correct) correct++;
    if (r.error_kind) {
      failed++;
      by_kind[r.error_kind]++;
      if (r.error_kind === 'program' && r.error_type) program_types[r.error_type] = (program_types[r.error_type] ?? 0) + 1;
    } else if (r.invalid) {
      invalid++;
    }
  }

  let rewards: RewardSummary | null = null;
  const withRewards = results.filter((r) => r.rewards);
  if (withRewards.length > 0) {
    const sums: Partial<Record<RewardName, { sum: number; n: number; errors: number }>> = {};
    let totalSum = 0;
    let totalN = 0;
    for (const r of withRewards) {
      const rw = r.rewards as ResultRewards;
      for (const [name, v] of Object.entries(rw.values) as [RewardName, number | null][]) {
        const s = (sums[name] ??= { sum: 0, n: 0, errors: 0 });
        if (v === null) s.errors++;
        else {
          s.sum += v;
          s.n++;
        }
      }
      if (rw.total !== null) {
        totalSum += rw.total;
        totalN++;
      }
    }
    const perReward = (Object.keys(sums).sort() as RewardName[]).map((k) => [k, sums[k] as { sum: number; n: number; errors: number }] as const);
    rewards = {
      n: withRewards.length,
      means: Object.fromEntries(perReward.map(([k, s]) => [k, s.n ? round(s.sum / s.n) : null])),
      errors: Object.fromEntries(perReward.map(([k, s]) => [k, s.errors])),
      total_mean: totalN === 0 ? null : round(totalSum / totalN),
      incomplete: withRewards.length - totalN,
    };
  }

  const repair = repairSummary(results.filter((r) => !notEvaluated(r)));
  return {
    counts: {
      selected,
      done: results.length,
      pending: Math.max(0, selected - results.length),
      correct,
      answered: results.length - failed,
      failed,
      invalid,
      evaluated: results.length - notEval,
      not_evaluated: notEval,
    },
    metrics: aggregate(results.filter((r) => !notEvaluated(r)).map((r) => ({ type: r.type, score: r.score, correct: r.correct, error_kind: r.error_kind, invalid: r.invalid }))),
    errors: { by_kind, program_types: Object.fromEntries(Object.entries(program_types).sort(([a], [b]) => (a < b ? -1 : 1))) },
    rewards,
    ...(repair ? { repair } : {}),
    per_question_ms: {
      generate: stats(results.flatMap((r) => (r.ms.generate === undefined ? [] : [r.ms.generate]))),
      run: stats(results.flatMap((r) => (r.ms.run === undefined ? [] : [r.ms.run]))),
      total: stats(results.map((r) => r.ms.total)),
    },
  };
}

/** "incomplete: 3 questions not evaluated (tool_outage 2, endpoint_outage 1)", or undefined. */
export function incompleteLine(s: Pick<EvalSummary, 'counts' | 'errors'>): string | undefined {
  const n = s.counts.not_evaluated ?? 0;
  if (n === 0) return undefined;
  const why = RETRYABLE_KINDS.filter((k) => s.errors.by_kind[k] > 0).map((k) => `${k} ${s.errors.by_kind[k]}`).join(', ');
  return `incomplete: ${n} question${n === 1 ? '' : 's'} not evaluated (${why})`;
}

/** How the metrics are qualified: over every question, or over the evaluated ones only. */
export function metricsScope(s: Pick<EvalSummary, 'counts'>): string {
  return (s.counts.not_evaluated ?? 0) > 0 || s.counts.pending > 0 ? ` over the ${s.counts.evaluated ?? s.counts.done} evaluated questions` : '';
}

/** The mean total reward as a person should read it: never a bare number when totals are missing. */
export function rewardTotalText(r: RewardSummary): string {
  if (r.total_mean === null) return `total incomplete (no question has a complete total; ${r.incomplete} with a failed judge)`;
  if (r.incomplete > 0) return `total ${r.total_mean.toFixed(3)} over ${r.n - r.incomplete} questions, incomplete for ${r.incomplete} (a judge failed)`;
  return `total ${r.total_mean.toFixed(3)}`;
}

/** Short human lines for the end of a run (stdout). */
export function summaryLines(s: EvalSummary): string[] {
  const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
  const lines: string[] = [];
  const inc = incompleteLine(s);
  if (inc) lines.push(`${inc}${s.resume_command ? `; run them with: ${s.resume_command}` : '; run them with --resume'}`);
  lines.push(
    `questions: ${s.counts.done}/${s.counts.selected} done, ${s.counts.correct} correct, ${s.counts.failed} failed, ${s.counts.invalid} unreadable answers` +
      (s.input.problems.length ? `, ${s.input.problems.length} input lines skipped` : ''),
    `overall${metricsScope(s)}: ${pct(s.metrics.overall.score)} (macro over types ${pct(s.metrics.macro)})`,
  );
  for (const [type, g] of Object.entries(s.metrics.by_type)) {
    lines.push(`  ${type.padEnd(6)} ${pct(g.score).padStart(6)}  n=${g.n} correct=${g.correct} failed=${g.failed}${type === 'float' ? ' (mean relative accuracy)' : ''}`);
  }
  const kinds = Object.entries(s.errors.by_kind).filter(([, n]) => n > 0);
  if (kinds.length) lines.push(`errors: ${kinds.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (s.rewards) {
    lines.push(
      `rewards (n=${s.rewards.n}): ${rewardTotalText(s.rewards)}; ` +
        Object.entries(s.rewards.means).map(([k, v]) => `${k} ${v === null ? '-' : v.toFixed(3)}`).join(', '),
    );
  }
  if (s.repair) lines.push(...repairLines(s.repair, pct));
  if (s.timings.questions_per_s !== null) lines.push(`throughput: ${s.timings.questions_per_s.toFixed(2)} questions/s over ${(s.timings.wall_ms / 1000).toFixed(1)} s`);
  return lines;
}
