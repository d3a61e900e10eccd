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

describe('degenerate text: reasons and thresholds', () => {
  const d = (t: string | null | undefined) => checkDegenerate(t, 'plan');
  test('each rule names its reason', () => {
    assert.deepEqual(d(undefined), { degenerate: true, reason: 'there is no plan' });
    assert.deepEqual(d(null), { degenerate: true, reason: 'there is no plan' });
    assert.deepEqual(d(' \n '), { degenerate: true, reason: 'the plan is empty' });
    assert.deepEqual(d('1. ?'), { degenerate: true, reason: 'the plan holds no words' });
    assert.deepEqual(d(Array(8).fill('detect the cup').join('\n')), { degenerate: true, reason: 'the plan repeats one line 8 times' });
    assert.deepEqual(d(Array(60).fill('cup cup table').join(' ')), { degenerate: true, reason: 'the plan repeats a handful of words (2 distinct in 180)' });
    assert.equal(checkDegenerate('', 'program').reason, 'the program is empty');
  });
  test('three letters or digits are enough; letters of any script count', () => {
    assert.deepEqual(d('ab'), { degenerate: true, reason: 'the plan holds no words' });
    assert.deepEqual(d('ab1'), { degenerate: false });
    assert.deepEqual(d('猫が居'), { degenerate: false });
  });
  test('a repeated line counts from six lines, five repeats, and more than half', () => {
    const rep = (n: number, other: string[]) => [...Array(n).fill('detect the cup'), ...other].join('\n');
    assert.equal(d(rep(5, [])).degenerate, false, 'five lines are too few to call a loop');
    assert.equal(d(rep(6, [])).degenerate, true);
    assert.equal(d(rep(4, ['a b c', 'd e f'])).degenerate, false, 'four repeats are not a loop');
    assert.equal(d(rep(5, ['a b c', 'd e f', 'g h i', 'j k l'])).degenerate, true, 'five of nine');
    assert.equal(d(rep(5, ['a b c', 'd e f', 'g h i', 'j k l', 'm n o'])).degenerate, false, 'five of ten is not more than half');
    assert.equal(d(rep(6, ['   ', ''])).reason, 'the plan repeats one line 6 times', 'blank lines are not counted');
  });
  test('lines are compared trimmed, and blank lines are not counted', () => {
    assert.equal(d(['detect the cup', '  detect the cup', 'detect the cup  '].join('\n').repeat(1) + '\n' + ['detect the cup', ' detect the cup', 'detect the cup '].join('\n')).reason, 'the plan repeats one line 6 times');
    assert.equal(d([...Array(5).fill('detect the cup'), '', '  ', '', 'a b c', 'd e f', 'g h i'].join('\n')).reason, 'the plan repeats one line 5 times', 'five of eight lines, blank lines in the middle aside');
  });
  test('few distinct words count from forty words, below 8% distinct', () => {
    const words = (distinct: number, total: number) => Array.from({ length: total }, (_, i) => `w${i % distinct}`).join(' ');
    assert.equal(d(words(2, 39)).degenerate, false, 'under forty words is too short to judge');
    assert.equal(d(words(3, 40)).degenerate, true, '3 of 40 is 7.5%');
    assert.equal(d(words(4, 50)).degenerate, false, '4 of 50 is exactly 8%');
    assert.equal(d(words(3, 50)).reason, 'the plan repeats a handful of words (3 distinct in 50)');
    assert.equal(d(`${words(3, 40)}`.toUpperCase().replace(/W/g, 'w')).degenerate, true, 'case does not make words distinct');
  });
});

