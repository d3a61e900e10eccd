/**
 * `--resume`: the questions of a run whose records are already in its output folder are not run
 * again. A record of an outage is (it says nothing about the model), and so is a record that
 * belongs to another question or cannot be read (with a warning).
 */
import { mapLimit } from '../concurrency.js';
import { readRunRecord, RunRecordError } from '../runStore.js';
import type { EvalContext } from './context.js';
import type { EvalQuestion } from './dataset.js';
import { recordPath, recordRelPath, resultFromRecord } from './records.js';
import { type ErrorKind, type EvalResult, RETRYABLE_KINDS } from './summary.js';

/** How many record files are read at once. */
const READ_CONCURRENCY = 16;

export interface ReusedResults {
  /** The results of questions already done, by question id. */
  results: Map<string, EvalResult>;
  /** Questions whose record is an outage, to be run again. */
  retrying: number;
}

export async function reuseFinishedResults(ctx: EvalContext, selected: readonly EvalQuestion[]): Promise<ReusedResults> {
  const results = new Map<string, EvalResult>();
  let retrying = 0;
  if (!ctx.opts.resume) return { results, retrying };
  const found = await mapLimit(selected, READ_CONCURRENCY, async (q) => {
    const path = recordPath(ctx.outDir, q.id);
    try {
      const rec = await readRunRecord(path);
      if (rec.eval?.question_id !== q.id || rec.query !== q.question) {
        ctx.emit({ kind: 'warn', message: `${path} belongs to another question; running question ${q.id} (line ${q.line}) again` });
        return undefined;
      }
      if (rec.eval && RETRYABLE_KINDS.includes(rec.eval.error_kind as ErrorKind)) {
        retrying++;
        return undefined;
      }
      return resultFromRecord(q, rec, recordRelPath(q.id));
    } catch (err) {
      if (err instanceof RunRecordError && err.code === 'ENOENT') return undefined;
      ctx.emit({ kind: 'warn', message: `${(err as Error).message}; running question ${q.id} (line ${q.line}) again` });
      return undefined;
    }
  });
  for (const r of found) if (r) results.set(r.id, r);
  return { results, retrying };
}
