/**
 * The eval loop's parts one at a time, in-process and without python3 children (the mutation run
 * of the eval-loop group, docs/testing.md): the run's context and defaults, record names and the
 * result read back from a record, the output folder's manifest checks, resume, the summary
 * document, the pool, tool retries and cancellation, and how failures are classified. Every
 * expected value is worked out by hand from docs/eval.md and the record format; hashes with
 * python's hashlib.
 *
 * Where a part needs a program run, the test gives the step or the runner a finished record
 * instead of starting python3 (evalLoop.test.ts and evalRepair.test.ts run the same loop with real
 * children); the generator is the real client against the local OpenAI-compatible server.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { ChatError, VALOR_SAMPLING } from '../../src/core/chat.js';
import { childSignal, createSemaphore, mapLimit } from '../../src/core/concurrency.js';
import { isAbort, linkAbort, sleep } from '../../src/core/eval/cancellation.js';
import { createEvalContext, type EvalDeps, type EvalEvent, type EvalOptions, EvalSetupError } from '../../src/core/eval/context.js';
import { type EvalQuestion, loadDataset, parseDataset, type LoadedDataset } from '../../src/core/eval/dataset.js';
import { classifyRunFailure, fatalToolOutage, imageFailure, runErrorKind } from '../../src/core/eval/failures.js';
import { runEval, selectQuestions } from '../../src/core/eval/loop.js';
import { prepareOutputFolder, writeEvalOutputs } from '../../src/core/eval/outputFolder.js';
import { ImageCache } from '../../src/core/eval/imageCache.js';
import { evaluateItem, type ItemStep, withEval } from '../../src/core/eval/item.js';
import { startMemorySampler } from '../../src/core/eval/memorySampler.js';
import { ResultTally, runQuestions } from '../../src/core/eval/pool.js';
import { repairingStep } from '../../src/core/eval/repairStep.js';
import { reuseFinishedResults } from '../../src/core/eval/resume.js';
import { buildRunSummary } from '../../src/core/eval/runSummary.js';
import { recordName, recordPath, recordRelPath, removeStaleTemps, resultFromRecord } from '../../src/core/eval/records.js';
import { ImageInputError } from '../../src/core/image.js';
import { withToolRetries } from '../../src/core/eval/toolRetries.js';
import { createChatClient } from '../../src/core/llmClient.js';
import { BUILTIN_PROMPT } from '../../src/core/promptSource.js';
import { RunnerSetupError } from '../../src/core/runner/index.js';
import { writeRunRecord } from '../../src/core/runStore.js';
import { ToolError, type Tools } from '../../src/core/tools.js';
import type { RunRecord } from '../../src/protocol/run.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';

// ---------------------------------------------------------------------------------------------
// Shared pieces: a dataset made from text, a context over a temporary folder, a record by hand.

function dataset(lines: object[], path = '/bench/b.jsonl', sha256 = 'a'.repeat(64)): LoadedDataset {
  return { ...parseDataset(lines.map((l) => JSON.stringify(l)).join('\n')), path, sha256 };
}

const Q = (over: Partial<EvalQuestion> = {}): EvalQuestion => ({ id: 'q-1', line: 1, question: 'Is it red?', image: 'red.png', answer: 'yes', type: 'yesno', typeSource: 'given', ...over });

/** A generator that is never asked (the parts under test do not generate). */
const idleGenerator = { baseUrl: 'http://gen.invalid/v1', model: 'gen-model', complete: () => Promise.reject(new Error('not asked')), stream: () => Promise.reject(new Error('not asked')) };
const idleTools: Tools = { gd_detect: () => Promise.reject(new Error('no')), depth: () => Promise.reject(new Error('no')), vqa: () => Promise.reject(new Error('no')) };

function depsOf(over: Partial<EvalDeps> = {}): EvalDeps {
  return { generator: idleGenerator, tools: idleTools, toolsUrl: 'http://tools.invalid', runner: { run: () => Promise.reject(new Error('no runner')), dispose: async () => undefined }, ...over };
}

function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    version: 1,
    id: 'r',
    created: '2026-01-01T00:00:00.000Z',
    query: 'Is it red?',
    image: { path: '/img/red.png', sha256: 'b'.repeat(64), width: 4, height: 3 },
    generator: null,
    tools: { url: 'http://tools.invalid' },
    reply: '<plan>\n1.\n</plan>\n<answer>\nfinal_answer = "yes"\n</answer>',
    plan: '1.',
    program: 'final_answer = "yes"',
    format: { score: 1, diagnostics: [] },
    trace: [],
    final_answer: 'yes',
    error: null,
    timings: { total_ms: 10 },
    ...over,
  };
}

/** Whether node warns of a possible listener leak (MaxListenersExceededWarning) while `fn` runs. */
async function warnsWhile(fn: () => Promise<void>): Promise<boolean> {
  let warned = false;
  const on = (w: Error): void => {
    if (w.name === 'MaxListenersExceededWarning') warned = true;
  };
  process.on('warning', on);
  try {
    await fn();
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', on);
  }
  return warned;
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'valor-evalloopmut-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('the run context: every default applied once', () => {
  const opts = (over: Partial<EvalOptions> = {}): EvalOptions => ({ dataset: dataset([]), imagesDir: 'imgs', outDir: 'out', ...over });

  it('defaults: one at a time, 3 tool retries from 500 ms, 60 s a program, no repair, no shard, our prompt and sampling', () => {
    const c = createEvalContext(opts(), depsOf());
    assert.equal(c.outDir, resolve('out'));
    assert.equal(c.imagesDir, resolve('imgs'));
    assert.equal(c.runsDir, join(resolve('out'), 'runs'));
    assert.equal(c.concurrency, 1);
    assert.equal(c.toolRetries, 3);
    assert.equal(c.toolRetryDelayMs, 500);
    assert.equal(c.timeoutMs, 60_000);
    assert.equal(c.repair, 0);
    assert.equal(c.shard, null);
    assert.equal(c.prompt, BUILTIN_PROMPT);
    assert.deepEqual(c.sampling, { ...VALOR_SAMPLING });
  });

  it('takes what it is given: whole workers (at least one), a 1-way shard is no shard, sampling over ours', () => {
    const c = createEvalContext(
      opts({ concurrency: 2.9, toolRetries: 0, toolRetryDelayMs: 7, timeoutMs: 1234, repair: 2, shard: { index: 1, count: 2 }, sampling: { temperature: 0 } }),
      depsOf(),
    );
    assert.equal(c.concurrency, 2);
    assert.equal(c.toolRetries, 0);
    assert.equal(c.toolRetryDelayMs, 7);
    assert.equal(c.timeoutMs, 1234);
    assert.equal(c.repair, 2);
    assert.deepEqual(c.shard, { index: 1, count: 2 });
    assert.deepEqual(c.sampling, { ...VALOR_SAMPLING, temperature: 0 });
    assert.equal(createEvalContext(opts({ concurrency: 0 }), depsOf()).concurrency, 1);
    assert.equal(createEvalContext(opts({ concurrency: -3 }), depsOf()).concurrency, 1);
    assert.equal(createEvalContext(opts({ shard: { index: 0, count: 1 } }), depsOf()).shard, null);
  });

  it('events go to onEvent, and nowhere without one', () => {
    const seen: EvalEvent[] = [];
    const e: EvalEvent = { kind: 'warn', message: 'w' };
    createEvalContext(opts({ onEvent: (x) => seen.push(x) }), depsOf()).emit(e);
    assert.deepEqual(seen, [e]);
    assert.doesNotThrow(() => createEvalContext(opts(), depsOf()).emit(e));
  });

  it('selectQuestions: the shard first, then the first `limit` (0 selects none; no limit selects all)', () => {
    const qs = ['q0', 'q1', 'q2', 'q3', 'q17'].map((id, i) => Q({ id, line: i + 1 }));
    // shardOf for count 3 (evalDataset.test.ts, python's hashlib): q0 0, q1 0, q2 2, q3 0, q17 1.
    assert.deepEqual(selectQuestions(qs, { index: 0, count: 3 }, null).map((q) => q.id), ['q0', 'q1', 'q3']);
    assert.deepEqual(selectQuestions(qs, { index: 0, count: 3 }, 2).map((q) => q.id), ['q0', 'q1']);
    assert.deepEqual(selectQuestions(qs, null, 0), []);
    assert.deepEqual(selectQuestions(qs, undefined, undefined).map((q) => q.id), ['q0', 'q1', 'q2', 'q3', 'q17']);
  });
});

describe('record names and paths', () => {
  // The hash part is the first 10 hex digits of sha256(id), worked out with python's hashlib.
  it('a readable part (unsafe runs as one _, no leading dots or underscores, at most 80 characters, q when nothing is left) and a hash of the whole id', () => {
    assert.equal(recordName('flt-4'), 'flt-4-9aae2de1ec');
    assert.equal(recordName('a/b'), 'a_b-c14cddc033');
    assert.equal(recordName('a_b'), 'a_b-648fa9b31b');
    assert.equal(recordName('a / b'), 'a_b-d917a549d3', 'a run of unsafe characters is one _');
    assert.equal(recordName('v1.2'), 'v1.2-0e4f5bced9', 'only leading dots go');
    assert.equal(recordName('..hidden'), 'hidden-27b2a250c5');
    assert.equal(recordName('._x'), 'x-c9eab32149');
    assert.equal(recordName('-x'), '-x-a420962426');
    assert.equal(recordName('...'), 'q-ab5df625bc');
    assert.equal(recordName('ü'), 'q-607474ca47');
    assert.equal(recordName('x'.repeat(100)), `${'x'.repeat(80)}-09ecb6ebc8`);
  });

  it('records live in <out>/runs; the summary lists them relative, with forward slashes', () => {
    assert.equal(recordPath('/o', 'a/b'), '/o/runs/a_b-c14cddc033.json');
    assert.equal(recordRelPath('a/b'), 'runs/a_b-c14cddc033.json');
  });

  it('removeStaleTemps removes only *.tmp files and counts them; a missing folder has none', async () => {
    const dir = join(work, 'stale');
    await mkdir(dir, { recursive: true });
    for (const n of ['a.json', 'a.json.1.ff.tmp', 'b.json.2.ee.tmp', 'tmp', 'c.tmp.json']) await writeFile(join(dir, n), 'x');
    assert.equal(await removeStaleTemps(dir), 2);
    assert.deepEqual((await readdir(dir)).sort(), ['a.json', 'c.tmp.json', 'tmp']);
    assert.equal(await removeStaleTemps(join(work, 'no-such-folder')), 0);
  });
});

