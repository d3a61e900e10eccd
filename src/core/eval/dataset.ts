/**
 * Benchmark files for `valor eval`: one question per line (JSONL), or one JSON array of the same
 * objects. Benchmarks name their fields differently, so each field accepts the common variants
 * (first one present wins):
 *
 *   question   question | query | problem | prompt
 *   image      image | image_path | img | img_path | image_file | file_name | filename   (relative to --images)
 *   answer     answer | gt | ground_truth | gt_answer | label
 *   type       answer_type | type | question_type | category   (optional)
 *   id         id | question_id | qid | idx | index            (optional; default `line-N`)
 *   options    options | choices                                (optional; list, or {"A": text, ...})
 *   benchmark  benchmark | dataset | source                     (optional; the report filters by it)
 *
 * A line that cannot be understood (not JSON, a missing field, an unknown `answer_type`, a ground
 * truth that does not fit its type, a duplicate id) is an input problem reported with its line
 * number; the caller skips it and counts it, so a bad line is never silently scored 0.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type AnswerType, groundTruthProblem } from './metrics.js';

export interface EvalQuestion {
  /** Stable key: the id as text, or `line-N` when the line has none. */
  id: string;
  /** 1-based line of the JSONL file (or item number of a JSON array). */
  line: number;
  question: string;
  /** Image path as written in the file (relative to the images folder unless absolute). */
  image: string;
  answer: string | number | boolean;
  type: AnswerType;
  /** Whether the type came from the file or was inferred from the answer. */
  typeSource: 'given' | 'inferred';
  options?: string[];
  /** The benchmark's own category, when its `type`/`category` field is not an answer type. */
  category?: string;
  /** Which benchmark the question comes from, for files that mix several (BLINK, VSR, ...). */
  benchmark?: string;
}

export interface InputProblem {
  line: number;
  message: string;
}

export interface Dataset {
  questions: EvalQuestion[];
  problems: InputProblem[];
  /** Lines (or array items) read, blank lines excluded. */
  entries: number;
  format: 'jsonl' | 'json';
}

export interface LoadedDataset extends Dataset {
  path: string;
  sha256: string;
}

export const FIELDS = {
  question: ['question', 'query', 'problem', 'prompt'],
  image: ['image', 'image_path', 'img', 'img_path', 'image_file', 'file_name', 'filename'],
  answer: ['answer', 'gt', 'ground_truth', 'gt_answer', 'label'],
  type: ['answer_type', 'type', 'question_type', 'category'],
  id: ['id', 'question_id', 'qid', 'idx', 'index'],
  options: ['options', 'choices'],
} as const;

// A Map, not a plain object: a word such as "constructor" or "toString" must not find a property of
// Object.prototype and pass for an answer type.
const TYPE_WORDS = new Map<string, AnswerType>();
for (const [type, words] of Object.entries({
  yesno: ['yes/no', 'yesno', 'yes_no', 'yes-no', 'binary', 'bool', 'boolean'],
  option: ['option', 'options', 'multiple choice', 'multiple_choice', 'multiple-choice', 'mc', 'mcq', 'choice', 'choices'],
  count: ['count', 'counting', 'int', 'integer', 'number'],
  float: ['float', 'metric', 'regression', 'real', 'continuous'],
  text: ['text', 'str', 'string', 'open', 'open_ended', 'open-ended', 'free_form', 'free-form'],
} satisfies Record<AnswerType, string[]>)) {
  for (const w of words) TYPE_WORDS.set(w, type as AnswerType);
}

/** Maps a benchmark's answer-type word to ours, or undefined for an unknown word. */
export function answerTypeFromWord(word: string): AnswerType | undefined {
  return TYPE_WORDS.get(word.trim().toLowerCase());
}

function pick(obj: Record<string, unknown>, keys: readonly string[]): { key: string; value: unknown } | undefined {
  for (const key of keys) {
    if (obj[key] !== undefined && obj[key] !== null) return { key, value: obj[key] };
  }
  return undefined;
}

const names = (keys: readonly string[]): string => keys.map((k) => `"${k}"`).join(', ');

function inferType(answer: string | number | boolean, options: string[] | undefined): AnswerType {
  if (options && options.length > 0) return 'option';
  if (typeof answer === 'boolean') return 'yesno';
  if (typeof answer === 'number') return Number.isInteger(answer) ? 'count' : 'float';
  const a = answer.trim().toLowerCase();
  if (/^(yes|no)[.!]?$/.test(a)) return 'yesno';
  if (/^\+?\d+$/.test(a)) return 'count';
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(a)) return 'float';
  return 'text';
}

