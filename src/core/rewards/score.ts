/**
 * Scoring one reply with VALOR's six rewards (docs/valor.md §3), and many replies with bounded
 * concurrency.
 *
 * - format: from the reply parser (the gate).
 * - syntax: the program run with placeholder tools (./syntax.ts).
 * - spatial, attribute, logic, adherence: language-model judges (./judge.ts), all four started
 *   at once; degenerate material (no plan, empty or looping text) is scored 0 by rule without a
 *   call (./degenerate.ts).
 * - total: ./total.ts, then the latest human overrides (./overrides.ts) applied on top.
 */
import type { Override, RewardSet, Verdict } from '../../protocol/run.js';
import type { ChatClient } from '../chat.js';
import { childSignal, createSemaphore, mapLimit, type Semaphore } from '../concurrency.js';
import { OverrideIndex } from '../overrideIndex.js';
import { applyRewardOverrides, rewardSubject } from './overrides.js';
import { encodeImage } from '../grounding/annotate.js';
import { PlaceholderTools } from '../placeholderTools.js';
import { parseReply } from '../reply.js';
import type { ProgramRunnerLike } from '../runnerTypes.js';
import type { Tools } from '../tools.js';
import { checkDegenerate } from './degenerate.js';
import { runJudge, type StructuredMode, type VerdictCache } from './judge.js';
import { judgeSetRef, type ReferenceJudgeSet } from './judgeSet.js';
import { JUDGE_REWARDS, type JudgeReward } from './rubrics.js';
import { syntaxVerdict } from './syntax.js';
import { computeTotal, resolveWeights, type RewardWeights, type TotalRule } from './total.js';

export interface ScoreOptions {
  query: string;
  reply: string;
  /** The image the query is about: `img_pth` for the syntax run, and what the vision judge sees. */
  imagePath?: string;
  judge: ChatClient;
  runner: ProgramRunnerLike;
  /** Tools for the syntax run; default: the placeholders with the real tools' signatures. */
  syntaxTools?: Tools;
  weights?: Partial<RewardWeights>;
  /** Human overrides (the audit log); the latest per reward for this (query, reply) is applied. */
  overrides?: OverrideIndex | readonly Override[];
  /** Optional vision judge: the four judges also see the image (off by default, as in VALOR). */
  visionJudge?: boolean;
  /** Long side of the image sent to a vision judge. Default 1024. */
  visionMaxSide?: number;
  structured?: StructuredMode;
  /** VALOR-shaped judge prompts (./judgeSet.ts); absent: our rubrics. */
  judgeSet?: ReferenceJudgeSet;
  /**
   * Call the judges even when format is 0 (the total is 0 either way). Default false: VALOR's code
   * skips them, and so do we unless judging is wanted for an audit; the skipped verdicts are
   * `state: 'skipped'`.
   */
  judgeWhenGated?: boolean;
  /** How format enters the total (./total.ts). Default `product`. */
  totalRule?: TotalRule;
  cache?: VerdictCache;
  /** Bounds judge calls in flight across everything sharing it (batches, the reward server). */
  judgeSemaphore?: Semaphore;
  judgeTimeoutMs?: number;
  syntaxTimeoutMs?: number;
  /** Ask judges again even when their verdicts are cached: every judge (`--refresh`), or the named ones (`--rejudge`). */
  refresh?: boolean | readonly JudgeReward[];
  signal?: AbortSignal;
}

export interface ScoredReply extends RewardSet {
  /** The audit subject key of this (query, reply) (see src/core/audit.ts). */
  subject: string;
  ms: number;
}

const NEEDS: Record<JudgeReward, { plan: boolean; program: boolean }> = {
  spatial: { plan: true, program: false },
  attribute: { plan: true, program: false },
  logic: { plan: true, program: false },
  adherence: { plan: true, program: true },
};

function formatVerdict(score: 0 | 0.5 | 1, diagnostics: ReadonlyArray<{ severity: string; message: string }>): Verdict {
  const problems = diagnostics.filter((d) => d.severity === 'error' || d.severity === 'warning').map((d) => d.message);
  const rationale =
    score === 1
      ? 'The reply has exactly one <plan> block and one <answer> block.'
      : `${score === 0 ? 'A <plan> or <answer> block is missing.' : 'A <plan> or <answer> block is repeated.'}${problems.length ? ` ${problems.join(' ')}` : ''}`;
  return { reward: 'format', state: score === 1 ? 'pass' : 'fail', value: score, rationale, judge: 'parser', ms: 0 };
}

function ruleZero(reward: JudgeReward, reason: string): Verdict {
  return {
    reward,
    state: 'fail',
    value: 0,
    rationale: `Scored 0 by rule without calling the judge: ${reason}.`,
    judge: 'rule',
    ms: 0,
    cached: false,
    saw_image: false,
  };
}