describe('parseJudgeReply: details', () => {
  test('the rationale is trimmed and a <rationale> wrapper dropped; tags in any case', () => {
    const j = parseJudgeReply('{"rationale": "  fine  ", "score": 0}');
    assert.deepEqual(j, { ok: true, score: 0, rationale: 'fine', extraKeys: [], shape: 'json' });
    const t = parseJudgeReply('<rationale> Step 2 is right. </rationale>\n<ANSWER>0</ANSWER>');
    assert.deepEqual(t, { ok: true, score: 0, rationale: 'Step 2 is right.', extraKeys: [], shape: 'tagged' });
    assert.deepEqual(parseJudgeReply('<answer>1</answer>'), { ok: true, score: 1, rationale: '', extraKeys: [], shape: 'tagged' });
  });
  test('thinking before an unopened </think> is dropped; a fence without json and a JSON array are handled', () => {
    assert.deepEqual(parseJudgeReply('I think {"rationale": "a", "score": 0}</think>{"rationale": "b", "score": 1}'), { ok: true, score: 1, rationale: 'b', extraKeys: [], shape: 'json' });
    assert.equal((parseJudgeReply('```\n{"rationale": "c", "score": 1}\n```') as { rationale?: string }).rationale, 'c');
    assert.equal((parseJudgeReply('[1] <answer>1</answer>') as { shape?: string }).shape, 'tagged');
    assert.equal((parseJudgeReply('null <answer>0</answer>') as { score?: number }).score, 0);
  });
  test('every <think> block is dropped, across lines', () => {
    assert.deepEqual(parseJudgeReply('<think>\nmaybe <answer>0</answer>\n</think> ok <think>no,\n<answer>0</answer></think>\n<answer>1</answer>'), { ok: true, score: 1, rationale: 'ok', extraKeys: [], shape: 'tagged' });
    assert.deepEqual(parseJudgeReply('draft\n<answer>0</answer>\n</think> final <answer>1</answer>'), { ok: true, score: 1, rationale: 'final', extraKeys: [], shape: 'tagged' });
  });
  test('a fenced verdict after prose with braces, and a JSON object followed by prose', () => {
    for (const fence of ['```json', '```', '```JSON']) {
      const r = parseJudgeReply(`Consider {x}. ${fence}\n{"rationale": "a", "score": 1}\n\`\`\` and {y}`);
      assert.equal(r.ok && r.rationale, 'a', fence);
    }
    assert.equal((parseJudgeReply('{"rationale": "b", "score": 0} is my verdict') as { rationale?: string }).rationale, 'b');
  });
  test('JSON that is not an object is no verdict; a score that is an object is quoted', () => {
    for (const t of ['[1, 2]', 'null', '5', '"1"']) {
      assert.deepEqual(parseJudgeReply(t), { ok: false, problem: 'no verdict was found: expected a JSON object {"rationale": ..., "score": 0 or 1}, or <answer>0</answer> / <answer>1</answer> at the end' }, t);
    }
    assert.deepEqual(parseJudgeReply('{"rationale": "x", "score": {}}'), { ok: false, problem: '"score" was [object Object]; it must be the number 0 or 1' });
    assert.deepEqual(parseJudgeReply('{"rationale": "x"}'), { ok: false, problem: 'the JSON object has no "score" key' });
    assert.deepEqual(parseJudgeReply('<answer>1 0</answer>'), { ok: false, problem: 'the <answer> tag held "1 0"; it must hold 0 or 1' });
  });
  test('a JSON problem is reported when no tag follows, the first one found', () => {
    const r = parseJudgeReply('{"rationale": 5, "score": 1}');
    assert.deepEqual(r, { ok: false, problem: '"rationale" is missing or not a string; give a short rationale as a string' });
    assert.deepEqual(parseJudgeReply('{"rationale": "x", "score": true}'), { ok: false, problem: '"score" was true; it must be the number 0 or 1' });
    assert.deepEqual(parseJudgeReply('{"rationale": "x", "score": 1, "note": 2, "rationale2": 3}'), { ok: true, score: 1, rationale: 'x', extraKeys: ['note', 'rationale2'], shape: 'json' });
    assert.equal((parseJudgeReply('{"score": 3} then <answer>1</answer>') as { score?: number }).score, 1, 'a tag still gives the verdict');
    assert.deepEqual(parseJudgeReply('<answer>1</answer> and <answer>0</answer>'), { ok: false, problem: 'the reply has several <answer> tags that disagree; give exactly one verdict' });
    assert.deepEqual(parseJudgeReply('<answer> maybe </answer>'), { ok: false, problem: 'the <answer> tag held "maybe"; it must hold 0 or 1' });
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
    // VALOR's reference weighting (docs/valor.md §3), as numbers, not the constant compared with itself.
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

  test('format: a product by default, a gate on request, and a format error or absence leaves no total', () => {
    const w = resolveWeights();
    assert.deepEqual(computeTotal(all(0.5, { logic: 0 }), w), { total: 0.35, incomplete: false });
    assert.deepEqual(computeTotal(all(0.5, { logic: 0 }), w, 'gate'), { total: 0.7, incomplete: false });
    assert.deepEqual(computeTotal(all(0, {}), w, 'gate'), { total: 0, incomplete: false });
    assert.deepEqual(computeTotal(all(1).slice(1), w), { total: null, incomplete: true }, 'no format verdict');
    assert.deepEqual(computeTotal([{ ...v('format', 1), state: 'error' }, ...all(1).slice(1)], w), { total: null, incomplete: true });
    assert.deepEqual(computeTotal([v('format', 1), ...all(1).slice(2)], w), { total: null, incomplete: true }, 'a missing weighted verdict');
    assert.deepEqual(computeTotal([v('format', 1), { ...v('syntax', 1), state: 'error' }, ...all(1).slice(2)], w), { total: null, incomplete: true });
    assert.deepEqual(computeTotal(all(1, { attribute: 0, spatial: 0 }), w), { total: 0.6, incomplete: false }, 'rounded: not 0.6000000000000001');
  });

  test('weights: the problems are named', () => {
    assert.throws(() => resolveWeights({ logic: Number.NaN }), /^RangeError: reward weight logic=NaN must be a number ≥ 0$/);
    assert.throws(() => resolveWeights({ logic: 0.31 }), /^RangeError: reward weights must sum to 1 \(they sum to 1\.01\): logic=0\.31, syntax=0\.1, attribute=0\.2, spatial=0\.2, adherence=0\.2$/);
    assert.deepEqual(resolveWeights({ logic: 0.3000000001 }).logic, 0.3000000001, 'float noise within 1e-6 passes');
    assert.throws(() => resolveWeights({ format: 1 } as Record<string, number>), /the weighted rewards are logic, syntax, attribute, spatial, adherence \(format is a gate/);
    assert.throws(() => parseWeights('logic=abc'), /cannot read weight "logic=abc": write name=value/);
    assert.throws(() => parseWeights('x logic=0.3'), /cannot read weight/);
    assert.throws(() => parseWeights('logic=0.3 x'), /cannot read weight/);
    assert.deepEqual(parseWeights(' logic = 0.2 ,, syntax=2e-1 '), { logic: 0.2, syntax: 0.2, attribute: 0.2, spatial: 0.2, adherence: 0.2 });
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
