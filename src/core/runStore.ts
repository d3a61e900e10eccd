/**
 * Run records on disk: one JSON file per run (docs/architecture.md "Run records"), written atomically so a crash or a
 * full disk never leaves a half-written record that a later reader trips over.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunRecord } from '../protocol/run.js';

/** The folder of a workspace's run records (`valor run`, the extension), relative to the workspace or the current directory. */
export const WORKSPACE_RUNS_DIR = join('.valor', 'runs');

/** A sortable, unique id: UTC timestamp + random suffix (`20261121T054402Z-3f9a1c`). */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Writes `data` to `path` atomically: a temp file in the same folder, then rename. Readers see
 * the old file or the new one, never a prefix.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes a run record as `<dir>/<id>.json` and returns the path. */
export async function writeRunRecord(dir: string, record: RunRecord): Promise<string> {
  RunRecord.parse(record);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${record.id}.json`);
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

/**
 * A run record that cannot be read or is not valid. `code` is the file system's error code when
 * reading failed (`ENOENT`: there is no such record), absent when the file is not a valid record.
 */
export class RunRecordError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RunRecordError';
    if (code !== undefined) this.code = code;
  }
}

/** Reads and validates one run record; the error names the file and the first bad field. */
export async function readRunRecord(path: string): Promise<RunRecord> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new RunRecordError(`cannot read run record ${path}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code, { cause: err });
  }
  const parsed = RunRecord.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RunRecordError(`run record ${path} is not valid: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return parsed.data;
}

export interface RunListing {
  path: string;
  record?: RunRecord;
  /** Why the file could not be read, when it could not. */
  problem?: string;
}

/** Lists the run records in `dir`, newest first; unreadable files are listed with their problem. */
export async function listRunRecords(dir: string): Promise<RunListing[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files = names.filter((n) => n.endsWith('.json')).sort().reverse();
  return Promise.all(
    files.map(async (name): Promise<RunListing> => {
      const path = join(dir, name);
      try {
        return { path, record: await readRunRecord(path) };
      } catch (err) {
        return { path, problem: (err as Error).message };
      }
    }),
  );
}
