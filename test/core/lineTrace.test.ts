// The line-level trace with a real python3 child (sandboxed): values per line, hits, order, tool
// calls nested in their line, loop caps, lines that never ran, the raising line, and the parent's
// own bounds on whatever the child sends.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { boundLineTrace, lineLabel, summariseLines, unexecutedLines } from '../../src/core/lineTrace.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { LINE_TRACE_LIMITS } from '../../src/protocol/lineTrace.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';

const IMG = '/images/kitchen.jpg';
let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

const mugs = () => [
  { bbox: [10, 20, 50, 80] as [number, number, number, number], label: 'mug', score: 0.81 },
  { bbox: [100, 20, 150, 80] as [number, number, number, number], label: 'mug', score: 0.5 },
];

describe('line trace', () => {
  test('values bound per line, hits, order, calls nested in their line, unexecuted lines', async () => {
    const tools = new ScriptedTools({ gd_detect: mugs, depth: (_i, b) => b[0] / 10 + 0.5 });
    const program = [
      'cups = gd_detect(img_pth, "mug")', // 1
      'ds = []', // 2
      'for c in cups:', // 3
      '    ds.append(depth(img_pth, c["bbox"]))', // 4
      'a = np.zeros((3, 4))', // 5
      'if len(ds) > 5:', // 6
      '    final_answer = "many"', // 7
      'else:', // 8
      '    final_answer = "left" if ds[0] < ds[1] else "right"', // 9
      's = "x" * 500', // 10
    ].join('\n');
    const o = await runner.run({ program, imagePath: IMG, tools });
    assert.equal(o.error, null);
    const t = o.line_trace;
    assert.ok(t, 'a line trace is recorded');
    assert.deepEqual(t.lines, [[1, 1], [2, 1], [3, 3], [4, 2], [5, 1], [6, 1], [9, 1], [10, 1]]);
    assert.deepEqual(unexecutedLines(t), [7], 'the branch not taken never ran; else: is no statement');
    assert.deepEqual(t.steps.map((s) => s.line), [1, 2, 3, 4, 3, 4, 3, 5, 6, 9, 10]);
    const first = t.steps[0]!;
    assert.deepEqual(first.calls, [0]);
    assert.equal(first.values!.cups!.repr, '2 detections: mug 0.81 [10, 20, 50, 80]; mug 0.5 [100, 20, 150, 80]');
    assert.deepEqual(first.values!.cups!.boxes, [[10, 20, 50, 80], [100, 20, 150, 80]]);
    const depthLines = t.steps.filter((s) => s.line === 4);
    assert.deepEqual(depthLines.map((s) => s.calls), [[1], [2]]);
    assert.equal(o.trace[1]!.line, 4);
    assert.equal(t.steps.find((s) => s.line === 5)!.values!.a!.repr, 'array(3, 4) float64 [0, 0, 0, 0, …]');
    assert.equal(t.steps.find((s) => s.line === 9)!.values!.final_answer!.repr, "'left'");
    const sRepr = t.steps.find((s) => s.line === 10)!.values!.s!.repr;
    assert.ok(sRepr.length < 200 && sRepr.endsWith('…'), sRepr);
    const sum = summariseLines(t);
    assert.equal(lineLabel(sum.get(3)!), 'c = mug 0.81 [10, 20, 50, 80] │ mug 0.5 [100, 20, 150, 80] │ mug 0.5 [100, 20, 150, 80]  ×3');
  });

  test('loops keep the first runs of a line and a count; functions are named; comprehensions stay inside their line', async () => {
    const program = [
      'def f(q):', // 1
      '    z = q * 2', // 2
      '    return z', // 3
      'total = 0', // 4
      'for i in range(50):', // 5
      '    total = total + f(i)', // 6
      'sq = [gd_detect(img_pth, "mug") for _ in range(2)]', // 7
      'final_answer = total', // 8
    ].join('\n');
    const o = await runner.run({ program, imagePath: IMG, tools: new ScriptedTools({ gd_detect: mugs }) });
    assert.equal(o.final_answer, 2450);
    const t = o.line_trace!;
    const hits = new Map(t.lines);
    assert.equal(hits.get(6), 50);
    assert.equal(hits.get(2), 50);
    assert.equal(t.steps.filter((s) => s.line === 6).length, t.max_hits_kept);
    assert.ok(t.dropped_steps > 0);
    const inF = t.steps.find((s) => s.line === 2)!;
    assert.equal(inF.fn, 'f');
    assert.deepEqual(inF.values!.z!.repr, '0');
    assert.deepEqual(t.steps.filter((s) => s.line === 6).map((s) => s.values!.total!.repr), ['0', '2', '6']);
    const line7 = t.steps.filter((s) => s.line === 7);
    assert.equal(line7.length, 1, 'the comprehension runs inside line 7, not as lines of its own');
    assert.deepEqual(line7[0]!.calls, [0, 1]);
    assert.equal(line7[0]!.values!.sq!.type, 'list');
  });

  test('the raising line is marked; values of the program\'s own classes are never rendered by their code', async () => {
    const program = [
      'class Sneaky:', // 1
      '    def __repr__(self):', // 2
      '        return gd_detect(img_pth, "never")', // 3
      'x = Sneaky()', // 4
      'y = 1 / 0', // 5
    ].join('\n');
    const tools = new ScriptedTools();
    const o = await runner.run({ program, imagePath: IMG, tools });
    assert.equal(o.error?.type, 'ZeroDivisionError');
    assert.equal(o.error?.line, 5);
    assert.equal(tools.calls.length, 0, 'rendering x called no program code');
    const t = o.line_trace!;
    assert.equal(t.steps.find((s) => s.line === 4)!.values!.x!.repr, '<Sneaky>');
    assert.equal(t.steps.find((s) => s.line === 5)!.raised, 'ZeroDivisionError');
  });

  test('a long loop spends the event budget: tracing stops, the program runs on, nothing is dimmed', async () => {
    const o = await runner.run({ program: 's = 0\nfor i in range(300000):\n    s = s + i\nfinal_answer = s', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(o.final_answer, 44999850000);
    const t = o.line_trace!;
    assert.equal(t.hits_complete, false);
    assert.equal(t.truncated, true);
    const hits = new Map(t.lines);
    assert.ok(hits.get(2)! < 300000 && hits.get(2)! > 50000, String(hits.get(2)));
    assert.equal(hits.has(4), false, 'the last line ran after tracing stopped');
    assert.deepEqual(unexecutedLines(t), [], 'a stopped trace dims nothing');
    assert.match(lineLabel(summariseLines(t).get(3)!), /×\d+\+$/);
  });

  test('large values are rendered from their first items only', async () => {
    const program = ['d = {i: i for i in range(200000)}', 'a = np.arange(12).reshape(3, 4)[:, ::2]', 'final_answer = len(d)'].join('\n');
    const o = await runner.run({ program, imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(o.final_answer, 200000);
    const steps = o.line_trace!.steps;
    assert.equal(steps[0]!.values!.d!.repr, '{0: 0, 1: 1, 2: 2, 3: 3, … (200000)}');
    assert.equal(steps[1]!.values!.a!.repr, 'array(3, 2) int64 [0, 2, 4, 6, …]');
  });

  test('off when the runner is told so', async () => {
    const r = new ProgramRunner({ lineTrace: false });
    try {
      const o = await r.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() });
      assert.equal(o.final_answer, 1);
      assert.equal(o.line_trace, undefined);
    } finally {
      await r.dispose();
    }
  });
});

describe('the parent bounds the trace whatever the child sends', () => {
  const base = { version: 1, statement_lines: [1], lines: [[1, 1]], dropped_steps: 0, truncated: false, max_hits_kept: 3 };
  test('malformed traces are dropped, not trusted', () => {
    assert.equal(boundLineTrace({ ...base, steps: 'no' }, 0), undefined);
    assert.equal(boundLineTrace({ ...base, steps: [{ line: -1, hit: 1 }] }, 0), undefined);
    assert.equal(boundLineTrace({ ...base, steps: [{ line: 1, hit: 1, values: { x: { repr: 'y'.repeat(10_000), type: 'str' } } }] }, 0), undefined);
  });
  test('too many steps are cut and counted; calls outside the run are removed; oversized values dropped to fit', () => {
    const steps = Array.from({ length: LINE_TRACE_LIMITS.maxSteps + 10 }, (_, i) => ({ line: 1, hit: i + 1, calls: [0, 99], values: { v: { repr: 'z'.repeat(700), type: 'str' } } }));
    const t = boundLineTrace({ ...base, steps }, 1)!;
    assert.equal(t.steps.length, LINE_TRACE_LIMITS.maxSteps);
    assert.equal(t.dropped_steps, 10);
    assert.equal(t.truncated, true);
    assert.deepEqual(t.steps[0]!.calls, [0]);
    assert.ok(JSON.stringify(t).length <= LINE_TRACE_LIMITS.maxJson);
    assert.ok(t.steps[0]!.values, 'the first steps keep their values');
    assert.equal(t.steps.at(-1)!.values, undefined);
    assert.equal(t.steps.at(-1)!.values_dropped, true);
  });
});