/** Reads one benchmark object into a question, or returns the problem with it. */
export function parseEntry(raw: unknown, line: number): EvalQuestion | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'expected a JSON object with a question, an image and an answer';
  const obj = raw as Record<string, unknown>;

  const q = pick(obj, FIELDS.question);
  if (!q || typeof q.value !== 'string' || q.value.trim() === '') return `no question: expected a non-empty string in one of ${names(FIELDS.question)}`;
  const img = pick(obj, FIELDS.image);
  if (!img || typeof img.value !== 'string' || img.value.trim() === '') return `no image: expected a path in one of ${names(FIELDS.image)}`;
  const ans = pick(obj, FIELDS.answer);
  if (!ans) return `no ground-truth answer: expected one of ${names(FIELDS.answer)}`;
  if (typeof ans.value !== 'string' && typeof ans.value !== 'number' && typeof ans.value !== 'boolean') {
    return `ground truth "${ans.key}" must be a string, number or boolean, got ${JSON.stringify(ans.value)}`;
  }
  if (typeof ans.value === 'string' && ans.value.trim() === '') return `ground truth "${ans.key}" is empty`;

  let options: string[] | undefined;
  const opt = pick(obj, FIELDS.options);
  if (opt) {
    const list = Array.isArray(opt.value) ? opt.value : typeof opt.value === 'object' ? Object.values(opt.value as object) : undefined;
    if (!list || list.some((o) => typeof o !== 'string' && typeof o !== 'number')) {
      return `"${opt.key}" must be a list of option texts (or an object of letter -> text), got ${JSON.stringify(opt.value)}`;
    }
    options = list.map(String);
    if (options.length > 26) return `"${opt.key}" has ${options.length} options; at most 26 (one letter each) are supported`;
  }

  let type: AnswerType | undefined;
  let typeSource: EvalQuestion['typeSource'] = 'inferred';
  let category: string | undefined;
  const ty = pick(obj, FIELDS.type);
  if (ty) {
    if (typeof ty.value !== 'string') return `"${ty.key}" must be a string, got ${JSON.stringify(ty.value)}`;
    type = answerTypeFromWord(ty.value);
    if (type) {
      typeSource = 'given';
    } else if (ty.key === 'answer_type') {
      return `unknown answer_type "${ty.value}": expected one of yes/no, option, count, float, text (or a synonym such as int, str, multiple choice)`;
    } else {
      // `type`/`category` often hold a benchmark's own task name (BLINK's "Relative_Depth"): keep it, infer the type.
      category = ty.value;
    }
  }
  type ??= inferType(ans.value, options);

  const bad = groundTruthProblem(type, ans.value, options);
  if (bad) return `${bad} (answer type ${type}${typeSource === 'inferred' ? ', inferred' : ''})`;

  const bf = pick(obj, ['benchmark', 'dataset', 'source']);
  const benchmark = bf && typeof bf.value === 'string' && bf.value.trim() ? bf.value.trim() : undefined;

  const idf = pick(obj, FIELDS.id);
  let id = `line-${line}`;
  if (idf) {
    if (typeof idf.value !== 'string' && typeof idf.value !== 'number') return `id "${idf.key}" must be a string or number, got ${JSON.stringify(idf.value)}`;
    id = String(idf.value);
    if (id.trim() === '') return `id "${idf.key}" is empty`;
  }

  return {
    id,
    line,
    question: q.value,
    image: img.value,
    answer: ans.value,
    type,
    typeSource,
    ...(options ? { options } : {}),
    ...(category !== undefined ? { category } : {}),
    ...(benchmark !== undefined ? { benchmark } : {}),
  };
}

/** Parses a benchmark file's text (JSONL, or a JSON array when it starts with `[`). */
export function parseDataset(text: string): Dataset {
  const questions: EvalQuestion[] = [];
  const problems: InputProblem[] = [];
  const seen = new Map<string, number>();
  let entries = 0;

  const take = (raw: unknown, line: number): void => {
    entries++;
    const q = parseEntry(raw, line);
    if (typeof q === 'string') {
      problems.push({ line, message: q });
      return;
    }
    const first = seen.get(q.id);
    if (first !== undefined) {
      problems.push({ line, message: `duplicate id "${q.id}" (first used on line ${first}); ids must be unique so each question has its own run record` });
      return;
    }
    seen.set(q.id, line);
    questions.push(q);
  };

  const body = text.replace(/^\uFEFF/, '');
  if (body.trimStart().startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(body);
    } catch (err) {
      throw new Error(`the file starts with '[' but is not valid JSON (${(err as Error).message}); use one JSON object per line (JSONL) or one JSON array`);
    }
    if (!Array.isArray(arr)) throw new Error('expected a JSON array of question objects');
    arr.forEach((item, i) => take(item, i + 1));
    return { questions, problems, entries, format: 'json' };
  }

  const lines = body.split(/\r?\n/);
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(l);
    } catch (err) {
      entries++;
      problems.push({ line: i + 1, message: `not valid JSON (${(err as Error).message})` });
      return;
    }
    take(raw, i + 1);
  });
  return { questions, problems, entries, format: 'jsonl' };
}

/** Reads and parses a benchmark file, with its sha256 for the summary. */
export async function loadDataset(path: string): Promise<LoadedDataset> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read the benchmark file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { ...parseDataset(bytes.toString('utf8')), path, sha256 };
}
