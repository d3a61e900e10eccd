/**
 * The reward service's HTTP API (`valor serve-rewards`, src/server/rewardServer.ts), used by the
 * verl reward function (python/valor_reward.py) and any other trainer. Bodies are JSON, validated
 * on arrival; every request carries `Authorization: Bearer <token>`.
 *
 *   POST /v1/reward   score a batch of (query, reply) pairs with VALOR's six rewards
 *   GET  /v1/health   liveness, the judge in use, load
 */
import { z } from 'zod';
import { Verdict } from './run.js';

export const REWARD_ROUTES = { reward: '/v1/reward', health: '/v1/health' } as const;

/** Ready line printed on stdout once the service listens. */
export const REWARD_SERVER_READY_RE = /^valor reward server ready at (http:\/\/\S+) token=(\S+) judge=(\S+)$/;

export function rewardReadyLine(url: string, token: string, judgeModel: string): string {
  return `valor reward server ready at ${url} token=${token} judge=${judgeModel}`;
}

export function parseRewardReadyLine(line: string): { url: string; token: string; judge: string } | undefined {
  const m = REWARD_SERVER_READY_RE.exec(line.trim());
  return m ? { url: m[1] as string, token: m[2] as string, judge: m[3] as string } : undefined;
}

export const RewardItem = z.object({
  /** The question the reply answers. */
  query: z.string().min(1),
  /** The policy's whole reply (plan and program in their tags). */
  reply: z.string(),
  /** Path of the image on the service's machine (for `img_pth` and the optional vision judge). */
  image: z.string().min(1).optional(),
  /** Echoed back, for the caller's bookkeeping. */
  id: z.union([z.string(), z.number()]).optional(),
});
export type RewardItem = z.infer<typeof RewardItem>;

export const RewardRequest = z.object({
  items: z.array(RewardItem).min(1).max(4096),
  /** Partial weights over logic/syntax/attribute/spatial/adherence (must sum to 1 with the defaults filled in). */
  weights: z.record(z.string(), z.number()).optional(),
  /** Include each verdict's rationale, prompt and raw reply (large). Default false. */
  verbose: z.boolean().optional(),
});
export type RewardRequest = z.infer<typeof RewardRequest>;

export const RewardScores = z.object({
  format: z.number().nullable(),
  syntax: z.number().nullable(),
  spatial: z.number().nullable(),
  attribute: z.number().nullable(),
  logic: z.number().nullable(),
  adherence: z.number().nullable(),
});
export type RewardScores = z.infer<typeof RewardScores>;

export const RewardResult = z.object({
  id: z.union([z.string(), z.number()]).optional(),
  /** The weighted total; null when a needed verdict is in error (`incomplete`). */
  total: z.number().nullable(),
  incomplete: z.boolean(),
  /** Each reward's value after overrides (null: that judge failed). */
  rewards: RewardScores,
  /** Error messages of the verdicts in error, by reward. */
  errors: z.record(z.string(), z.string()),
  /** Rewards whose value came from a human override in the audit log. */
  overridden: z.array(z.string()),
  /** Judges not called because the format gate was 0 (their value is null; the total is 0). */
  skipped: z.array(z.string()).optional(),
  /** Audit subject key of this (query, reply). */
  subject: z.string(),
  ms: z.number(),
  verdicts: z.array(Verdict).optional(),
});
export type RewardResult = z.infer<typeof RewardResult>;

export const RewardResponse = z.object({
  results: z.array(RewardResult),
  judge_model: z.string(),
  ms: z.number(),
});
export type RewardResponse = z.infer<typeof RewardResponse>;
