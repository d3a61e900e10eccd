/**
 * `mergeEvalOutputs` in-process, on shard summaries written by hand (the CLI test runs real shards
 * end to end in a child process): every refusal says which folder differs and how, a partial
 * merge is marked incomplete, record paths point back into the shard folders, and the timings
 * combine as documented (the slowest shard's wall time, the sum of rates, the largest memory).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EvalSetupError } from '../../src/core/eval/loop.js';
import { mergeEvalOutputs } from '../../src/core/eval/merge.js';
import type { EvalResult, EvalSummary } from '../../src/core/eval/summary.js';
import { evalResult, summaryOf, wrongResult } from '../helpers/evalResults.js';

/** Question `id` on line `line`, answered right or wrong, its record in the shard's runs/ folder. */
const result = (id: string, line: number, correct: boolean): EvalResult =>
  (correct ? evalResult : wrongResult)(id, { line, record: `runs/${id}.vrun.json` });

interface ShardSpec {
  index: number;
  count?: number;
  results: EvalResult[];
  complete?: boolean;
  interrupted?: boolean;
  sha256?: string;
  model?: string;
  reported?: string[];
  sampling?: Record<string, unknown>;
  score?: boolean;
  limit?: number | null;
  repair?: number;
  concurrency?: number;
  wall_ms?: number;
  qps?: number | null;
  memory?: EvalSummary['timings']['memory'];
  selected?: number;
}

function shardSummary(s: ShardSpec): EvalSummary {
  return summaryOf(
    s.results,
    {
      complete: s.complete ?? true,
      interrupted: s.interrupted ?? false,
      input: { path: '/data/bench.jsonl', sha256: s.sha256 ?? 'a'.repeat(64), format: 'jsonl', entries: 4, questions: 4, problems: [] },
      shard: { index: s.index, count: s.count ?? 2 },
      settings: {
        concurrency: s.concurrency ?? 4,
        limit: s.limit ?? null,
        timeout_ms: 60_000,
        memory_mb: null,
        score: s.score ?? false,
        tool_retries: 2,
        regenerate: false,
        ...(s.repair ? { repair: s.repair } : {}),
        sampling: s.sampling ?? { temperature: 0 },
      },
      models: { generator: { base_url: 'http://gen', model: s.model ?? 'policy-7b', reported: s.reported ?? ['policy-7b'] }, tools: { url: 'http://tools' }, judges: null },
      timings: { wall_ms: s.wall_ms ?? 1000, session_done: s.results.length, questions_per_s: s.qps === undefined ? 2 : s.qps, memory: s.memory === undefined ? null : s.memory },
    },
    s.selected,
  );
}

