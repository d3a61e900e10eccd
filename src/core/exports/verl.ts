/**
 * verl export: the training prompts for GRPO in verl (docs/valor.md §3: VALOR trains with verl on
 * JSONL records whose `problem` holds the question).
 *
 * Each record carries what verl's RL dataset and reward managers read, plus `problem`:
 *   - `prompt`: the chat messages the policy sees, built exactly as generation builds them
 *     (src/core/prompt.ts: one user message, system prompt then `Question: <query>`);
 *   - `data_source`: routes the record to a reward function (default "valor");
 *   - `ability`: a free-form tag verl carries along;
 *   - `reward_model`: `{style: "model", ground_truth}`; verl's reward managers read
 *     `ground_truth` (VALOR needs none, so it is the known answer when there is one, else "");
 *   - `extra_info`: `{index, split, query, image?, image_sha256?, id?}`. The reward client
 *     (python/valor_reward.py) reads `query` (and `image`) from here.
 * Records are de-duplicated on (query, image). Output is JSONL; `.parquet` (what verl's default
 * RLHFDataset loads) is written through python3 with pyarrow when it is installed.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ChatMessage } from '../chat.js';
import { existsSync } from 'node:fs';
import { FIELDS } from '../eval/dataset.js';
import { BUILTIN_PROMPT, generationMessages, type GenerationPrompt } from '../promptSource.js';
import { listRunRecords, writeFileAtomic } from '../runStore.js';

export interface VerlQuestion {
  query: string;
  image?: string;
  image_sha256?: string;
  answer?: string;
  id?: string;
}

export interface VerlRecord {
  data_source: string;
  problem: string;
  prompt: ChatMessage[];
  ability: string;
  reward_model: { style: 'model'; ground_truth: string };
  extra_info: { index: number; split: string; query: string; image?: string; image_sha256?: string; id?: string };
}

function firstOf(o: Record<string, unknown>, keys: readonly string[], ok: (v: unknown) => boolean): unknown {
  for (const k of keys) if (ok(o[k])) return o[k];
  return undefined;
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/**
 * Reads a questions JSONL (VALOR's `reasoning_data.jsonl`, or a benchmark file): each line an
 * object whose question, image, answer and id fields may be named as `valor eval` accepts them
 * (src/core/eval/dataset.ts FIELDS). Image paths are relative to `imagesDir` (default: the file's
 * folder); every named image must exist, or the whole read fails listing the missing ones.
 */
export async function readQuestionsJsonl(path: string, opts: { imagesDir?: string } = {}): Promise<VerlQuestion[]> {
  const text = await readFile(path, 'utf8');
  const imagesDir = opts.imagesDir ?? dirname(path);
  const out: VerlQuestion[] = [];
  const missing: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${path} line ${i + 1} is not JSON`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`${path} line ${i + 1} is not a JSON object`);
    const q = firstOf(o, FIELDS.question, isText) as string | undefined;
    if (!q) throw new Error(`${path} line ${i + 1} has no question: expected a string field ${FIELDS.question.map((f) => `"${f}"`).join(', ')}`);
    const image = firstOf(o, FIELDS.image, isText) as string | undefined;
    const answer = firstOf(o, FIELDS.answer, (v) => (typeof v === 'string' && v !== '') || typeof v === 'number' || typeof v === 'boolean');
    const id = firstOf(o, FIELDS.id, (v) => isText(v) || typeof v === 'number');
    const imagePath = image ? resolve(imagesDir, image) : undefined;
    if (imagePath && !existsSync(imagePath)) missing.push(`line ${i + 1}: ${imagePath}`);
    out.push({
      query: q.trim(),
      ...(imagePath ? { image: imagePath } : {}),
      ...(answer !== undefined ? { answer: String(answer) } : {}),
      ...(id !== undefined ? { id: String(id) } : {}),
    });
  });
  if (missing.length > 0) {
    throw new Error(
      `${missing.length} image${missing.length === 1 ? '' : 's'} named in ${path} do${missing.length === 1 ? 'es' : ''} not exist (paths are relative to ${imagesDir}; pass --images DIR for the folder they are in):\n  ${missing.slice(0, 20).join('\n  ')}${missing.length > 20 ? `\n  ... and ${missing.length - 20} more` : ''}`,
    );
  }
  return out;
}

/** The questions of the run records in `dir` (their query and image). */
export async function questionsFromRuns(dir: string): Promise<{ questions: VerlQuestion[]; problems: string[] }> {
  const listing = await listRunRecords(dir);
  const questions: VerlQuestion[] = [];
  const problems: string[] = [];
  // Oldest first, so indices follow the order the runs were made.
  for (const l of [...listing].reverse()) {
    if (!l.record) {
      problems.push(`${l.path}: ${l.problem}`);
      continue;
    }
    questions.push({ query: l.record.query, image: l.record.image.path, image_sha256: l.record.image.sha256 });
  }
  return { questions, problems };
}

export function toVerlRecords(
  questions: readonly VerlQuestion[],
  opts: { dataSource?: string; split?: string; ability?: string; prompt?: Pick<GenerationPrompt, 'text'> } = {},
): VerlRecord[] {
  const prompt = opts.prompt ?? BUILTIN_PROMPT;
  const seen = new Set<string>();
  const out: VerlRecord[] = [];
  for (const q of questions) {
    const key = JSON.stringify([q.query, q.image ?? null]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      data_source: opts.dataSource ?? 'valor',
      problem: q.query,
      prompt: generationMessages(prompt, q.query),
      ability: opts.ability ?? 'spatial_reasoning',
      reward_model: { style: 'model', ground_truth: q.answer ?? '' },
      extra_info: {
        index: out.length,
        split: opts.split ?? 'train',
        query: q.query,
        ...(q.image ? { image: q.image } : {}),
        ...(q.image_sha256 ? { image_sha256: q.image_sha256 } : {}),
        ...(q.id ? { id: q.id } : {}),
      },
    });
  }
  return out;
}

const PARQUET_SCRIPT = `
import json, sys
try:
    import pyarrow as pa, pyarrow.parquet as pq
except ImportError:
    sys.stderr.write("pyarrow is not installed for this python3: pip install pyarrow, or write .jsonl and convert it where pyarrow is installed\\n")
    sys.exit(3)
rows = [json.loads(l) for l in sys.stdin if l.strip()]
pq.write_table(pa.Table.from_pylist(rows), sys.argv[1])
`;

/** Writes the records as JSONL, or parquet (by extension) through python3 + pyarrow. */
export async function writeVerlRecords(path: string, records: readonly VerlRecord[], opts: { python?: string; signal?: AbortSignal } = {}): Promise<void> {
  await mkdir(dirname(resolve(path)), { recursive: true });
  const jsonl = records.map((r) => `${JSON.stringify(r)}\n`).join('');
  if (!path.toLowerCase().endsWith('.parquet')) {
    await writeFileAtomic(path, jsonl);
    return;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  await new Promise<void>((res, rej) => {
    const child = spawn(opts.python ?? (process.env.VALOR_PYTHON || 'python3'), ['-c', PARQUET_SCRIPT, tmp], { stdio: ['pipe', 'ignore', 'pipe'], signal: opts.signal });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => rej(new Error(`could not start python3 to write parquet: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`writing parquet failed: ${err.trim() || `python3 exited with ${code}`}`))));
    // A python3 that exits before reading everything (it failed to start its script) closes the
    // pipe: the write fails with EPIPE, and the exit code above says what went wrong.
    child.stdin.on('error', () => {});
    child.stdin.end(jsonl);
  });
  await rename(tmp, path);
}
