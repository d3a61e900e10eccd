/**
 * Run, check, repair, up to N times (issue #15, "Repair"; `valor eval --repair N` calls this per
 * question). VALOR itself makes one attempt, so N = 0 is the default and reproduces it: the
 * original reply runs once and nothing is asked of the model. VADAR retries up to 5 times.
 *
 * Accounting: attempt 0 is the original reply; each repair asked of the model is one more
 * attempt, whether or not its answer could be run (a reply without a program is an attempt that
 * ran nothing, recorded with its error). The loop stops at the first attempt that needs no repair
 * or after N repairs. Every attempt is returned, so results can be reported with and without
 * repair (`original` and `final`). Each repair request carries all failed replies so far, so the
 * model sees what it already tried and a retry is never the same request twice.
 *
 * Running and checking are injected (`run`, `check`), so the loop is tested with a real runner
 * and a scripted endpoint, and the caller decides what a run is (tools, image, limits).
 */
import type { RewardSet, RunRecord } from '../../protocol/run.js';
import { failureOf, needsRepair, type Failure } from './failure.js';
import { RepairParseError, type RepairInput, type RepairProposal } from './propose.js';
import type { FailedTurn } from './repairPrompt.js';

export interface RepairAttempt {
  /** 0 for the original reply, 1..N for repairs. */
  attempt: number;
  reply: string;
  /** The run of this reply; absent when the repair held no program (nothing ran). */
  record?: RunRecord;
  /** What `check` said about the run, when there is a check. */
  rewards?: RewardSet;
  /** Why this attempt still needs repair (`kind: 'none'` when it does not). */
  failure: Failure;
  /** The proposal that produced this reply (attempts ≥ 1 that parsed). */
  proposal?: RepairProposal;
  /** Set when the model's repair held no program. */
  error?: { type: 'RepairParseError'; message: string };
}

export interface RepairLoopDeps {
  /** Runs one reply (e.g. src/core/pipeline.ts `runQuery` with the caller's tools and runner). */
  run(reply: string, attempt: number, signal?: AbortSignal): Promise<RunRecord>;
  /** Checks a run (e.g. the format and syntax rewards, or a full scoring); optional. */
  check?(record: RunRecord, signal?: AbortSignal): Promise<RewardSet | undefined>;
  /** Asks for one repair (e.g. `(input, s) => proposeRepair(input, { generator, signal: s })`). */
  propose(input: RepairInput, signal?: AbortSignal): Promise<RepairProposal>;
  /**
   * Whether a failed repair request was refused for good (e.g. the endpoint answered 400: the
   * request is too long). The loop then stops and returns the attempts made so far, with
   * `stopped: 'refused'`; any other error propagates. Without it every error propagates.
   */
  refused?(err: unknown): boolean;
}

export interface RepairLoopStart {
  query: string;
  reply: string;
  /** The original run, when it was already made (it is not run again). */
  record?: RunRecord;
  rewards?: RewardSet;
}

export interface RepairLoopResult {
  attempts: RepairAttempt[];
  /** Attempt 0: the result without repair. */
  original: RepairAttempt;
  /** The last attempt that ran: the result with repair. */
  final: RepairAttempt;
  /** How many repairs were asked of the model (≤ maxRepairs). */
  repairs: number;
  /**
   * `not_needed`: the original needed no repair; `passed`: a repair did; `max_attempts`: N
   * repairs, none passed; `refused`: the endpoint refused a repair request for good (`refusal`).
   */
  stopped: 'not_needed' | 'passed' | 'max_attempts' | 'refused';
  /** The refused request's error message, with `stopped: 'refused'`. */
  refusal?: string;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const e = new Error('the repair loop was cancelled');
    e.name = 'AbortError';
    throw e;
  }
}

/** Runs the original reply and repairs it up to `maxRepairs` times (0: VALOR's single attempt). */
export async function repairLoop(start: RepairLoopStart, deps: RepairLoopDeps, maxRepairs: number, signal?: AbortSignal): Promise<RepairLoopResult> {
  if (!Number.isInteger(maxRepairs) || maxRepairs < 0) throw new RangeError(`maxRepairs must be a whole number ≥ 0 (0 is VALOR's single attempt), got ${maxRepairs}`);
  const runAndCheck = async (reply: string, attempt: number, known?: { record?: RunRecord; rewards?: RewardSet }) => {
    throwIfAborted(signal);
    const record = known?.record ?? (await deps.run(reply, attempt, signal));
    const rewards = known?.rewards ?? (deps.check ? await deps.check(record, signal) : undefined);
    return { record, rewards, failure: failureOf(record, rewards) };
  };

  const first = await runAndCheck(start.reply, 0, start.record ? { record: start.record, rewards: start.rewards } : undefined);
  const original: RepairAttempt = { attempt: 0, reply: start.reply, record: first.record, ...(first.rewards ? { rewards: first.rewards } : {}), failure: first.failure };
  const attempts: RepairAttempt[] = [original];
  let final = original;
  const failed: FailedTurn[] = [];
  let current: RepairAttempt = original;

  while (needsRepair(current.failure) && attempts.length - 1 < maxRepairs) {
    throwIfAborted(signal);
    failed.push({ reply: current.reply, failure: current.failure });
    const turn = failed[failed.length - 1]!;
    const attempt = attempts.length;
    // After an unreadable answer the diff still shows the last program that ran against the new one.
    const diffAgainst = final.record?.program ?? undefined;
    let next: RepairAttempt;
    try {
      const proposal = await deps.propose({ query: start.query, reply: turn.reply, failure: turn.failure, earlier: failed.slice(0, -1), ...(diffAgainst !== undefined ? { diffAgainst } : {}) }, signal);
      const ran = await runAndCheck(proposal.reply, attempt);
      next = { attempt, reply: proposal.reply, record: ran.record, ...(ran.rewards ? { rewards: ran.rewards } : {}), failure: ran.failure, proposal };
      final = next;
    } catch (err) {
      if (err instanceof RepairParseError) {
        next = {
          attempt,
          reply: err.reply,
          failure: { kind: 'format', message: err.message, line: null, lineText: null },
          error: { type: 'RepairParseError', message: err.message },
        };
      } else if (deps.refused?.(err)) {
        // Refused for good: what was made so far stands (the original needed repair, or the loop would not be here).
        return { attempts, original, final, repairs: attempts.length - 1, stopped: 'refused', refusal: err instanceof Error ? err.message : String(err) };
      } else {
        throw err;
      }
    }
    attempts.push(next);
    current = next;
  }
  const stopped = !needsRepair(original.failure) ? 'not_needed' : !needsRepair(final.failure) ? 'passed' : 'max_attempts';
  return { attempts, original, final, repairs: attempts.length - 1, stopped };
}
