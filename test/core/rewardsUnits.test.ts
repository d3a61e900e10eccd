// The pure parts of the rewards: verdict parsing, degenerate text, totals and weights, and the
// concurrency helpers they run on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSemaphore, mapLimit } from '../../src/core/concurrency.js';
import { checkDegenerate } from '../../src/core/rewards/degenerate.js';
import { parseJudgeReply } from '../../src/core/rewards/verdictParse.js';
import { computeTotal, parseWeights, resolveWeights, DEFAULT_WEIGHTS } from '../../src/core/rewards/total.js';
import type { Verdict } from '../../src/protocol/run.js';

describe('parseJudgeReply', () => {
  const ok = (text: string) => {
    const r = parseJudgeReply(text);
    assert.ok(r.ok, `expected a verdict from ${JSON.stringify(text)}: ${r.ok ? '' : r.problem}`);
    return r;
  };
  const bad = (text: string) => {
    const r = parseJudgeReply(text);
    assert.ok(!r.ok, `expected no verdict from ${JSON.stringify(text)}`);
    return r.problem;
  };

  test('JSON: bare, fenced, embedded in prose, with extra keys', () => {
    assert.deepEqual(ok('{"rationale": "fine", "score": 1}'), { ok: true, score: 1, rationale: 'fine', extraKeys: [], shape: 'json' });
    assert.equal(ok('```json\n{"rationale": "no", "score": 0}\n```').score, 0);
    assert.equal(ok('Here is my verdict: {"rationale": "x", "score": 1} done.').score, 1);
    assert.deepEqual(ok('{"rationale": "x", "score": 0, "confidence": 0.8}').extraKeys, ['confidence']);
  });

  test('tags: rationale before the tag, thinking ignored, agreeing repeats accepted', () => {
    const r = ok('Step 2 compares depth values.\n<answer>1</answer>');
    assert.equal(r.score, 1);
    assert.equal(r.rationale, 'Step 2 compares depth values.');
    assert.equal(r.shape, 'tagged');
    assert.equal(ok('<think><answer>0</answer></think>Good.<answer> 1 </answer>').score, 1);
    assert.equal(ok('<answer>0</answer> so <answer>0</answer>').score, 0);
  });

  test('problems are named, never guessed', () => {
    assert.match(bad('{"rationale": "x", "score": 2}'), /"score" was 2/);
    assert.match(bad('{"rationale": "x", "score": "1"}'), /"score" was "1"/);
    assert.match(bad('{"rationale": "x", "score": 0.5}'), /0\.5/);
    assert.match(bad('{"score": 1}'), /rationale/);
    assert.match(bad('{"rationale": "x"}'), /no "score"/);
    assert.match(bad('<answer>2</answer>'), /held "2"/);
    assert.match(bad('<answer>yes</answer>'), /held "yes"/);
    assert.match(bad('<answer>1</answer> actually <answer>0</answer>'), /disagree/);
    assert.match(bad('The plan is good, I would give it full marks.'), /no verdict/);
    assert.match(bad('   '), /empty/);
  });
});

describe('degenerate text', () => {
  test('missing, blank, wordless and looping text is degenerate; a real plan is not', () => {
    assert.equal(checkDegenerate(null, 'plan').degenerate, true);
    assert.equal(checkDegenerate(' \n ', 'plan').degenerate, true);
    assert.equal(checkDegenerate('1.', 'plan').degenerate, true);
    assert.equal(checkDegenerate(Array(8).fill('detect the cup').join('\n'), 'plan').degenerate, true);
    assert.equal(checkDegenerate(Array(60).fill('cup cup table').join(' '), 'plan').degenerate, true);
    const plan = '1. Detect the cup and the table.\n2. If none, ask vqa.\n3. Compare depth values.\n4. Answer yes or no.';
    assert.deepEqual(checkDegenerate(plan, 'plan'), { degenerate: false });
  });
});

describe('total', () => {
  const v = (reward: Verdict['reward'], value: number | null, state: Verdict['state'] = value === null ? 'error' : value >= 1 ? 'pass' : 'fail'): Verdict => ({
    reward,
    value,
    state,
    rationale: '',
    judge: 'x',
  });
  const all = (format: number, rest: Partial<Record<string, number | null>> = {}): Verdict[] => [
    v('format', format),
    ...(['syntax', 'spatial', 'attribute', 'logic', 'adherence'] as const).map((r) => v(r, rest[r] === undefined ? 1 : (rest[r] as number | null))),
  ];

  test("VALOR's formula with the reference weights", () => {
    const w = resolveWeights();
    // VALOR's reference weighting (valor.md), as numbers, not the constant compared with itself.
    assert.deepEqual(w, { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 });
    assert.deepEqual({ ...DEFAULT_WEIGHTS }, { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 });
    assert.deepEqual(computeTotal(all(1), w), { total: 1, incomplete: false });
    assert.deepEqual(computeTotal(all(1, { logic: 0 }), w), { total: 0.7, incomplete: false });
    assert.deepEqual(computeTotal(all(0.5, { syntax: 0 }), w), { total: 0.45, incomplete: false });
    assert.deepEqual(computeTotal(all(0, { logic: null }), w), { total: 0, incomplete: false });
  });

  test('a needed verdict in error makes the total null and incomplete', () => {
    assert.deepEqual(computeTotal(all(1, { spatial: null }), resolveWeights()), { total: null, incomplete: true });
    assert.deepEqual(computeTotal(all(1, { spatial: null }), resolveWeights({ spatial: 0, logic: 0.5 })), { total: 1, incomplete: false });
  });

  test('weights: defaults filled in, must sum to 1, names checked, parsed from text', () => {
    assert.throws(() => resolveWeights({ logic: 0.5 }), /sum to 1/);
    assert.throws(() => resolveWeights({ format: 1 } as Record<string, number>), /unknown reward weight "format"/);
    assert.throws(() => resolveWeights({ logic: -0.1, syntax: 0.5 }), /≥ 0/);
    assert.deepEqual(parseWeights('logic=0.2, syntax=0.2'), { logic: 0.2, syntax: 0.2, attribute: 0.2, spatial: 0.2, adherence: 0.2 });
    assert.throws(() => parseWeights('logic:0.2'), /name=value/);
  });
});

describe('concurrency', () => {
  test('a semaphore never runs more than its limit and serves waiters in order', async () => {
    const sem = createSemaphore(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: Array<() => void> = [];
    const jobs = [0, 1, 2, 3, 4].map((i) =>
      sem.run(async () => {
        active++;
        peak = Math.max(peak, active);
        order.push(i);
        await new Promise<void>((r) => gates.push(r));
        active--;
      }),
    );
    while (order.length < 5) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    gates.forEach((g) => g());
    await Promise.all(jobs);
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  test('a waiter leaves the queue when its signal aborts; mapLimit keeps order', async () => {
    const sem = createSemaphore(1);
    let release!: () => void;
    const holder = sem.run(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    const waiting = sem.run(async () => 'ran', ac.signal);
    assert.equal(sem.waiting, 1);
    ac.abort();
    await assert.rejects(waiting, /abort/i);
    assert.equal(sem.waiting, 0);
    release();
    await holder;
    assert.deepEqual(await mapLimit([3, 1, 2], 2, async (x) => x * 10), [30, 10, 20]);
  });
});
