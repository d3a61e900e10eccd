/**
 * The rollout group a GRPO policy sees for one query (VALOR samples 5 replies per prompt): N
 * replies sampled with VALOR's generation settings, each scored with the six rewards (every
 * judge of every reply in flight at once), side by side with the total and the group-relative
 * advantage (./advantage.ts), sorted best first, and which reward components separate the best
 * reply from the worst.
 *
 * Sampling: without a seed every sample bypasses the response cache (N fresh draws); with a seed,
 * sample i is sent with seed + i, so a group can be drawn again exactly (and cached) on servers
 * that honour `seed` (vLLM does).
 *
 * A failed generation or a failed judge stays visible: the member keeps its error, its total is
 * null and it is left out of the advantage statistics (never counted as 0).
 */
import type { ChatClient, Sampling } from '../chat.js';
import { VALOR_SAMPLING } from '../chat.js';
import type { OverrideIndex } from '../audit.js';
import { mapLimit } from '../concurrency.js';
import { generateReply } from '../pipeline.js';
import type { ProgramRunnerLike } from '../runnerTypes.js';
import { scoreBatch, type ScoredReply } from '../rewards/score.js';
import { resolveWeights, type RewardWeights } from '../rewards/total.js';
import type { RewardName, Verdict } from '../../protocol/run.js';
import { grpoAdvantages, GRPO_EPSILON, type GroupAdvantage } from './advantage.js';

/** VALOR's rollouts per prompt. */
export const DEFAULT_GROUP_SIZE = 5;

export const REWARD_ORDER: readonly RewardName[] = ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'];

export interface RolloutGroupOptions {
  query: string;
  imagePath?: string;
  /** Group size. Default 5. */
  n?: number;
  /** Writes the replies; not needed when `replies` is given. */
  generator?: ChatClient;
  /** Replies to score instead of sampling (e.g. a group drawn elsewhere). */
  replies?: readonly string[];
  /** Overrides of VALOR's sampling settings. */
  sampling?: Sampling;
  /** Sample i gets seed + i (reproducible, cacheable); absent: fresh draws, cache bypassed. */
  seed?: number;
  judge: ChatClient;
  runner: ProgramRunnerLike;
  weights?: Partial<RewardWeights>;
  overrides?: OverrideIndex;
  visionJudge?: boolean;
  judgeTimeoutMs?: number;
  syntaxTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface RolloutMember {
  /** 0-based sample number (order of drawing). */
  index: number;
  reply: string | null;
  /** Why no reply was drawn (the generator failed). */
  generation_error?: string;
  generation_ms?: number;
  /** Value of each reward (null: that judge failed, or nothing to score). */
  components: Record<RewardName, number | null>;
  /** Error messages of failed verdicts, by reward. */
  errors: Partial<Record<RewardName, string>>;
  total: number | null;
  advantage: number | null;
  /** 1 = best; members without a total have no rank. */
  rank: number | null;
  verdicts: Verdict[];
  subject?: string;
  score_ms?: number;
  /** Sum of this reply's language-model judge latencies. */
  judge_ms: number;
}

export interface Separation {
  reward: RewardName;
  best: number;
  worst: number;
  /** Weight of the reward in the total (format is the gate: null). */
  weight: number | null;
  /** How much of the best–worst gap in the total this reward accounts for (weight × difference; the gate: the whole gap). */
  contribution: number;
}

export interface RolloutGroup {
  query: string;
  image: string | null;
  n: number;
  sampling: Sampling;
  seed: number | null;
  weights: RewardWeights;
  /** Best first; members without a total last, in drawing order. */
  members: RolloutMember[];
  advantage: Omit<GroupAdvantage, 'advantages'> & { epsilon: number; std_kind: 'unbiased (n-1), as torch.std' };
  /** Best and worst by total (sample indices), when at least two totals differ. */
  best: number | null;
  worst: number | null;
  separating: Separation[];
  timings: { generate_ms: number; score_ms: number; judge_ms_sum: number; wall_ms: number };
}

function componentsOf(v: readonly Verdict[]): { components: Record<RewardName, number | null>; errors: Partial<Record<RewardName, string>> } {
  const components = Object.fromEntries(REWARD_ORDER.map((r) => [r, null])) as Record<RewardName, number | null>;
  const errors: Partial<Record<RewardName, string>> = {};
  for (const x of v) {
    if (x.state === 'error' || x.value === null) errors[x.reward] = x.error ?? 'failed';
    else components[x.reward] = x.value;
  }
  return { components, errors };
}

function judgeMs(v: readonly Verdict[]): number {
  return v.filter((x) => x.judge !== 'parser' && x.judge !== 'runner' && x.judge !== 'rule' && !x.cached).reduce((s, x) => s + (x.ms ?? 0), 0);
}

/** Which components differ between the best and the worst member, largest share of the gap first. */
export function separatingComponents(best: RolloutMember, worst: RolloutMember, weights: RewardWeights): Separation[] {
  const out: Separation[] = [];
  const gap = (best.total ?? 0) - (worst.total ?? 0);
  for (const r of REWARD_ORDER) {
    const b = best.components[r];
    const w = worst.components[r];
    if (b === null || w === null || b === w) continue;
    const weight = r === 'format' ? null : weights[r];
    out.push({ reward: r, best: b, worst: w, weight, contribution: weight === null ? gap : weight * (b - w) });
  }
  return out.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution) || REWARD_ORDER.indexOf(a.reward) - REWARD_ORDER.indexOf(b.reward));
}

