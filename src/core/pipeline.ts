/**
 * One VALOR run, front to back: (optionally) ask the language model for a reply, parse it, run the
 * program against the tools, and assemble the run record. Shared by `valor run`, `valor eval`
 * and the extension, so every front end records runs the same way.
 */
import type { ChatClient, Sampling } from './chat.js';
import { VALOR_SAMPLING } from './chat.js';
import { inspectImage, type ImageInfo } from './image.js';
import { buildGenerationMessages } from './prompt.js';
import { parseReply } from './reply.js';
import { newRunId } from './runStore.js';
import type { ProgramRunnerLike } from './runnerTypes.js';
import type { Tools } from './tools.js';
import type { ProgramError, RunRecord } from '../protocol/run.js';

export interface GeneratedReply {
  reply: string;
  model: string;
  ms: number;
  cached: boolean;
  sampling: Sampling;
}

/** Asks the generator for a plan and program for `query` (VALOR's prompt and sampling). */
export async function generateReply(
  generator: ChatClient,
  query: string,
  opts: { sampling?: Sampling; onDelta?: (delta: string) => void; noCache?: boolean; signal?: AbortSignal } = {},
): Promise<GeneratedReply> {
  const sampling = { ...VALOR_SAMPLING, ...opts.sampling };
  const req = { messages: buildGenerationMessages(query), sampling, noCache: opts.noCache };
  const res = opts.onDelta
    ? await generator.stream(req, opts.onDelta, opts.signal)
    : await generator.complete(req, opts.signal);
  return { reply: res.text, model: res.model, ms: res.ms, cached: res.cached, sampling };
}

export interface QueryRunOptions {
  query: string;
  /** Image path (absolute, or relative to `cwd`). */
  imagePath: string;
  cwd?: string;
  /** The reply to run. When absent, `generator` writes one. */
  reply?: string;
  generator?: ChatClient;
  sampling?: Sampling;
  onDelta?: (delta: string) => void;
  /** Bypass the response cache for generation (a fresh sample). */
  regenerate?: boolean;
  tools: Tools;
  /** Where the tools live, for the record (tool server URL or a description). */
  toolsUrl: string;
  toolModels?: Record<string, string>;
  runner: ProgramRunnerLike;
  timeoutMs?: number;
  memoryMB?: number;
  /** The `.vprog` document the reply came from, for the record. */
  document?: string | null;
  /** Image facts when the caller already has them. */
  image?: ImageInfo;
  signal?: AbortSignal;
}

/**
 * Runs one query and returns its record. Failures of the program are part of the record
 * (`error`), not exceptions; a bad image or a failed generation call throws (nothing to record).
 */
export async function runQuery(o: QueryRunOptions): Promise<RunRecord> {
  const started = performance.now();
  const id = newRunId();
  const image = o.image ?? (await inspectImage(o.imagePath, o.cwd));

  let reply = o.reply;
  let generated: GeneratedReply | undefined;
  if (reply === undefined) {
    if (!o.generator) throw new Error('no reply given and no generator configured: set VALOR_LLM_BASE_URL and VALOR_LLM_MODEL');
    generated = await generateReply(o.generator, o.query, {
      sampling: o.sampling,
      onDelta: o.onDelta,
      noCache: o.regenerate,
      signal: o.signal,
    });
    reply = generated.reply;
  }

  const parsed = parseReply(reply);
  let trace: RunRecord['trace'] = [];
  let finalAnswer: unknown = null;
  let error: ProgramError | null = null;
  let stdout = '';
  let runMs: number | undefined;
  let isolation: RunRecord['isolation'];
  let lineTrace: RunRecord['line_trace'];
  if (parsed.program === null || parsed.program.trim() === '') {
    const why = parsed.format.diagnostics.find((d) => d.severity === 'error')?.message;
    error = {
      type: 'NoProgram',
      message: `the reply holds no program to run${why ? `: ${why}` : ''}`,
      line: null,
    };
  } else {
    const outcome = await o.runner.run(
      { program: parsed.program, imagePath: image.path, tools: o.tools, timeoutMs: o.timeoutMs, memoryMB: o.memoryMB },
      o.signal,
    );
    trace = outcome.trace;
    finalAnswer = outcome.ok ? outcome.final_answer : null;
    error = outcome.error;
    stdout = outcome.stdout;
    runMs = outcome.ms;
    isolation = outcome.isolation;
    lineTrace = outcome.line_trace;
  }

  return {
    version: 1,
    id,
    created: new Date().toISOString(),
    query: o.query,
    image: { path: image.path, sha256: image.sha256, width: image.width, height: image.height },
    generator: generated && o.generator
      ? { base_url: o.generator.baseUrl, model: generated.model, settings: { ...generated.sampling, cached: generated.cached } }
      : null,
    document: o.document ?? null,
    tools: { url: o.toolsUrl, ...(o.toolModels ? { models: o.toolModels } : {}) },
    reply,
    plan: parsed.plan,
    program: parsed.program,
    format: parsed.format,
    trace,
    final_answer: finalAnswer,
    error,
    stdout,
    ...(isolation ? { isolation } : {}),
    ...(lineTrace ? { line_trace: lineTrace } : {}),
    timings: { generate_ms: generated?.ms, run_ms: runMs, total_ms: performance.now() - started },
  };
}
