/**
 * The questions still to do, run `concurrency` at a time in input order (`mapLimit`): each one's
 * step, its record written, its result tallied and announced. A cancellation stops taking
 * questions and lets the ones in flight finish as cancelled; a failure that is not a question's
 * (a full disk, a bug) or a step that says the run cannot go on stops the run with the reason.
 */
import { mapLimit } from '../concurrency.js';
import { writeRunRecord } from '../runStore.js';
import { isAbort, type RunAbort } from './cancellation.js';
import type { EvalContext } from './context.js';
import type { EvalQuestion } from './dataset.js';
import type { ItemOutcome, ItemStep } from './item.js';
import { recordRelPath, resultFromRecord } from './records.js';
import type { EvalResult } from './summary.js';

/** The results of a run so far, with the running counts the progress events carry. */
export class ResultTally {
  readonly results: Map<string, EvalResult>;
  correct: number;
  failed: number;

  constructor(initial: Map<string, EvalResult>) {
    this.results = initial;
    this.correct = [...initial.values()].filter((r) => r.correct).length;
    this.failed = [...initial.values()].filter((r) => r.error_kind).length;
  }

  add(r: EvalResult): void {
    this.results.set(r.id, r);
    if (r.correct) this.correct++;
    if (r.error_kind) this.failed++;
  }
}

/** Why the run stopped before its end; `config`: a configuration problem (the CLI exits 2). */
export interface RunStop {
  reason: string;
  config: boolean;
}

/**
 * Runs `step` over `todo`, writing each record into the run's folder and adding its result to
 * `tally`. Resolves once no question is in flight, with the stop reason when the run stopped.
 */
export async function runQuestions(ctx: EvalContext, todo: readonly EvalQuestion[], step: ItemStep, tally: ResultTally, selected: number, abort: RunAbort): Promise<RunStop | undefined> {
  let stop: RunStop | undefined;
  const stopWith = (reason: string, config: boolean): void => {
    stop ??= { reason, config };
    abort.abort();
  };
  const one = async (q: EvalQuestion): Promise<void> => {
    let out: ItemOutcome;
    try {
      out = await step(ctx, q, abort.signal);
      if ('record' in out) await writeRunRecord(ctx.runsDir, out.record);
    } catch (err) {
      if (isAbort(err, abort.signal)) return;
      // Not a question's failure (those are records): a full disk, a bug. Stop cleanly with the reason.
      stopWith(`question ${q.id} (line ${q.line}): ${(err as Error).message}`, false);
      return;
    }
    if ('cancelled' in out) return;
    if ('fatal' in out) {
      stopWith(out.fatal, true);
      return;
    }
    const result = resultFromRecord(q, out.record, recordRelPath(q.id));
    tally.add(result);
    ctx.emit({ kind: 'result', result, done: tally.results.size, selected, correct: tally.correct, failed: tally.failed });
  };
  await mapLimit(todo, ctx.concurrency, one, abort.signal, { onAbort: 'stop' });
  return stop;
}
