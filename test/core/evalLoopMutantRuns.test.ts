/**
 * The parts of one eval question that only a program run reaches, for the eval-loop group's
 * mutation run (docs/testing.md): the tool-retry warnings, a tool server refusing the token, a
 * repaired record's timings and generator, and what a tool-server or scoring failure during a
 * repair becomes. Real parts as in evalRepair.test.ts: python3 children, the protocol tool
 * server, the scripted OpenAI-compatible generator. The step is called directly (not through
 * runEval), so this file reaches only the item and repair code.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createEvalContext, type EvalDeps, type EvalEvent } from '../../src/core/eval/context.js';
import { loadDataset } from '../../src/core/eval/dataset.js';
import { evaluateItem } from '../../src/core/eval/item.js';
import { repairingStep } from '../../src/core/eval/repairStep.js';
import { createToolClient } from '../../src/core/toolClient.js';
import type { Tools } from '../../src/core/tools.js';
import { manyQuestions, writeBenchmark, benchHandler } from '../helpers/evalBench.js';
import { evalHarness } from '../helpers/evalHarness.js';
import { isRepairRequest, REPAIR_QUESTIONS, repairBenchHandler } from '../helpers/repairBench.js';

describe('one eval question with its program run', () => {
  const h = evalHarness('valor-evalloopruns-');

  /** The context of a run over `questions` (written beside the harness's images), and its warnings. */
  async function setup(name: string, questions = manyQuestions(1), over: { repair?: number; toolRetries?: number } = {}, deps: Partial<EvalDeps> = {}) {
    const file = await writeBenchmark(join(h.work, name), questions, []);
    const events: EvalEvent[] = [];
    const ctx = createEvalContext(
      { dataset: await loadDataset(file), imagesDir: join(h.work, name), outDir: join(h.work, name, 'out'), toolRetries: over.toolRetries ?? 1, toolRetryDelayMs: 1, repair: over.repair ?? 0, onEvent: (e) => events.push(e) },
      h.deps(deps),
    );
    const q = ctx.opts.dataset.questions[0]!;
    return { ctx, q, warnings: () => events.flatMap((e) => (e.kind === 'warn' ? [e.message] : [])) };
  }
  const live = () => new AbortController().signal;

  it('each retry of a tool call the server could not answer is a warning naming the question and the count; then the question is an outage', async () => {
    h.llm.setHandler(benchHandler(manyQuestions(1)));
    const { ctx, q, warnings } = await setup('retries', manyQuestions(1), { toolRetries: 2 });
    h.toolServer.down = true;
    try {
      const out = await evaluateItem(ctx, q, live());
      assert.ok('record' in out);
      assert.equal(out.record.eval?.error_kind, 'tool_outage');
      const w = warnings();
      assert.equal(w.length, 2, w.join('\n'));
      assert.match(w[0] ?? '', /^question q-0: tool server did not answer \(.*503.*\); retry 1 of 2$/);
      assert.match(w[1] ?? '', /^question q-0: tool server did not answer \(.*503.*\); retry 2 of 2$/);
    } finally {
      h.toolServer.down = false;
    }
  });

  it('a tool server that refuses the token stops the run (every question would fail the same way)', async () => {
    h.llm.setHandler(benchHandler(manyQuestions(1)));
    const { ctx, q, warnings } = await setup('token', manyQuestions(1), {}, { tools: createToolClient({ url: h.toolServer.url, token: 'not-the-token', maxRetries: 0 }) });
    const out = await evaluateItem(ctx, q, live());
    assert.ok('fatal' in out, JSON.stringify(out).slice(0, 300));
    assert.ok(out.fatal.startsWith(`the tool server refused the token: the tool server at ${h.toolServer.url} refused the token (`), out.fatal);
    assert.deepEqual(warnings(), [], 'a refused token is not retried');
  });

  it('an answered question: its record is named after it, timed from before the image to after the run', async () => {
    h.llm.setHandler(benchHandler(manyQuestions(1)));
    const { ctx, q } = await setup('answered');
    const out = await evaluateItem(ctx, q, live());
    assert.ok('record' in out);
    const r = out.record;
    assert.equal(r.final_answer, 'yes');
    assert.equal(r.eval?.error_kind, null);
    const t = r.timings;
    assert.ok(t.generate_ms !== undefined && t.run_ms !== undefined);
    assert.ok(t.total_ms >= t.generate_ms + t.run_ms, JSON.stringify(t));
  });

  describe('--repair', () => {
    const rep2 = REPAIR_QUESTIONS.filter((x) => x.id === 'rep-2');

    it('a repaired record keeps the generator of the first attempt and adds the repair\'s time to the first attempt\'s', async () => {
      h.llm.setHandler(repairBenchHandler());
      const { ctx, q } = await setup('repaired', rep2, { repair: 1 });
      let firstTotal = 0;
      const t0 = performance.now();
      const out = await repairingStep(async (c, x, s) => {
        const o = await evaluateItem(c, x, s);
        if ('record' in o) firstTotal = o.record.timings.total_ms;
        return o;
      })(ctx, q, live());
      const took = performance.now() - t0;
      assert.ok('record' in out);
      const r = out.record;
      assert.equal(r.repair?.stopped, 'passed');
      assert.ok(r.timings.total_ms <= took, `${r.timings.total_ms} of ${took}: the first attempt's time plus the repair's, within the call`);
      assert.deepEqual([r.generator?.base_url, r.generator?.model], [h.llm.url, 'valor-policy']);
      assert.ok(firstTotal > 0 && r.timings.total_ms > firstTotal, `${r.timings.total_ms} after ${firstTotal}`);
      assert.deepEqual([r.eval?.error_kind, r.eval?.correct, r.final_answer], [null, true, 2]);
    });

    it('the tool server failing during a repair: a warning per retry and one saying the question counts as an outage', async () => {
      const handler = repairBenchHandler();
      h.llm.setHandler((req) => {
        if (isRepairRequest(req)) h.toolServer.down = true;
        return handler(req);
      });
      try {
        const { ctx, q, warnings } = await setup('repair-outage', rep2, { repair: 2 });
        const out = await repairingStep()(ctx, q, live());
        assert.ok('record' in out);
        assert.equal(out.record.eval?.error_kind, 'tool_outage');
        const w = warnings();
        assert.equal(w.length, 2, w.join('\n'));
        assert.match(w[0] ?? '', /^question rep-2 \(repair\): tool server did not answer \(.*503.*\); retry 1 of 1$/);
        assert.match(w[1] ?? '', /^question rep-2: the tool server failed during a repair \(.*503.*\); the question counts as an outage$/);
      } finally {
        h.toolServer.down = false;
      }
    });

    it('a tool server refusing the token during a repair stops the run', async () => {
      const good = h.deps().tools;
      const bad = createToolClient({ url: h.toolServer.url, token: 'not-the-token', maxRetries: 0 });
      let current: Tools = good;
      const tools: Tools = {
        gd_detect: (...a) => current.gd_detect(...a),
        depth: (...a) => current.depth(...a),
        vqa: (...a) => current.vqa(...a),
      };
      const handler = repairBenchHandler();
      h.llm.setHandler((req) => {
        if (isRepairRequest(req)) current = bad;
        return handler(req);
      });
      const { ctx, q } = await setup('repair-token', rep2, { repair: 2 }, { tools });
      const out = await repairingStep()(ctx, q, live());
      assert.ok('fatal' in out, JSON.stringify(out).slice(0, 300));
      assert.ok(out.fatal.startsWith('the tool server refused the token: '), out.fatal);
    });

    it('a scorer failing on a repair is a warning; the repair stands without rewards', async () => {
      h.llm.setHandler(repairBenchHandler());
      let calls = 0;
      const scorer: NonNullable<EvalDeps['scorer']> = async () => {
        calls++;
        if (calls === 1) return { verdicts: [], total: 0.5, incomplete: false, weights: {} };
        throw new Error('judge down');
      };
      const { ctx, q, warnings } = await setup('repair-score', rep2, { repair: 1 }, { scorer });
      const out = await repairingStep()(ctx, q, live());
      assert.ok('record' in out);
      assert.equal(out.record.repair?.stopped, 'passed');
      assert.equal(out.record.rewards, undefined, 'the repaired run was not scored');
      assert.deepEqual(warnings(), ['question rep-2 (repair): scoring failed: judge down']);
    });

    it('a run cancelled while a repair is scored makes no record and no scoring warning', async () => {
      h.llm.setHandler(repairBenchHandler());
      const ac = new AbortController();
      let calls = 0;
      const scorer: NonNullable<EvalDeps['scorer']> = async () => {
        if (calls++ === 0) return { verdicts: [], total: 0.5, incomplete: false, weights: {} };
        ac.abort();
        throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      };
      const { ctx, q, warnings } = await setup('repair-cancel', rep2, { repair: 1 }, { scorer });
      assert.deepEqual(await repairingStep()(ctx, q, ac.signal), { cancelled: true });
      assert.deepEqual(warnings(), []);
    });
  });
});
