/**
 * Reading grounding results for export: files written by `valor verify-boxes --out` (one
 * result, a JSON array of them, or JSONL with one a line) and run records (their `grounding`).
 * Every record is validated; a bad one is reported with its file and line, never half-read.
 */
import { readFile } from 'node:fs/promises';
import { GroundingResult, RunRecord } from '../../protocol/run.js';
import { listRunRecords } from '../runStore.js';

function fromValue(v: unknown, where: string): GroundingResult[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => fromValue(x, `${where}[${i}]`));
  const asResult = GroundingResult.safeParse(v);
  if (asResult.success) return [asResult.data];
  const asRun = RunRecord.safeParse(v);
  if (asRun.success) return asRun.data.grounding ?? [];
  const issue = asResult.error.issues[0];
  throw new Error(`${where} is neither a grounding result nor a run record (${issue?.path.join('.') || 'record'}: ${issue?.message})`);
}

export async function loadGroundingFiles(paths: readonly string[]): Promise<GroundingResult[]> {
  const out: GroundingResult[] = [];
  for (const path of paths) {
    const text = await readFile(path, 'utf8');
    if (path.toLowerCase().endsWith('.jsonl')) {
      text.split('\n').forEach((line, i) => {
        if (line.trim() === '') return;
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch {
          throw new Error(`${path} line ${i + 1} is not JSON`);
        }
        out.push(...fromValue(v, `${path} line ${i + 1}`));
      });
    } else {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (err) {
        throw new Error(`${path} is not JSON (${(err as Error).message})`);
      }
      out.push(...fromValue(v, path));
    }
  }
  return out;
}

/** The grounding results stored in the run records of `dir`, oldest run first. */
export async function groundingFromRuns(dir: string): Promise<{ results: GroundingResult[]; problems: string[] }> {
  const listing = await listRunRecords(dir);
  const results: GroundingResult[] = [];
  const problems: string[] = [];
  for (const l of [...listing].reverse()) {
    if (l.record) results.push(...(l.record.grounding ?? []));
    else problems.push(`${l.path}: ${l.problem}`);
  }
  return { results, problems };
}
