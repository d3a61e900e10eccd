/**
 * What one `valor eval` run is given (its options and dependencies), what it reports while it
 * runs (events) and at the end (outcome), and the explicit context every step of the run reads:
 * the resolved folders and settings, the event sink and the image cache.
 */
import { BUILTIN_PROMPT, type GenerationPrompt } from '../promptSource.js';
import type { JudgeSetRef } from '../rewards/judgeSet.js';
import { join, resolve } from 'node:path';
import { type ChatClient, type Sampling, VALOR_SAMPLING } from '../chat.js';
import type { ProgramRunnerLike } from '../runnerTypes.js';
import type { Tools } from '../tools.js';
import type { RewardSet } from '../../protocol/run.js';
import type { LoadedDataset } from './dataset.js';
import { ImageCache } from './imageCache.js';
import type { Shard } from './shard.js';
import { type EvalResult, type EvalSummary, EVAL_RUNS_SUBDIR } from './summary.js';

export interface EvalDeps {
  generator: ChatClient;
  tools: Tools;
  /** Where the tools live, for records and the summary. */
  toolsUrl: string;
  toolModels?: Record<string, string>;
  runner: ProgramRunnerLike;
  /** `--score`: the six rewards of one reply (src/core/rewards/score.ts). */
  scorer?: (input: { query: string; reply: string; imagePath: string }, signal: AbortSignal) => Promise<RewardSet>;
  /** The judge endpoint and prompt set, for the summary (with --score). */
  judges?: { base_url: string; model: string; set?: JudgeSetRef } | null;
}

export interface EvalOptions {
  dataset: LoadedDataset;
  /** The exact command that continues this run, printed in the summary and report when it is incomplete. */
  resumeCommand?: string;
  /** Folder that image paths in the file are relative to. */
  imagesDir: string;
  outDir: string;
  shard?: Shard | null;
  limit?: number | null;
  concurrency?: number;
  resume?: boolean;
  /** Wall-clock limit per program (default 60 s). */
  timeoutMs?: number;
  memoryMB?: number;
  /** Extra attempts of a tool call when the tool server cannot be reached (default 3). */
  toolRetries?: number;
  /** First retry delay; doubles each time (default 500 ms). */
  toolRetryDelayMs?: number;
  /** Ask the generator again instead of using its response cache. */
  regenerate?: boolean;
  sampling?: Sampling;
  /** The generation prompt (default: ours); its sha256 is part of the manifest and the summary. */
  prompt?: GenerationPrompt;
  /**
   * `--repair N`: a question whose program fails in a repairable way (docs/debugger.md "Repair")
   * is sent back to the generator up to N times; 0 (the default) is VALOR's single attempt.
   */
  repair?: number;
  /** Write report.html (default true). */
  report?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: EvalEvent) => void;
}

export type EvalEvent =
  | { kind: 'start'; selected: number; reused: number; todo: number; retrying: number }
  | { kind: 'result'; result: EvalResult; done: number; selected: number; correct: number; failed: number }
  | { kind: 'warn'; message: string };

export interface EvalOutcome {
  summary: EvalSummary;
  summaryPath: string;
  reportPath: string | null;
  /** complete: every selected question has a result; interrupted: cancelled; fatal: stopped by a configuration error. */
  status: 'complete' | 'interrupted' | 'fatal' | 'incomplete';
  /** Questions run in this session. */
  ran: number;
  /** Questions whose records were reused (resume). */
  reused: number;
  fatal?: string;
  /** The stop was a configuration problem (a refused key or token, no python3): the CLI exits 2. */
  fatalConfig?: boolean;
}

/** The output folder cannot be used as asked (a usage problem: exit code 2). */
export class EvalSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalSetupError';
  }
}

/** The run's options and dependencies with every default applied, shared by its steps. */
export interface EvalContext {
  readonly opts: EvalOptions;
  readonly deps: EvalDeps;
  readonly outDir: string;
  readonly imagesDir: string;
  /** Where the per-question run records go (`<out>/runs`). */
  readonly runsDir: string;
  readonly concurrency: number;
  readonly sampling: Sampling;
  readonly prompt: GenerationPrompt;
  readonly toolRetries: number;
  readonly toolRetryDelayMs: number;
  readonly timeoutMs: number;
  /** Repairs per question (`--repair N`; 0: none). */
  readonly repair: number;
  /** The shard asked for, or null when the run covers the whole file. */
  readonly shard: Shard | null;
  readonly images: ImageCache;
  emit(e: EvalEvent): void;
}

export function createEvalContext(opts: EvalOptions, deps: EvalDeps): EvalContext {
  const outDir = resolve(opts.outDir);
  return {
    opts,
    deps,
    outDir,
    imagesDir: resolve(opts.imagesDir),
    runsDir: join(outDir, EVAL_RUNS_SUBDIR),
    concurrency: Math.max(1, Math.floor(opts.concurrency ?? 1)),
    sampling: { ...VALOR_SAMPLING, ...opts.sampling },
    prompt: opts.prompt ?? BUILTIN_PROMPT,
    toolRetries: opts.toolRetries ?? 3,
    toolRetryDelayMs: opts.toolRetryDelayMs ?? 500,
    timeoutMs: opts.timeoutMs ?? 60_000,
    repair: opts.repair ?? 0,
    shard: opts.shard && opts.shard.count > 1 ? opts.shard : null,
    images: new ImageCache(),
    emit: (e) => opts.onEvent?.(e),
  };
}
