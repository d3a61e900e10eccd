/**
 * The `valor eval` loop: for each selected question, generate a reply, run its program, score the
 * answer against the ground truth and write the question's run record; then write summary.json
 * and report.html.
 *
 * - Bounded concurrency: N workers take the next question in input order.
 * - Failures are results, not crashes: a program error, a question with no program, a tool-server
 *   outage (each tool call retried with backoff first), an endpoint outage (retried by the
 *   language-model client first) and a bad image each become a record with its error kind. Only
 *   a configuration problem that would fail every question (wrong API key) stops the run.
 * - Resumable: a question whose record exists is not redone (outage records are, since they say
 *   nothing about the model); records are written atomically, so a killed run leaves whole
 *   records or none.
 * - Cancellation: stop taking questions, abort the ones in flight (their records are not written),
 *   write a partial summary, and report how to resume.
 */
import { BUILTIN_PROMPT, promptRef, type GenerationPrompt } from '../promptSource.js';
import type { JudgeSetRef } from '../rewards/judgeSet.js';
import { setMaxListeners } from 'node:events';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { isAbsolute, join, resolve } from 'node:path';
import { type ChatClient, ChatError, type Sampling, VALOR_SAMPLING } from '../chat.js';
import { mapLimit } from '../concurrency.js';
import { ImageInputError, type ImageInfo, inspectImage } from '../image.js';
import { runQuery } from '../pipeline.js';
import type { ProgramRunnerLike } from '../runnerTypes.js';
import { readRunRecord, writeFileAtomic, writeRunRecord } from '../runStore.js';
import { ToolError, type Tools } from '../tools.js';
import type { RewardSet, RunRecord } from '../../protocol/run.js';
import type { EvalQuestion, LoadedDataset } from './dataset.js';
import { answerText, scoreAnswer } from './metrics.js';
import { recordName, recordPath, recordRelPath, removeStaleTemps, resultFromRecord } from './records.js';
import { renderReport } from './report.js';
import { inShard, type Shard } from './shard.js';
import {
  type ErrorKind,
  type EvalResult,
  type EvalSummary,
  REPORT_FILE,
  RETRYABLE_KINDS,
  RUNS_SUBDIR,
  SUMMARY_FILE,
  sortResults,
  summarize,
} from './summary.js';

export const MANIFEST_FILE = 'manifest.json';

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

interface Manifest {
  version: 1;
  input_sha256: string;
  input_path: string;
  shard: Shard | null;
  generator_model: string;
  sampling: Record<string, unknown>;
  /** sha256 of the generation prompt's text (absent in manifests written before it was recorded). */
  prompt_sha256?: string;
  score: boolean;
  created: string;
}

/** The questions a run covers: its shard of the file, then the first `limit` of those. */
export function selectQuestions(questions: readonly EvalQuestion[], shard: Shard | null | undefined, limit: number | null | undefined): EvalQuestion[] {
  const mine = questions.filter((q) => inShard(q.id, shard));
  return limit === null || limit === undefined ? mine : mine.slice(0, limit);
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return true;
  const e = err as { name?: string; kind?: string } | null;
  return e?.name === 'AbortError' || (err instanceof ChatError && err.kind === 'cancelled');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal.aborted) return rej(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      const e = new Error('The operation was aborted');
      e.name = 'AbortError';
      rej(e);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Tools that retry a call the tool server could not answer (network failure, 5xx) with backoff,
 * and report the outage when the retries are used up. A `ToolError` (the server understood and
 * refused: bad arguments) is the program's problem and goes straight through.
 */
export function withToolRetries(
  tools: Tools,
  o: { retries: number; delayMs: number; signal: AbortSignal; onRetry?: (err: Error, attempt: number) => void; onOutage: (err: Error) => void },
): Tools {
  const call = async <T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> => {
    const s = signal ? AbortSignal.any([signal, o.signal]) : o.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(s);
      } catch (err) {
        if (err instanceof ToolError || isAbort(err, s)) throw err;
        // A refused token will not change by retrying: every question would fail the same way.
        if ((err as { status?: unknown }).status === 401 || attempt >= o.retries) {
          o.onOutage(err as Error);
          throw err;
        }
        o.onRetry?.(err as Error, attempt + 1);
        await sleep(o.delayMs * 2 ** attempt, s);
      }
    }
  };
  return {
    gd_detect: (img, prompt, signal) => call((s) => tools.gd_detect(img, prompt, s), signal),
    depth: (img, bbox, signal) => call((s) => tools.depth(img, bbox, s), signal),
    vqa: (img, bbox, prompt, signal) => call((s) => tools.vqa(img, bbox, prompt, s), signal),
  };
}

