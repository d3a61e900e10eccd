/**
 * One question's outcome in an eval summary (`EvalResult`), and why a question has no answer to
 * score (`ErrorKind`). Its own module so that the summary and its repair section both build on it
 * without importing each other.
 */
import type { RewardName } from '../../protocol/run.js';
import type { AnswerType } from './metrics.js';

/**
 * Why a question has no answer to score:
 * - `program`: the program raised, timed out or ran out of memory (see `error_type`);
 * - `no_program`: the reply held no program;
 * - `tool_outage`: the tool server could not be reached after retries;
 * - `endpoint_outage`: the generator endpoint could not be reached (network, 5xx, 429, timeout) after its retries;
 * - `endpoint_error`: the generator refused the request (400: e.g. the prompt is too long);
 * - `image`: the question's image is missing or unreadable;
 * - `internal`: our own failure (the runner crashed, a bug): the message says what.
 */
export type ErrorKind = 'program' | 'no_program' | 'tool_outage' | 'endpoint_outage' | 'endpoint_error' | 'image' | 'internal';
export const ERROR_KINDS: readonly ErrorKind[] = ['program', 'no_program', 'tool_outage', 'endpoint_outage', 'endpoint_error', 'image', 'internal'];

/** Kinds that say nothing about the model (the infrastructure failed): `--resume` tries them again. */
export const RETRYABLE_KINDS: readonly ErrorKind[] = ['tool_outage', 'endpoint_outage', 'internal'];

/**
 * A question that failed for an infrastructure reason (an outage, our own failure) was not
 * evaluated: it says nothing about the model, so it is left out of the metrics and makes the
 * run incomplete until `--resume` runs it again.
 */
export function notEvaluated(r: Pick<EvalResult, 'error_kind'>): boolean {
  return r.error_kind !== null && RETRYABLE_KINDS.includes(r.error_kind);
}

export interface ResultRewards {
  /** The weighted total, null when a verdict needed for it is in error. */
  total: number | null;
  /** Each reward's value (null: the judge failed). */
  values: Partial<Record<RewardName, number | null>>;
}

/** One question's outcome, as listed in the summary. */
export interface EvalResult {
  id: string;
  line: number;
  type: AnswerType;
  category?: string;
  benchmark?: string;
  question: string;
  image: string;
  ground_truth: string | number | boolean;
  /** The answer as compared (normalised), null when none. */
  prediction: string | null;
  score: number;
  correct: boolean;
  invalid: string | null;
  error_kind: ErrorKind | null;
  /** Python exception type or our own (`Timeout`, `NoProgram`, `ChatError:timeout`, ...). */
  error_type: string | null;
  /** First 300 characters of the error message. */
  error_message: string | null;
  /** The program's own final answer as text, when it differs from `prediction` (an option it was mapped to). */
  answer?: string;
  /** The run record, relative to the folder holding the summary (forward slashes). */
  record: string;
  ms: { generate?: number; run?: number; total: number };
  /** Model id the generator reported for this question. */
  model?: string;
  rewards?: ResultRewards;
  /** `--repair N` (N > 0): how many repairs were asked, how the loop stopped, and the question scored without repair. */
  repair?: ResultRepair;
}

export interface ResultRepair {
  max_repairs: number;
  repairs: number;
  stopped: 'not_needed' | 'passed' | 'max_attempts' | 'refused';
  /** The first attempt's result (the one without repair). */
  original: { prediction: string | null; score: number; correct: boolean; error_kind: ErrorKind | null; invalid: string | null };
}
