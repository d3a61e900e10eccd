/**
 * `valor eval --repair N` (docs/eval.md "Repair"): the per-question step that wraps
 * `evaluateItem`. When the question's first attempt fails in a repairable way (core
 * `failureOf`: the program raised, set no final_answer, or the format or syntax reward is 0), the
 * repair loop (src/core/repair/loop.ts, the same `proposeRepair` the extension's "Fix with the
 * Model" calls) asks the generator for a fix up to N times and runs each one.
 *
 * The question's record is the result with repair (its last attempt that ran); `record.repair`
 * holds every attempt and the question as it scored without repair, so the summary reports both
 * and `--resume` reads them back with the record (an item's attempts are part of the item).
 *
 * Outages are never repaired: the first attempt's outage kinds are not repairable (failureOf),
 * and a tool-server outage or an unreachable generator during a repair makes the whole question
 * an outage record, which `--resume` runs again from the start.
 */
import { ChatError } from '../chat.js';
import { runQuery } from '../pipeline.js';
import { failureOf, needsRepair } from '../repair/failure.js';
import { formatLineDiff } from '../repair/lineDiff.js';
import { repairLoop, type RepairAttempt, type RepairLoopResult } from '../repair/loop.js';
import { proposeRepair } from '../repair/propose.js';
import { storedRewardSet } from '../rewards/storedRewardSet.js';
import type { RepairInfo, RewardSet, RunRecord } from '../../protocol/run.js';
import { isAbort } from './cancellation.js';
import type { EvalContext } from './context.js';
import type { EvalQuestion } from './dataset.js';
import { classifyRunFailure, fatalToolOutage, runErrorKind } from './failures.js';
import { evaluateItem, withEval, type ItemOutcome, type ItemStep } from './item.js';
import { type ErrorKind, RETRYABLE_KINDS } from './summary.js';
import { withToolRetries } from './toolRetries.js';

/** A repair attempt's run lost the tool server: the question is an outage, not a result. */
class RepairToolOutage extends Error {
  constructor(readonly outage: Error) {
    super(outage.message);
    this.name = 'RepairToolOutage';
  }
}

const clip = (s: string, n = 2000): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function attemptInfo(a: RepairAttempt): RepairInfo['attempts'][number] {
  const err = a.record?.error;
  return {
    attempt: a.attempt,
    reply: a.reply,
    ran: a.record !== undefined,
    failure: { kind: a.failure.kind, message: clip(a.failure.message), line: a.failure.line },
    final_answer: a.record?.final_answer ?? null,
    error: err ? { type: err.type, message: clip(err.message), line: err.line } : null,
    ...(a.proposal ? { diff: formatLineDiff(a.proposal.diff), model: a.proposal.model, ms: Math.round(a.proposal.ms) } : {}),
  };
}

function originalOf(record: RunRecord): RepairInfo['original'] {
  const e = record.eval;
  return { prediction: e?.prediction ?? null, score: e?.score ?? 0, correct: e?.correct ?? false, error_kind: e?.error_kind ?? null };
}

/** The step `runEval` uses when `--repair N` is above 0: `step` (default `evaluateItem`), then repairs. */
export function repairingStep(step: ItemStep = evaluateItem): ItemStep {
  return async (ctx, q, signal) => {
    const first = await step(ctx, q, signal);
    if (!('record' in first) || ctx.repair <= 0) return first;
    return repairItem(ctx, q, first.record, signal);
  };
}

