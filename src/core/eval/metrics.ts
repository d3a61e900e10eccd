/**
 * Benchmark metrics for `valor eval` (docs/valor.md §6), written to avoid the reference harness's
 * mistakes (docs/valor.md §7): answers are normalised and matched exactly (never by substring, so an
 * empty answer is wrong), a missing count is wrong (never 0), and a zero ground truth for a
 * metric quantity is handled explicitly instead of dividing by zero.
 *
 * Every function here is pure: the same prediction and ground truth always give the same score,
 * so a resumed or merged run recomputes exactly what a single run would have.
 */

/** The kinds of answer a benchmark question can have. */
export type AnswerType = 'yesno' | 'option' | 'count' | 'float' | 'text';
export const ANSWER_TYPES: readonly AnswerType[] = ['yesno', 'option', 'count', 'float', 'text'];

/** Relative-error thresholds of the mean relative accuracy: 0.50, 0.45, ..., 0.05 (exact decimals). */
export const MRA_THRESHOLDS: readonly number[] = [0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05];

/**
 * Relative errors are compared with `rel < t - MRA_TOLERANCE`. Decimal inputs that sit exactly on a
 * threshold (gt 4, pred 5.8: 0.45 in decimal, 0.44999999999999996 in binary) then land on the
 * strict side, as they would with exact arithmetic.
 */
export const MRA_TOLERANCE = 1e-9;

/** A float prediction for a ground truth of 0 is correct only when |pred| is below this. */
export const ZERO_GT_EPSILON = 1e-6;

/** Why a prediction could not be compared (the question then scores 0). */
export type InvalidReason = 'missing' | 'empty' | 'not_a_number' | 'not_an_integer' | 'not_finite' | 'not_yes_no' | 'not_an_option';

export interface Score {
  /** 1 or 0 for exact-match types; the mean relative accuracy in [0, 1] for floats. */
  score: number;
  /** score === 1. */
  correct: boolean;
  /** The prediction as it was compared (normalised text, the integer, the number), or null when missing. */
  prediction: string | null;
  /** Set when the prediction could not be read as an answer of this type. */
  invalid?: InvalidReason;
}

const NUMBER_WORDS: Record<string, number> = {
  zero: 0, none: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18,
  nineteen: 19, twenty: 20,
};

/**
 * Text normalisation shared by every type: trim, lowercase, collapse inner whitespace, drop
 * surrounding quotes and trailing punctuation (`.`, `,`, `;`, `:`, `!`, `?`).
 */
export function normalizeText(s: string): string {
  let t = s.trim().toLowerCase().replace(/\s+/g, ' ');
  for (;;) {
    const before = t;
    t = t.replace(/[.,;:!?]+$/, '').trim();
    if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) t = t.slice(1, -1).trim();
    if (t === before) return t;
  }
}

/**
 * The program's `final_answer` as text, or null when there is none. Booleans become `yes`/`no`
 * (a program that computes `final_answer = a < b` answers a yes/no question); numbers their
 * shortest decimal form; lists and objects their JSON (they never match an expected answer).
 */
export function answerText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return v.toString();
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

const wrong = (prediction: string | null, invalid?: InvalidReason): Score => ({ score: 0, correct: false, prediction, ...(invalid ? { invalid } : {}) });
const exact = (ok: boolean, prediction: string): Score => ({ score: ok ? 1 : 0, correct: ok, prediction });

/** Reads a normalised text as a yes/no answer (exact words only), or null. */
function yesNo(v: unknown): 'yes' | 'no' | null {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  const t = answerText(v);
  if (t === null) return null;
  const n = normalizeText(t);
  return n === 'yes' || n === 'no' ? n : null;
}

export function scoreYesNo(pred: unknown, gt: unknown): Score {
  const want = yesNo(gt);
  if (want === null) throw new Error(`ground truth ${JSON.stringify(gt)} is not yes or no`);
  const t = answerText(pred);
  if (t === null) return wrong(null, 'missing');
  const n = typeof pred === 'boolean' ? (pred ? 'yes' : 'no') : normalizeText(t);
  if (n === '') return wrong(n, 'empty');
  const got = yesNo(pred);
  if (got === null) return wrong(n, 'not_yes_no');
  return exact(got === want, got);
}

const LETTER_ONLY = /^\(?([a-z])\)?[.)]?$/;
const LETTER_PREFIX = /^(?:\(([a-z])\)|([a-z])[.)]|([a-z]):)\s*(.+)$/;

/** Option text without a leading letter marker (`(A) red`, `A. red`, `A) red` -> `red`). */
function optionBody(s: string): string {
  const n = normalizeText(s);
  const m = LETTER_PREFIX.exec(n);
  return m ? normalizeText(m[4] ?? '') : n;
}

