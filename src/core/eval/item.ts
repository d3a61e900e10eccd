/**
 * One question of an eval run, start to end: its image, the reply and the program run (through
 * tools that ride out short outages), the optional scoring, and the scored run record. Every
 * failure of the question becomes its record; only a cancellation or a failure that would repeat
 * for every question is not a record.
 *
 * `evaluateItem` is the step the pool runs per question: a further step (a repair of a failed
 * program) wraps it without touching the pool or resume code.
 */
import { isAbsolute, join } from 'node:path';
import type { ImageInfo } from '../image.js';
import { runQuery } from '../pipeline.js';
import { storedRewardSet } from '../rewards/storedRewardSet.js';
import type { RunRecord } from '../../protocol/run.js';
import { isAbort } from './cancellation.js';
import type { EvalContext } from './context.js';
import type { EvalQuestion } from './dataset.js';
import { classifyRunFailure, failureRecord, fatalToolOutage, imageFailure, runErrorKind } from './failures.js';
import { answerText, scoreAnswer } from './metrics.js';
import { recordName } from './records.js';
import type { ErrorKind } from './summary.js';
import { withToolRetries } from './toolRetries.js';

/**
 * What one question came to: its scored record (a failure is a record too), a cancellation (no
 * record: `--resume` runs it again), or a reason to stop the whole run.
 */
export type ItemOutcome = { record: RunRecord } | { cancelled: true } | { fatal: string };

/** The step run per question; `evaluateItem` is the plain one. */
export type ItemStep = (ctx: EvalContext, q: EvalQuestion, signal: AbortSignal) => Promise<ItemOutcome>;

/** The reward set as a run record keeps it. */
async function questionImage(ctx: EvalContext, q: EvalQuestion): Promise<{ path: string; image?: ImageInfo; error?: unknown }> {
  const path = isAbsolute(q.image) ? q.image : join(ctx.imagesDir, q.image);
  const described = isAbsolute(q.image) ? undefined : `'${q.image}' of question ${q.id}, resolved from the images folder ${ctx.imagesDir} (--images; default: the dataset file's folder)`;
  try {
    return { path, image: await ctx.images.get(path, described) };
  } catch (err) {
    return { path, error: err };
  }
}

/** Generates, runs and scores one question (see `ItemOutcome`). */
export async function evaluateItem(ctx: EvalContext, q: EvalQuestion, signal: AbortSignal): Promise<ItemOutcome> {
  const { deps, opts } = ctx;
  const t0 = performance.now();
  const found = await questionImage(ctx, q);
  const image = found.image;
  if (!image) {
    const rec = failureRecord(ctx, q, { path: found.path, sha256: '' }, imageFailure(found.error), false, performance.now() - t0);
    return { record: withEval(q, rec, 'image') };
  }

  let outage: Error | undefined;
  const tools = withToolRetries(deps.tools, {
    retries: ctx.toolRetries,
    delayMs: ctx.toolRetryDelayMs,
    signal,
    onRetry: (err, attempt) => ctx.emit({ kind: 'warn', message: `question ${q.id}: tool server did not answer (${err.message}); retry ${attempt} of ${ctx.toolRetries}` }),
    onOutage: (err) => {
      outage ??= err;
    },
  });
  let record: RunRecord;
  try {
    record = await runQuery({
      query: q.question,
      imagePath: image.path,
      image,
      generator: deps.generator,
      sampling: ctx.sampling,
      prompt: ctx.prompt,
      regenerate: opts.regenerate,
      tools,
      toolsUrl: deps.toolsUrl,
      toolModels: deps.toolModels,
      runner: deps.runner,
      timeoutMs: ctx.timeoutMs,
      memoryMB: opts.memoryMB,
      signal,
    });
  } catch (err) {
    if (isAbort(err, signal)) return { cancelled: true };
    const failure = classifyRunFailure(err);
    if ('fatal' in failure) return failure;
    const imageFacts = { path: image.path, sha256: image.sha256, width: image.width, height: image.height };
    const rec = failureRecord(ctx, q, imageFacts, failure.error, true, performance.now() - t0);
    return { record: withEval(q, rec, failure.kind) };
  }
  // A run cut short by cancellation is not a result: leave it for --resume.
  if (signal.aborted && (record.error || outage)) return { cancelled: true };
  const refused = fatalToolOutage(outage);
  if (refused) return { fatal: refused };
  record.id = recordName(q.id);
  const kind = runErrorKind(record, outage);

  if (deps.scorer && record.reply.trim() !== '') {
    try {
      record.rewards = storedRewardSet(await deps.scorer({ query: q.question, reply: record.reply, imagePath: image.path }, signal));
    } catch (err) {
      if (isAbort(err, signal)) return { cancelled: true };
      ctx.emit({ kind: 'warn', message: `question ${q.id}: scoring failed: ${(err as Error).message}` });
    }
  }
  record.timings.total_ms = performance.now() - t0;
  return { record: withEval(q, record, kind) };
}

/** Adds the eval block (question, ground truth, score) to a record. */
export function withEval(q: EvalQuestion, record: RunRecord, kind: ErrorKind | null): RunRecord {
  const s = kind ? { score: 0, correct: false, prediction: answerText(record.final_answer), invalid: null } : scoreAnswer(q.type, record.final_answer, q.answer, q.options);
  record.id = recordName(q.id);
  record.eval = {
    question_id: q.id,
    line: q.line,
    answer_type: q.type,
    ground_truth: q.answer,
    ...(q.options ? { options: q.options } : {}),
    prediction: s.prediction,
    score: s.score,
    correct: s.correct,
    invalid: s.invalid ?? null,
    error_kind: kind,
  };
  return record;
}