function failureRecord(
  q: EvalQuestion,
  image: { path: string; sha256: string; width?: number; height?: number },
  deps: EvalDeps,
  sampling: Sampling,
  error: { type: string; message: string },
  withGenerator: boolean,
  totalMs: number,
): RunRecord {
  return {
    version: 1,
    id: recordName(q.id),
    created: new Date().toISOString(),
    query: q.question,
    image,
    generator: withGenerator ? { base_url: deps.generator.baseUrl, model: deps.generator.model, settings: { ...sampling } } : null,
    document: null,
    tools: { url: deps.toolsUrl, ...(deps.toolModels ? { models: deps.toolModels } : {}) },
    reply: '',
    plan: null,
    program: null,
    format: { score: 0, diagnostics: [] },
    trace: [],
    final_answer: null,
    error: { type: error.type, message: error.message, line: null },
    timings: { total_ms: totalMs },
  };
}

type One = { record: RunRecord } | { cancelled: true } | { fatal: string };

async function readManifest(path: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

async function countRecords(runsDir: string): Promise<number> {
  try {
    return (await readdir(runsDir)).filter((n) => n.endsWith('.json')).length;
  } catch {
    return 0;
  }
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Runs (or resumes) an evaluation and writes its summary and report. */
export async function runEval(opts: EvalOptions, deps: EvalDeps): Promise<EvalOutcome> {
  const started = performance.now();
  const outDir = resolve(opts.outDir);
  const imagesDir = resolve(opts.imagesDir);
  const runsDir = join(outDir, RUNS_SUBDIR);
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  const sampling: Sampling = { ...VALOR_SAMPLING, ...opts.sampling };
  const prompt = opts.prompt ?? BUILTIN_PROMPT;
  const toolRetries = opts.toolRetries ?? 3;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const emit = (e: EvalEvent): void => opts.onEvent?.(e);
  const ds = opts.dataset;
  const shard = opts.shard && opts.shard.count > 1 ? opts.shard : null;

  const selected = selectQuestions(ds.questions, shard, opts.limit);

  // The output folder: refuse to mix two different runs in one folder.
  await mkdir(runsDir, { recursive: true });
  const manifestPath = join(outDir, MANIFEST_FILE);
  const manifest: Manifest = {
    version: 1,
    input_sha256: ds.sha256,
    input_path: ds.path,
    shard,
    generator_model: deps.generator.model,
    sampling: sampling as Record<string, unknown>,
    prompt_sha256: prompt.sha256,
    score: Boolean(deps.scorer),
    created: new Date().toISOString(),
  };
  const previous = await readManifest(manifestPath);
  const existing = await countRecords(runsDir);
  if (!opts.resume && (existing > 0 || previous)) {
    throw new EvalSetupError(
      `${outDir} already holds an eval run (${existing} run records). Pass --resume to continue it, or choose another --out folder.`,
    );
  }
  if (opts.resume && previous) {
    const diffs: string[] = [];
    if (previous.input_sha256 !== manifest.input_sha256) diffs.push('the benchmark file changed (its sha256 differs)');
    if (!sameJson(previous.shard ?? null, manifest.shard)) diffs.push(`the shard differs (was ${previous.shard ? `${previous.shard.index}/${previous.shard.count}` : 'none'})`);
    if (previous.generator_model !== manifest.generator_model) diffs.push(`the generator model differs (was '${previous.generator_model}')`);
    if (!sameJson(previous.sampling, manifest.sampling)) diffs.push('the sampling settings differ');
    if ((previous.prompt_sha256 ?? BUILTIN_PROMPT.sha256) !== manifest.prompt_sha256) diffs.push('the generation prompt differs (its sha256)');
    if (previous.score !== manifest.score) diffs.push(`--score was ${previous.score ? 'on' : 'off'}`);
    if (diffs.length > 0) {
      throw new EvalSetupError(`cannot resume the run in ${outDir}: ${diffs.join('; ')}. Resume with the same settings, or choose another --out folder.`);
    }
    manifest.created = previous.created;
  }
  await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  const stale = await removeStaleTemps(runsDir);
  if (stale > 0) emit({ kind: 'warn', message: `removed ${stale} partial record file(s) left by an interrupted run` });

  // Resume: reuse the records of questions already done.
  const results = new Map<string, EvalResult>();
  let retrying = 0;
  if (opts.resume) {
    const found = await mapLimit(selected, 16, async (q) => {
      const path = recordPath(outDir, q.id);
      try {
        const rec = await readRunRecord(path);
        if (rec.eval?.question_id !== q.id || rec.query !== q.question) {
          emit({ kind: 'warn', message: `${path} belongs to another question; running question ${q.id} (line ${q.line}) again` });
          return undefined;
        }
        if (rec.eval && RETRYABLE_KINDS.includes(rec.eval.error_kind as ErrorKind)) {
          retrying++;
          return undefined;
        }
        return resultFromRecord(q, rec, recordRelPath(q.id));
      } catch (err) {
        if ((err as Error).message.includes('ENOENT')) return undefined;
        emit({ kind: 'warn', message: `${(err as Error).message}; running question ${q.id} (line ${q.line}) again` });
        return undefined;
      }
    });
    for (const r of found) if (r) results.set(r.id, r);
  }
  const reused = results.size;
  const todo = selected.filter((q) => !results.has(q.id));
  emit({ kind: 'start', selected: selected.length, reused, todo: todo.length, retrying });

  // Memory of this process while the loop runs (the benchmark checks it stays flat): peak RSS
  // and heap, and the live heap right after each full garbage collection, which unlike the
  // peak does not depend on when the collector happened to run.
  let peakRss = 0;
  let peakHeap = 0;
  let liveHeap = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  sample();
  const sampler = setInterval(sample, 200);
  sampler.unref();
  const gcWatch = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR)) {
      liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
    }
  });
  gcWatch.observe({ entryTypes: ['gc'] });

  const ctl = new AbortController();
  // Every in-flight question listens on this signal (generator call, program run, tool calls).
  setMaxListeners(Math.max(10, concurrency * 8), ctl.signal);
  const onOuterAbort = (): void => ctl.abort();
  if (opts.signal?.aborted) ctl.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let fatal: string | undefined;
  let fatalIsConfig = false;
  let correct = [...results.values()].filter((r) => r.correct).length;
  let failed = [...results.values()].filter((r) => r.error_kind).length;
  const imageCache = new Map<string, Promise<ImageInfo>>();

  const evalOne = async (q: EvalQuestion, signal: AbortSignal): Promise<One> => {
    const t0 = performance.now();
    const imagePath = isAbsolute(q.image) ? q.image : join(imagesDir, q.image);
    let image: ImageInfo;
    try {
      // Many questions share an image: hash and measure it once (bounded so memory stays flat).
      let p = imageCache.get(imagePath);
      if (!p) {
        if (imageCache.size > 256) imageCache.clear();
        p = inspectImage(imagePath, undefined, isAbsolute(q.image) ? undefined : `'${q.image}' of question ${q.id}, resolved from the images folder ${imagesDir} (--images; default: the dataset file's folder)`);
        imageCache.set(imagePath, p);
      }
      image = await p;
    } catch (err) {
      imageCache.delete(imagePath);
      const e = err as Error;
      const type = err instanceof ImageInputError ? 'ImageInputError' : (e?.name ?? 'Error');
      const rec = failureRecord(q, { path: imagePath, sha256: '' }, deps, sampling, { type, message: e?.message ?? String(err) }, false, performance.now() - t0);
      return { record: withEval(q, rec, 'image') };
    }

    let outage: Error | undefined;
    const tools = withToolRetries(deps.tools, {
      retries: toolRetries,
      delayMs: opts.toolRetryDelayMs ?? 500,
      signal,
      onRetry: (err, attempt) => emit({ kind: 'warn', message: `question ${q.id}: tool server did not answer (${err.message}); retry ${attempt} of ${toolRetries}` }),
      onOutage: (err) => {
        outage ??= err;
      },
    });
    const outageFatal = (): string | undefined =>
      (outage as { status?: unknown } | undefined)?.status === 401 ? `the tool server refused the token: ${outage?.message}` : undefined;
    let record: RunRecord;
    let kind: ErrorKind | null = null;
    try {
      record = await runQuery({
        query: q.question,
        imagePath: image.path,
        image,
        generator: deps.generator,
        sampling,
        prompt,
        regenerate: opts.regenerate,
        tools,
        toolsUrl: deps.toolsUrl,
        toolModels: deps.toolModels,
        runner: deps.runner,
        timeoutMs,
        memoryMB: opts.memoryMB,
        signal,
      });
    } catch (err) {
      if (isAbort(err, signal)) return { cancelled: true };
      const imageFacts = { path: image.path, sha256: image.sha256, width: image.width, height: image.height };
      if (err instanceof ChatError) {
        if (err.kind === 'auth' || err.kind === 'config') return { fatal: `the generator endpoint refused the request: ${err.message}` };
        kind = err.kind === 'bad_request' ? 'endpoint_error' : 'endpoint_outage';
        const rec = failureRecord(q, imageFacts, deps, sampling, { type: `ChatError:${err.kind}`, message: err.message }, true, performance.now() - t0);
        return { record: withEval(q, rec, kind) };
      }
      const e = err as Error;
      // python3 or numpy missing: every question would fail the same way.
      if (e?.name === 'RunnerSetupError') return { fatal: e.message };
      const rec = failureRecord(q, imageFacts, deps, sampling, { type: e?.name ?? 'Error', message: e?.message ?? String(err) }, true, performance.now() - t0);
      return { record: withEval(q, rec, 'internal') };
    }
    // A run cut short by cancellation is not a result: leave it for --resume.
    if (signal.aborted && (record.error || outage)) return { cancelled: true };
    const refused = outageFatal();
    if (refused) return { fatal: refused };
    record.id = recordName(q.id);
    if (outage) kind = 'tool_outage';
    else if (record.error?.type === 'NoProgram') kind = 'no_program';
    else if (record.error) kind = 'program';

    if (deps.scorer && record.reply.trim() !== '') {
      try {
        const set = await deps.scorer({ query: q.question, reply: record.reply, imagePath: image.path }, signal);
        record.rewards = { verdicts: set.verdicts, total: set.total, incomplete: set.incomplete, weights: set.weights, ...(set.overridden ? { overridden: set.overridden } : {}) };
      } catch (err) {
        if (isAbort(err, signal)) return { cancelled: true };
        emit({ kind: 'warn', message: `question ${q.id}: scoring failed: ${(err as Error).message}` });
      }
    }
    record.timings.total_ms = performance.now() - t0;
    return { record: withEval(q, record, kind) };
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (!ctl.signal.aborted) {
      const q = todo[next++];
      if (!q) return;
      let out: One;
      try {
        out = await evalOne(q, ctl.signal);
        if ('record' in out) await writeRunRecord(runsDir, out.record);
      } catch (err) {
        if (isAbort(err, ctl.signal)) continue;
        // Not a question's failure (those are records): a full disk, a bug. Stop cleanly with the reason.
        if (fatal === undefined) fatalIsConfig = false;
        fatal ??= `question ${q.id} (line ${q.line}): ${(err as Error).message}`;
        ctl.abort();
        return;
      }
      if ('cancelled' in out) continue;
      if ('fatal' in out) {
        if (fatal === undefined) fatalIsConfig = true;
        fatal ??= out.fatal;
        ctl.abort();
        return;
      }
      const result = resultFromRecord(q, out.record, recordRelPath(q.id));
      results.set(q.id, result);
      if (result.correct) correct++;
      if (result.error_kind) failed++;
      emit({ kind: 'result', result, done: results.size, selected: selected.length, correct, failed });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, () => worker()));
  } finally {
    clearInterval(sampler);
    gcWatch.disconnect();
    opts.signal?.removeEventListener('abort', onOuterAbort);
    sample();
  }
  const interrupted = Boolean(opts.signal?.aborted);
  const sessionDone = results.size - reused;
  const wallMs = performance.now() - started;

  const ordered = sortResults([...results.values()]);
  const computed = summarize(ordered, selected.length);
  const summary: EvalSummary = {
    version: 1,
    kind: 'valor-eval-summary',
    created: new Date().toISOString(),
    complete: computed.counts.pending === 0 && computed.counts.not_evaluated === 0,
    ...(opts.resumeCommand && (computed.counts.pending > 0 || computed.counts.not_evaluated > 0) ? { resume_command: opts.resumeCommand } : {}),
    interrupted,
    input: {
      path: ds.path,
      sha256: ds.sha256,
      format: ds.format,
      entries: ds.entries,
      questions: ds.questions.length,
      problems: ds.problems,
    },
    images: imagesDir,
    shard,
    settings: {
      concurrency,
      limit: opts.limit ?? null,
      timeout_ms: timeoutMs,
      memory_mb: opts.memoryMB ?? null,
      score: Boolean(deps.scorer),
      tool_retries: toolRetries,
      regenerate: Boolean(opts.regenerate),
      sampling: sampling as Record<string, unknown>,
    },
    models: {
      generator: {
        base_url: deps.generator.baseUrl,
        model: deps.generator.model,
        reported: [...new Set(ordered.flatMap((r) => (r.model ? [r.model] : [])))].sort(),
        prompt: promptRef(prompt),
      },
      tools: { url: deps.toolsUrl, ...(deps.toolModels ? { models: deps.toolModels } : {}) },
      judges: deps.scorer ? (deps.judges ?? null) : null,
    },
    ...computed,
    timings: {
      wall_ms: Math.round(wallMs),
      session_done: sessionDone,
      questions_per_s: sessionDone > 0 ? sessionDone / (wallMs / 1000) : null,
      memory: {
        peak_rss_mb: Math.round(peakRss / 2 ** 20),
        peak_heap_mb: Math.round(peakHeap / 2 ** 20),
        live_heap_mb: liveHeap ? Math.round((liveHeap / 2 ** 20) * 10) / 10 : null,
      },
    },
    results: ordered,
  };
  const { summaryPath, reportPath } = await writeEvalOutputs(outDir, summary, opts.report !== false);
  const status: EvalOutcome['status'] = fatal ? 'fatal' : interrupted ? 'interrupted' : summary.complete ? 'complete' : 'incomplete';
  return { summary, summaryPath, reportPath, status, ran: sessionDone, reused, ...(fatal ? { fatal, fatalConfig: fatalIsConfig } : {}) };
}

