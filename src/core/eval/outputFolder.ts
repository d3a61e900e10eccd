/**
 * The output folder of an eval run: its manifest (what the run is of, so a resume never mixes two
 * different runs in one folder), the checks before a run starts or resumes, and the summary and
 * report written at the end.
 */
import { BUILTIN_PROMPT } from '../promptSource.js';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readRunRecord, writeFileAtomic } from '../runStore.js';
import { type EvalContext, EvalSetupError } from './context.js';
import { removeStaleTemps } from './records.js';
import { renderReport } from './report.js';
import type { Shard } from './shard.js';
import { type EvalSummary, REPORT_FILE, SUMMARY_FILE } from './summary.js';

export const MANIFEST_FILE = 'manifest.json';

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
  /** `--repair N` (absent in manifests written before it existed: 0). */
  repair?: number;
  created: string;
}

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

/** Why `previous` cannot be resumed with the settings of `now` (empty: it can). */
function resumeConflicts(previous: Manifest, now: Manifest): string[] {
  const diffs: string[] = [];
  if (previous.input_sha256 !== now.input_sha256) diffs.push('the benchmark file changed (its sha256 differs)');
  if (!sameJson(previous.shard ?? null, now.shard)) diffs.push(`the shard differs (was ${previous.shard ? `${previous.shard.index}/${previous.shard.count}` : 'none'})`);
  if (previous.generator_model !== now.generator_model) diffs.push(`the generator model differs (was '${previous.generator_model}')`);
  if (!sameJson(previous.sampling, now.sampling)) diffs.push('the sampling settings differ');
  if ((previous.prompt_sha256 ?? BUILTIN_PROMPT.sha256) !== now.prompt_sha256) diffs.push('the generation prompt differs (its sha256)');
  if (previous.score !== now.score) diffs.push(`--score was ${previous.score ? 'on' : 'off'}`);
  if ((previous.repair ?? 0) !== (now.repair ?? 0)) diffs.push(`--repair was ${previous.repair ?? 0}`);
  return diffs;
}

/**
 * Makes the output folder ready: refuses a folder that holds another run (or, on resume, a run
 * with other settings) with an `EvalSetupError`, writes the manifest, and removes the partial
 * files an interrupted run left.
 */
export async function prepareOutputFolder(ctx: EvalContext): Promise<void> {
  const { opts, deps, outDir, runsDir } = ctx;
  const ds = opts.dataset;
  await mkdir(runsDir, { recursive: true });
  const manifestPath = join(outDir, MANIFEST_FILE);
  const manifest: Manifest = {
    version: 1,
    input_sha256: ds.sha256,
    input_path: ds.path,
    shard: ctx.shard,
    generator_model: deps.generator.model,
    sampling: ctx.sampling as Record<string, unknown>,
    prompt_sha256: ctx.prompt.sha256,
    score: Boolean(deps.scorer),
    ...(ctx.repair > 0 ? { repair: ctx.repair } : {}),
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
    const diffs = resumeConflicts(previous, manifest);
    if (diffs.length > 0) {
      throw new EvalSetupError(`cannot resume the run in ${outDir}: ${diffs.join('; ')}. Resume with the same settings, or choose another --out folder.`);
    }
    manifest.created = previous.created;
  }
  await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  const stale = await removeStaleTemps(runsDir);
  if (stale > 0) ctx.emit({ kind: 'warn', message: `removed ${stale} partial record file(s) left by an interrupted run` });
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
