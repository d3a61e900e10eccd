/**
 * What a failed question becomes: a run record that says what went wrong and its error kind, or
 * a stop of the whole run when the failure would repeat for every question (a refused key or
 * token, no python3). Failures are told apart by their type (error classes and codes), never by
 * their message text.
 */
import { ChatError } from '../chat.js';
import { ImageInputError } from '../image.js';
import { RunnerSetupError } from '../runner/index.js';
import type { RunRecord } from '../../protocol/run.js';
import type { EvalContext } from './context.js';
import type { EvalQuestion } from './dataset.js';
import { recordName } from './records.js';
import type { ErrorKind } from './summary.js';
import { isRefusedToken } from './toolRetries.js';

export interface ImageFacts {
  path: string;
  sha256: string;
  width?: number;
  height?: number;
}

/** The record of a question that has no program run to show: only what went wrong. */
export function failureRecord(
  ctx: EvalContext,
  q: EvalQuestion,
  image: ImageFacts,
  error: { type: string; message: string },
  withGenerator: boolean,
  totalMs: number,
): RunRecord {
  const { deps } = ctx;
  return {
    version: 1,
    id: recordName(q.id),
    created: new Date().toISOString(),
    query: q.question,
    image,
    generator: withGenerator ? { base_url: deps.generator.baseUrl, model: deps.generator.model, settings: { ...ctx.sampling } } : null,
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

/** The question's image could not be read or measured. */
export function imageFailure(err: unknown): { type: string; message: string } {
  const e = err as Error | null | undefined;
  return { type: err instanceof ImageInputError ? 'ImageInputError' : (e?.name ?? 'Error'), message: e?.message ?? String(err) };
}

/** How a failure of the generate-and-run step counts: a stop of the run, or a record of this kind. */
export type RunFailure = { fatal: string } | { kind: ErrorKind; error: { type: string; message: string } };

/** Classifies an error thrown while generating the reply or running its program (not a cancellation). */
export function classifyRunFailure(err: unknown): RunFailure {
  if (err instanceof ChatError) {
    if (err.kind === 'auth' || err.kind === 'config') return { fatal: `the generator endpoint refused the request: ${err.message}` };
    return { kind: err.kind === 'bad_request' ? 'endpoint_error' : 'endpoint_outage', error: { type: `ChatError:${err.kind}`, message: err.message } };
  }
  // python3 or numpy missing: every question would fail the same way.
  if (err instanceof RunnerSetupError) return { fatal: err.message };
  const e = err as Error | null | undefined;
  return { kind: 'internal', error: { type: e?.name ?? 'Error', message: e?.message ?? String(err) } };
}

/** A tool-server outage that stops the run: the server refused our token. */
export function fatalToolOutage(outage: Error | undefined): string | undefined {
  return outage && isRefusedToken(outage) ? `the tool server refused the token: ${outage.message}` : undefined;
}

/** The error kind of a program run that finished (null: it answered). */
export function runErrorKind(record: RunRecord, outage: Error | undefined): ErrorKind | null {
  if (outage) return 'tool_outage';
  if (record.error?.type === 'NoProgram') return 'no_program';
  if (record.error) return 'program';
  return null;
}