/**
 * Resolves an answer to an option index: a bare letter (`a`, `(a)`, `a)`, `a.`) by position, a
 * letter marker followed by text (`(a) red`) by its letter, otherwise the text matched exactly
 * against the options' normalised texts. Null when nothing matches.
 */
export function optionIndex(answer: string, options: readonly string[]): number | null {
  const n = normalizeText(answer);
  if (n === '') return null;
  const bodies = options.map(optionBody);
  const byText = bodies.indexOf(n);
  const letter = LETTER_ONLY.exec(n)?.[1];
  if (letter !== undefined) {
    const i = letter.charCodeAt(0) - 97;
    if (i < options.length) return i;
    return byText >= 0 ? byText : null;
  }
  if (byText >= 0) return byText;
  const m = LETTER_PREFIX.exec(n);
  if (m) {
    const l = m[1] ?? m[2] ?? m[3];
    const i = (l ?? 'z').charCodeAt(0) - 97;
    if (i < options.length) return i;
    const body = bodies.indexOf(normalizeText(m[4] ?? ''));
    if (body >= 0) return body;
  }
  return null;
}

/**
 * Multiple choice. With the options known, both answers are resolved to an option (by letter or
 * by text) and compared; without them, bare letters compare as letters and anything else as
 * normalised text.
 */
export function scoreOption(pred: unknown, gt: unknown, options?: readonly string[]): Score {
  const gtText = answerText(gt);
  if (gtText === null || normalizeText(gtText) === '') throw new Error('ground truth is empty');
  const t = answerText(pred);
  if (t === null) return wrong(null, 'missing');
  const n = normalizeText(t);
  if (n === '') return wrong(n, 'empty');
  if (options && options.length > 0) {
    const want = optionIndex(gtText, options);
    if (want === null) throw new Error(`ground truth ${JSON.stringify(gt)} is none of the options ${JSON.stringify(options)}`);
    const got = optionIndex(t, options);
    if (got === null) return wrong(n, 'not_an_option');
    return exact(got === want, String.fromCharCode(97 + got));
  }
  const letterOf = (s: string): string | null => LETTER_ONLY.exec(s)?.[1] ?? null;
  const gl = letterOf(normalizeText(gtText));
  const pl = letterOf(n);
  if (gl !== null && pl !== null) return exact(gl === pl, pl);
  return exact(n === normalizeText(gtText), n);
}

/**
 * Reads a count: an integer-valued number (`3`, `3.0`, `"3"`, `"3.0"`) or a number word from
 * zero to twenty (`"three"`, and `"none"` for 0). Anything else (`"3 chairs"`, `3.5`,
 * negative numbers) is not a count.
 */
export function parseCount(v: unknown): { value: number } | { invalid: InvalidReason; text: string | null } {
  if (v === null || v === undefined) return { invalid: 'missing', text: null };
  if (typeof v === 'boolean') return { invalid: 'not_a_number', text: String(v) };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return { invalid: 'not_finite', text: String(v) };
    if (!Number.isInteger(v) || v < 0) return { invalid: 'not_an_integer', text: String(v) };
    return { value: v };
  }
  const t = answerText(v) ?? '';
  const n = normalizeText(t);
  if (n === '') return { invalid: 'empty', text: n };
  const word = NUMBER_WORDS[n];
  if (word !== undefined) return { value: word };
  if (!/^[+]?\d+(?:\.0*)?$/.test(n)) {
    return { invalid: /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(n) ? 'not_an_integer' : 'not_a_number', text: n };
  }
  return { value: Number(n) };
}

export function scoreCount(pred: unknown, gt: unknown): Score {
  const want = parseCount(gt);
  if (!('value' in want)) throw new Error(`ground truth ${JSON.stringify(gt)} is not a count`);
  const got = parseCount(pred);
  if (!('value' in got)) return wrong(got.text, got.invalid);
  return exact(got.value === want.value, String(got.value));
}

/** Reads a finite number from a number or a plain numeric string (no units, no words). */
export function parseFloatAnswer(v: unknown): { value: number } | { invalid: InvalidReason; text: string | null } {
  if (v === null || v === undefined) return { invalid: 'missing', text: null };
  if (typeof v === 'number') return Number.isFinite(v) ? { value: v } : { invalid: 'not_finite', text: String(v) };
  if (typeof v === 'boolean') return { invalid: 'not_a_number', text: String(v) };
  const n = normalizeText(answerText(v) ?? '');
  if (n === '') return { invalid: 'empty', text: n };
  if (/^[+-]?(inf|infinity|nan)$/.test(n)) return { invalid: 'not_finite', text: n };
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(n)) return { invalid: 'not_a_number', text: n };
  const x = Number(n);
  return Number.isFinite(x) ? { value: x } : { invalid: 'not_finite', text: n };
}

/**
 * Mean relative accuracy: the fraction of thresholds t in {0.50, ..., 0.05} with
 * |pred - gt| / |gt| < t. For gt = 0 the relative error is undefined; the answer scores 1 when
 * |pred| < ZERO_GT_EPSILON and 0 otherwise.
 */
