/**
 * Eval results and summaries written by hand, for the in-process tests of what a summary says
 * (test/core/evalSummary*.test.ts, evalRepairSummary, evalMerge): one right yes/no answer by
 * default, every figure then computed by `summarize` as a run would.
 */
import { type EvalResult, type EvalSummary, summarize } from '../../src/core/eval/summary.js';

/** A right yes/no answer to question `id` (line: the digits of the id); `over` changes any field. */
export const evalResult = (id: string, over: Partial<EvalResult> = {}): EvalResult => ({
  id,
  line: Number(id.replace(/\D/g, '')) || 1,
  type: 'yesno',
  question: `q ${id}`,
  image: 'a.png',
  ground_truth: 'yes',
  prediction: 'yes',
  score: 1,
  correct: true,
  invalid: null,
  error_kind: null,
  error_type: null,
  error_message: null,
  record: `runs/${id}.json`,
  ms: { total: 1 },
  ...over,
});

/** The same question answered wrongly ('no'). */
export const wrongResult = (id: string, over: Partial<EvalResult> = {}): EvalResult => evalResult(id, { prediction: 'no', correct: false, score: 0, ...over });

/** A finished summary of `results` (`selected` questions, default all); `extra` changes any field. */
export function summaryOf(results: EvalResult[], extra: Partial<EvalSummary> = {}, selected = results.length): EvalSummary {
  const computed = summarize(results, selected);
  return {
    version: 1,
    kind: 'valor-eval-summary',
    created: '2026-01-01T00:00:00Z',
    complete: computed.counts.not_evaluated === 0 && computed.counts.pending === 0,
    interrupted: false,
    input: { path: 'b.jsonl', sha256: 'x', format: 'jsonl', entries: results.length, questions: results.length, problems: [] },
    images: '.',
    shard: null,
    settings: { concurrency: 1, limit: null, timeout_ms: 1, memory_mb: null, score: true, tool_retries: 0, regenerate: false, sampling: {} },
    models: { generator: { base_url: 'u', model: 'm', reported: [] }, tools: { url: 't' }, judges: null },
    ...computed,
    timings: { wall_ms: 1, session_done: results.length, questions_per_s: null, memory: null },
    results,
    ...extra,
  };
}
