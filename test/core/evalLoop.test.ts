/**
 * The eval loop with real parts: the language-model client against the local OpenAI-compatible
 * server, programs in real python3 children, and the tool client against a protocol-speaking
 * HTTP tool server. Metrics are checked against the hand-computed table in
 * test/helpers/evalBench.ts; then ordering, outages, cancellation + resume, and the report.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createChatClient } from '../../src/core/llmClient.js';
import { loadDataset } from '../../src/core/eval/dataset.js';
import { runEval } from '../../src/core/eval/loop.js';
import { recordName } from '../../src/core/eval/records.js';
import type { EvalSummary } from '../../src/core/eval/summary.js';
import { readRunRecord } from '../../src/core/runStore.js';
import { scoreReply } from '../../src/core/rewards/score.js';
import { BAD_LINES, benchHandler, comparable, EXPECTED, HOSTILE_ERROR, HOSTILE_PLAN, manyQuestions, QUESTIONS, writeBenchmark } from '../helpers/evalBench.js';
import { evalHarness } from '../helpers/evalHarness.js';
import { judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { reportData, scriptTags } from '../helpers/reportData.js';
import { lastUserText, startOpenAIServer } from '../helpers/openaiServer.js';

describe('eval loop', () => {
  const h = evalHarness('valor-evalloop-', { concurrency: 4 });
  const deps = h.deps;
  const opts = h.opts;

  let full: EvalSummary;

  it('scores a benchmark of every answer type as computed by hand', async () => {
    const before = h.llm.chatRequests().length;
    const o = await runEval(await opts('full'), deps());
    full = o.summary;
    assert.equal(o.status, 'complete');
    const s = o.summary;
    assert.equal(s.counts.selected, EXPECTED.selected);
    assert.equal(s.counts.done, EXPECTED.selected);
    assert.equal(s.counts.correct, EXPECTED.correct);
    assert.equal(s.counts.failed, EXPECTED.failed);
    assert.equal(s.counts.invalid, EXPECTED.invalid);
    for (const [type, want] of Object.entries(EXPECTED.by_type)) {
      const g = s.metrics.by_type[type as keyof typeof s.metrics.by_type];
      assert.ok(g, `no metrics for ${type}`);
      assert.deepEqual({ n: g.n, correct: g.correct, score: g.score }, want, type);
    }
    assert.equal(s.metrics.overall.score, EXPECTED.overall);
    assert.equal(s.metrics.macro, EXPECTED.macro);
    assert.deepEqual(Object.fromEntries(Object.entries(s.errors.by_kind).filter(([, n]) => n > 0)), EXPECTED.by_kind);
    assert.deepEqual(s.errors.program_types, EXPECTED.program_types);
    assert.deepEqual(Object.fromEntries(s.results.map((r) => [r.id, r.score])), EXPECTED.scores);
    // Unreadable lines: skipped, counted, listed with their line numbers.
    assert.equal(s.input.problems.length, BAD_LINES.length);
    assert.deepEqual(s.input.problems.map((p) => p.line), [4, 11]);
    // Results in input order, regardless of which finished first.
    assert.deepEqual(s.results.map((r) => r.id), QUESTIONS.map((q) => q.id));
    // One generation per question with an image (the missing image is never asked about).
    assert.equal(h.llm.chatRequests().length - before, EXPECTED.selected - 1);
    // Settings and models are recorded.
    assert.equal(s.models.generator.model, 'valor-policy');
    assert.equal(s.settings.concurrency, 4);
    assert.equal(s.settings.sampling.temperature, 0.7);
    assert.match(s.input.sha256, /^[0-9a-f]{64}$/);
  });

  it('writes one record per question, named after its id, carrying its score', async () => {
    const names = (await readdir(join(h.work, 'full', 'runs'))).sort();
    assert.deepEqual(names, QUESTIONS.map((q) => `${recordName(q.id)}.json`).sort());
    const rec = await readRunRecord(join(h.work, 'full', 'runs', `${recordName('flt-4')}.json`));
    assert.equal(rec.final_answer, 10.5);
    assert.equal(rec.trace.length, 2);
    assert.deepEqual(rec.eval && { id: rec.eval.question_id, score: rec.eval.score, kind: rec.eval.error_kind }, { id: 'flt-4', score: 0.9, kind: null });
    const err = await readRunRecord(join(h.work, 'full', 'runs', `${recordName('cnt-4')}.json`));
    assert.equal(err.error?.type, 'ZeroDivisionError');
    assert.equal(err.error?.line, 2);
    assert.equal(err.eval?.error_kind, 'program');
  });

  it('a missing image says it was resolved from the images folder (--images), not the working folder', () => {
    const missing = full.results.find((r) => r.error_kind === 'image');
    assert.ok(missing, 'the benchmark has a question whose image is missing');
    assert.match(missing.error_message ?? '', /resolved from the images folder .*bench \(--images; default: the dataset file's folder\)/);
    assert.doesNotMatch(missing.error_message ?? '', /relative paths are resolved from/);
  });

  it('report.html is self-contained, keeps model text out of markup, and links every record', async () => {
    const html = await readFile(join(h.work, 'full', 'report.html'), 'utf8');
    // Model text lives in the JSON data block, where no '<' survives; the page has only our two scripts.
    assert.equal(scriptTags(html), 2, 'model text must not become markup');
    assert.ok(!html.includes(HOSTILE_PLAN) && !html.includes(HOSTILE_ERROR));
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'nonce-[\w-]+'; script-src 'nonce-[\w-]+'">/);
    assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external resources');
    const data = reportData(html);
    const byId = new Map(data.rows.map((r) => [r.id, r]));
    for (const q of QUESTIONS) assert.equal(byId.get(q.id)?.rec, `runs/${recordName(q.id)}.json`, `link to ${q.id}`);
    assert.ok(data.rows.some((r) => r.plan === HOSTILE_PLAN), 'hostile text is carried as data, to be set as text');
    assert.ok(data.rows.some((r) => r.q === 'Is <it> & "that" there? [esc-1]'));
    // The failure of cnt-4 shows its program, the line that raised, and its error.
    const cnt4 = byId.get('cnt-4');
    assert.match(cnt4?.err ?? '', /ZeroDivisionError/);
    assert.match(cnt4?.prog ?? '', /final_answer = 1 \/ x/);
    assert.equal(cnt4?.errLine, 2);
    assert.equal(cnt4?.st, 'failed');
    assert.equal(cnt4?.kind, 'program');
    // One thumbnail per distinct image, and detections to draw on it.
    assert.ok(data.thumbs.length > 0 && data.thumbs.every((t) => t.startsWith('data:image/jpeg;base64,')));
    assert.ok(data.thumbs.length < data.rows.length, 'questions sharing an image share its thumbnail');
    assert.ok(data.rows.some((r) => r.boxes.length > 0 && r.img >= 0 && r.w > 0));
  });

  it('gives the same summary at concurrency 1', async () => {
    const o = await runEval(await opts('serial', { concurrency: 1 }), deps());
    assert.deepEqual(comparable(o.summary), comparable(full));
  });

  it('refuses to overwrite an existing run without --resume', async () => {
    await assert.rejects(runEval(await opts('full'), deps()), /already holds an eval run.*--resume/);
  });

  it('records tool-server and endpoint outages as such, and --resume retries them', async () => {
    const qs = manyQuestions(4);
    const dir = join(h.work, 'outage');
    const f = await writeBenchmark(dir, qs, []);
    const failing = new Set(['q-1']);
    const llm2 = await startOpenAIServer({
      handler: (req) => (failing.has(/\[(q-\d+)\]/.exec(JSON.stringify(req.json))?.[1] ?? '') ? { status: 503 } : benchHandler(qs)(req)),
    });
    try {
      h.toolServer.down = true;
      const o1 = await runEval(
        { dataset: await loadDataset(f), imagesDir: dir, outDir: join(dir, 'out'), concurrency: 2, toolRetries: 1, toolRetryDelayMs: 5 },
        deps({ generator: createChatClient({ baseUrl: llm2.url, model: 'm', cacheDir: false, maxRetries: 1, retryBaseMs: 5 }) }),
      );
      // Outages are not results about the model: the run is incomplete, the metrics leave them out.
      assert.equal(o1.status, 'incomplete');
      assert.equal(o1.summary.complete, false);
      assert.equal(o1.summary.counts.not_evaluated, 4);
      assert.equal(o1.summary.counts.evaluated, 0);
      const kinds = Object.fromEntries(o1.summary.results.map((r) => [r.id, r.error_kind]));
      assert.deepEqual(kinds, { 'q-0': 'tool_outage', 'q-1': 'endpoint_outage', 'q-2': 'tool_outage', 'q-3': 'tool_outage' });
      assert.equal(o1.summary.errors.by_kind.tool_outage, 3);
      assert.equal(o1.summary.errors.by_kind.endpoint_outage, 1);
      assert.equal(o1.summary.metrics.overall.score, null, 'no evaluated question: no accuracy, never 0%');
      assert.equal(o1.summary.metrics.overall.n, 0);
      const rec = await readRunRecord(join(dir, 'out', 'runs', `${recordName('q-1')}.json`));
      assert.equal(rec.error?.type, 'ChatError:server');

      // Servers back: --resume runs exactly the outage questions again.
      h.toolServer.down = false;
      failing.clear();
      const before = llm2.chatRequests().length;
      const o2 = await runEval(
        { dataset: await loadDataset(f), imagesDir: dir, outDir: join(dir, 'out'), concurrency: 2, resume: true },
        deps({ generator: createChatClient({ baseUrl: llm2.url, model: 'm', cacheDir: false }) }),
      );
      assert.equal(o2.ran, 4);
      assert.equal(llm2.chatRequests().length - before, 4);
      assert.equal(o2.summary.counts.failed, 0);
      assert.equal(o2.status, 'complete');
      assert.equal(o2.summary.counts.not_evaluated, 0);
      assert.equal(o2.summary.counts.correct, qs.filter((q) => q.line.answer === 'yes').length);
    } finally {
      h.toolServer.down = false;
      await llm2.close();
    }
  });

  it('cancelled mid-run keeps finished records; --resume runs only the rest, then has nothing to do', async () => {
    const qs = manyQuestions(12);
    const dir = join(h.work, 'cancel');
    const f = await writeBenchmark(dir, qs, []);
    const llm3 = await startOpenAIServer({ handler: benchHandler(qs, 20) });
    const gen = () => createChatClient({ baseUrl: llm3.url, model: 'm', cacheDir: false });
    try {
      const ctl = new AbortController();
      let seen = 0;
      const o1 = await runEval(
        {
          dataset: await loadDataset(f),
          imagesDir: dir,
          outDir: join(dir, 'out'),
          concurrency: 2,
          signal: ctl.signal,
          onEvent: (e) => {
            if (e.kind === 'result' && ++seen === 5) ctl.abort();
          },
        },
        deps({ generator: gen() }),
      );
      assert.equal(o1.status, 'interrupted');
      assert.equal(o1.summary.complete, false);
      assert.equal(o1.summary.interrupted, true);
      const done = (await readdir(join(dir, 'out', 'runs'))).filter((n) => n.endsWith('.json')).length;
      assert.equal(done, o1.summary.counts.done);
      assert.ok(done >= 5 && done < 12, `records after cancel: ${done}`);

      const before = llm3.chatRequests().length;
      const warnings: string[] = [];
      const o2 = await runEval(
        { dataset: await loadDataset(f), imagesDir: dir, outDir: join(dir, 'out'), concurrency: 3, resume: true, onEvent: (e) => e.kind === 'warn' && warnings.push(e.message) },
        deps({ generator: gen() }),
      );
      assert.equal(o2.status, 'complete');
      assert.equal(o2.reused, done, warnings.join('\n'));
      assert.equal(o2.ran, 12 - done);
      assert.equal(llm3.chatRequests().length - before, 12 - done);
      assert.deepEqual(o2.summary.results.map((r) => r.id), qs.map((q) => q.id));

      // A partial temp file from a killed write does not trip resume; a finished run does nothing.
      await writeFile(join(dir, 'out', 'runs', `${recordName('q-3')}.json.123.abcd.tmp`), '{"trunc');
      const before3 = llm3.chatRequests().length;
      const o3 = await runEval({ dataset: await loadDataset(f), imagesDir: dir, outDir: join(dir, 'out'), concurrency: 3, resume: true }, deps({ generator: gen() }));
      assert.equal(o3.ran, 0);
      assert.equal(o3.status, 'complete');
      assert.equal(llm3.chatRequests().length, before3);
      assert.deepEqual(comparable(o3.summary), comparable(o2.summary));
      assert.ok(!(await readdir(join(dir, 'out', 'runs'))).some((n) => n.endsWith('.tmp')));
    } finally {
      await llm3.close();
    }
  });

  it('--score adds the six rewards per question and their means; a failed judge is counted, not 0', async () => {
    const qs = manyQuestions(3);
    const dir = join(h.work, 'score');
    const f = await writeBenchmark(dir, qs, []);
    const gen = await startOpenAIServer({ handler: benchHandler(qs) });
    const judgeServer = await startOpenAIServer({
      handler: (req) => {
        const j = judgeOf(req);
        // logic sees the query (adherence does not: identical plans and programs share one cached verdict)
        if (j === 'logic' && lastUserText(req).includes('[q-2]')) return { status: 500 };
        return { text: jsonVerdict(j === 'attribute' ? 0 : 1) };
      },
    });
    try {
      const judge = createChatClient({ baseUrl: judgeServer.url, model: 'judge-model', cacheDir: false, maxRetries: 0 });
      const warnings: string[] = [];
      const o = await runEval(
        { dataset: await loadDataset(f), imagesDir: dir, outDir: join(dir, 'out'), concurrency: 2, onEvent: (e) => e.kind === 'warn' && warnings.push(e.message) },
        deps({
          generator: createChatClient({ baseUrl: gen.url, model: 'm', cacheDir: false }),
          scorer: (i, signal) => scoreReply({ ...i, judge, runner: h.runner, signal }),
          judges: { base_url: judge.baseUrl, model: judge.model },
        }),
      );
      assert.equal(o.status, 'complete');
      const r = o.summary.rewards;
      assert.ok(r, warnings.join('\n'));
      assert.equal(r.n, 3);
      assert.deepEqual(r.means, { adherence: 1, attribute: 0, format: 1, logic: 1, spatial: 1, syntax: 1 });
      assert.deepEqual(r.errors, { adherence: 0, attribute: 0, format: 0, logic: 1, spatial: 0, syntax: 0 });
      // q-0, q-1: 0.3 logic + 0.1 syntax + 0.2 spatial + 0.2 adherence (attribute 0), gated by format 1; q-2 unknown
      assert.equal(r.total_mean, 0.8);
      assert.equal(r.incomplete, 1);
      assert.deepEqual(o.summary.models.judges, { base_url: judgeServer.url, model: 'judge-model' });
      const rec = await readRunRecord(join(dir, 'out', 'runs', `${recordName('q-2')}.json`));
      assert.equal(rec.rewards?.verdicts.find((v) => v.reward === 'logic')?.state, 'error');
      assert.equal(rec.rewards?.total, null);
      assert.equal(o.summary.counts.failed, 0);
    } finally {
      await gen.close();
      await judgeServer.close();
    }
  });

  it('resume refuses a different benchmark file in the same folder', async () => {
    const dir = join(h.work, 'cancel');
    const f = await writeBenchmark(join(h.work, 'other'), manyQuestions(3), []);
    await assert.rejects(
      runEval({ dataset: await loadDataset(f), imagesDir: dir, outDir: join(dir, 'out'), resume: true }, deps()),
      /cannot resume .*benchmark file changed/,
    );
  });
});