describe('a result read back from its record', () => {
  const verdict = (reward: string, state: 'pass' | 'fail' | 'error', value: number | null) => ({ reward, state, value, rationale: 'r', judge: 'j' }) as NonNullable<RunRecord['rewards']>['verdicts'][number];

  it('an answered question: scored again from its answer, with the program\'s own answer, whole milliseconds, model, rewards and the optional fields', () => {
    const q = Q({ id: 'yn-9', line: 7, category: 'Relative_Depth', benchmark: 'blink' });
    const rec = record({
      final_answer: 'Yes.',
      generator: { base_url: 'http://g/v1', model: 'gen-x', settings: {} },
      timings: { generate_ms: 12.4, run_ms: 7.5, total_ms: 30.49 },
      // A verdict in error counts as no value, whatever value it carries.
      rewards: { verdicts: [verdict('format', 'pass', 1), verdict('logic', 'error', null), verdict('spatial', 'error', 1), verdict('syntax', 'fail', 0)], total: null, incomplete: true, weights: {} },
      // A stale score in the record is not copied: the current metrics decide.
      eval: { question_id: 'yn-9', line: 7, answer_type: 'yesno', ground_truth: 'yes', prediction: 'no', score: 0, correct: false, invalid: null, error_kind: null },
    });
    const r = resultFromRecord(q, rec, 'runs/x.json');
    assert.deepEqual(r, {
      id: 'yn-9',
      line: 7,
      type: 'yesno',
      category: 'Relative_Depth',
      benchmark: 'blink',
      question: 'Is it red?',
      image: 'red.png',
      ground_truth: 'yes',
      prediction: 'yes',
      score: 1,
      correct: true,
      invalid: null,
      error_kind: null,
      error_type: null,
      error_message: null,
      answer: 'Yes.',
      record: 'runs/x.json',
      ms: { generate: 12, run: 8, total: 30 },
      model: 'gen-x',
      rewards: { total: null, values: { format: 1, logic: null, spatial: null, syntax: 0 } },
    });
  });

  it('no optional fields when the record has none; no own answer when it is the prediction', () => {
    const r = resultFromRecord(Q(), record({ final_answer: 'yes', timings: { total_ms: 4.5 } }), 'runs/y.json');
    assert.deepEqual(Object.keys(r).sort(), ['correct', 'error_kind', 'error_message', 'error_type', 'ground_truth', 'id', 'image', 'invalid', 'line', 'ms', 'prediction', 'question', 'record', 'score', 'type'].sort());
    assert.deepEqual(r.ms, { total: 5 });
  });

  it('the own answer as text: JSON for a value that is not a string, at most 200 characters', () => {
    const obj = resultFromRecord(Q({ type: 'text', answer: 'red' }), record({ final_answer: { Colour: 'Red' } }), 'r');
    // The prediction is the JSON normalised (lower case); the own answer keeps its case.
    assert.equal(obj.prediction, '{"colour":"red"}');
    assert.equal(obj.answer, '{"Colour":"Red"}');
    const long = resultFromRecord(Q({ type: 'text', answer: 'red' }), record({ final_answer: `Red${'!'.repeat(300)}` }), 'r');
    // Normalised, trailing marks go: the prediction is "red" (correct), the own answer is clipped.
    assert.equal(long.prediction, 'red');
    assert.equal(long.answer, `Red${'!'.repeat(196)}…`);
    assert.equal(long.answer?.length, 200);
    const none = resultFromRecord(Q(), record({ final_answer: null }), 'r');
    assert.equal(none.answer, undefined);
    assert.equal(none.prediction, null);
    const unset = resultFromRecord(Q(), record({ final_answer: undefined }), 'r');
    assert.deepEqual([unset.answer, unset.prediction, unset.correct], [undefined, null, false]);
  });

  it('a failed program scores 0 with its error clipped to 300 characters; NoProgram is no_program; the eval block\'s kind wins', () => {
    const msg = 'm'.repeat(400);
    const failed = resultFromRecord(Q(), record({ final_answer: 'yes', error: { type: 'ZeroDivisionError', message: msg, line: 2 } }), 'r');
    assert.deepEqual(
      [failed.error_kind, failed.error_type, failed.score, failed.correct, failed.prediction, failed.invalid, failed.answer],
      ['program', 'ZeroDivisionError', 0, false, null, null, undefined],
    );
    assert.equal(failed.error_message, `${'m'.repeat(299)}…`);
    const exact = resultFromRecord(Q(), record({ error: { type: 'ValueError', message: 'e'.repeat(300), line: 1 } }), 'r');
    assert.equal(exact.error_message, 'e'.repeat(300));
    assert.equal(resultFromRecord(Q(), record({ error: { type: 'NoProgram', message: 'none', line: null } }), 'r').error_kind, 'no_program');
    const outage = record({
      final_answer: 'yes',
      error: { type: 'ChatError:server', message: '503', line: null },
      eval: { question_id: 'q-1', line: 1, answer_type: 'yesno', ground_truth: 'yes', prediction: null, score: 0, correct: false, invalid: null, error_kind: 'endpoint_outage' },
    });
    assert.equal(resultFromRecord(Q(), outage, 'r').error_kind, 'endpoint_outage');
    // An eval block with a kind we do not know is read as no kind: the answer is scored.
    const unknown = record({ eval: { question_id: 'q-1', line: 1, answer_type: 'yesno', ground_truth: 'yes', prediction: null, score: 0, correct: false, invalid: null, error_kind: 'gremlins' } });
    assert.deepEqual([resultFromRecord(Q(), unknown, 'r').error_kind, resultFromRecord(Q(), unknown, 'r').correct], [null, true]);
  });

  it('the repair part: the first attempt scored again from its answer, or as the final result when no attempt is listed', () => {
    const attempt = (final_answer: unknown) => ({ attempt: 0, reply: 'r', ran: true, failure: { kind: 'runtime_error' as const, message: 'x', line: 1 }, final_answer, error: null });
    const repaired = resultFromRecord(
      Q(),
      record({ final_answer: 'yes', repair: { max_repairs: 2, repairs: 1, stopped: 'passed', attempts: [attempt('no')], original: { prediction: 'stale', score: 1, correct: true, error_kind: null } } }),
      'r',
    );
    assert.deepEqual(repaired.repair, { max_repairs: 2, repairs: 1, stopped: 'passed', original: { prediction: 'no', score: 0, correct: false, error_kind: null, invalid: null } });
    const firstFailed = resultFromRecord(
      Q(),
      record({ final_answer: 'yes', repair: { max_repairs: 1, repairs: 1, stopped: 'passed', attempts: [attempt('yes')], original: { prediction: null, score: 0, correct: false, error_kind: 'program' } } }),
      'r',
    );
    assert.deepEqual(firstFailed.repair?.original, { prediction: null, score: 0, correct: false, error_kind: 'program', invalid: null });
    const notNeeded = resultFromRecord(
      Q(),
      record({ final_answer: 'yes', repair: { max_repairs: 3, repairs: 0, stopped: 'not_needed', attempts: [], original: { prediction: 'no', score: 0, correct: false, error_kind: null } } }),
      'r',
    );
    assert.deepEqual(notNeeded.repair, { max_repairs: 3, repairs: 0, stopped: 'not_needed', original: { prediction: 'yes', score: 1, correct: true, error_kind: null, invalid: null } });
  });
});

describe('tool calls that ride out an outage', () => {
  /** Tools whose gd_detect fails with `errors` in turn, then answers; each call's signal is kept. */
  function flaky(errors: unknown[]): { tools: Tools; calls: number; signals: AbortSignal[] } {
    const s = { calls: 0, signals: [] as AbortSignal[], tools: idleTools };
    s.tools = {
      ...idleTools,
      gd_detect: async (_img, _prompt, signal) => {
        s.calls++;
        if (signal) s.signals.push(signal);
        const e = errors.shift();
        if (e !== undefined) throw e;
        return { value: [] };
      },
      depth: async () => ({ value: 2.5 }),
      vqa: async (_img, bbox, prompt) => ({ value: `${prompt}:${bbox ? bbox.join(',') : 'none'}` }),
    };
    return s;
  }
  const down = (): Error => Object.assign(new Error('connect ECONNREFUSED'), { status: undefined });

  it('retries a call the server could not answer, with delays doubling from delayMs (mock clock), then answers', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const f = flaky([down(), down()]);
    const retries: number[] = [];
    const outages: Error[] = [];
    const tools = withToolRetries(f.tools, { retries: 3, delayMs: 100, signal: new AbortController().signal, onRetry: (_e, n) => retries.push(n), onOutage: (e) => outages.push(e) });
    const p = tools.gd_detect('/i.png', 'mug');
    const settle = () => new Promise((r) => setImmediate(r));
    await settle();
    assert.equal(f.calls, 1);
    t.mock.timers.tick(99);
    await settle();
    assert.equal(f.calls, 1, 'the first retry waits delayMs');
    t.mock.timers.tick(1);
    await settle();
    assert.equal(f.calls, 2);
    t.mock.timers.tick(199);
    await settle();
    assert.equal(f.calls, 2, 'the second waits twice as long');
    t.mock.timers.tick(1);
    assert.deepEqual(await p, { value: [] });
    assert.equal(f.calls, 3);
    assert.deepEqual(retries, [1, 2]);
    assert.deepEqual(outages, []);
  });

  it('after `retries` more attempts the outage is reported once and the error thrown; 0 retries is one attempt', async () => {
    const errs = [down(), down(), down()];
    const f = flaky([...errs]);
    const outages: Error[] = [];
    const tools = withToolRetries(f.tools, { retries: 2, delayMs: 0, signal: new AbortController().signal, onOutage: (e) => outages.push(e) });
    await assert.rejects(tools.gd_detect('/i.png', 'mug'), (e) => e === errs[2]);
    assert.equal(f.calls, 3);
    assert.deepEqual(outages, [errs[2]]);
    const g = flaky([down()]);
    const once: Error[] = [];
    await assert.rejects(withToolRetries(g.tools, { retries: 0, delayMs: 0, signal: new AbortController().signal, onOutage: (e) => once.push(e) }).gd_detect('/i.png', 'mug'));
    assert.equal(g.calls, 1);
    assert.equal(once.length, 1);
  });

  it('a ToolError (the server refused the call) goes straight to the program; a refused token (401) is an outage at once', async () => {
    const te = new ToolError('bad bbox', 'ValueError');
    const f = flaky([te]);
    const outages: Error[] = [];
    const o = { retries: 3, delayMs: 0, signal: new AbortController().signal, onOutage: (e: Error) => outages.push(e) };
    await assert.rejects(withToolRetries(f.tools, o).gd_detect('/i.png', 'mug'), (e) => e === te);
    assert.equal(f.calls, 1);
    assert.deepEqual(outages, []);
    const refused = Object.assign(new Error('401 Unauthorized'), { status: 401 });
    const g = flaky([refused]);
    await assert.rejects(withToolRetries(g.tools, o).gd_detect('/i.png', 'mug'), (e) => e === refused);
    assert.equal(g.calls, 1);
    assert.deepEqual(outages, [refused]);
    assert.equal(fatalToolOutage(refused), 'the tool server refused the token: 401 Unauthorized');
    assert.equal(fatalToolOutage(Object.assign(new Error('503'), { status: 503 })), undefined);
    assert.equal(fatalToolOutage(undefined), undefined);
  });

  it('a cancellation is not an outage: an AbortError, or the run\'s signal aborting during the wait, is thrown without a retry', async () => {
    const abortErr = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const f = flaky([abortErr]);
    const outages: Error[] = [];
    await assert.rejects(withToolRetries(f.tools, { retries: 3, delayMs: 0, signal: new AbortController().signal, onOutage: (e) => outages.push(e) }).gd_detect('/i.png', 'mug'), (e) => e === abortErr);
    assert.equal(f.calls, 1);
    const ac = new AbortController();
    const g = flaky([down(), down()]);
    const p = withToolRetries(g.tools, { retries: 3, delayMs: 60_000, signal: ac.signal, onRetry: () => ac.abort(), onOutage: (e) => outages.push(e) }).gd_detect('/i.png', 'mug');
    await assert.rejects(p, (e: Error) => e.name === 'AbortError');
    assert.equal(g.calls, 1);
    assert.deepEqual(outages, []);
  });

  it('each call gets the run\'s signal joined with its own; depth and vqa pass their arguments through', async () => {
    const run = new AbortController();
    const own = new AbortController();
    const f = flaky([]);
    const tools = withToolRetries(f.tools, { retries: 0, delayMs: 0, signal: run.signal, onOutage: () => undefined });
    await tools.gd_detect('/i.png', 'mug', own.signal);
    await tools.gd_detect('/i.png', 'mug');
    assert.equal(f.signals.length, 2);
    assert.equal(f.signals[1], run.signal, 'without its own signal a call listens on the run');
    own.abort();
    assert.equal(f.signals[0]?.aborted, true, 'the call\'s own signal aborts it');
    assert.equal(f.signals[1]?.aborted, false);
    assert.deepEqual(await tools.depth('/i.png', [1, 2, 3, 4]), { value: 2.5 });
    assert.deepEqual(await tools.vqa('/i.png', [1, 2, 3, 4], 'colour?'), { value: 'colour?:1,2,3,4' });
    assert.deepEqual(await tools.vqa('/i.png', null, 'colour?'), { value: 'colour?:none' });
  });
});

