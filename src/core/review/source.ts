/**
 * What the review queue opens: a set of judged items, as a light index (one small entry per item:
 * where it is and the judges' values, enough to sample and filter) and a `load` that reads one
 * whole item (query, image, detections, plan, program, verdicts) only when it is shown. So a
 * queue of thousands opens at once and holds only the index in memory.
 *
 * Three kinds of source:
 * - an eval output folder (`summary.json` + `runs/`, from `valor eval --score`): the index comes
 *   from summary.json alone; each item's run record is read when shown;
 * - a folder of run records (the workspace's `.valor/runs`, or an eval's `runs/` without its
 *   summary): every record is read once for the index, then again when shown;
 * - a JSONL file of replies, one object a line: `query`, `reply`, optional `image` (a path,
 *   relative to the file's folder, or `{ "path": ... }`), `id`, `rewards` (a reward set with
 *   `verdicts`, or just `{ "spatial": 1, "logic": null, ... }`), and optionally `compare`: a
 *   second judge's verdicts on the same reply (same shapes), for the disagreement filter. Run
 *   records written as JSONL lines work too.
 *
 * A second judge for a folder source comes from `compare`: another source of the same kind, its
 * items paired with ours by label (the question id of an eval, the record id of a run) and kept
 * only when they judged the same reply.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { rewardSubject } from '../audit.js';
import { mapLimit } from '../concurrency.js';
import { parseReply } from '../reply.js';
import { readRunRecord } from '../runStore.js';
import { RewardName, type RunRecord, type Verdict } from '../../protocol/run.js';
import type { ReviewDetection } from '../../protocol/review.js';

export type RewardValues = Partial<Record<RewardName, number | null>>;

export interface ReviewEntry {
  /** Where the item is: a record path, or `line N` of a JSONL file. */
  key: string;
  /** A short name a person recognises: question id, record id, the JSONL `id` or line. */
  label: string;
  /** The judge's value per reward (null: that judge failed). */
  values: RewardValues;
  /** A second judge's values, when the queue compares two judges. */
  second?: RewardValues;
}

export interface LoadedItem {
  key: string;
  label: string;
  query: string;
  reply: string;
  subject: string;
  imagePath: string | null;
  imageSize: { width: number; height: number } | null;
  plan: string | null;
  program: string | null;
  answer: string | null;
  error: string | null;
  detections: ReviewDetection[];
  verdicts: Verdict[];
  /** The second judge's verdicts on the same reply, by reward. */
  second?: Partial<Record<RewardName, Verdict>>;
}

export interface ReviewSource {
  kind: 'eval' | 'runs' | 'jsonl';
  path: string;
  description: string;
  entries: ReviewEntry[];
  /** Lines or files that could not be used, and why (never silently dropped). */
  warnings: string[];
  load(entry: ReviewEntry): Promise<LoadedItem>;
}

const REWARDS = RewardName.options;

function valuesOfVerdicts(verdicts: readonly Verdict[]): RewardValues {
  const out: RewardValues = {};
  for (const v of verdicts) out[v.reward] = v.state === 'error' ? null : v.value;
  return out;
}

/** Verdicts from the accepted JSONL shapes: a reward set with `verdicts`, or a name -> value map. */
function verdictsFrom(raw: unknown, judgeName: string): Verdict[] | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  if (Array.isArray(o.verdicts)) {
    return o.verdicts.filter((v): v is Verdict => typeof v === 'object' && v !== null && REWARDS.includes((v as Verdict).reward)) as Verdict[];
  }
  const found: Verdict[] = [];
  for (const r of REWARDS) {
    if (!(r in o)) continue;
    const v = o[r];
    if (v !== null && typeof v !== 'number') continue;
    found.push({
      reward: r,
      state: v === null ? 'error' : v >= 1 ? 'pass' : 'fail',
      value: v,
      rationale: '',
      judge: judgeName,
      ...(v === null ? { error: 'the judge failed (no verdict in the file)' } : {}),
    });
  }
  return found.length ? found : undefined;
}

