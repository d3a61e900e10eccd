/**
 * `valor eval merge`: combines the outputs of shard runs (`--shard i/n` on several machines) into
 * one summary and report. The merged results are the union of the shards' results in input
 * order, and every computed figure comes from `summarize`, so the merged summary equals the one a
 * single unsharded run would have written (apart from timings and record paths).
 *
 * Shards must come from the same benchmark file (same sha256), the same shard count, the same
 * generator model, sampling, --score, --limit and --repair settings; each shard index exactly once.
 */
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { EvalSetupError, writeEvalOutputs } from './loop.js';
import { type EvalSummary, SUMMARY_FILE, sortResults, summarize } from './summary.js';

export interface MergeOptions {
  /** Output folders of the shard runs (each holds summary.json and runs/). */
  inputs: string[];
  outDir: string;
  /** Merge even when some shards are missing or unfinished (the summary then says incomplete). */
  allowPartial?: boolean;
  report?: boolean;
}

export interface MergeOutcome {
  summary: EvalSummary;
  summaryPath: string;
  reportPath: string | null;
}

async function readSummary(dir: string): Promise<EvalSummary> {
  const path = join(dir, SUMMARY_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new EvalSetupError(`cannot read ${path}: ${(err as Error).message}. Give the --out folders of finished 'valor eval' runs.`);
  }
  const s = raw as Partial<EvalSummary>;
  if (s.kind !== 'valor-eval-summary' || s.version !== 1 || !Array.isArray(s.results)) {
    throw new EvalSetupError(`${path} is not a valor eval summary (version 1)`);
  }
  return raw as EvalSummary;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const toPosix = (p: string): string => p.split('\\').join('/');

export async function mergeEvalOutputs(o: MergeOptions): Promise<MergeOutcome> {
  if (o.inputs.length === 0) throw new EvalSetupError('give at least one shard output folder to merge');
  const outDir = resolve(o.outDir);
  const dirs = o.inputs.map((d) => resolve(d));
  const summaries = await Promise.all(dirs.map(readSummary));
  const first = summaries[0] as EvalSummary;

  const problems: string[] = [];
  summaries.forEach((s, i) => {
    const name = dirs[i];
    if (s.input.sha256 !== first.input.sha256) problems.push(`${name} evaluated a different benchmark file (sha256 ${s.input.sha256.slice(0, 12)}… vs ${first.input.sha256.slice(0, 12)}…)`);
    if ((s.shard?.count ?? 1) !== (first.shard?.count ?? 1)) problems.push(`${name} used ${s.shard?.count ?? 1} shard(s), ${dirs[0]} used ${first.shard?.count ?? 1}`);
    if (s.models.generator.model !== first.models.generator.model) problems.push(`${name} used generator '${s.models.generator.model}', ${dirs[0]} used '${first.models.generator.model}'`);
    if (!same(s.settings.sampling, first.settings.sampling)) problems.push(`${name} used different sampling settings`);
    if (s.settings.score !== first.settings.score) problems.push(`${name} ${s.settings.score ? 'used' : 'did not use'} --score, unlike ${dirs[0]}`);
    if ((s.settings.repair ?? 0) !== (first.settings.repair ?? 0)) problems.push(`${name} used --repair ${s.settings.repair ?? 0}, ${dirs[0]} used --repair ${first.settings.repair ?? 0}`);
    if (s.settings.limit !== first.settings.limit) problems.push(`${name} used --limit ${s.settings.limit ?? 'none'}, ${dirs[0]} used ${first.settings.limit ?? 'none'}`);
  });
  const count = first.shard?.count ?? 1;
  const seen = new Map<number, string>();
  summaries.forEach((s, i) => {
    const idx = s.shard?.index ?? 0;
    const prev = seen.get(idx);
    if (prev) problems.push(`shard ${idx}/${count} is given twice (${prev} and ${dirs[i]})`);
    else seen.set(idx, dirs[i] as string);
  });
  if (problems.length > 0) throw new EvalSetupError(`cannot merge: ${problems.join('; ')}`);

  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  const unfinished = summaries.map((s, i) => (s.complete ? null : dirs[i])).filter((d): d is string => d !== null);
  if (!o.allowPartial && (missing.length > 0 || unfinished.length > 0)) {
    const why = [
      missing.length ? `shard(s) ${missing.map((i) => `${i}/${count}`).join(', ')} missing` : '',
      unfinished.length ? `unfinished: ${unfinished.join(', ')} (finish them with --resume)` : '',
    ].filter(Boolean);
    throw new EvalSetupError(`cannot merge: ${why.join('; ')}. Pass --allow-partial to merge what there is.`);
  }

  const ids = new Set<string>();
  const results = summaries.flatMap((s, i) =>
    s.results.map((r) => {
      if (ids.has(r.id)) throw new EvalSetupError(`cannot merge: question ${r.id} appears in more than one shard output (${dirs[i]})`);
      ids.add(r.id);
      return { ...r, record: toPosix(relative(outDir, join(dirs[i] as string, r.record))) };
    }),
  );
  sortResults(results);
  const selected = summaries.reduce((n, s) => n + s.counts.selected, 0);
  const computed = summarize(results, selected);
  const qps = summaries.map((s) => s.timings.questions_per_s).filter((x): x is number => x !== null);
  const mems = summaries.map((s) => s.timings.memory).filter((m): m is NonNullable<typeof m> => m !== null);

  const summary: EvalSummary = {
    version: 1,
    kind: 'valor-eval-summary',
    created: new Date().toISOString(),
    complete: missing.length === 0 && computed.counts.pending === 0 && computed.counts.not_evaluated === 0,
    interrupted: summaries.some((s) => s.interrupted),
    input: first.input,
    images: first.images,
    shard: null,
    merged_from: summaries.map((s, i) => ({ path: dirs[i] as string, shard: s.shard, done: s.counts.done, wall_ms: s.timings.wall_ms })),
    settings: { ...first.settings, concurrency: Math.max(...summaries.map((s) => s.settings.concurrency)) },
    models: {
      ...first.models,
      generator: {
        ...first.models.generator,
        reported: [...new Set(summaries.flatMap((s) => s.models.generator.reported))].sort(),
      },
    },
    ...computed,
    timings: {
      wall_ms: Math.max(...summaries.map((s) => s.timings.wall_ms)),
      session_done: summaries.reduce((n, s) => n + s.timings.session_done, 0),
      questions_per_s: qps.length ? qps.reduce((a, b) => a + b, 0) : null,
      memory: mems.length
        ? {
            peak_rss_mb: Math.max(...mems.map((m) => m.peak_rss_mb)),
            peak_heap_mb: Math.max(...mems.map((m) => m.peak_heap_mb)),
            live_heap_mb: Math.max(0, ...mems.map((m) => m.live_heap_mb ?? 0)) || null,
          }
        : null,
    },
    results,
  };
  const { summaryPath, reportPath } = await writeEvalOutputs(outDir, summary, o.report !== false);
  return { summary, summaryPath, reportPath };
}
