/**
 * The summary document of one eval run (or one session of it): the input, the settings, the
 * models, everything `summarize` computes from the results, and the session's timings and memory.
 */
import { promptRef } from '../promptSource.js';
import type { EvalContext } from './context.js';
import type { MemoryFigures } from './memorySampler.js';
import { type EvalResult, type EvalSummary, sortResults, summarize } from './summary.js';

export interface SessionFacts {
  /** Every result the run has, reused ones included. */
  results: Iterable<EvalResult>;
  selected: number;
  interrupted: boolean;
  /** Questions run in this session. */
  sessionDone: number;
  wallMs: number;
  memory: MemoryFigures;
}

export function buildRunSummary(ctx: EvalContext, s: SessionFacts): EvalSummary {
  const { opts, deps } = ctx;
  const ds = opts.dataset;
  const ordered = sortResults([...s.results]);
  const computed = summarize(ordered, s.selected);
  const unfinished = computed.counts.pending > 0 || computed.counts.not_evaluated > 0;
  return {
    version: 1,
    kind: 'valor-eval-summary',
    created: new Date().toISOString(),
    complete: !unfinished,
    ...(opts.resumeCommand && unfinished ? { resume_command: opts.resumeCommand } : {}),
    interrupted: s.interrupted,
    input: {
      path: ds.path,
      sha256: ds.sha256,
      format: ds.format,
      entries: ds.entries,
      questions: ds.questions.length,
      problems: ds.problems,
    },
    images: ctx.imagesDir,
    shard: ctx.shard,
    settings: {
      concurrency: ctx.concurrency,
      limit: opts.limit ?? null,
      timeout_ms: ctx.timeoutMs,
      memory_mb: opts.memoryMB ?? null,
      score: Boolean(deps.scorer),
      tool_retries: ctx.toolRetries,
      regenerate: Boolean(opts.regenerate),
      ...(ctx.repair > 0 ? { repair: ctx.repair } : {}),
      sampling: ctx.sampling as Record<string, unknown>,
    },
    models: {
      generator: {
        base_url: deps.generator.baseUrl,
        model: deps.generator.model,
        reported: [...new Set(ordered.flatMap((r) => (r.model ? [r.model] : [])))].sort(),
        prompt: promptRef(ctx.prompt),
      },
      tools: { url: deps.toolsUrl, ...(deps.toolModels ? { models: deps.toolModels } : {}) },
      judges: deps.scorer ? (deps.judges ?? null) : null,
    },
    ...computed,
    timings: {
      wall_ms: Math.round(s.wallMs),
      session_done: s.sessionDone,
      questions_per_s: s.sessionDone > 0 ? s.sessionDone / (s.wallMs / 1000) : null,
      memory: s.memory,
    },
    results: ordered,
  };
}
