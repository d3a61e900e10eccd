/**
 * Re-judging one reward of a scored reply: ask its judge again (a fresh verdict cache, so
 * nothing cached answers), or run the program again for `syntax`; put the new verdict in place,
 * recompute the total with the set's own weights and rule, and apply the person's overrides on
 * top again (they always win over a machine verdict, docs/valor.md §3).
 *
 * The extension's "Re-judge One Reward…" is its caller: it holds the scored set. The CLI holds
 * none between runs, so `valor score --rejudge <reward>` scores again with only that judge's
 * cache skipped (src/core/rewards/score.ts `refresh`), which gives the same verdict.
 */
import type { Override, RewardName, RewardSet, Verdict } from '../../protocol/run.js';
import { applyRewardOverrides } from '../audit.js';
import type { ChatClient } from '../chat.js';
import { PlaceholderTools } from '../placeholderTools.js';
import { createVerdictCache, runJudge } from '../rewards/judge.js';
import { syntaxVerdict } from '../rewards/syntax.js';
import { computeTotal, resolveWeights } from '../rewards/total.js';
import type { ProgramRunnerLike } from '../runnerTypes.js';

/** A reward that cannot be re-judged (`format` comes from the parser). */
export class RejudgeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RejudgeError';
  }
}

export interface RejudgeOptions {
  /** The scored set as it stands (overrides applied or not: they are re-applied from `overrides`). */
  set: RewardSet;
  /** Audit subject of (query, reply) (src/core/audit.ts `rewardSubject`). */
  subject: string;
  reward: RewardName;
  query: string;
  plan: string | null;
  program: string | null;
  /** Asked only for a judge reward; the client should not answer from a reply cache. */
  judge: () => Promise<ChatClient>;
  /** Asked only for `syntax`. */
  runner: () => Promise<ProgramRunnerLike>;
  judgeTimeoutMs?: number;
  /** Every override of the audit log; those of `subject` are applied. */
  overrides: readonly Override[];
  signal?: AbortSignal;
}

/** The new verdict of one reward. */
export async function rejudgeVerdict(o: Omit<RejudgeOptions, 'set' | 'subject' | 'overrides'>): Promise<Verdict> {
  if (o.reward === 'format') throw new RejudgeError('the format reward comes from the parser, not a judge: edit the document and score it again');
  if (o.reward === 'syntax') {
    return syntaxVerdict({ program: o.program, runner: await o.runner(), tools: new PlaceholderTools(), signal: o.signal });
  }
  return runJudge({
    reward: o.reward,
    material: { query: o.query, plan: o.plan ?? '', program: o.program ?? '' },
    client: await o.judge(),
    cache: createVerdictCache(),
    timeoutMs: o.judgeTimeoutMs,
    signal: o.signal,
  });
}

/** The set with `verdict` in place of its reward's, the total recomputed and the overrides re-applied. */
export function withVerdict(set: RewardSet, subject: string, verdict: Verdict, overrides: readonly Override[]): RewardSet {
  const verdicts = set.verdicts.map((v) => (v.reward === verdict.reward ? verdict : v));
  const { overridden: _o, ...rest } = set;
  const next: RewardSet = { ...rest, verdicts, ...computeTotal(verdicts, resolveWeights(set.weights), set.total_rule) };
  return applyRewardOverrides(next, subject, overrides);
}

export async function rejudgeReward(o: RejudgeOptions): Promise<RewardSet> {
  const verdict = await rejudgeVerdict(o);
  return withVerdict(o.set, o.subject, verdict, o.overrides);
}
