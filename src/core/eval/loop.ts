/**
 * The `valor eval` loop: for each selected question, generate a reply, run its program, score the
 * answer against the ground truth and write the question's run record; then write summary.json
 * and report.html.
 *
 * - Bounded concurrency: N workers take the next question in input order (pool.ts).
 * - Failures are results, not crashes: a program error, a question with no program, a tool-server
 *   outage (each tool call retried with backoff first), an endpoint outage (retried by the
 *   language-model client first) and a bad image each become a record with its error kind
 *   (item.ts, failures.ts). Only a configuration problem that would fail every question (wrong
 *   API key) stops the run.
 * - Resumable: a question whose record exists is not redone (outage records are, since they say
 *   nothing about the model); records are written atomically, so a killed run leaves whole
 *   records or none (resume.ts, outputFolder.ts).
 * - Cancellation: stop taking questions, abort the ones in flight (their records are not written),
 *   write a partial summary, and report how to resume.
 */
import { linkAbort } from './cancellation.js';
import { createEvalContext, type EvalDeps, type EvalOptions, type EvalOutcome } from './context.js';
import type { EvalQuestion } from './dataset.js';
import { evaluateItem } from './item.js';
import { repairingStep } from './repairStep.js';
import { startMemorySampler } from './memorySampler.js';
import { prepareOutputFolder, writeEvalOutputs } from './outputFolder.js';
import { ResultTally, runQuestions, type RunStop } from './pool.js';
import { reuseFinishedResults } from './resume.js';
import { buildRunSummary } from './runSummary.js';
import { inShard, type Shard } from './shard.js';

export { EvalSetupError, type EvalDeps, type EvalEvent, type EvalOptions, type EvalOutcome } from './context.js';
export { MANIFEST_FILE, writeEvalOutputs } from './outputFolder.js';
export { withToolRetries } from './toolRetries.js';

/** The questions a run covers: its shard of the file, then the first `limit` of those. */
export function selectQuestions(questions: readonly EvalQuestion[], shard: Shard | null | undefined, limit: number | null | undefined): EvalQuestion[] {
  const mine = questions.filter((q) => inShard(q.id, shard));
  return limit === null || limit === undefined ? mine : mine.slice(0, limit);
}

/** Runs (or resumes) an evaluation and writes its summary and report. */
export async function runEval(opts: EvalOptions, deps: EvalDeps): Promise<EvalOutcome> {
  const started = performance.now();
  const ctx = createEvalContext(opts, deps);
  const selected = selectQuestions(opts.dataset.questions, ctx.shard, opts.limit);

  await prepareOutputFolder(ctx);
  const { results, retrying } = await reuseFinishedResults(ctx, selected);
  const reused = results.size;
  const todo = selected.filter((q) => !results.has(q.id));
  ctx.emit({ kind: 'start', selected: selected.length, reused, todo: todo.length, retrying });

  const memory = startMemorySampler();
  const abort = linkAbort(opts.signal, ctx.concurrency);
  const tally = new ResultTally(results);
  let stop: RunStop | undefined;
  try {
    // --repair N wraps the per-question step; 0 is VALOR's single attempt.
    stop = await runQuestions(ctx, todo, ctx.repair > 0 ? repairingStep(evaluateItem) : evaluateItem, tally, selected.length, abort);
  } finally {
    memory.stop();
    abort.dispose();
  }
  const interrupted = Boolean(opts.signal?.aborted);
  const sessionDone = tally.results.size - reused;
  const summary = buildRunSummary(ctx, {
    results: tally.results.values(),
    selected: selected.length,
    interrupted,
    sessionDone,
    wallMs: performance.now() - started,
    memory: memory.figures(),
  });
  const { summaryPath, reportPath } = await writeEvalOutputs(ctx.outDir, summary, opts.report !== false);
  const status: EvalOutcome['status'] = stop ? 'fatal' : interrupted ? 'interrupted' : summary.complete ? 'complete' : 'incomplete';
  return { summary, summaryPath, reportPath, status, ran: sessionDone, reused, ...(stop ? { fatal: stop.reason, fatalConfig: stop.config } : {}) };
}