async function repairItem(ctx: EvalContext, q: EvalQuestion, original: RunRecord, signal: AbortSignal): Promise<ItemOutcome> {
  const { deps } = ctx;
  const base = { max_repairs: ctx.repair, original: originalOf(original) };
  const failure = failureOf(original);
  if (!needsRepair(failure)) {
    // Outages and answered questions: nothing to repair (an outage stays an outage record).
    if (original.eval && !RETRYABLE_KINDS.includes(original.eval.error_kind as ErrorKind)) {
      original.repair = { ...base, repairs: 0, stopped: 'not_needed', attempts: [] };
    }
    return { record: original };
  }
  const t0 = performance.now();
  const image = await ctx.images.get(original.image.path);
  const score = deps.scorer;
  let result: RepairLoopResult;
  try {
    result = await repairLoop(
      { query: q.question, reply: original.reply, record: original, ...(original.rewards ? { rewards: original.rewards } : {}) },
      {
        run: async (reply, _attempt, s) => {
          let outage: Error | undefined;
          const tools = withToolRetries(deps.tools, {
            retries: ctx.toolRetries,
            delayMs: ctx.toolRetryDelayMs,
            signal: s ?? signal,
            onRetry: (err, n) => ctx.emit({ kind: 'warn', message: `question ${q.id} (repair): tool server did not answer (${err.message}); retry ${n} of ${ctx.toolRetries}` }),
            onOutage: (err) => {
              outage ??= err;
            },
          });
          const record = await runQuery({
            query: q.question,
            imagePath: image.path,
            image,
            reply,
            tools,
            toolsUrl: deps.toolsUrl,
            toolModels: deps.toolModels,
            runner: deps.runner,
            timeoutMs: ctx.timeoutMs,
            memoryMB: ctx.opts.memoryMB,
            signal: s ?? signal,
          });
          // The tool server failing reaches the program as a ToolError, like a bad call: check it first.
          if (outage) throw new RepairToolOutage(outage);
          return record;
        },
        ...(score
          ? {
              check: async (record: RunRecord, s?: AbortSignal): Promise<RewardSet | undefined> => {
                if (record.reply.trim() === '') return undefined;
                try {
                  return await score({ query: q.question, reply: record.reply, imagePath: image.path }, s ?? signal);
                } catch (err) {
                  if (isAbort(err, s ?? signal)) throw err;
                  ctx.emit({ kind: 'warn', message: `question ${q.id} (repair): scoring failed: ${(err as Error).message}` });
                  return undefined;
                }
              },
            }
          : {}),
        propose: (input, s) => proposeRepair(input, { generator: deps.generator, prompt: ctx.prompt, sampling: ctx.sampling, noCache: ctx.opts.regenerate, signal: s ?? signal }),
        // The generator refused a repair request (e.g. too long): it would refuse again, so the
        // attempts made so far stand (an unreachable generator is an outage and propagates).
        refused: (err) => {
          if (!(err instanceof ChatError)) return false;
          const f = classifyRunFailure(err);
          return !('fatal' in f) && f.kind === 'endpoint_error';
        },
      },
      ctx.repair,
      signal,
    );
  } catch (err) {
    if (isAbort(err, signal)) return { cancelled: true };
    if (err instanceof RepairToolOutage) {
      const refused = fatalToolOutage(err.outage);
      if (refused) return { fatal: refused };
      ctx.emit({ kind: 'warn', message: `question ${q.id}: the tool server failed during a repair (${err.message}); the question counts as an outage` });
      return { record: withEval(q, original, 'tool_outage') };
    }
    const failed = classifyRunFailure(err);
    if ('fatal' in failed) return failed;
    ctx.emit({ kind: 'warn', message: `question ${q.id}: repair failed (${failed.error.type}: ${failed.error.message}); the question counts as ${failed.kind}` });
    return { record: withEval(q, original, failed.kind) };
  }
  if (signal.aborted) return { cancelled: true };
  if (result.stopped === 'refused') {
    ctx.emit({ kind: 'warn', message: `question ${q.id}: the generator refused repair request ${result.repairs + 1} (${result.refusal ?? 'no reason given'}); the ${result.repairs} attempt(s) before it stand` });
  }

  const final = result.final;
  let record: RunRecord;
  if (final.attempt === 0 || !final.record) {
    record = original;
  } else {
    record = final.record;
    record.generator = original.generator ?? null;
    if (final.rewards) record.rewards = storedRewardSet(final.rewards);
    record.timings.total_ms = original.timings.total_ms + (performance.now() - t0);
    withEval(q, record, runErrorKind(record, undefined));
  }
  record.repair = { ...base, repairs: result.repairs, stopped: result.stopped, ...(result.refusal !== undefined ? { refusal: clip(result.refusal) } : {}), attempts: result.attempts.map(attemptInfo) };
  return { record };
}