describe('cancellation', () => {
  it('isAbort: anything once the signal is aborted; otherwise an AbortError or a cancelled ChatError only', () => {
    const live = new AbortController().signal;
    const gone = AbortSignal.abort();
    assert.equal(isAbort(new Error('x'), gone), true);
    assert.equal(isAbort(null, gone), true);
    assert.equal(isAbort(Object.assign(new Error('x'), { name: 'AbortError' }), live), true);
    assert.equal(isAbort(new ChatError('stop', 'cancelled'), live), true);
    assert.equal(isAbort(new ChatError('503', 'server'), live), false);
    assert.equal(isAbort(new Error('x'), live), false);
    assert.equal(isAbort(null, live), false);
  });

  it('sleep resolves after its time, rejects at once on an aborted signal (its reason when an Error) and with an AbortError when aborted during the wait', async (t) => {
    const reason = new Error('stopped by the user');
    await assert.rejects(sleep(10, AbortSignal.abort(reason)), (e) => e === reason);
    await assert.rejects(sleep(10, AbortSignal.abort('no error')), (e: Error) => e.message === 'aborted');
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await assert.rejects(p, (e: Error) => e.name === 'AbortError' && e.message === 'The operation was aborted');
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let done = false;
    const q = sleep(50, new AbortController().signal).then(() => (done = true));
    t.mock.timers.tick(49);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    t.mock.timers.tick(1);
    await q;
    assert.equal(done, true);
  });

  it('sleep takes its listener off the signal when the time is up: eleven sleeps on one signal raise no leak warning', async () => {
    const signal = new AbortController().signal;
    assert.equal(await warnsWhile(async () => {
      for (let i = 0; i < 11; i++) await sleep(0, signal);
    }), false);
  });

  it('linkAbort follows the caller\'s signal until disposed, starts aborted with an aborted caller, and aborts on its own', () => {
    const outer = new AbortController();
    const a = linkAbort(outer.signal, 2);
    assert.equal(a.signal.aborted, false);
    outer.abort();
    assert.equal(a.signal.aborted, true);
    const outer2 = new AbortController();
    const b = linkAbort(outer2.signal, 2);
    b.dispose();
    outer2.abort();
    assert.equal(b.signal.aborted, false, 'disposed: the caller\'s abort no longer reaches the run');
    assert.equal(linkAbort(AbortSignal.abort(), 1).signal.aborted, true);
    const c = linkAbort(undefined, 1);
    c.dispose();
    c.abort();
    assert.equal(c.signal.aborted, true);
  });
});

describe('what a failure becomes', () => {
  it('classifyRunFailure: a refused key or configuration stops the run; 400 is endpoint_error, other endpoint failures outages; no python3 stops; the rest internal', () => {
    assert.deepEqual(classifyRunFailure(new ChatError('bad key', 'auth', 401)), { fatal: 'the generator endpoint refused the request: bad key' });
    assert.deepEqual(classifyRunFailure(new ChatError('no model', 'config')), { fatal: 'the generator endpoint refused the request: no model' });
    assert.deepEqual(classifyRunFailure(new ChatError('too long', 'bad_request', 400)), { kind: 'endpoint_error', error: { type: 'ChatError:bad_request', message: 'too long' } });
    for (const k of ['server', 'timeout', 'network', 'rate_limit'] as const) {
      assert.deepEqual(classifyRunFailure(new ChatError('down', k)), { kind: 'endpoint_outage', error: { type: `ChatError:${k}`, message: 'down' } });
    }
    assert.deepEqual(classifyRunFailure(new RunnerSetupError('python3 not found', 'python-missing')), { fatal: 'python3 not found' });
    assert.deepEqual(classifyRunFailure(new TypeError('x is undefined')), { kind: 'internal', error: { type: 'TypeError', message: 'x is undefined' } });
    assert.deepEqual(classifyRunFailure('boom'), { kind: 'internal', error: { type: 'Error', message: 'boom' } });
    assert.deepEqual(classifyRunFailure(null), { kind: 'internal', error: { type: 'Error', message: 'null' } });
  });

  it('imageFailure names ImageInputError, another error by its name, and a thrown value as text', () => {
    assert.deepEqual(imageFailure(new ImageInputError('image not found: /x.png')), { type: 'ImageInputError', message: 'image not found: /x.png' });
    assert.deepEqual(imageFailure(new RangeError('too big')), { type: 'RangeError', message: 'too big' });
    assert.deepEqual(imageFailure('eh'), { type: 'Error', message: 'eh' });
    assert.deepEqual(imageFailure(undefined), { type: 'Error', message: 'undefined' });
  });

  it('runErrorKind: an outage first, then NoProgram, then any other error; none when it answered', () => {
    const outage = new Error('down');
    assert.equal(runErrorKind(record({ error: { type: 'NoProgram', message: 'n', line: null } }), outage), 'tool_outage');
    assert.equal(runErrorKind(record(), outage), 'tool_outage');
    assert.equal(runErrorKind(record({ error: { type: 'NoProgram', message: 'n', line: null } }), undefined), 'no_program');
    assert.equal(runErrorKind(record({ error: { type: 'Timeout', message: 't', line: null } }), undefined), 'program');
    assert.equal(runErrorKind(record(), undefined), null);
  });
});

// ---------------------------------------------------------------------------------------------
// The output folder, resume and the summary document, on files in a temporary folder.

const Bench = [
  { id: 'a', question: 'Is it red? [a]', image: 'red.png', answer: 'yes', answer_type: 'yes/no' },
  { id: 'b', question: 'Is it blue? [b]', image: 'red.png', answer: 'no', answer_type: 'yes/no' },
  { id: 'c', question: 'Is it green? [c]', image: 'red.png', answer: 'no', answer_type: 'yes/no' },
];

function ctxIn(out: string, over: Partial<EvalOptions> = {}, deps: Partial<EvalDeps> = {}) {
  const events: EvalEvent[] = [];
  const ctx = createEvalContext({ dataset: dataset(Bench), imagesDir: join(work, 'imgs'), outDir: join(work, out), onEvent: (e) => events.push(e), ...over }, depsOf(deps));
  return { ctx, events, warnings: () => events.flatMap((e) => (e.kind === 'warn' ? [e.message] : [])) };
}

const readJson = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

describe('the output folder', () => {
  it('a new folder gets a manifest of what the run is of (no repair entry for 0)', async () => {
    const { ctx } = ctxIn('fresh', { shard: { index: 1, count: 2 } });
    await prepareOutputFolder(ctx);
    const m = await readJson(join(work, 'fresh', 'manifest.json'));
    const { created, ...rest } = m;
    assert.match(String(created), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(rest, {
      version: 1,
      input_sha256: 'a'.repeat(64),
      input_path: '/bench/b.jsonl',
      shard: { index: 1, count: 2 },
      generator_model: 'gen-model',
      sampling: JSON.parse(JSON.stringify(VALOR_SAMPLING)),
      prompt_sha256: BUILTIN_PROMPT.sha256,
      score: false,
    });
    assert.deepEqual(await readdir(join(work, 'fresh', 'runs')), []);
    const { ctx: r } = ctxIn('fresh-r', { repair: 2 }, { scorer: async () => ({ verdicts: [], total: 1, incomplete: false, weights: {} }) });
    await prepareOutputFolder(r);
    const m2 = await readJson(join(work, 'fresh-r', 'manifest.json'));
    assert.deepEqual([m2.repair, m2.score, m2.shard], [2, true, null]);
  });

  it('without --resume, a folder with records or a manifest is refused, saying how many records (only *.json count)', async () => {
    const { ctx } = ctxIn('taken');
    await mkdir(join(work, 'taken', 'runs'), { recursive: true });
    for (const n of ['a.json', 'b.json', 'c.json.1.ab.tmp']) await writeFile(join(work, 'taken', 'runs', n), '{}');
    await assert.rejects(
      prepareOutputFolder(ctx),
      (e: Error) => e instanceof EvalSetupError && e.name === 'EvalSetupError' && e.message === `${join(work, 'taken')} already holds an eval run (2 run records). Pass --resume to continue it, or choose another --out folder.`,
    );
    const { ctx: m } = ctxIn('manifest-only');
    await prepareOutputFolder(m);
    await assert.rejects(prepareOutputFolder(m), (e: Error) => e instanceof EvalSetupError && /already holds an eval run \(0 run records\)/.test(e.message));
  });

  it('--resume with other settings is refused naming every difference; the same settings keep the first created time', async () => {
    const first = ctxIn('settings', { shard: { index: 1, count: 2 }, repair: 2 });
    await prepareOutputFolder(first.ctx);
    const created = (await readJson(join(work, 'settings', 'manifest.json'))).created;
    await new Promise((r) => setTimeout(r, 5));
    const again = ctxIn('settings', { shard: { index: 1, count: 2 }, repair: 2, resume: true });
    await prepareOutputFolder(again.ctx);
    assert.equal((await readJson(join(work, 'settings', 'manifest.json'))).created, created);

    const other = createEvalContext(
      { dataset: dataset(Bench, '/bench/b.jsonl', 'c'.repeat(64)), imagesDir: work, outDir: join(work, 'settings'), resume: true, sampling: { temperature: 0 }, prompt: { ...BUILTIN_PROMPT, sha256: 'd'.repeat(64) } as never },
      depsOf({ generator: { ...idleGenerator, model: 'other-model' }, scorer: async () => ({ verdicts: [], total: 1, incomplete: false, weights: {} }) }),
    );
    await assert.rejects(
      prepareOutputFolder(other),
      (e: Error) =>
        e instanceof EvalSetupError &&
        e.message ===
          `cannot resume the run in ${join(work, 'settings')}: the benchmark file changed (its sha256 differs); the shard differs (was 1/2); the generator model differs (was 'gen-model'); the sampling settings differ; the generation prompt differs (its sha256); --score was off; --repair was 2. Resume with the same settings, or choose another --out folder.`,
    );
  });

  it('a manifest from before the prompt and --repair were recorded resumes with our prompt and no repair, and not otherwise', async () => {
    const dir = join(work, 'old-manifest');
    await mkdir(dir, { recursive: true });
    const old = { version: 1, input_sha256: 'a'.repeat(64), input_path: '/bench/b.jsonl', shard: null, generator_model: 'gen-model', sampling: VALOR_SAMPLING, score: true, created: '2025-01-01T00:00:00.000Z' };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(old));
    const scorer = async () => ({ verdicts: [], total: 1, incomplete: false, weights: {} });
    await prepareOutputFolder(ctxIn('old-manifest', { resume: true }, { scorer }).ctx);
    assert.equal((await readJson(join(dir, 'manifest.json'))).created, '2025-01-01T00:00:00.000Z');
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(old));
    await assert.rejects(prepareOutputFolder(ctxIn('old-manifest', { resume: true, repair: 1 }, { scorer }).ctx), /: --repair was 0\. Resume/);
    await assert.rejects(prepareOutputFolder(ctxIn('old-manifest', { resume: true }).ctx), /: --score was on\. Resume/);
    await assert.rejects(
      prepareOutputFolder(ctxIn('old-manifest', { resume: true, prompt: { ...BUILTIN_PROMPT, sha256: 'e'.repeat(64) } as never }, { scorer }).ctx),
      /: the generation prompt differs \(its sha256\)\. Resume/,
    );
    // A shard now where there was none.
    await assert.rejects(prepareOutputFolder(ctxIn('old-manifest', { resume: true, shard: { index: 0, count: 2 } }, { scorer }).ctx), /: the shard differs \(was none\)\. Resume/);
  });

  it('an unreadable manifest counts as none; partial record files are removed with a warning', async () => {
    const dir = join(work, 'torn');
    await mkdir(join(dir, 'runs'), { recursive: true });
    await writeFile(join(dir, 'manifest.json'), '{"version": 1, "inp');
    await writeFile(join(dir, 'runs', 'a.json.9.ff.tmp'), '{"trunc');
    await writeFile(join(dir, 'runs', 'b.json.9.ee.tmp'), '{"trunc');
    const c = ctxIn('torn', { resume: true });
    await prepareOutputFolder(c.ctx);
    assert.deepEqual(c.warnings(), ['removed 2 partial record file(s) left by an interrupted run']);
    assert.deepEqual(await readdir(join(dir, 'runs')), []);
    assert.equal((await readJson(join(dir, 'manifest.json'))).input_sha256, 'a'.repeat(64));
    const quiet = ctxIn('torn', { resume: true });
    await prepareOutputFolder(quiet.ctx);
    assert.deepEqual(quiet.warnings(), []);
  });

  it('writeEvalOutputs writes summary.json (indented, one trailing newline) into a folder it makes, and no report when asked not to', async () => {
    const dir = join(work, 'outputs', 'deep');
    const summary = { kind: 'valor-eval-summary', n: 1 } as never;
    const w = await writeEvalOutputs(dir, summary, false);
    assert.deepEqual(w, { summaryPath: join(dir, 'summary.json'), reportPath: null });
    assert.equal(await readFile(join(dir, 'summary.json'), 'utf8'), '{\n  "kind": "valor-eval-summary",\n  "n": 1\n}\n');
    assert.deepEqual((await readdir(dir)).sort(), ['summary.json']);
  });
});