function detectionsOf(record: Pick<RunRecord, 'trace'> | undefined): ReviewDetection[] {
  const out: ReviewDetection[] = [];
  let call = 0;
  for (const t of record?.trace ?? []) {
    if (t.tool !== 'gd_detect') continue;
    if (Array.isArray(t.result)) {
      for (const d of t.result as unknown[]) {
        const x = d as { bbox?: unknown; label?: unknown; score?: unknown };
        if (Array.isArray(x.bbox) && x.bbox.length === 4 && x.bbox.every((n) => typeof n === 'number')) {
          out.push({ bbox: x.bbox as [number, number, number, number], label: String(x.label ?? ''), score: typeof x.score === 'number' ? x.score : 0, call });
        }
      }
    }
    call++;
  }
  return out;
}

function answerText(a: unknown): string | null {
  if (a === null || a === undefined) return null;
  return typeof a === 'string' ? a : JSON.stringify(a);
}

function itemFromRecord(key: string, label: string, r: RunRecord, second?: readonly Verdict[]): LoadedItem {
  return {
    key,
    label,
    query: r.query,
    reply: r.reply,
    subject: rewardSubject(r.query, r.reply),
    imagePath: r.image.path || null,
    imageSize: r.image.width && r.image.height ? { width: r.image.width, height: r.image.height } : null,
    plan: r.plan,
    program: r.program,
    answer: answerText(r.final_answer),
    error: r.error ? `${r.error.type}: ${r.error.message}${r.error.line ? ` (program line ${r.error.line})` : ''}` : null,
    detections: detectionsOf(r),
    verdicts: r.rewards?.verdicts ?? [],
    ...(second ? { second: Object.fromEntries(second.map((v) => [v.reward, v])) } : {}),
  };
}