/** Writes summary.json (and report.html) into `outDir`, atomically. */
export async function writeEvalOutputs(outDir: string, summary: EvalSummary, report: boolean): Promise<{ summaryPath: string; reportPath: string | null }> {
  const summaryPath = join(outDir, SUMMARY_FILE);
  await mkdir(outDir, { recursive: true });
  await writeFileAtomic(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  let reportPath: string | null = null;
  if (report) {
    reportPath = join(outDir, REPORT_FILE);
    const html = await renderReport(summary, async (rel) => {
      try {
        return await readRunRecord(join(outDir, rel));
      } catch {
        return undefined;
      }
    });
    await writeFileAtomic(reportPath, html);
  }
  return { summaryPath, reportPath };
}

/** Adds the eval block (question, ground truth, score) to a record. */
function withEval(q: EvalQuestion, record: RunRecord, kind: ErrorKind | null): RunRecord {
  const s = kind ? { score: 0, correct: false, prediction: answerText(record.final_answer), invalid: null } : scoreAnswer(q.type, record.final_answer, q.answer, q.options);
  record.id = recordName(q.id);
  record.eval = {
    question_id: q.id,
    line: q.line,
    answer_type: q.type,
    ground_truth: q.answer,
    ...(q.options ? { options: q.options } : {}),
    prediction: s.prediction,
    score: s.score,
    correct: s.correct,
    invalid: s.invalid ?? null,
    error_kind: kind,
  };
  return record;
}