export function meanRelativeAccuracy(pred: number, gt: number): number {
  if (!Number.isFinite(pred) || !Number.isFinite(gt)) return 0;
  if (gt === 0) return Math.abs(pred) < ZERO_GT_EPSILON ? 1 : 0;
  const rel = Math.abs(pred - gt) / Math.abs(gt);
  let hits = 0;
  for (const t of MRA_THRESHOLDS) if (rel < t - MRA_TOLERANCE) hits++;
  return hits / MRA_THRESHOLDS.length;
}

export function scoreFloat(pred: unknown, gt: unknown): Score {
  const want = parseFloatAnswer(gt);
  if (!('value' in want)) throw new Error(`ground truth ${JSON.stringify(gt)} is not a finite number`);
  const got = parseFloatAnswer(pred);
  if (!('value' in got)) return wrong(got.text, got.invalid);
  const s = meanRelativeAccuracy(got.value, want.value);
  return { score: s, correct: s === 1, prediction: String(got.value) };
}

/** Free-form answers: normalised text matched exactly. */
export function scoreText(pred: unknown, gt: unknown): Score {
  const gtText = answerText(gt);
  if (gtText === null || normalizeText(gtText) === '') throw new Error('ground truth is empty');
  const t = answerText(pred);
  if (t === null) return wrong(null, 'missing');
  const n = normalizeText(t);
  if (n === '') return wrong(n, 'empty');
  return exact(n === normalizeText(gtText), n);
}

/**
 * Checks that a ground truth can be scored as `type` (the dataset loader reports a bad one as an
 * input error with its line, instead of every prediction silently scoring 0). Returns the problem,
 * or null when it is fine.
 */
export function groundTruthProblem(type: AnswerType, gt: unknown, options?: readonly string[]): string | null {
  try {
    scoreAnswer(type, gt, gt, options);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Scores one prediction against its ground truth. Throws only for a bad ground truth. */
export function scoreAnswer(type: AnswerType, pred: unknown, gt: unknown, options?: readonly string[]): Score {
  switch (type) {
    case 'yesno':
      return scoreYesNo(pred, gt);
    case 'option':
      return scoreOption(pred, gt, options);
    case 'count':
      return scoreCount(pred, gt);
    case 'float':
      return scoreFloat(pred, gt);
    case 'text':
      return scoreText(pred, gt);
  }
}

/** One scored question as aggregation sees it. */
export interface ScoredItem {
  type: AnswerType;
  score: number;
  correct: boolean;
  /** The error kind when the question failed (no answer to score), else null. */
  error_kind: string | null;
  invalid?: string | null;
}

export interface MetricGroup {
  /** Questions in the group. */
  n: number;
  /** Questions scoring 1. */
  correct: number;
  /** Mean score (accuracy for exact types, mean relative accuracy for floats); null when n is 0. */
  score: number | null;
  /** Questions whose program produced an answer (no error). */
  answered: number;
  /** Questions that failed before an answer (program error, outage, no program, bad image). */
  failed: number;
  /** Answers that could not be read as this type (empty, not a number, ...). */
  invalid: number;
}

export interface Metrics {
  /** Micro average over every question. */
  overall: MetricGroup;
  /** Unweighted mean of the per-type scores (types with at least one question). */
  macro: number | null;
  by_type: Partial<Record<AnswerType, MetricGroup>>;
}

function group(items: readonly ScoredItem[]): MetricGroup {
  let sum = 0;
  let correct = 0;
  let failed = 0;
  let invalid = 0;
  for (const it of items) {
    sum += it.score;
    if (it.correct) correct++;
    if (it.error_kind) failed++;
    else if (it.invalid) invalid++;
  }
  return {
    n: items.length,
    correct,
    // Rounded so that summing in a different order (merged shards) cannot change the printed value.
    score: items.length === 0 ? null : round(sum / items.length),
    answered: items.length - failed,
    failed,
    invalid,
  };
}

/** Rounds to 12 significant decimals: stable across summation order, far below any reported precision. */
export function round(x: number): number {
  return Math.round(x * 1e12) / 1e12;
}

/** Aggregates per answer type and overall. */
export function aggregate(items: readonly ScoredItem[]): Metrics {
  const by: Partial<Record<AnswerType, ScoredItem[]>> = {};
  for (const it of items) (by[it.type] ??= []).push(it);
  const by_type: Partial<Record<AnswerType, MetricGroup>> = {};
  for (const t of ANSWER_TYPES) {
    const list = by[t];
    if (list) by_type[t] = group(list);
  }
  const scores = Object.values(by_type).map((g) => g.score).filter((s): s is number => s !== null);
  return {
    overall: group(items),
    macro: scores.length === 0 ? null : round(scores.reduce((a, b) => a + b, 0) / scores.length),
    by_type,
  };
}