describe('valor eval merge (mergeEvalOutputs, in-process)', () => {
  let work: string;
  let n = 0;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'valor-merge-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** Writes each summary into its own folder; returns the folders. */
  const shards = async (...specs: ShardSpec[]): Promise<string[]> => {
    n += 1;
    return Promise.all(
      specs.map(async (s, i) => {
        const dir = join(work, `case${n}`, `shard${i}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'summary.json'), JSON.stringify(shardSummary(s)));
        return dir;
      }),
    );
  };
  const out = () => join(work, `case${n}`, 'merged');
  const refused = async (inputs: string[], pattern: RegExp, allowPartial = false) =>
    assert.rejects(mergeEvalOutputs({ inputs, outDir: out(), allowPartial, report: false }), (e: Error) => {
      assert.ok(e instanceof EvalSetupError, `an EvalSetupError, got ${e.name}`);
      assert.match(e.message, pattern);
      return true;
    });

  it('merges two shards: results in input order, records relative to the merged folder, timings and models combined', async () => {
    const dirs = await shards(
      { index: 1, results: [result('q2', 2, true), result('q4', 4, false)], wall_ms: 3000, qps: 1.5, concurrency: 8, reported: ['policy-7b', 'policy-7b-rev2'], memory: { peak_rss_mb: 300, peak_heap_mb: 50, live_heap_mb: 20 } },
      { index: 0, results: [result('q1', 1, true), result('q3', 3, true)], wall_ms: 2000, qps: 0.5, memory: { peak_rss_mb: 400, peak_heap_mb: 40, live_heap_mb: null } },
    );
    const { summary, summaryPath, reportPath } = await mergeEvalOutputs({ inputs: dirs, outDir: out(), report: false });
    assert.equal(reportPath, null);
    assert.deepEqual(JSON.parse(await readFile(summaryPath, 'utf8')), summary, 'the summary written is the one returned');
    assert.deepEqual(summary.results.map((r) => r.id), ['q1', 'q2', 'q3', 'q4']);
    assert.deepEqual(summary.results.map((r) => r.record), ['../shard1/runs/q1.vrun.json', '../shard0/runs/q2.vrun.json', '../shard1/runs/q3.vrun.json', '../shard0/runs/q4.vrun.json']);
    assert.deepEqual([summary.counts.selected, summary.counts.done, summary.counts.correct], [4, 4, 3]);
    assert.equal(summary.metrics.overall.score, 0.75);
    assert.deepEqual([summary.complete, summary.interrupted, summary.shard], [true, false, null]);
    assert.deepEqual(summary.merged_from, [
      { path: dirs[0], shard: { index: 1, count: 2 }, done: 2, wall_ms: 3000 },
      { path: dirs[1], shard: { index: 0, count: 2 }, done: 2, wall_ms: 2000 },
    ]);
    assert.equal(summary.settings.concurrency, 8, 'the largest concurrency');
    assert.deepEqual(summary.models.generator.reported, ['policy-7b', 'policy-7b-rev2'], 'every model id reported, once each, sorted');
    assert.deepEqual(summary.timings, { wall_ms: 3000, session_done: 4, questions_per_s: 2, memory: { peak_rss_mb: 400, peak_heap_mb: 50, live_heap_mb: 20 } });
  });

  it('timings: no rate and no memory when no shard had them; a live heap of null when none was measured', async () => {
    const dirs = await shards(
      { index: 0, results: [result('q1', 1, true)], qps: null, memory: { peak_rss_mb: 100, peak_heap_mb: 10, live_heap_mb: null } },
      { index: 1, results: [result('q2', 2, true)], qps: null },
    );
    const { summary } = await mergeEvalOutputs({ inputs: dirs, outDir: out(), report: false });
    assert.deepEqual(summary.timings, { wall_ms: 1000, session_done: 2, questions_per_s: null, memory: { peak_rss_mb: 100, peak_heap_mb: 10, live_heap_mb: null } });
    const none = await shards({ index: 0, results: [result('q1', 1, true)] }, { index: 1, results: [result('q2', 2, true)] });
    assert.equal((await mergeEvalOutputs({ inputs: none, outDir: out(), report: false })).summary.timings.memory, null);
  });

  it('refuses shards that do not fit together, naming each difference', async () => {
    const base = { results: [result('q1', 1, true)] };
    const [a, b] = await shards(
      { index: 0, ...base },
      { index: 1, results: [result('q2', 2, true)], sha256: 'b'.repeat(64), count: 3, model: 'other-model', sampling: { temperature: 1 }, score: true, limit: 10, repair: 2 },
    );
    await refused([a!, b!], new RegExp(
      [
        `${b} evaluated a different benchmark file \\(sha256 bbbbbbbbbbbb… vs aaaaaaaaaaaa…\\)`,
        `${b} used 3 shard\\(s\\), ${a} used 2`,
        `${b} used generator 'other-model', ${a} used 'policy-7b'`,
        `${b} used different sampling settings`,
        `${b} used --score, unlike ${a}`,
        `${b} used --repair 2, ${a} used --repair 0`,
        `${b} used --limit 10, ${a} used none`,
      ].join('; '),
    ));
    const [c, d] = await shards({ index: 0, ...base, score: true, limit: 5 }, { index: 1, results: [result('q2', 2, true)] });
    await refused([c!, d!], new RegExp(`${d} did not use --score, unlike ${c}; ${d} used --limit none, ${c} used 5`));
  });

  it('refuses a shard given twice, a question in two shards, missing and unfinished shards (unless --allow-partial)', async () => {
    const [a, b] = await shards({ index: 0, results: [result('q1', 1, true)] }, { index: 0, results: [result('q2', 2, true)] });
    await refused([a!, b!], new RegExp(`shard 0/2 is given twice \\(${a} and ${b}\\)`));
    const [c, d] = await shards({ index: 0, results: [result('q1', 1, true)] }, { index: 1, results: [result('q1', 1, true)] });
    await refused([c!, d!], new RegExp(`question q1 appears in more than one shard output \\(${d}\\)`));

    const three = await shards(
      { index: 0, count: 3, results: [result('q1', 1, true)] },
      { index: 2, count: 3, results: [result('q3', 3, true)], complete: false, interrupted: true, selected: 2 },
    );
    await refused(three, new RegExp(`cannot merge: shard\\(s\\) 1/3 missing; unfinished: ${three[1]} \\(finish them with --resume\\)\\. Pass --allow-partial`));
    const partial = await mergeEvalOutputs({ inputs: three, outDir: out(), allowPartial: true, report: false });
    assert.deepEqual([partial.summary.complete, partial.summary.interrupted], [false, true]);
    assert.equal(partial.summary.counts.selected, 3, "each shard's selected count, added up");
    assert.equal(partial.summary.counts.pending, 1);

    // Every shard present and finished, but one question still pending: not complete either.
    const pending = await shards({ index: 0, results: [result('q1', 1, true)], selected: 2 }, { index: 1, results: [result('q2', 2, true)] });
    assert.equal((await mergeEvalOutputs({ inputs: pending, outDir: out(), report: false })).summary.complete, false);
    // A single unsharded output merges as itself.
    const one = await shards({ index: 0, count: 1, results: [result('q1', 1, true)] });
    assert.equal((await mergeEvalOutputs({ inputs: one, outDir: out(), report: false })).summary.complete, true);
  });

  it('names every missing and every unfinished shard, each alone or together; an outage or a missing shard leaves the merge incomplete', async () => {
    const missingOnly = await shards({ index: 1, count: 4, results: [result('q1', 1, true)] });
    await refused(missingOnly, /cannot merge: shard\(s\) 0\/4, 2\/4, 3\/4 missing\. Pass --allow-partial/);
    const unfinishedOnly = await shards({ index: 0, results: [result('q1', 1, true)], complete: false }, { index: 1, results: [result('q2', 2, true)], complete: false });
    await refused(unfinishedOnly, new RegExp(`cannot merge: unfinished: ${unfinishedOnly[0]}, ${unfinishedOnly[1]} \\(finish them with --resume\\)\\. Pass`));
    // Allowed: the shards present are finished and nothing is pending, yet a shard is missing.
    const partial = await mergeEvalOutputs({ inputs: missingOnly, outDir: out(), allowPartial: true, report: false });
    assert.deepEqual([partial.summary.complete, partial.summary.counts.pending], [false, 0]);
    // Every shard there, every question done, one of them a tool outage: not evaluated, so incomplete.
    const outage = await shards({ index: 0, results: [result('q1', 1, true)] }, { index: 1, results: [wrongResult('q2', { line: 2, prediction: null, error_kind: 'tool_outage' })] });
    const merged = await mergeEvalOutputs({ inputs: outage, outDir: out(), report: false });
    assert.deepEqual([merged.summary.complete, merged.summary.counts.not_evaluated, merged.summary.errors.by_kind.tool_outage, merged.summary.errors.by_kind.program], [false, 1, 1, 0]);
  });

  it('sorts the model ids the shards reported, and writes report.html unless told not to', async () => {
    const dirs = await shards({ index: 0, results: [result('q1', 1, true)], reported: ['policy-b', 'policy-a'] }, { index: 1, results: [result('q2', 2, true)], reported: ['policy-c', 'policy-a'] });
    const { summary, reportPath } = await mergeEvalOutputs({ inputs: dirs, outDir: out() });
    assert.deepEqual(summary.models.generator.reported, ['policy-a', 'policy-b', 'policy-c']);
    assert.equal(reportPath, join(out(), 'report.html'));
    assert.match(await readFile(reportPath!, 'utf8'), /^<!doctype html>/i);
  });

  it('refuses no input, a folder without a summary, and a file that is not a version-1 summary', async () => {
    await assert.rejects(mergeEvalOutputs({ inputs: [], outDir: join(work, 'none') }), /give at least one shard output folder to merge/);
    const empty = join(work, 'empty');
    await mkdir(empty, { recursive: true });
    await refused([empty], new RegExp(`cannot read ${join(empty, 'summary.json')}: .*ENOENT.*Give the --out folders of finished 'valor eval' runs`));
    for (const [name, body] of [
      ['notjson', '{ half'],
      ['other', JSON.stringify({ kind: 'something-else', version: 1, results: [] })],
      ['v2', JSON.stringify({ kind: 'valor-eval-summary', version: 2, results: [] })],
      ['noresults', JSON.stringify({ kind: 'valor-eval-summary', version: 1 })],
    ] as const) {
      const dir = join(work, name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'summary.json'), body);
      await refused([dir], name === 'notjson' ? /cannot read .*summary\.json: .*JSON/ : new RegExp(`${join(dir, 'summary.json')} is not a valor eval summary \\(version 1\\)`));
    }
  });
});