function gatedOut(reward: JudgeReward): Verdict {
  return {
    reward,
    state: 'skipped',
    value: null,
    rationale: 'Not judged: the format gate is 0 (no single <plan> and <answer>), so the total is 0 whatever this judge would say.',
    judge: 'gate',
    ms: 0,
    cached: false,
    saw_image: false,
  };
}

let defaultTools: Tools | undefined;
function placeholders(): Tools {
  defaultTools ??= new PlaceholderTools();
  return defaultTools;
}

/** Scores one reply. Judge failures come back as verdicts in `error`; only cancellation throws. */
export async function scoreReply(o: ScoreOptions): Promise<ScoredReply> {
  const started = performance.now();
  const weights = resolveWeights(o.weights);
  const parsed = parseReply(o.reply);
  const format = formatVerdict(parsed.format.score, parsed.format.diagnostics);
  const material = { query: o.query, plan: parsed.plan ?? '', program: parsed.program ?? '' };

  let imageDataUrl: string | undefined;
  if (o.visionJudge) {
    if (!o.imagePath) throw new RangeError('the vision judge needs the image: pass imagePath, or switch the vision judge off');
    imageDataUrl = (await encodeImage(o.imagePath, o.visionMaxSide ?? 1024)).dataUrl;
  }

  const planState = checkDegenerate(parsed.plan, 'plan');
  const programState = checkDegenerate(parsed.program, 'program');
  const gated = parsed.format.score === 0 && !o.judgeWhenGated;
  const judged = JUDGE_REWARDS.map((reward) => {
    if (gated) return Promise.resolve(gatedOut(reward));
    const need = NEEDS[reward];
    if (need.plan && planState.degenerate) return Promise.resolve(ruleZero(reward, planState.reason ?? 'the plan is degenerate'));
    if (need.program && programState.degenerate) return Promise.resolve(ruleZero(reward, programState.reason ?? 'the program is degenerate'));
    return runJudge({
      reward,
      material,
      client: o.judge,
      imageDataUrl,
      structured: o.structured,
      judgeSet: o.judgeSet,
      cache: o.cache,
      semaphore: o.judgeSemaphore,
      timeoutMs: o.judgeTimeoutMs,
      refresh: o.refresh === true || (typeof o.refresh === 'object' && o.refresh.includes(reward)),
      signal: o.signal,
    });
  });
  const syntax = syntaxVerdict({
    program: parsed.program,
    imagePath: o.imagePath,
    runner: o.runner,
    tools: o.syntaxTools ?? placeholders(),
    timeoutMs: o.syntaxTimeoutMs,
    signal: o.signal,
  });
  const [syntaxV, ...judgeVs] = await Promise.all([syntax, ...judged]);
  const byName = new Map<string, Verdict>([[format.reward, format], [syntaxV.reward, syntaxV]]);
  for (const v of judgeVs) byName.set(v.reward, v);
  const verdicts = ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'].map((n) => byName.get(n)).filter((v): v is Verdict => v !== undefined);
  const totalRule = o.totalRule ?? 'product';
  const { total, incomplete } = computeTotal(verdicts, weights, totalRule);
  const subject = rewardSubject(o.query, o.reply);
  let set: RewardSet = { verdicts, total, incomplete, weights: { ...weights }, total_rule: totalRule, judges: judgeSetRef(o.judgeSet) };
  if (o.overrides) set = applyRewardOverrides(set, subject, o.overrides);
  return { ...set, subject, ms: Math.round(performance.now() - started) };
}

export interface BatchItem {
  query: string;
  reply: string;
  imagePath?: string;
}

export interface BatchOptions extends Omit<ScoreOptions, 'query' | 'reply' | 'imagePath'> {
  /** Replies scored at once. Default 8. */
  concurrency?: number;
  /** Judge calls in flight at once across the batch. Default 4 × concurrency. */
  judgeConcurrency?: number;
  onResult?: (index: number, result: ScoredReply) => void;
}

/** Scores many replies with bounded concurrency; results keep the input order. */
export async function scoreBatch(items: readonly BatchItem[], o: BatchOptions): Promise<ScoredReply[]> {
  const concurrency = Math.max(1, o.concurrency ?? 8);
  const judgeSemaphore = o.judgeSemaphore ?? createSemaphore(Math.max(1, o.judgeConcurrency ?? concurrency * 4));
  const overrides = o.overrides && !(o.overrides instanceof OverrideIndex) ? new OverrideIndex(o.overrides) : o.overrides;
  // Every judge call of the batch waits on the judge semaphore with the signal: a child signal
  // keeps those listeners off the caller's.
  const child = childSignal(o.signal);
  try {
    return await mapLimit(
      items,
      concurrency,
      async (item, i) => {
        const r = await scoreReply({ ...o, ...item, overrides, judgeSemaphore, signal: child.signal });
        o.onResult?.(i, r);
        return r;
      },
      child.signal,
    );
  } finally {
    child.dispose();
  }
}