/** The record a finished question of `Bench` leaves (eval block included). */
function benchRecord(id: string, over: Partial<RunRecord> = {}, kind: string | null = null): RunRecord {
  const line = Bench.findIndex((b) => b.id === id) + 1;
  const b = Bench[line - 1]!;
  return record({
    id: recordName(id),
    query: b.question,
    eval: { question_id: id, line, answer_type: 'yesno', ground_truth: b.answer, prediction: 'yes', score: 0, correct: false, invalid: null, error_kind: kind },
    ...over,
  });
}

describe('--resume: which records are reused', () => {
  it('reuses answered and failed records, runs outages (every retryable kind) again and counts them, and reads nothing without --resume', async () => {
    const out = join(work, 'resume-kinds');
    const runs = join(out, 'runs');
    const bench = [...Bench, { id: 'd', question: 'Q d', image: 'red.png', answer: 'yes', answer_type: 'yes/no' }, { id: 'e', question: 'Q e', image: 'red.png', answer: 'yes', answer_type: 'yes/no' }, { id: 'f', question: 'Q f', image: 'red.png', answer: 'yes', answer_type: 'yes/no' }];
    const ds = dataset(bench);
    const rec = (id: string, kind: string | null) => {
      const q = ds.questions.find((x) => x.id === id)!;
      return record({ id: recordName(id), query: q.question, eval: { question_id: id, line: q.line, answer_type: 'yesno', ground_truth: q.answer, prediction: null, score: 0, correct: false, invalid: null, error_kind: kind } });
    };
    await writeRunRecord(runs, rec('a', null));
    await writeRunRecord(runs, rec('b', 'tool_outage'));
    await writeRunRecord(runs, rec('c', 'endpoint_outage'));
    await writeRunRecord(runs, rec('d', 'internal'));
    await writeRunRecord(runs, { ...rec('e', 'endpoint_error'), error: { type: 'ChatError:bad_request', message: 'too long', line: null } });
    // f has no record: not a warning, just a question to run.
    const events: EvalEvent[] = [];
    const ctx = createEvalContext({ dataset: ds, imagesDir: work, outDir: out, resume: true, onEvent: (e) => events.push(e) }, depsOf());
    const got = await reuseFinishedResults(ctx, ds.questions);
    assert.equal(got.retrying, 3);
    assert.deepEqual([...got.results.keys()].sort(), ['a', 'e']);
    assert.deepEqual([got.results.get('a')?.correct, got.results.get('a')?.record], [true, `runs/${recordName('a')}.json`]);
    assert.equal(got.results.get('e')?.error_kind, 'endpoint_error');
    assert.deepEqual(events, []);
    const fresh = await reuseFinishedResults(createEvalContext({ dataset: ds, imagesDir: work, outDir: out }, depsOf()), ds.questions);
    assert.deepEqual([fresh.results.size, fresh.retrying], [0, 0]);
  });

  it('a record of another question (by id or by question text) or one that cannot be read is run again, with a warning naming it', async () => {
    const out = join(work, 'resume-foreign');
    const runs = join(out, 'runs');
    await writeRunRecord(runs, benchRecord('a', { eval: { question_id: 'zz', line: 1, answer_type: 'yesno', ground_truth: 'yes', prediction: null, score: 0, correct: false, invalid: null, error_kind: null } }));
    await writeRunRecord(runs, benchRecord('b', { query: 'Is it purple?' }));
    await mkdir(runs, { recursive: true });
    await writeFile(join(runs, `${recordName('c')}.json`), '{"version": 1, "id": ');
    const c = ctxIn('resume-foreign', { resume: true });
    const got = await reuseFinishedResults(c.ctx, c.ctx.opts.dataset.questions);
    assert.equal(got.results.size, 0);
    assert.equal(got.retrying, 0);
    // The records are read at once, so the warnings come in any order: sorted, the paths first.
    const w = c.warnings().sort();
    assert.equal(w.length, 3);
    assert.equal(w[0], `${recordPath(join(work, 'resume-foreign'), 'a')} belongs to another question; running question a (line 1) again`);
    assert.equal(w[1], `${recordPath(join(work, 'resume-foreign'), 'b')} belongs to another question; running question b (line 2) again`);
    assert.ok(w[2]?.startsWith(`cannot read run record ${recordPath(join(work, 'resume-foreign'), 'c')}: `), w[2]);
    assert.ok(w[2]?.endsWith('; running question c (line 3) again'), w[2]);
  });

  it('a record without an eval block belongs to no question', async () => {
    const out = join(work, 'resume-noeval');
    await writeRunRecord(join(out, 'runs'), record({ id: recordName('a'), query: Bench[0]!.question }));
    const c = ctxIn('resume-noeval', { resume: true });
    const got = await reuseFinishedResults(c.ctx, c.ctx.opts.dataset.questions.slice(0, 1));
    assert.equal(got.results.size, 0);
    assert.match(c.warnings()[0] ?? '', /belongs to another question; running question a \(line 1\) again$/);
  });
});

