/**
 * Running the built-in judge test set (./judgeTestSet.ts) against one judge endpoint: every
 * (case, reward) pair is one judge call with VALOR's rubric, compared with the known verdict.
 * Accuracy per reward counts a judge that failed (no usable verdict) as a miss, and says so: an
 * unusable judge is no more fit than a wrong one.
 */
import type { ChatClient } from '../chat.js';
import { createSemaphore } from '../concurrency.js';
import { createVerdictCache, runJudge, type StructuredMode } from '../rewards/judge.js';
import { JUDGE_REWARDS, type JudgeReward } from '../rewards/rubrics.js';
import { JUDGE_TEST_SET, type JudgeTestCase } from './judgeTestSet.js';

export interface JudgeTestOutcome {
  case: string;
  title: string;
  reward: JudgeReward;
  expected: 0 | 1;
  /** The judge's verdict; null when it failed. */
  got: number | null;
  correct: boolean;
  rationale: string;
  error?: string;
  ms: number;
}

export interface RewardAccuracy {
  cases: number;
  correct: number;
  wrong: number;
  /** Calls with no usable verdict (counted as misses). */
  errors: number;
  accuracy: number;
}

export interface JudgeTestReport {
  judge: { base_url: string; model: string };
  rewards: Partial<Record<JudgeReward, RewardAccuracy>>;
  overall: RewardAccuracy;
  /** The outcomes that were not correct: wrong verdicts and failures. */
  failed: JudgeTestOutcome[];
  outcomes: JudgeTestOutcome[];
  ms: number;
}

export interface JudgeTestOptions {
  judge: ChatClient;
  /** Only these rewards. Default all four. */
  rewards?: readonly JudgeReward[];
  cases?: readonly JudgeTestCase[];
  /** Judge calls in flight at once. Default 8. */
  concurrency?: number;
  structured?: StructuredMode;
  timeoutMs?: number;
  signal?: AbortSignal;
}

function accuracyOf(list: readonly JudgeTestOutcome[]): RewardAccuracy {
  const correct = list.filter((o) => o.correct).length;
  const errors = list.filter((o) => o.got === null).length;
  return { cases: list.length, correct, wrong: list.length - correct - errors, errors, accuracy: list.length ? correct / list.length : 0 };
}

export async function runJudgeTest(o: JudgeTestOptions): Promise<JudgeTestReport> {
  const started = performance.now();
  const rewards = o.rewards ?? JUDGE_REWARDS;
  const cases = o.cases ?? JUDGE_TEST_SET;
  const semaphore = createSemaphore(Math.max(1, o.concurrency ?? 8));
  // A fresh verdict cache: a test run asks the endpoint, not this process's memory.
  const cache = createVerdictCache();
  const pairs = cases.flatMap((c) => rewards.filter((r) => c.expect[r] !== undefined).map((r) => ({ c, r, expected: c.expect[r] as 0 | 1 })));
  const outcomes = await Promise.all(
    pairs.map(async ({ c, r, expected }): Promise<JudgeTestOutcome> => {
      const v = await runJudge({
        reward: r,
        material: { query: c.query, plan: c.plan, program: c.program },
        client: o.judge,
        structured: o.structured,
        cache,
        semaphore,
        timeoutMs: o.timeoutMs,
        signal: o.signal,
      });
      const got = v.state === 'error' ? null : v.value;
      return {
        case: c.id,
        title: c.title,
        reward: r,
        expected,
        got,
        correct: got === expected,
        rationale: v.rationale,
        ...(v.error ? { error: v.error } : {}),
        ms: v.ms ?? 0,
      };
    }),
  );
  const byReward: Partial<Record<JudgeReward, RewardAccuracy>> = {};
  for (const r of rewards) {
    const mine = outcomes.filter((x) => x.reward === r);
    if (mine.length) byReward[r] = accuracyOf(mine);
  }
  return {
    judge: { base_url: o.judge.baseUrl, model: o.judge.model },
    rewards: byReward,
    overall: accuracyOf(outcomes),
    failed: outcomes.filter((x) => !x.correct),
    outcomes,
    ms: Math.round(performance.now() - started),
  };
}
