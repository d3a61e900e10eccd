/**
 * One VALOR run, front to back: (optionally) ask the language model for a reply, parse it, run the
 * program against the tools, and assemble the run record. Shared by `valor run`, `valor eval`
 * and the extension, so every front end records runs the same way.
 */
import type { ChatClient, Sampling } from './chat.js';
import { VALOR_SAMPLING } from './chat.js';
import { inspectImage, type ImageInfo } from './image.js';
import { BUILTIN_PROMPT, generationMessages, promptRef, type GenerationPrompt, type PromptRef } from './promptSource.js';
import { parseReply } from './reply.js';
import { newRunId } from './runStore.js';
import type { ProgramRunnerLike } from './runnerTypes.js';
import { toolsCalled, type Tools } from './tools.js';
import type { ProgramError, RunRecord } from '../protocol/run.js';

export interface GeneratedReply {
  reply: string;
  model: string;
  ms: number;
  cached: boolean;
  sampling: Sampling;
  /** Which system prompt was sent (never its text). */
  prompt: PromptRef;
}

/** Asks the generator for a plan and program for `query` (VALOR's prompt and sampling). */
export async function generateReply(
  generator: ChatClient,
  query: string,
  opts: { sampling?: Sampling; prompt?: GenerationPrompt; onDelta?: (delta: string) => void; noCache?: boolean; signal?: AbortSignal } = {},
): Promise<GeneratedReply> {
  const sampling = { ...VALOR_SAMPLING, ...opts.sampling };
  const prompt = opts.prompt ?? BUILTIN_PROMPT;
  const req = { messages: generationMessages(prompt, query), sampling, noCache: opts.noCache };
  const res = opts.onDelta
    ? await generator.stream(req, opts.onDelta, opts.signal)
    : await generator.complete(req, opts.signal);
  return { reply: res.text, model: res.model, ms: res.ms, cached: res.cached, sampling, prompt: promptRef(prompt) };
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
  /** The generation prompt (default: ours). */
  prompt?: GenerationPrompt;
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
  /** Send the tools a prefetch hint before the program runs (default true when they take one). */
  prefetch?: boolean;
  /** 1-based document line of program line 1, when the reply came from a document (see `shownLine`). */
  programDocumentLine?: number | null;
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
      prompt: o.prompt,
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
    // The depth map and the detector's input of the image can be computed while the program
    // starts and runs up to its first call (the server has one queue per model).
    const wanted = toolsCalled(parsed.program);
    if (o.prefetch !== false && o.tools.prefetch && wanted.length > 0) void o.tools.prefetch(image.path, wanted, o.signal).catch(() => undefined);
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
      ? { base_url: o.generator.baseUrl, model: generated.model, settings: { ...generated.sampling, cached: generated.cached }, prompt: generated.prompt }
      : null,
    document: o.document ?? null,
    ...(o.programDocumentLine ? { program_document_line: o.programDocumentLine } : {}),
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