/** Draws (or takes) N replies, scores them all at once and computes the group's advantages. */
export async function scoreRolloutGroup(o: RolloutGroupOptions): Promise<RolloutGroup> {
  const started = performance.now();
  const n = o.replies ? o.replies.length : (o.n ?? DEFAULT_GROUP_SIZE);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`the group size must be a whole number ≥ 1, got ${n}`);
  const weights = resolveWeights(o.weights);
  const sampling: Sampling = { ...VALOR_SAMPLING, ...o.sampling };

  type Drawn = { reply: string | null; error?: string; ms?: number };
  let drawn: Drawn[];
  const g0 = performance.now();
  if (o.replies) {
    drawn = o.replies.map((reply) => ({ reply }));
  } else {
    const generator = o.generator;
    if (!generator) throw new Error('no generator configured to draw the replies: set VALOR_LLM_BASE_URL and VALOR_LLM_MODEL');
    drawn = await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      n,
      async (i): Promise<Drawn> => {
        try {
          const s: Sampling = o.seed === undefined ? sampling : { ...sampling, seed: o.seed + i };
          const g = await generateReply(generator, o.query, { sampling: s, noCache: o.seed === undefined, signal: o.signal });
          return { reply: g.reply, ms: g.ms };
        } catch (err) {
          if (o.signal?.aborted) throw err;
          return { reply: null, error: `sample ${i + 1}: the generator failed: ${(err as Error)?.message ?? String(err)}` };
        }
      },
      o.signal,
    );
  }
  const generateMs = performance.now() - g0;

  const s0 = performance.now();
  const toScore = drawn.map((d, i) => ({ d, i })).filter((x) => x.d.reply !== null);
  const scored = new Map<number, ScoredReply>();
  const results = await scoreBatch(
    toScore.map((x) => ({ query: o.query, reply: x.d.reply as string, imagePath: o.imagePath })),
    {
      judge: o.judge,
      runner: o.runner,
      weights,
      overrides: o.overrides,
      visionJudge: o.visionJudge,
      judgeTimeoutMs: o.judgeTimeoutMs,
      syntaxTimeoutMs: o.syntaxTimeoutMs,
      concurrency: n,
      // every judge of every reply at once: 4 per reply
      judgeConcurrency: 4 * n,
      signal: o.signal,
    },
  );
  results.forEach((r, k) => scored.set(toScore[k]!.i, r));
  const scoreMs = performance.now() - s0;

  const members: RolloutMember[] = drawn.map((d, i) => {
    const r = scored.get(i);
    const verdicts = r?.verdicts ?? [];
    const { components, errors } = componentsOf(verdicts);
    return {
      index: i,
      reply: d.reply,
      ...(d.error ? { generation_error: d.error } : {}),
      ...(d.ms !== undefined ? { generation_ms: Math.round(d.ms) } : {}),
      components,
      errors,
      total: r ? r.total : null,
      advantage: null,
      rank: null,
      verdicts,
      ...(r ? { subject: r.subject, score_ms: r.ms } : {}),
      judge_ms: judgeMs(verdicts),
    };
  });
  const adv = grpoAdvantages(members.map((m) => m.total));
  members.forEach((m, i) => (m.advantage = adv.advantages[i] ?? null));
  const sorted = [...members].sort((a, b) => {
    if (a.total === null && b.total === null) return a.index - b.index;
    if (a.total === null) return 1;
    if (b.total === null) return -1;
    return b.total - a.total || a.index - b.index;
  });
  sorted.forEach((m, k) => (m.rank = m.total === null ? null : k + 1));
  const ranked = sorted.filter((m) => m.total !== null);
  const bestM = ranked[0];
  const worstM = ranked[ranked.length - 1];
  const spread = bestM !== undefined && worstM !== undefined && bestM.total !== worstM.total;
  const { advantages: _a, ...stats } = adv;
  return {
    query: o.query,
    image: o.imagePath ?? null,
    n,
    sampling,
    seed: o.seed ?? null,
    weights,
    members: sorted,
    advantage: { ...stats, epsilon: GRPO_EPSILON, std_kind: 'unbiased (n-1), as torch.std' },
    best: spread ? bestM.index : null,
    worst: spread ? worstM.index : null,
    separating: spread ? separatingComponents(bestM, worstM, weights) : [],
    timings: {
      generate_ms: Math.round(generateMs),
      score_ms: Math.round(scoreMs),
      judge_ms_sum: members.reduce((s, m) => s + m.judge_ms, 0),
      wall_ms: Math.round(performance.now() - started),
    },
  };
}