async function loadEval(dir: string): Promise<Omit<ReviewSource, 'load'> & { records: Map<string, string> }> {
  const summaryPath = join(dir, 'summary.json');
  let summary: { results?: Array<{ id: string; record: string; rewards?: { values?: RewardValues } }> };
  try {
    summary = JSON.parse(await readFile(summaryPath, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${summaryPath}: ${(err as Error).message}`);
  }
  const results = Array.isArray(summary.results) ? summary.results : [];
  const entries: ReviewEntry[] = [];
  const records = new Map<string, string>();
  let unscored = 0;
  for (const r of results) {
    if (!r.rewards?.values) {
      unscored++;
      continue;
    }
    const key = join(dir, r.record);
    records.set(r.id, key);
    entries.push({ key, label: r.id, values: { ...r.rewards.values } });
  }
  const warnings = unscored ? [`${unscored} of ${results.length} results in ${summaryPath} were not scored (run valor eval with --score); they are not in the queue`] : [];
  return { kind: 'eval', path: dir, description: `eval output ${dir}`, entries, warnings, records };
}

async function loadRunsDir(dir: string): Promise<Omit<ReviewSource, 'load'>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  const warnings: string[] = [];
  const found = await mapLimit(names, 16, async (name) => {
    const path = join(dir, name);
    try {
      const r = await readRunRecord(path);
      if (!r.rewards) return undefined;
      return { key: path, label: r.id, values: valuesOfVerdicts(r.rewards.verdicts) } satisfies ReviewEntry;
    } catch (err) {
      warnings.push((err as Error).message);
      return undefined;
    }
  });
  const entries = found.filter((e): e is ReviewEntry => e !== undefined);
  const unscored = names.length - entries.length - warnings.length;
  if (unscored > 0) warnings.push(`${unscored} of ${names.length} run records in ${dir} have no scores (score them first); they are not in the queue`);
  return { kind: 'runs', path: dir, description: `run records ${dir}`, entries, warnings };
}

interface JsonlLine {
  query: string;
  reply: string;
  image: string | null;
  label: string;
  verdicts: Verdict[];
  second?: Verdict[];
  record?: RunRecord;
}

function parseJsonlLine(text: string, lineNo: number, baseDir: string): JsonlLine | string {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return `line ${lineNo} is not a JSON object`;
    o = v as Record<string, unknown>;
  } catch {
    return `line ${lineNo} is not JSON`;
  }
  if (typeof o.query !== 'string' || !o.query.trim()) return `line ${lineNo} has no "query"`;
  if (typeof o.reply !== 'string') return `line ${lineNo} has no "reply"`;
  const verdicts = verdictsFrom(o.rewards, 'judge');
  if (!verdicts) return `line ${lineNo} has no "rewards" (a reward set with verdicts, or reward: value pairs)`;
  const second = verdictsFrom(o.compare, 'second judge');
  const img = typeof o.image === 'string' ? o.image : o.image && typeof (o.image as { path?: unknown }).path === 'string' ? (o.image as { path: string }).path : null;
  const id = typeof o.id === 'string' || typeof o.id === 'number' ? String(o.id) : `line ${lineNo}`;
  return {
    query: o.query,
    reply: o.reply,
    image: img ? (isAbsolute(img) ? img : resolve(baseDir, img)) : null,
    label: id,
    verdicts,
    ...(second ? { second } : {}),
    ...(Array.isArray(o.trace) ? { record: o as unknown as RunRecord } : {}),
  };
}

async function loadJsonl(path: string): Promise<ReviewSource> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  const baseDir = dirname(path);
  const entries: ReviewEntry[] = [];
  const warnings: string[] = [];
  const raw = new Map<string, { text: string; line: number }>();
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    const parsed = parseJsonlLine(l, i + 1, baseDir);
    if (typeof parsed === 'string') {
      warnings.push(`${path}: ${parsed}; it is not in the queue`);
      return;
    }
    const key = `line ${i + 1}`;
    raw.set(key, { text: l, line: i + 1 });
    entries.push({ key, label: parsed.label, values: valuesOfVerdicts(parsed.verdicts), ...(parsed.second ? { second: valuesOfVerdicts(parsed.second) } : {}) });
  });
  return {
    kind: 'jsonl',
    path,
    description: `replies ${path}`,
    entries,
    warnings,
    async load(entry) {
      const r = raw.get(entry.key);
      if (!r) throw new Error(`${entry.key} is not in ${path}`);
      const p = parseJsonlLine(r.text, r.line, baseDir);
      if (typeof p === 'string') throw new Error(`${path}: ${p}`);
      const parsed = parseReply(p.reply);
      const rec = p.record;
      return {
        key: entry.key,
        label: p.label,
        query: p.query,
        reply: p.reply,
        subject: rewardSubject(p.query, p.reply),
        imagePath: p.image,
        imageSize: rec?.image?.width && rec.image.height ? { width: rec.image.width, height: rec.image.height } : null,
        plan: parsed.plan,
        program: parsed.program,
        answer: rec ? answerText(rec.final_answer) : null,
        error: rec?.error ? `${rec.error.type}: ${rec.error.message}` : null,
        detections: detectionsOf(rec),
        verdicts: p.verdicts,
        ...(p.second ? { second: Object.fromEntries(p.second.map((v) => [v.reward, v])) } : {}),
      };
    },
  };
}

async function openOne(path: string): Promise<ReviewSource> {
  if (!existsSync(path)) throw new Error(`${path} does not exist: give an eval output folder, a folder of run records, or a .jsonl file of replies`);
  if (statSync(path).isFile()) return loadJsonl(path);
  if (existsSync(join(path, 'summary.json'))) {
    const s = await loadEval(path);
    return { ...s, load: async (entry) => itemFromRecord(entry.key, entry.label, await readRunRecord(entry.key)) };
  }
  const runs = existsSync(join(path, 'runs')) && statSync(join(path, 'runs')).isDirectory() ? join(path, 'runs') : path;
  const s = await loadRunsDir(runs);
  return { ...s, load: async (entry) => itemFromRecord(entry.key, entry.label, await readRunRecord(entry.key)) };
}

/** Opens a source, optionally with a second judge's source (`compare`) paired by label. */
export async function openReviewSource(path: string, opts: { compare?: string } = {}): Promise<ReviewSource> {
  const main = await openOne(path);
  if (!opts.compare) return main;
  const other = await openOne(opts.compare);
  const byLabel = new Map(other.entries.map((e) => [e.label, e]));
  let paired = 0;
  for (const e of main.entries) {
    const o = byLabel.get(e.label);
    if (o) {
      e.second = o.values;
      paired++;
    }
  }
  const warnings = [...main.warnings, ...other.warnings];
  if (paired < main.entries.length) warnings.push(`${main.entries.length - paired} of ${main.entries.length} items have no counterpart in ${opts.compare}`);
  return {
    ...main,
    description: `${main.description} against ${other.description}`,
    warnings,
    async load(entry) {
      const item = await main.load(entry);
      const o = byLabel.get(entry.label);
      if (!o) return item;
      const theirs = await other.load(o);
      if (theirs.subject !== item.subject) return item; // a different reply: nothing to compare
      return { ...item, second: Object.fromEntries(theirs.verdicts.map((v) => [v.reward, v])) };
    },
  };
}