describe('the summary document of a run', () => {
  const figures = { peak_rss_mb: 100, peak_heap_mb: 20, live_heap_mb: null };

  it('records the settings, models and timings; results in input order; complete when every question has a result', () => {
    const { ctx } = ctxIn('sum', { concurrency: 2, timeoutMs: 5000, memoryMB: 512, toolRetries: 1, regenerate: true, resumeCommand: 'valor eval --resume' }, {
      toolModels: { gd_detect: 'gdino-tiny' },
    });
    const [qa, qb, qc] = ctx.opts.dataset.questions as [EvalQuestion, EvalQuestion, EvalQuestion];
    const results = [
      resultFromRecord(qc, benchRecord('c', { final_answer: 'no', generator: { base_url: 'u', model: 'm-1', settings: {} } }), 'runs/c.json'),
      resultFromRecord(qa, benchRecord('a', { final_answer: 'yes', generator: { base_url: 'u', model: 'm-2', settings: {} } }), 'runs/a.json'),
      resultFromRecord(qb, benchRecord('b', { final_answer: 'no', generator: { base_url: 'u', model: 'm-2', settings: {} } }), 'runs/b.json'),
    ];
    const s = buildRunSummary(ctx, { results, selected: 3, interrupted: false, sessionDone: 2, wallMs: 4000.4, memory: figures });
    assert.equal(s.version, 1);
    assert.equal(s.kind, 'valor-eval-summary');
    assert.equal(s.complete, true);
    assert.equal(s.resume_command, undefined, 'a complete run has nothing to resume');
    assert.equal(s.interrupted, false);
    assert.deepEqual(s.input, { path: '/bench/b.jsonl', sha256: 'a'.repeat(64), format: 'jsonl', entries: 3, questions: 3, problems: [] });
    assert.equal(s.images, join(work, 'imgs'));
    assert.equal(s.shard, null);
    assert.deepEqual(s.settings, { concurrency: 2, limit: null, timeout_ms: 5000, memory_mb: 512, score: false, tool_retries: 1, regenerate: true, sampling: JSON.parse(JSON.stringify(VALOR_SAMPLING)) });
    assert.deepEqual(s.models, {
      generator: { base_url: 'http://gen.invalid/v1', model: 'gen-model', reported: ['m-1', 'm-2'] /* once each, sorted: not in input order (m-2, m-2, m-1) */, prompt: { source: 'builtin', path: null, sha256: BUILTIN_PROMPT.sha256 } },
      tools: { url: 'http://tools.invalid', models: { gd_detect: 'gdino-tiny' } },
      judges: null,
    });
    assert.deepEqual(s.results.map((r) => r.id), ['a', 'b', 'c']);
    assert.equal(s.counts.correct, 3);
    assert.deepEqual(s.timings, { wall_ms: 4000, session_done: 2, questions_per_s: 2 / 4.0004, memory: figures });
  });

  it('an unfinished run is incomplete and carries its resume command; nothing done this session has no rate; judges only with --score', () => {
    const judges = { base_url: 'http://judge/v1', model: 'judge-m' };
    const { ctx } = ctxIn('sum2', { resumeCommand: 'valor eval b.jsonl --resume', limit: 3, repair: 1 }, { judges });
    const [qa] = ctx.opts.dataset.questions as [EvalQuestion];
    const s = buildRunSummary(ctx, { results: [resultFromRecord(qa, benchRecord('a'), 'runs/a.json')], selected: 3, interrupted: true, sessionDone: 0, wallMs: 10, memory: figures });
    assert.equal(s.complete, false);
    assert.equal(s.resume_command, 'valor eval b.jsonl --resume');
    assert.equal(s.interrupted, true);
    assert.equal(s.settings.limit, 3);
    assert.equal(s.settings.repair, 1);
    assert.equal(s.settings.memory_mb, null);
    assert.equal(s.settings.regenerate, false);
    assert.equal(s.timings.questions_per_s, null);
    assert.deepEqual(s.models.generator.reported, [], 'a result without a model id adds none');
    assert.equal(s.models.judges, null, 'no scorer: no judges, whatever was passed');
    assert.deepEqual(s.models.tools, { url: 'http://tools.invalid' });
    const scorer = async () => ({ verdicts: [], total: 1, incomplete: false, weights: {} });
    const scored = buildRunSummary(ctxIn('sum3', {}, { judges, scorer }).ctx, { results: [], selected: 0, interrupted: false, sessionDone: 0, wallMs: 1, memory: figures });
    assert.deepEqual(scored.models.judges, judges);
    assert.equal(scored.settings.score, true);
    assert.equal(buildRunSummary(ctxIn('sum4', {}, { scorer }).ctx, { results: [], selected: 0, interrupted: false, sessionDone: 0, wallMs: 1, memory: figures }).models.judges, null);
    // An outage left is unfinished too (not evaluated), without a resume command when none was given.
    const outage = resultFromRecord(qa, benchRecord('a', {}, 'tool_outage'), 'runs/a.json');
    const o = buildRunSummary(ctxIn('sum5').ctx, { results: [outage], selected: 1, interrupted: false, sessionDone: 1, wallMs: 1, memory: figures });
    assert.equal(o.complete, false);
    assert.equal(o.resume_command, undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// The pool: a step given per question (here one that returns a record made by hand).

describe('the pool of questions', () => {
  const answered = (id: string, answer: string) => benchRecord(id, { final_answer: answer });

  it('ResultTally counts the correct and failed results it starts with and each one added', () => {
    const [qa, qb, qc] = dataset(Bench).questions as [EvalQuestion, EvalQuestion, EvalQuestion];
    const ok = resultFromRecord(qa, answered('a', 'yes'), 'r');
    const wrong = resultFromRecord(qb, answered('b', 'yes'), 'r');
    const failed = resultFromRecord(qc, benchRecord('c', { error: { type: 'ValueError', message: 'v', line: 1 } }), 'r');
    const t = new ResultTally(new Map([[ok.id, ok], [failed.id, failed]]));
    assert.deepEqual([t.correct, t.failed, t.results.size], [1, 1, 2]);
    t.add(wrong);
    assert.deepEqual([t.correct, t.failed, t.results.size], [1, 1, 3]);
    t.add(resultFromRecord(qa, answered('a', 'yes'), 'r'));
    assert.deepEqual([t.correct, t.failed], [2, 1]);
  });

  it('writes each record, adds its result and announces it with the running counts', async () => {
    const { ctx, events } = ctxIn('pool-ok');
    await mkdir(ctx.runsDir, { recursive: true });
    const answers: Record<string, string> = { a: 'yes', b: 'yes', c: 'no' };
    const step: ItemStep = async (_c, q) => (q.id === 'c' ? { record: benchRecord('c', { error: { type: 'ValueError', message: 'v', line: 1 } }) } : { record: answered(q.id, answers[q.id]!) });
    const tally = new ResultTally(new Map());
    const abort = linkAbort(undefined, 1);
    const stop = await runQuestions(ctx, ctx.opts.dataset.questions, step, tally, 5, abort);
    assert.equal(stop, undefined);
    assert.deepEqual((await readdir(ctx.runsDir)).sort(), ['a', 'b', 'c'].map((id) => `${recordName(id)}.json`).sort());
    assert.deepEqual(
      events.map((e) => (e.kind === 'result' ? [e.result.id, e.done, e.selected, e.correct, e.failed] : e)),
      [['a', 1, 5, 1, 0], ['b', 2, 5, 1, 0], ['c', 3, 5, 1, 1]],
    );
    assert.equal(tally.results.get('c')?.record, `runs/${recordName('c')}.json`);
    assert.equal(abort.signal.aborted, false);
  });

  it('a failure that is not a question\'s stops the run with the question named, aborts the rest and starts no more', async () => {
    const { ctx, events } = ctxIn('pool-bug');
    await mkdir(ctx.runsDir, { recursive: true });
    const started: string[] = [];
    let seen: AbortSignal | undefined;
    const step: ItemStep = async (_c, q, signal) => {
      started.push(q.id);
      seen = signal;
      if (q.id === 'b') throw new Error('ENOSPC: no space left on device');
      return { record: answered(q.id, 'yes') };
    };
    const abort = linkAbort(undefined, 1);
    const stop = await runQuestions(ctx, ctx.opts.dataset.questions, step, new ResultTally(new Map()), 3, abort);
    assert.deepEqual(stop, { reason: 'question b (line 2): ENOSPC: no space left on device', config: false });
    assert.deepEqual(started, ['a', 'b']);
    assert.equal(abort.signal.aborted, true);
    assert.equal(seen, abort.signal, 'each step listens on the run\'s signal');
    assert.equal(events.filter((e) => e.kind === 'result').length, 1);
  });

  it('a step that says the run cannot go on stops it as a configuration problem; only the first reason is kept', async () => {
    const { ctx } = ctxIn('pool-fatal', { concurrency: 2 });
    await mkdir(ctx.runsDir, { recursive: true });
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    let arrived = 0;
    const step: ItemStep = async (_c, q) => {
      if (++arrived === 2) release();
      await both;
      return q.id === 'a' ? { fatal: 'the generator endpoint refused the request: bad key' } : { fatal: 'second reason' };
    };
    const stop = await runQuestions(ctx, ctx.opts.dataset.questions, step, new ResultTally(new Map()), 3, linkAbort(undefined, 2));
    assert.deepEqual(stop, { reason: 'the generator endpoint refused the request: bad key', config: true });
    assert.deepEqual(await readdir(ctx.runsDir), []);
  });

  it('a cancelled question leaves no record and no result; a step that fails because the run was aborted is not a stop', async () => {
    const { ctx, events } = ctxIn('pool-cancel');
    await mkdir(ctx.runsDir, { recursive: true });
    const abort = linkAbort(undefined, 1);
    const step: ItemStep = async (_c, q) => {
      if (q.id === 'a') return { cancelled: true };
      abort.abort();
      throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    };
    const tally = new ResultTally(new Map());
    const stop = await runQuestions(ctx, ctx.opts.dataset.questions, step, tally, 3, abort);
    assert.equal(stop, undefined);
    assert.equal(tally.results.size, 0);
    assert.deepEqual(events, []);
    assert.deepEqual(await readdir(ctx.runsDir), []);
  });

  it('a record that is not valid is not written: the run stops naming the question', async () => {
    const { ctx } = ctxIn('pool-invalid');
    await mkdir(ctx.runsDir, { recursive: true });
    const step: ItemStep = async () => ({ record: { ...answered('a', 'yes'), version: 2 } as unknown as RunRecord });
    const stop = await runQuestions(ctx, ctx.opts.dataset.questions.slice(0, 1), step, new ResultTally(new Map()), 1, linkAbort(undefined, 1));
    assert.equal(stop?.config, false);
    assert.match(stop?.reason ?? '', /^question a \(line 1\): /);
    assert.deepEqual(await readdir(ctx.runsDir), []);
  });
});

// ---------------------------------------------------------------------------------------------
// One question, start to end, where no program runs: a missing image, the generator's answers
// (the real client against the local OpenAI-compatible server), a reply without a program.

describe('one question without a program run', () => {
  let llm: OpenAIServer;
  let imgs: string;
  before(async () => {
    llm = await startOpenAIServer();
    imgs = join(work, 'item-imgs');
    await mkdir(imgs, { recursive: true });
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 220, g: 30, b: 30 } } }).png().toFile(join(imgs, 'red.png'));
  });
  after(async () => {
    await llm.close();
  });

  const NO_PROGRAM = '<plan>\n1. Look.\n</plan>\nI will not write a program.';
  const itemCtx = (deps: Partial<EvalDeps> = {}, over: Partial<EvalOptions> = {}) => {
    const events: EvalEvent[] = [];
    const generator = createChatClient({ baseUrl: llm.url, model: 'gen-m', cacheDir: false, maxRetries: 0 });
    const ctx = createEvalContext({ dataset: dataset(Bench), imagesDir: imgs, outDir: join(work, 'item-out'), onEvent: (e) => events.push(e), ...over }, depsOf({ generator, ...deps }));
    return { ctx, warnings: () => events.flatMap((e) => (e.kind === 'warn' ? [e.message] : [])) };
  };
  const live = () => new AbortController().signal;

  it('a missing image is the question\'s record (kind image), saying how the path was resolved; the generator is not asked', async () => {
    const before = llm.chatRequests().length;
    const { ctx } = itemCtx({ toolModels: { depth: 'depth-tiny' } });
    const t0 = performance.now();
    const out = await evaluateItem(ctx, Q({ id: 'img-1', image: 'missing.png' }), live());
    const took = performance.now() - t0;
    assert.ok('record' in out);
    const r = out.record;
    const path = join(imgs, 'missing.png');
    assert.deepEqual(r.image, { path, sha256: '' });
    assert.equal(r.generator, null);
    assert.deepEqual(r.error, {
      type: 'ImageInputError',
      message: `image not found: ${path} ('missing.png' of question img-1, resolved from the images folder ${imgs} (--images; default: the dataset file's folder)). Check the path.`,
      line: null,
    });
    assert.equal(r.id, recordName('img-1'));
    assert.deepEqual(r.eval, { question_id: 'img-1', line: 1, answer_type: 'yesno', ground_truth: 'yes', prediction: null, score: 0, correct: false, invalid: null, error_kind: 'image' });
    assert.deepEqual(r.tools, { url: 'http://tools.invalid', models: { depth: 'depth-tiny' } });
    // Its time is the question's own: no longer than the call took.
    assert.ok(r.timings.total_ms >= 0 && r.timings.total_ms <= took, `${r.timings.total_ms} of ${took}`);
    assert.equal(llm.chatRequests().length, before);
    const abs = await evaluateItem(ctx, Q({ image: join(work, 'nowhere.png') }), live());
    assert.ok('record' in abs);
    assert.equal(abs.record.error?.message, `image not found: ${join(work, 'nowhere.png')}. Check the path.`);
  });

  it('the generator refusing the request (400) is an endpoint_error record with the generator and the image measured; a refused key stops the run', async () => {
    llm.script({ status: 400, body: { error: { message: 'prompt too long' } } });
    const { ctx } = itemCtx();
    const t0 = performance.now();
    const out = await evaluateItem(ctx, Q(), live());
    const took = performance.now() - t0;
    assert.ok('record' in out);
    const r = out.record;
    assert.equal(r.eval?.error_kind, 'endpoint_error');
    assert.equal(r.error?.type, 'ChatError:bad_request');
    assert.match(r.error?.message ?? '', /prompt too long/);
    assert.deepEqual(r.generator, { base_url: llm.url, model: 'gen-m', settings: { ...VALOR_SAMPLING } });
    assert.deepEqual([r.image.path, r.image.width, r.image.height], [join(imgs, 'red.png'), 64, 48]);
    assert.match(r.image.sha256, /^[0-9a-f]{64}$/);
    assert.equal(r.reply, '');
    assert.deepEqual(r.tools, { url: 'http://tools.invalid' });
    assert.ok(r.timings.total_ms >= 0 && r.timings.total_ms <= took, `${r.timings.total_ms} of ${took}`);
    llm.script({ status: 401, body: { error: { message: 'invalid api key' } } });
    const fatal = await evaluateItem(ctx, Q(), live());
    assert.ok('fatal' in fatal);
    assert.ok(fatal.fatal.startsWith('the generator endpoint refused the request: '), fatal.fatal);
  });

  it('a reply without a program is a no_program record named after the question, its reply scored when --score is on', async () => {
    llm.script({ text: NO_PROGRAM });
    const scored: unknown[] = [];
    const set = { verdicts: [{ reward: 'format' as const, state: 'fail' as const, value: 0, rationale: 'no answer block', judge: 'parser' }], total: 0, incomplete: false, weights: { format: 1 }, total_rule: 'product' as const };
    const { ctx, warnings } = itemCtx({ scorer: async (input) => (scored.push(input), set) });
    const t0 = performance.now();
    const out = await evaluateItem(ctx, Q(), live());
    const took = performance.now() - t0;
    assert.ok('record' in out);
    const r = out.record;
    assert.equal(r.id, recordName('q-1'));
    assert.equal(r.reply, NO_PROGRAM);
    assert.equal(r.error?.type, 'NoProgram');
    assert.equal(r.eval?.error_kind, 'no_program');
    assert.deepEqual(scored, [{ query: 'Is it red?', reply: NO_PROGRAM, imagePath: join(imgs, 'red.png') }]);
    // Stored as a record keeps it: the total rule is not part of it.
    assert.deepEqual(r.rewards, { verdicts: set.verdicts, total: 0, incomplete: false, weights: { format: 1 } });
    assert.deepEqual(warnings(), []);
    assert.ok(r.timings.total_ms >= (r.timings.generate_ms ?? 0) && r.timings.total_ms <= took, `${JSON.stringify(r.timings)} of ${took}`);
  });

  it('a scorer that fails is a warning, not a lost question; an empty reply is not scored', async () => {
    llm.script({ text: NO_PROGRAM }, { text: '  \n\t ' });
    let calls = 0;
    const { ctx, warnings } = itemCtx({
      scorer: async () => {
        calls++;
        throw new Error('judge down');
      },
    });
    const out = await evaluateItem(ctx, Q(), live());
    assert.ok('record' in out);
    assert.equal(out.record.rewards, undefined);
    assert.deepEqual(warnings(), ['question q-1: scoring failed: judge down']);
    const empty = await evaluateItem(ctx, Q(), live());
    assert.ok('record' in empty);
    assert.equal(calls, 1);
    assert.equal(empty.record.eval?.error_kind, 'no_program');
  });

  it('a cancelled run makes no record', async () => {
    llm.script({ text: NO_PROGRAM });
    const { ctx } = itemCtx();
    assert.deepEqual(await evaluateItem(ctx, Q(), AbortSignal.abort()), { cancelled: true });
  });

  it('cancelled while scoring, or right after the reply came (a client of our own that answers although the run was cancelled): no record', async () => {
    llm.script({ text: NO_PROGRAM });
    const ac = new AbortController();
    const { ctx, warnings } = itemCtx({
      scorer: async () => {
        ac.abort();
        throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      },
    });
    assert.deepEqual(await evaluateItem(ctx, Q(), ac.signal), { cancelled: true });
    assert.deepEqual(warnings(), [], 'a cancelled scoring is not a scoring failure');
    const late = new AbortController();
    const generator = {
      ...idleGenerator,
      complete: async () => {
        late.abort();
        return { text: NO_PROGRAM, model: 'gen-m', cached: false, ms: 1 };
      },
    };
    const c2 = createEvalContext({ dataset: dataset(Bench), imagesDir: imgs, outDir: join(work, 'item-out') }, depsOf({ generator }));
    assert.deepEqual(await evaluateItem(c2, Q(), late.signal), { cancelled: true });
  });

  it('withEval adds the question, its options, the score and the error kind; a failed question scores 0 with its answer as text', () => {
    const q = Q({ id: 'mc-1', line: 4, type: 'option', answer: 'B', options: ['red mug', 'blue mug'] });
    // An option is compared by its letter (evalMetricsEdges.test.ts: 'Blue mug!' is b).
    const ok = withEval(q, record({ final_answer: 'Blue mug.' }), null);
    assert.equal(ok.id, recordName('mc-1'));
    assert.deepEqual(ok.eval, { question_id: 'mc-1', line: 4, answer_type: 'option', ground_truth: 'B', options: ['red mug', 'blue mug'], prediction: 'b', score: 1, correct: true, invalid: null, error_kind: null });
    const failed = withEval(Q(), record({ final_answer: 'yes' }), 'program');
    assert.deepEqual(failed.eval, { question_id: 'q-1', line: 1, answer_type: 'yesno', ground_truth: 'yes', prediction: 'yes', score: 0, correct: false, invalid: null, error_kind: 'program' });
    // An answer that cannot be read as its type carries the reason.
    const invalid = withEval(Q({ type: 'count', answer: 3 }), record({ final_answer: 'three chairs' }), null);
    assert.equal(typeof invalid.eval?.invalid, 'string');
    assert.equal(invalid.eval?.correct, false);
  });
});

// ---------------------------------------------------------------------------------------------
// Whole runs whose replies hold no program (nothing for python3 to run): the outcome's status and
// counts, the start event, the files written.

describe('runEval where no program runs', () => {
  let llm: OpenAIServer;
  let dir: string;
  let file: string;
  const NO_PROGRAM = '<plan>\n1. Look.\n</plan>\nNo program today.';
  before(async () => {
    llm = await startOpenAIServer({ handler: () => ({ text: NO_PROGRAM }) });
    dir = join(work, 'run');
    await mkdir(dir, { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(join(dir, 'red.png'));
    file = join(dir, 'b.jsonl');
    await writeFile(file, `${Bench.map((b) => JSON.stringify(b)).join('\n')}\n`);
  });
  after(async () => {
    await llm.close();
  });
  const gen = () => createChatClient({ baseUrl: llm.url, model: 'gen-m', cacheDir: false, maxRetries: 0 });
  const run = async (out: string, over: Partial<EvalOptions> = {}) => {
    const events: EvalEvent[] = [];
    const o = await runEval({ dataset: await loadDataset(file), imagesDir: dir, outDir: join(dir, out), onEvent: (e) => events.push(e), ...over }, depsOf({ generator: gen() }));
    return { o, events };
  };

  it('complete: every question a result, the start event, summary.json and report.html; --resume then reuses them all', async () => {
    const t0 = performance.now();
    const { o, events } = await run('all');
    const took = performance.now() - t0;
    assert.ok(o.summary.timings.wall_ms <= Math.ceil(took), `${o.summary.timings.wall_ms} of ${took}`);
    assert.equal(o.status, 'complete');
    assert.deepEqual([o.ran, o.reused, o.fatal, o.fatalConfig], [3, 0, undefined, undefined]);
    assert.deepEqual(events[0], { kind: 'start', selected: 3, reused: 0, todo: 3, retrying: 0 });
    assert.equal(events.filter((e) => e.kind === 'result').length, 3);
    assert.equal(o.summaryPath, join(dir, 'all', 'summary.json'));
    assert.equal(o.reportPath, join(dir, 'all', 'report.html'));
    assert.deepEqual((await readdir(join(dir, 'all'))).sort(), ['manifest.json', 'report.html', 'runs', 'summary.json']);
    assert.equal(o.summary.counts.failed, 3);
    assert.equal(o.summary.timings.session_done, 3);
    assert.ok(o.summary.timings.wall_ms >= 0);
    const again = await run('all', { resume: true });
    assert.deepEqual([again.o.status, again.o.ran, again.o.reused], ['complete', 0, 3]);
    assert.deepEqual(again.events[0], { kind: 'start', selected: 3, reused: 3, todo: 0, retrying: 0 });
    assert.equal(again.o.summary.timings.session_done, 0);
  });

  it('--limit and no report: two questions, no report.html', async () => {
    const { o } = await run('limited', { limit: 2, report: false });
    assert.deepEqual([o.status, o.ran, o.summary.counts.selected, o.reportPath], ['complete', 2, 2, null]);
    assert.deepEqual((await readdir(join(dir, 'limited'))).sort(), ['manifest.json', 'runs', 'summary.json']);
  });

  it('a refused key stops the run: fatal, as a configuration problem, with the reason; a partial summary is written', async () => {
    llm.setHandler(() => ({ status: 401, body: { error: { message: 'invalid api key' } } }));
    try {
      const { o } = await run('fatal');
      assert.equal(o.status, 'fatal');
      assert.equal(o.fatalConfig, true);
      assert.ok(o.fatal?.startsWith('the generator endpoint refused the request: '), o.fatal);
      assert.equal(o.ran, 0);
      assert.equal(o.summary.complete, false);
      assert.equal((await readJson(o.summaryPath)).kind, 'valor-eval-summary');
    } finally {
      llm.setHandler(() => ({ text: NO_PROGRAM }));
    }
  });

  it('an endpoint outage leaves the run incomplete, and --resume counts the questions it retries', async () => {
    llm.setHandler(() => ({ status: 503, body: { error: { message: 'overloaded' } } }));
    try {
      const { o } = await run('outage', { resumeCommand: 'valor eval b.jsonl --out outage --resume' });
      assert.equal(o.status, 'incomplete');
      assert.equal(o.summary.resume_command, 'valor eval b.jsonl --out outage --resume');
      assert.equal(o.summary.counts.not_evaluated, 3);
    } finally {
      llm.setHandler(() => ({ text: NO_PROGRAM }));
    }
    const again = await run('outage', { resume: true });
    assert.deepEqual(again.events[0], { kind: 'start', selected: 3, reused: 0, todo: 3, retrying: 3 });
    assert.deepEqual([again.o.status, again.o.ran], ['complete', 3]);
  });

  it('cancelled before it starts: interrupted, nothing run, the summary says so', async () => {
    const { o } = await run('cancelled', { signal: AbortSignal.abort() });
    assert.equal(o.status, 'interrupted');
    assert.equal(o.ran, 0);
    assert.equal(o.summary.interrupted, true);
    assert.equal(o.summary.complete, false);
    assert.deepEqual(await readdir(join(dir, 'cancelled', 'runs')), []);
  });

  it('a run leaves no listener on the caller\'s signal: eleven runs with one signal raise no leak warning', async () => {
    const caller = new AbortController();
    const warned = await warnsWhile(async () => {
      for (let i = 0; i < 11; i++) await run(`listeners-${i}`, { limit: 0, signal: caller.signal, report: false });
    });
    assert.equal(warned, false);
  });

  it('a shard runs only its questions', async () => {
    // shardOf(id, 2) for a, b, c (first 48 bits of sha256, python's hashlib): a 1, b 1, c 0.
    const { o } = await run('shard', { shard: { index: 0, count: 2 } });
    assert.deepEqual(o.summary.results.map((r) => r.id), ['c']);
    assert.deepEqual(o.summary.shard, { index: 0, count: 2 });
  });
});

// ---------------------------------------------------------------------------------------------
// Bounded concurrency (src/core/concurrency.ts), which the pool and resume are built on.

describe('bounded concurrency', () => {
  const tick = () => new Promise((r) => setImmediate(r));
  function gate(): { wait: Promise<void>; open: () => void } {
    let open!: () => void;
    const wait = new Promise<void>((r) => (open = r));
    return { wait, open };
  }

  it('a semaphore refuses a limit that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => createSemaphore(bad), (e: Error) => e instanceof RangeError && e.message === `semaphore limit must be a positive integer, got ${bad}`);
    assert.equal(createSemaphore(1).limit, 1);
  });

  it('runs at most `limit` at once, the waiters in arrival order, and frees the slot when a call rejects', async () => {
    const s = createSemaphore(2);
    const gates = [gate(), gate(), gate(), gate()];
    const order: number[] = [];
    const runs = gates.map((g, i) =>
      s.run(async () => {
        order.push(i);
        await g.wait;
        if (i === 0) throw new Error('first fails');
        return i;
      }),
    );
    await tick();
    assert.deepEqual([s.active, s.waiting, order], [2, 2, [0, 1]]);
    gates[0]!.open();
    await assert.rejects(runs[0]!, /first fails/);
    await tick();
    assert.deepEqual([s.active, s.waiting, order], [2, 1, [0, 1, 2]]);
    gates[1]!.open();
    gates[2]!.open();
    gates[3]!.open();
    assert.deepEqual(await Promise.all(runs.slice(1)), [1, 2, 3]);
    assert.deepEqual([s.active, s.waiting, order], [0, 0, [0, 1, 2, 3]]);
  });

  it('a waiter whose signal aborts leaves the queue without taking a slot; an aborted signal is refused at once with its reason', async () => {
    const s = createSemaphore(1);
    const g = gate();
    const first = s.run(() => g.wait);
    const ac = new AbortController();
    let ran = false;
    const waiting = s.run(async () => {
      ran = true;
    }, ac.signal);
    const third = s.run(async () => 'third');
    await tick();
    assert.equal(s.waiting, 2);
    const why = new Error('user stopped');
    ac.abort(why);
    await assert.rejects(waiting, (e) => e === why);
    assert.equal(s.waiting, 1);
    g.open();
    await first;
    assert.equal(await third, 'third');
    assert.equal(ran, false);
    await assert.rejects(s.run(async () => 1, AbortSignal.abort('plain reason')), (e: Error) => e.name === 'AbortError' && e.message === 'The operation was aborted');
    assert.equal(s.active, 0);
  });

  it('a waiter granted its slot takes its listener off the signal: eleven waits with one signal raise no leak warning', async () => {
    const s = createSemaphore(1);
    const signal = new AbortController().signal;
    assert.equal(await warnsWhile(async () => {
      for (let i = 0; i < 11; i++) {
        const g = gate();
        const holder = s.run(() => g.wait);
        const waiter = s.run(async () => i, signal);
        await tick();
        assert.equal(s.waiting, 1);
        g.open();
        await holder;
        assert.equal(await waiter, i);
      }
    }), false);
  });

  it('mapLimit keeps input order with at most `limit` in flight, one worker for a limit below 1, none for no items', async () => {
    let inFlight = 0;
    let most = 0;
    const fn = async (x: number) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await tick();
      inFlight--;
      return x * 2;
    };
    assert.deepEqual(await mapLimit([3, 1, 2, 5, 4], 2, fn), [6, 2, 4, 10, 8]);
    assert.equal(most, 2);
    most = 0;
    assert.deepEqual(await mapLimit([1, 2, 3], 0, fn), [2, 4, 6]);
    assert.equal(most, 1);
    most = 0;
    await mapLimit([1, 2, 3], 2.7, fn);
    assert.equal(most, 2);
    most = 0;
    assert.deepEqual(await mapLimit([1, 2], 10, fn), [2, 4]);
    assert.equal(most, 2);
    let calls = 0;
    assert.deepEqual(await mapLimit([], 3, async () => calls++), []);
    assert.equal(calls, 0);
    assert.deepEqual(await mapLimit(['a', 'b'], 1, async (x, i) => `${x}${i}`), ['a0', 'b1']);
  });

  it('mapLimit: the first rejection rejects the map and starts no further item; an aborted signal rejects with its reason before any item', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimit([0, 1, 2, 3], 1, async (x) => {
        started.push(x);
        if (x === 1) throw new Error('item 1 failed');
        return x;
      }),
      /item 1 failed/,
    );
    assert.deepEqual(started, [0, 1]);
    // Two workers: the one still running finishes its item and takes no other.
    const g = gate();
    const seen: number[] = [];
    const p = mapLimit([0, 1, 2, 3, 4], 2, async (x) => {
      seen.push(x);
      if (x === 0) await g.wait;
      if (x === 1) throw new Error('item 1 failed');
      return x;
    });
    await assert.rejects(p, /item 1 failed/);
    g.open();
    for (let i = 0; i < 5; i++) await tick();
    assert.deepEqual(seen, [0, 1]);
    const why = new Error('gone');
    let calls = 0;
    await assert.rejects(mapLimit([1], 1, async () => calls++, AbortSignal.abort(why)), (e) => e === why);
    assert.deepEqual([...(await mapLimit([1, 2], 1, async () => calls++, AbortSignal.abort(), { onAbort: 'stop' }))], [undefined, undefined]);
    assert.equal(calls, 0);
  });

  it('childSignal follows its parent (with the reason) until disposed, has no listener limit, and never aborts without a parent', () => {
    const parent = new AbortController();
    const c = childSignal(parent.signal);
    assert.equal(c.signal.aborted, false);
    parent.abort('because');
    assert.deepEqual([c.signal.aborted, c.signal.reason], [true, 'because']);
    const p2 = new AbortController();
    const d = childSignal(p2.signal);
    d.dispose();
    p2.abort();
    assert.equal(d.signal.aborted, false);
    const early = childSignal(AbortSignal.abort('early'));
    assert.deepEqual([early.signal.aborted, early.signal.reason], [true, 'early']);
    early.dispose();
    const none = childSignal();
    none.dispose();
    assert.equal(none.signal.aborted, false);
  });

  const warnsAt = (signal: AbortSignal, n: number): Promise<boolean> =>
    warnsWhile(async () => {
      for (let i = 0; i < n; i++) signal.addEventListener('abort', () => undefined);
    });

  it('a child signal takes any number of listeners without a leak warning', async () => {
    assert.equal(await warnsAt(new AbortController().signal, 11), true, 'a plain signal warns past 10');
    assert.equal(await warnsAt(childSignal().signal, 50), false);
    assert.equal(await warnsAt(childSignal(new AbortController().signal).signal, 50), false);
  });

  it('linkAbort sizes the run signal\'s listener budget for its questions (eight each, at least ten)', async () => {
    assert.equal(await warnsAt(linkAbort(undefined, 1).signal, 10), false);
    assert.equal(await warnsAt(linkAbort(undefined, 1).signal, 11), true);
    assert.equal(await warnsAt(linkAbort(undefined, 4).signal, 32), false);
    assert.equal(await warnsAt(linkAbort(undefined, 4).signal, 33), true);
  });
});

