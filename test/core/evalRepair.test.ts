/**
 * `runEval` with `repair: N` (docs/eval.md "Repair") against real parts: the scripted
 * OpenAI-compatible generator (it answers repair requests with the fix), a protocol tool server,
 * real python3 programs. The default makes VALOR's single attempt; N = 2 repairs the NameError
 * in one repair and tries the division by zero twice; the summary reports both figures; a
 * resumed run reads the attempts back; a tool-server outage is never repaired.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadDataset } from '../../src/core/eval/dataset.js';
import { mergeEvalOutputs } from '../../src/core/eval/merge.js';
import { EvalSetupError, runEval, type EvalDeps, type EvalOptions } from '../../src/core/eval/loop.js';
import { recordPath } from '../../src/core/eval/records.js';
import { summaryLines } from '../../src/core/eval/summary.js';
import { createChatClient } from '../../src/core/llmClient.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { readRunRecord } from '../../src/core/runStore.js';
import type { RewardName, Verdict } from '../../src/protocol/run.js';
import { createToolClient } from '../../src/core/toolClient.js';
import { SCENE, vqaAnswer, writeBenchmark } from '../helpers/evalBench.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';
import { FIXED_COUNT, isRepairRequest, REPAIR_EXPECTED, REPAIR_QUESTIONS, repairBenchHandler } from '../helpers/repairBench.js';

describe('valor eval --repair (runEval)', () => {
  let llm: OpenAIServer;
  let tools: ProtocolToolServer;
  let runner: ProgramRunner;
  let work: string;
  let file: string;
  before(async () => {
    llm = await startOpenAIServer({ handler: repairBenchHandler() });
    tools = await startProtocolToolServer({ objects: SCENE, vqa: vqaAnswer, width: 64, height: 48 });
    runner = new ProgramRunner();
    work = await mkdtemp(join(tmpdir(), 'valor-evalrepair-'));
    file = await writeBenchmark(join(work, 'bench'), REPAIR_QUESTIONS, []);
  });
  after(async () => {
    await runner.dispose();
    await llm.close();
    await tools.close();
    await rm(work, { recursive: true, force: true });
  });

  const deps = (): EvalDeps => ({
    generator: createChatClient({ baseUrl: llm.url, model: 'valor-policy', cacheDir: false, maxRetries: 1, retryBaseMs: 5 }),
    tools: createToolClient({ url: tools.url, token: tools.token, maxRetries: 0 }),
    toolsUrl: tools.url,
    runner,
  });
  const opts = async (out: string, over: Partial<EvalOptions> = {}): Promise<EvalOptions> => ({
    dataset: await loadDataset(file),
    imagesDir: join(work, 'bench'),
    outDir: join(work, out),
    concurrency: 2,
    toolRetries: 1,
    toolRetryDelayMs: 5,
    ...over,
  });

  it('default (0): the failures stand, the model is not asked again, no repair section', async () => {
    const before = llm.requests.length;
    const o = await runEval(await opts('none'), deps());
    assert.equal(o.status, 'complete');
    assert.equal(llm.requests.length - before, 4, 'one generation per question');
    assert.ok(!llm.requests.slice(before).some(isRepairRequest));
    assert.equal(o.summary.repair, undefined);
    assert.equal(o.summary.settings.repair, undefined);
    assert.equal(o.summary.metrics.overall.score, REPAIR_EXPECTED.without);
    const r2 = o.summary.results.find((r) => r.id === 'rep-2')!;
    assert.deepEqual([r2.error_kind, r2.error_type, r2.repair], ['program', 'NameError', undefined]);
    const rec = await readRunRecord(recordPath(join(work, 'none'), 'rep-2'));
    assert.equal(rec.repair, undefined);
    assert.ok(!summaryLines(o.summary).some((l) => /repair/.test(l)));
  });

  it('--repair 2: the NameError passes after one repair, the division is tried twice; both figures reported; resume reads them back', async () => {
    const before = llm.requests.length;
    const o = await runEval(await opts('two', { repair: 2 }), deps());
    assert.equal(o.status, 'complete');
    const mine = llm.requests.slice(before);
    assert.equal(mine.length, 4 + 3, 'four generations and three repairs');
    assert.equal(mine.filter(isRepairRequest).length, 3);

    const s = o.summary;
    assert.equal(s.settings.repair, 2);
    assert.equal(s.metrics.overall.score, REPAIR_EXPECTED.with);
    assert.ok(s.repair);
    assert.equal(s.repair.max_repairs, 2);
    assert.equal(s.repair.needed, REPAIR_EXPECTED.needed);
    assert.equal(s.repair.repaired, REPAIR_EXPECTED.repaired);
    assert.equal(s.repair.attempts, REPAIR_EXPECTED.attempts);
    assert.deepEqual(s.repair.repaired_after, { 1: 1 });
    assert.equal(s.repair.without.overall.score, REPAIR_EXPECTED.without);
    assert.equal(s.repair.with.overall.score, REPAIR_EXPECTED.with);
    assert.deepEqual(s.repair.by_benchmark, REPAIR_EXPECTED.by_benchmark);

    // rep-2: its record is the repaired run, with both attempts, the diff and the first result.
    const r2 = s.results.find((r) => r.id === 'rep-2')!;
    assert.deepEqual([r2.error_kind, r2.prediction, r2.correct], [null, '2', true]);
    assert.deepEqual(r2.repair, { max_repairs: 2, repairs: 1, stopped: 'passed', original: { prediction: null, score: 0, correct: false, error_kind: 'program', invalid: null } });
    const rec2 = await readRunRecord(recordPath(join(work, 'two'), 'rep-2'));
    assert.equal(rec2.reply, FIXED_COUNT);
    assert.equal(rec2.final_answer, 2);
    assert.equal(rec2.eval?.correct, true);
    assert.equal(rec2.repair?.attempts.length, 2);
    const [a0, a1] = rec2.repair!.attempts;
    assert.deepEqual([a0!.attempt, a0!.ran, a0!.failure.kind, a0!.error?.type, a0!.failure.line], [0, true, 'runtime_error', 'NameError', 2]);
    assert.deepEqual([a1!.attempt, a1!.ran, a1!.failure.kind, a1!.final_answer, a1!.error], [1, true, 'none', 2, null]);
    assert.equal(a1!.diff, '  dets = gd_detect(img_pth, "mug")\n- final_answer = len(det)\n+ final_answer = len(dets)');
    // rep-4: two repairs in vain; the second request carries both failed replies.
    const r4 = s.results.find((r) => r.id === 'rep-4')!;
    assert.deepEqual([r4.error_kind, r4.error_type, r4.repair?.repairs, r4.repair?.stopped], ['program', 'ZeroDivisionError', 2, 'max_attempts']);
    const rep4 = mine.filter((r) => isRepairRequest(r) && JSON.stringify(r.json.messages).includes('[rep-4]'));
    assert.deepEqual(rep4.map((r) => (r.json.messages as unknown[]).length).sort(), [3, 5]);
    // rep-1 and rep-3 did not fail: not repaired (rep-3 is wrong, which is not a failure).
    for (const id of ['rep-1', 'rep-3']) assert.equal(s.results.find((r) => r.id === id)!.repair?.stopped, 'not_needed');

    const lines = summaryLines(s);
    assert.ok(lines.includes('repair (--repair 2): 1 of 2 failed questions repaired (1 after 1); 3 repairs asked'), lines.join('\n'));
    assert.ok(lines.includes('  without repair 25.0% (1 correct)  with repair 50.0% (2 correct)'), lines.join('\n'));
    assert.ok(lines.some((l) => /^ {2}beta +n=2 without 0\.0% {2}with 50\.0% {2}repaired 1$/.test(l)), lines.join('\n'));
    const html = await readFile(join(work, 'two', 'report.html'), 'utf8');
    assert.match(html, /<h2>Repair \(--repair 2\)<\/h2><p>1 of 2 failed questions repaired; 3 repairs asked/);
    assert.match(html, /<tr><td>beta<\/td><td class="n">2<\/td><td class="n">0\.0%<\/td><td class="n">50\.0%<\/td><td class="n">1<\/td><\/tr>/);

    // Resume: nothing runs again, and the figures come back from the records.
    const n = llm.requests.length;
    const again = await runEval(await opts('two', { repair: 2, resume: true }), deps());
    assert.equal(llm.requests.length, n);
    assert.equal(again.ran, 0);
    assert.deepEqual(again.summary.repair, s.repair);
    assert.deepEqual(again.summary.results, s.results);
    // Another N would mix two kinds of result in one folder.
    await assert.rejects(runEval(await opts('two', { repair: 1, resume: true }), deps()), (e: Error) => e instanceof EvalSetupError && /--repair was 2/.test(e.message));
  });

  it('shards run with --repair merge into the repair figures of one unsharded run; shards with another --repair are refused', async () => {
    // sha256 puts rep-1 and rep-2 (repaired after one repair) in shard 2/3, rep-3 and rep-4 (two
    // repairs in vain) in shard 1/3, and nothing in shard 0/3.
    const whole = await runEval(await opts('whole', { repair: 2 }), deps());
    const shards = [];
    for (const index of [0, 1, 2]) shards.push(await runEval(await opts(`shard${index}`, { repair: 2, shard: { index, count: 3 } }), deps()));
    assert.deepEqual(shards.map((o) => o.summary.counts.selected), [0, 2, 2]);
    assert.equal(shards[0]!.summary.repair, undefined, 'an empty shard has no repair figures');
    const merged = await mergeEvalOutputs({ inputs: [0, 1, 2].map((i) => join(work, `shard${i}`)), outDir: join(work, 'merged') });
    assert.ok(merged.summary.repair);
    assert.deepEqual(merged.summary.repair, whole.summary.repair);
    assert.equal(merged.summary.repair.attempts, REPAIR_EXPECTED.attempts);
    assert.equal(merged.summary.settings.repair, 2);
    assert.deepEqual(
      merged.summary.results.map((r) => [r.id, r.repair?.stopped]),
      whole.summary.results.map((r) => [r.id, r.repair?.stopped]),
    );
    // A shard run with another --repair would mix repaired and unrepaired results in one figure.
    await runEval(await opts('shard1-r1', { repair: 1, shard: { index: 1, count: 3 } }), deps());
    await assert.rejects(
      mergeEvalOutputs({ inputs: ['shard0', 'shard1-r1', 'shard2'].map((d) => join(work, d)), outDir: join(work, 'merged-bad') }),
      (e: Error) => e instanceof EvalSetupError && /shard1-r1 used --repair 1, .*shard0 used --repair 2/.test(e.message),
    );
  });

  it('a tool-server outage is never repaired: the question is an outage, no repair is asked', async () => {
    tools.down = true;
    try {
      const before = llm.requests.length;
      const o = await runEval(await opts('outage', { repair: 2, limit: 2 }), deps());
      const r2 = o.summary.results.find((r) => r.id === 'rep-2')!;
      assert.equal(r2.error_kind, 'tool_outage');
      assert.equal(r2.repair, undefined);
      assert.ok(!llm.requests.slice(before).some(isRepairRequest), 'no repair request');
      assert.equal(o.summary.counts.not_evaluated, 2);
      assert.equal(o.summary.repair, undefined, 'no evaluated question, no repair figures');
    } finally {
      tools.down = false;
    }
  });

  it('the tool server failing during a repair makes the question an outage (run again by --resume), not a failed repair', async () => {
    const handler = repairBenchHandler();
    llm.setHandler((req) => {
      // The server goes down as the repair is asked for, so the repaired program's call fails.
      if (isRepairRequest(req)) tools.down = true;
      return handler(req);
    });
    try {
      const o = await runEval(await opts('midway', { repair: 2, limit: 2, concurrency: 1 }), deps());
      const r2 = o.summary.results.find((r) => r.id === 'rep-2')!;
      assert.equal(r2.error_kind, 'tool_outage');
      assert.equal(r2.repair, undefined);
      assert.equal(o.status, 'incomplete');
      const rec = await readRunRecord(recordPath(join(work, 'midway'), 'rep-2'));
      assert.equal(rec.eval?.error_kind, 'tool_outage');
      // Back up: --resume runs rep-2 again from the start, and its repair passes.
      tools.down = false;
      llm.setHandler(handler);
      const again = await runEval(await opts('midway', { repair: 2, limit: 2, concurrency: 1, resume: true }), deps());
      assert.equal(again.status, 'complete');
      const r2b = again.summary.results.find((r) => r.id === 'rep-2')!;
      assert.deepEqual([r2b.error_kind, r2b.correct, r2b.repair?.stopped], [null, true, 'passed']);
    } finally {
      tools.down = false;
      llm.setHandler(repairBenchHandler());
    }
  });

  it('the generator refusing a later repair request (400) keeps the attempts made before it; the question is not lost', async () => {
    const handler = repairBenchHandler();
    llm.setHandler((req) => {
      // rep-4's second repair request carries both failed replies (5 messages): refuse it, as a
      // server does a request over its context length.
      const msgs = (req.json?.messages ?? []) as unknown[];
      if (isRepairRequest(req) && JSON.stringify(msgs).includes('[rep-4]') && msgs.length >= 5) return { status: 400, body: { error: { message: 'context length exceeded' } } };
      return handler(req);
    });
    try {
      const o = await runEval(await opts('refused', { repair: 3 }), deps());
      assert.equal(o.status, 'complete');
      const r4 = o.summary.results.find((r) => r.id === 'rep-4')!;
      assert.deepEqual([r4.error_kind, r4.error_type, r4.repair?.repairs, r4.repair?.stopped], ['program', 'ZeroDivisionError', 1, 'refused']);
      const rec = await readRunRecord(recordPath(join(work, 'refused'), 'rep-4'));
      assert.equal(rec.repair?.stopped, 'refused');
      assert.match(rec.repair?.refusal ?? '', /context length exceeded/);
      assert.deepEqual(rec.repair?.attempts.map((a) => [a.attempt, a.ran, a.failure.kind]), [[0, true, 'runtime_error'], [1, true, 'runtime_error']], 'the first repair is kept');
      assert.ok(rec.repair?.attempts[1]?.diff, 'with its diff');
      // The other questions are as without the refusal.
      assert.equal(o.summary.results.find((r) => r.id === 'rep-2')!.repair?.stopped, 'passed');
    } finally {
      llm.setHandler(repairBenchHandler());
    }
  });

  it('with scoring: each attempt is scored once (the first not again), a syntax 0 calls for repair, the record keeps the final rewards', async () => {
    const scored: string[] = [];
    const verdict = (reward: RewardName, value: number): Verdict => ({ reward, state: value ? 'pass' : 'fail', value, rationale: 'scripted', judge: 'test' });
    // A scorer with the real signature: rep-3's reply (it runs, but answers wrong) fails syntax,
    // so it is repaired too; everything else passes.
    const scorer: NonNullable<EvalDeps['scorer']> = async ({ query, reply }) => {
      scored.push(reply);
      const syntax = query.includes('[rep-3]') ? 0 : 1;
      const verdicts = (['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'] as const).map((r) => verdict(r, r === 'syntax' ? syntax : 1));
      return { verdicts, total: syntax ? 1 : 0.9, incomplete: false, weights: {} };
    };
    const o = await runEval(await opts('scored', { repair: 1 }), { ...deps(), scorer });
    const rep2 = REPAIR_QUESTIONS.find((q) => q.id === 'rep-2')!;
    assert.equal(scored.filter((r) => r === rep2.reply).length, 1, 'the first attempt is scored once, not again by the repair loop');
    assert.equal(scored.filter((r) => r === FIXED_COUNT).length, 1, 'the repair is scored');
    const rec2 = await readRunRecord(recordPath(join(work, 'scored'), 'rep-2'));
    assert.equal(rec2.reply, FIXED_COUNT);
    assert.equal(rec2.rewards?.total, 1, 'the repaired run keeps its own rewards');
    // rep-3 ran, but its syntax reward is 0: a repair was asked for (the scripted generator has
    // none for it and refuses), and the first attempt stands with its rewards.
    const r3 = o.summary.results.find((r) => r.id === 'rep-3')!;
    assert.deepEqual([r3.repair?.repairs, r3.repair?.stopped], [0, 'refused']);
    const rec3 = await readRunRecord(recordPath(join(work, 'scored'), 'rep-3'));
    assert.equal(rec3.repair?.attempts[0]?.failure.kind, 'syntax');
    assert.equal(rec3.rewards?.total, 0.9);
  });
});