// ---------------------------------------------------------------------------------------------
// --repair N around a question, where nothing runs: the first attempt's outcomes that need no
// repair, and repairs whose answers hold no program, are refused, or fail.

describe('the repair step where no program runs', () => {
  let llm: OpenAIServer;
  let imgs: string;
  const NO_PROGRAM = '<plan>\n1. Look.\n</plan>\nNo program.';
  before(async () => {
    llm = await startOpenAIServer();
    imgs = join(work, 'repair-imgs');
    await mkdir(imgs, { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toFile(join(imgs, 'red.png'));
  });
  after(async () => {
    await llm.close();
  });
  const repairCtx = (repair: number) => {
    const events: EvalEvent[] = [];
    const generator = createChatClient({ baseUrl: llm.url, model: 'gen-m', cacheDir: false, maxRetries: 0 });
    const ctx = createEvalContext({ dataset: dataset(Bench), imagesDir: imgs, outDir: join(work, 'repair-out'), repair, onEvent: (e) => events.push(e) }, depsOf({ generator }));
    return { ctx, warnings: () => events.flatMap((e) => (e.kind === 'warn' ? [e.message] : [])) };
  };
  const live = () => new AbortController().signal;
  const q = Q({ id: 'q-1', question: 'Is it red?', image: 'red.png' });
  const evalOf = (kind: string | null, prediction: string | null = 'yes', correct = true) =>
    ({ question_id: 'q-1', line: 1, answer_type: 'yesno' as const, ground_truth: 'yes', prediction, score: correct ? 1 : 0, correct, invalid: null, error_kind: kind });

  it('--repair 0, or a first outcome that is not a record, goes through untouched', async () => {
    const rec = record({ eval: evalOf(null) });
    const same = await repairingStep(async () => ({ record: rec }))(repairCtx(0).ctx, q, live());
    assert.deepEqual(same, { record: rec });
    assert.equal(rec.repair, undefined);
    for (const out of [{ cancelled: true as const }, { fatal: 'stop' }]) assert.deepEqual(await repairingStep(async () => out)(repairCtx(2).ctx, q, live()), out);
  });

  it('an answered question is marked not needed with its first result; an outage stays an outage without a repair part; a record without eval is left alone', async () => {
    const before = llm.chatRequests().length;
    const step = (rec: RunRecord) => repairingStep(async () => ({ record: rec }));
    const ok = await step(record({ eval: evalOf(null, 'no', false), final_answer: 'no' }))(repairCtx(2).ctx, q, live());
    assert.ok('record' in ok);
    assert.deepEqual(ok.record.repair, { max_repairs: 2, repairs: 0, stopped: 'not_needed', attempts: [], original: { prediction: 'no', score: 0, correct: false, error_kind: null } });
    const refused = await step(record({ eval: evalOf('endpoint_error', null, false), error: { type: 'ChatError:bad_request', message: 'x', line: null }, final_answer: null }))(repairCtx(1).ctx, q, live());
    assert.ok('record' in refused);
    assert.deepEqual(refused.record.repair, { max_repairs: 1, repairs: 0, stopped: 'not_needed', attempts: [], original: { prediction: null, score: 0, correct: false, error_kind: 'endpoint_error' } });
    for (const kind of ['tool_outage', 'endpoint_outage', 'internal']) {
      const out = await step(record({ eval: evalOf(kind, null, false), final_answer: null }))(repairCtx(1).ctx, q, live());
      assert.ok('record' in out);
      assert.equal(out.record.repair, undefined, kind);
    }
    const bare = await step(record())(repairCtx(1).ctx, q, live());
    assert.ok('record' in bare);
    assert.equal(bare.record.repair, undefined);
    assert.equal(llm.chatRequests().length, before, 'nothing asked of the generator');
  });

  it('a repair that holds no program is an attempt that ran nothing; after N of them the first record stands with every attempt', async () => {
    llm.script({ text: NO_PROGRAM }, { text: NO_PROGRAM }, { text: 'still <plan>no</plan>' });
    const { ctx, warnings } = repairCtx(2);
    let firstTotal = -1;
    const out = await repairingStep(async (c, x, s) => {
      const o = await evaluateItem(c, x, s);
      if ('record' in o) firstTotal = o.record.timings.total_ms;
      return o;
    })(ctx, q, live());
    assert.ok('record' in out);
    const r = out.record;
    assert.equal(r.reply, NO_PROGRAM);
    assert.equal(r.eval?.error_kind, 'no_program');
    const rp = r.repair!;
    assert.deepEqual([rp.max_repairs, rp.repairs, rp.stopped, rp.refusal], [2, 2, 'max_attempts', undefined]);
    assert.deepEqual(rp.original, { prediction: null, score: 0, correct: false, error_kind: 'no_program' });
    assert.deepEqual(rp.attempts.map((a) => [a.attempt, a.ran, a.failure.kind, a.final_answer, a.error?.type ?? null, 'diff' in a]), [
      [0, true, 'format', null, 'NoProgram', false],
      [1, false, 'format', null, null, false],
      [2, false, 'format', null, null, false],
    ]);
    assert.equal(rp.attempts[1]?.reply, NO_PROGRAM);
    assert.match(rp.attempts[1]?.failure.message ?? '', /^the generator's repair holds no program to run \(format 0/);
    assert.equal(rp.attempts[0]?.error?.line, null);
    // Short texts are kept whole.
    assert.equal(rp.attempts[0]?.error?.message, r.error?.message);
    assert.equal(rp.attempts[0]?.failure.message, 'The reply does not have exactly one <plan> block and one <answer> block: ' + r.format.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message).join(' '));
    assert.deepEqual(warnings(), []);
    assert.equal(r.timings.total_ms, firstTotal, 'the first attempt stands with its own time');
  });

  it('the generator refusing a repair request (400) keeps what was made, with a warning', async () => {
    llm.script({ text: NO_PROGRAM }, { status: 400, body: { error: { message: 'context length exceeded' } } });
    const { ctx, warnings } = repairCtx(3);
    const out = await repairingStep()(ctx, q, live());
    assert.ok('record' in out);
    const rp = out.record.repair!;
    assert.deepEqual([rp.repairs, rp.stopped, rp.attempts.length], [0, 'refused', 1]);
    assert.match(rp.refusal ?? '', /context length exceeded/);
    assert.deepEqual(warnings(), [`question q-1: the generator refused repair request 1 (${rp.refusal}); the 0 attempt(s) before it stand`]);
  });

  /** A generator of our own: its first answer, then what `then` does (the real client shortens an endpoint's message itself). */
  const ownGenerator = (then: () => Promise<{ text: string; model: string; cached: boolean; ms: number }>) => {
    let calls = 0;
    return { ...idleGenerator, complete: async () => (calls++ === 0 ? { text: NO_PROGRAM, model: 'gen-m', cached: false, ms: 1 } : then()) };
  };
  const ownCtx = (generator: ReturnType<typeof ownGenerator>, repair = 1) => createEvalContext({ dataset: dataset(Bench), imagesDir: imgs, outDir: join(work, 'repair-out'), repair }, depsOf({ generator }));

  it('a blank first reply is not scored by the repair loop either (it was not scored before it)', async () => {
    llm.script({ text: '  \n' }, { text: NO_PROGRAM });
    let scored = 0;
    const generator = createChatClient({ baseUrl: llm.url, model: 'gen-m', cacheDir: false, maxRetries: 0 });
    const scorer = async () => {
      scored++;
      return { verdicts: [], total: 0, incomplete: false, weights: {} };
    };
    const ctx = createEvalContext({ dataset: dataset(Bench), imagesDir: imgs, outDir: join(work, 'repair-out'), repair: 1 }, depsOf({ generator, scorer }));
    const out = await repairingStep()(ctx, q, live());
    assert.ok('record' in out);
    assert.deepEqual([out.record.repair?.stopped, out.record.repair?.repairs], ['max_attempts', 1]);
    assert.equal(scored, 0);
  });

  it('a refusal is kept to 2,000 characters', async () => {
    for (const [n, want] of [[2000, 'whole'], [2001, 'clipped']] as const) {
      const long = `context length exceeded ${'x'.repeat(n - 24)}`;
      assert.equal(long.length, n);
      const out = await repairingStep()(ownCtx(ownGenerator(() => Promise.reject(new ChatError(long, 'bad_request', 400)))), q, live());
      assert.ok('record' in out);
      assert.equal(out.record.repair?.refusal, want === 'whole' ? long : `${long.slice(0, 1999)}…`, `${n} characters`);
    }
  });

  it('a record without an eval block that needs repair counts as unanswered without repair', async () => {
    llm.script({ text: NO_PROGRAM });
    const bare = record({ reply: NO_PROGRAM, plan: null, program: null, format: { score: 0, diagnostics: [] }, final_answer: null, error: { type: 'NoProgram', message: 'none', line: null }, image: { path: join(imgs, 'red.png'), sha256: 'c'.repeat(64) } });
    const out = await repairingStep(async () => ({ record: bare }))(repairCtx(1).ctx, q, live());
    assert.ok('record' in out);
    assert.deepEqual(out.record.repair?.original, { prediction: null, score: 0, correct: false, error_kind: null });
  });

  it('cancelled after the last repair came back (a client of our own that answers although the run was cancelled): no record', async () => {
    const ac = new AbortController();
    const generator = ownGenerator(async () => {
      ac.abort();
      return { text: NO_PROGRAM, model: 'gen-m', cached: false, ms: 1 };
    });
    assert.deepEqual(await repairingStep()(ownCtx(generator), q, ac.signal), { cancelled: true });
  });

  it('an unreachable generator during a repair makes the question an outage (run again by --resume); a refused key stops the run', async () => {
    llm.script({ text: NO_PROGRAM }, { status: 503, body: { error: { message: 'overloaded' } } });
    const { ctx, warnings } = repairCtx(2);
    const out = await repairingStep()(ctx, q, live());
    assert.ok('record' in out);
    assert.equal(out.record.eval?.error_kind, 'endpoint_outage');
    assert.equal(out.record.repair, undefined);
    const w = warnings();
    assert.equal(w.length, 1);
    assert.ok(w[0]?.startsWith('question q-1: repair failed (ChatError:server: '), w[0]);
    assert.ok(w[0]?.endsWith('); the question counts as endpoint_outage'), w[0]);
    llm.script({ text: NO_PROGRAM }, { status: 401, body: { error: { message: 'invalid api key' } } });
    const fatal = await repairingStep()(repairCtx(2).ctx, q, live());
    assert.ok('fatal' in fatal);
    assert.ok(fatal.fatal.startsWith('the generator endpoint refused the request: '), fatal.fatal);
  });

  it('a run cancelled during a repair makes no record', async () => {
    const ac = new AbortController();
    llm.script({ text: NO_PROGRAM }, () => {
      ac.abort();
      return { text: NO_PROGRAM };
    });
    assert.deepEqual(await repairingStep()(repairCtx(2).ctx, q, ac.signal), { cancelled: true });
  });
});

// ---------------------------------------------------------------------------------------------
// The image cache and the memory figures.

describe('the image cache', () => {
  const png = (path: string, v: number) => sharp({ create: { width: 4, height: 3, channels: 3, background: { r: v, g: v, b: v } } }).png().toFile(path);

  it('measures an image once: a changed file is not read again, and questions asking at once share one reading', async () => {
    const dir = join(work, 'cache-once');
    await mkdir(dir, { recursive: true });
    const p = join(dir, 'a.png');
    await png(p, 10);
    const cache = new ImageCache();
    const [x, y] = await Promise.all([cache.get(p), cache.get(p)]);
    assert.equal(x, y);
    assert.deepEqual([x.path, x.width, x.height, x.format], [p, 4, 3, 'png']);
    await png(p, 200);
    assert.equal((await cache.get(p)).sha256, x.sha256, 'cached');
    assert.notEqual((await new ImageCache().get(p)).sha256, x.sha256, 'the file did change');
  });

  it('a failed reading is not kept: the next question reads the file again; the error names how the path was resolved', async () => {
    const dir = join(work, 'cache-retry');
    await mkdir(dir, { recursive: true });
    const p = join(dir, 'late.png');
    const cache = new ImageCache();
    await assert.rejects(cache.get(p, 'from the test'), (e: Error) => e instanceof ImageInputError && e.message === `image not found: ${p} (from the test). Check the path.`);
    await png(p, 10);
    assert.equal((await cache.get(p)).width, 4);
  });

  it('holds 256 images and more: it is emptied only when a new image comes past 257', async () => {
    const dir = join(work, 'cache-cap');
    await mkdir(dir, { recursive: true });
    await png(join(dir, 'src.png'), 10);
    const paths = Array.from({ length: 258 }, (_, i) => join(dir, `i${i}.png`));
    for (const p of paths) await copyFile(join(dir, 'src.png'), p);
    const cache = new ImageCache();
    const first = await cache.get(paths[0]!);
    for (const p of paths.slice(1, 257)) await cache.get(p);
    // 257 images held: the first is still cached.
    await png(paths[0]!, 200);
    assert.equal((await cache.get(paths[0]!)).sha256, first.sha256);
    // The 258th empties the cache: the first is read again.
    await cache.get(paths[257]!);
    assert.notEqual((await cache.get(paths[0]!)).sha256, first.sha256);
  });
});

describe('the memory figures of a run', () => {
  it('peaks in whole MiB from the samples, the last one taken at stop; the live heap after a full collection to a tenth of a MiB', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const sampler = startMemorySampler(60_000);
    // About 48 MiB of heap held until after stop: only the sample at stop sees it.
    const held = new Array<number>(6e6).fill(0.5);
    // Wait until a full collection is reported (to our observer, so to the sampler's too).
    const seen = new Promise<void>((res) => {
      const obs = new PerformanceObserver((list) => {
        if (list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR)) {
          obs.disconnect();
          res();
        }
      });
      obs.observe({ entryTypes: ['gc'] });
    });
    gc();
    await seen;
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    sampler.stop();
    const f = sampler.figures();
    const rss = process.memoryUsage().rss / 2 ** 20;
    assert.ok(held.length > 0);
    assert.ok(Number.isInteger(f.peak_rss_mb) && Number.isInteger(f.peak_heap_mb), JSON.stringify(f));
    assert.ok(f.peak_heap_mb >= 48, JSON.stringify(f));
    assert.ok(f.peak_rss_mb > f.peak_heap_mb && f.peak_rss_mb <= 2 * Math.ceil(rss), `${JSON.stringify(f)} rss ${rss}`);
    assert.ok(f.live_heap_mb !== null && f.live_heap_mb >= 40 && f.live_heap_mb <= f.peak_heap_mb + 1, JSON.stringify(f));
    assert.ok(Math.abs(f.live_heap_mb * 10 - Math.round(f.live_heap_mb * 10)) < 1e-9, JSON.stringify(f));
  });
});
