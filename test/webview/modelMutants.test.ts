// What the run view derives from a record (webview/model.ts), edge by edge: every value below is
// worked out by hand from the record written next to it, not taken from the code's output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BoxFate, GroundingResult, TraceEntry } from '../../src/protocol/run.js';
import type { ViewRunRecord } from '../../src/protocol/webview.js';
import {
  buildCalls,
  DEFAULT_BOX_THRESHOLD,
  diffCalls,
  effectiveThreshold,
  extentOf,
  groundingCounts,
  groundingMatches,
  keepUnchanged,
  preview,
  recordedImageSize,
  stableJson,
  visibleBoxes,
  visibleCount,
  type CallView,
} from '../../webview/model.js';

const IMG = 'images/desk.png';

function detect(index: number, over: Partial<TraceEntry> = {}): TraceEntry {
  return { index, tool: 'gd_detect', line: index + 1, args: { img_pth: IMG, prompt: 'mug' }, result: [], ms: 10, ...over };
}

function one(entry: TraceEntry, run: Partial<ViewRunRecord> = {}): CallView {
  const c = buildCalls({ id: 'r', trace: [entry], ...run })[0];
  assert.ok(c);
  return c;
}

test('model: a depth call and a VQA call carry exactly their own fields, the rest at the empty defaults', () => {
  const calls = buildCalls({
    id: 'r',
    trace: [
      { index: 0, tool: 'depth', line: 4, variable: 'd', args: { img_pth: IMG, bbox: [1, 2, 30, 40] }, result: 2.5, ms: 7, detail: { cached: true } },
      { index: 1, tool: 'vqa', line: 6, args: { img_pth: IMG, bbox: [5, 6, 7, 8], prompt: 'what colour?' }, result: 'red', ms: 9, error: null },
    ],
  });
  assert.deepEqual(calls[0], {
    index: 0,
    tool: 'depth',
    line: 4,
    shownLine: 4,
    variable: 'd',
    args: { img_pth: IMG, bbox: [1, 2, 30, 40] },
    result: 2.5,
    error: null,
    ms: 7,
    cached: true,
    color: null,
    boxes: [],
    hasCandidates: false,
    threshold: null,
    minScore: 0,
    region: [1, 2, 30, 40],
    depth: 2.5,
    crop: null,
    wholeImage: false,
    question: null,
    answer: null,
  });
  assert.deepEqual(calls[1], {
    index: 1,
    tool: 'vqa',
    line: 6,
    shownLine: 6,
    variable: null,
    args: { img_pth: IMG, bbox: [5, 6, 7, 8], prompt: 'what colour?' },
    result: 'red',
    error: null,
    ms: 9,
    cached: false,
    color: null,
    boxes: [],
    hasCandidates: false,
    threshold: null,
    minScore: 0,
    region: null,
    depth: null,
    crop: [5, 6, 7, 8],
    wholeImage: false,
    question: 'what colour?',
    answer: 'red',
  });
});

test('model: a failed call keeps its error; cached is only a literal true', () => {
  const c = one(detect(0, { result: null, error: { type: 'ToolError', message: 'down' } }));
  assert.deepEqual(c.error, { type: 'ToolError', message: 'down' });
  assert.equal(c.cached, false);
  assert.equal(one(detect(0, { detail: { cached: false } })).cached, false);
  assert.equal(one(detect(0, { detail: { cached: true } })).cached, true);
});

test('model: detection colours follow the detection calls only, in program order', () => {
  const calls = buildCalls({
    id: 'r',
    trace: [detect(2), { index: 1, tool: 'depth', line: 2, args: { bbox: [0, 0, 1, 1] }, result: 1, ms: 1 }, detect(0)],
  });
  // Sorted by index: detect 0, depth 1, detect 2; the depth call takes no colour.
  assert.deepEqual(
    calls.map((c) => c.color),
    ['#e6194b', null, '#3cb44b'],
  );
});

test('model: the threshold is the recorded one, else the default when candidates were recorded, else none', () => {
  const cands = [{ bbox: [0, 0, 10, 10] as [number, number, number, number], label: 'mug', score: 0.5 }];
  assert.equal(one(detect(0, { detail: { candidates: cands, box_threshold: 0.42 } })).threshold, 0.42);
  assert.equal(one(detect(0, { detail: { candidates: cands } })).threshold, DEFAULT_BOX_THRESHOLD);
  assert.equal(DEFAULT_BOX_THRESHOLD, 0.35);
  assert.equal(one(detect(0, { detail: { box_threshold: 0.2 } })).threshold, 0.2);
  assert.equal(one(detect(0)).threshold, null);
  // An empty candidate list: the default threshold, but no candidates to re-filter.
  const empty = one(detect(0, { detail: { candidates: [] }, result: [{ bbox: [1, 1, 2, 2], label: 'mug', score: 0.9 }] }));
  assert.equal(empty.threshold, 0.35);
  assert.equal(empty.hasCandidates, false);
  assert.deepEqual(
    empty.boxes.map((b) => b.label),
    ['mug'],
  );
});

test('model: without candidates the boxes are the result, numbered in the order received, sorted by score', () => {
  const c = one(
    detect(3, {
      result: [
        { bbox: [0, 0, 10, 10], label: 'a', score: 0.5 },
        { bbox: [0, 0, 20, 20], label: 'b', score: 0.9 },
        { bbox: [0, 0, 30, 30], label: 'c' },
        { bbox: [0, 0, 40, 40], label: 'd', score: 0.5 },
        'not a detection',
        { bbox: [0, 0, 50], label: 'short box' },
        { bbox: [0, 0, 60, 60], score: 0.7 },
      ],
    }),
  );
  // The unscored box first, then by score, record order among equal scores (a before d).
  assert.deepEqual(
    c.boxes.map((b) => [b.label, b.score, b.resultIndex, b.text, b.call]),
    [
      ['c', null, 2, 'c', 3],
      ['b', 0.9, 1, 'b 0.90', 3],
      ['', 0.7, 4, ' 0.70', 3],
      ['a', 0.5, 0, 'a 0.50', 3],
      ['d', 0.5, 3, 'd 0.50', 3],
    ],
  );
  assert.equal(c.minScore, 0.5);
  assert.equal(c.hasCandidates, false);
  assert.equal(one(detect(0, { result: [{ bbox: [0, 0, 1, 1], label: 'x' }] })).minScore, 0);
  assert.equal(one(detect(0, { result: { bbox: [0, 0, 1, 1], label: 'x' } })).boxes.length, 0, 'a result that is not a list has no boxes');
});

test('model: candidates are matched to the result by label and a box within half a pixel, each result once', () => {
  const B: [number, number, number, number] = [100, 100, 200, 200];
  const near = (k: number, d: number): [number, number, number, number] => B.map((v, i) => (i === k ? v + d : v)) as [number, number, number, number];
  const candidates = [
    { bbox: B, label: 'mug', score: 0.9 },
    { bbox: B, label: 'mug', score: 0.8 },
    { bbox: B, label: 'cup', score: 0.7 },
    { bbox: near(0, 0.5), label: 'mug', score: 0.6 },
    { bbox: near(1, 0.5), label: 'mug', score: 0.59 },
    { bbox: near(2, -0.5), label: 'mug', score: 0.58 },
    { bbox: near(3, 0.5), label: 'mug', score: 0.57 },
  ];
  // The result holds the mug box once (as the program got it, rounded within 0.4) and the first-row box shifted by 0.4 on x2.
  const result = [
    { bbox: near(3, 0.4), label: 'mug', score: 0.9 },
    { bbox: near(0, 0.9), label: 'mug', score: 0.6 },
  ];
  const c = one(detect(0, { result, detail: { candidates, box_threshold: 0.55 } }));
  assert.equal(c.hasCandidates, true);
  // 0.9 takes result 0; 0.8 is the same box but result 0 is used; cup has another label;
  // 0.6 is 0.5 away on x1 from B, but 0.4 from result 1 (x1 100.9): matched; the others are 0.5 off on y1, x2, y2.
  assert.deepEqual(
    c.boxes.map((b) => [b.score, b.resultIndex]),
    [
      [0.9, 0],
      [0.8, null],
      [0.7, null],
      [0.6, 1],
      [0.59, null],
      [0.58, null],
      [0.57, null],
    ],
  );
  assert.equal(c.minScore, 0.57);
});

test('model: each coordinate must be within half a pixel for a candidate to be the received box', () => {
  const B: [number, number, number, number] = [10, 20, 30, 40];
  for (let k = 0; k < 4; k++) {
    for (const [d, matched] of [
      [0.49, true],
      [-0.49, true],
      [0.5, false],
      [-0.5, false],
    ] as const) {
      const moved = B.map((v, i) => (i === k ? v + d : v)) as [number, number, number, number];
      const c = one(detect(0, { result: [{ bbox: B, label: 'mug', score: 0.9 }], detail: { candidates: [{ bbox: moved, label: 'mug', score: 0.9 }] } }));
      assert.equal(c.boxes[0]?.resultIndex, matched ? 0 : null, `coordinate ${k} moved by ${d}`);
    }
  }
});

test('model: a VQA call on the whole image, and answers that are not strings', () => {
  const vqa = (args: Record<string, unknown>, result: unknown, detail?: TraceEntry['detail']): CallView =>
    one({ index: 0, tool: 'vqa', line: 1, args: { img_pth: IMG, ...args }, result, ms: 1, ...(detail ? { detail } : {}) });
  const whole = vqa({ bbox: null, prompt: 'q' }, 'yes');
  assert.equal(whole.crop, null);
  assert.equal(whole.wholeImage, true);
  const cropped = vqa({ bbox: [1, 2, 3, 4], prompt: 'q' }, 'yes', { crop: [0, 0, 9, 9] });
  assert.deepEqual(cropped.crop, [0, 0, 9, 9], 'the crop actually sent wins over the box asked');
  assert.equal(cropped.wholeImage, false);
  assert.equal(vqa({ prompt: 7 }, 'a').question, null);
  assert.equal(vqa({ prompt: 'q' }, 3).answer, '3');
  assert.equal(vqa({ prompt: 'q' }, { colour: 'red' }).answer, '{"colour":"red"}');
  assert.equal(vqa({ prompt: 'q' }, null).answer, null);
  assert.equal(vqa({ prompt: 'q' }, undefined).answer, null);
  assert.equal(vqa({ prompt: 'q' }, false).answer, 'false');
  assert.equal(vqa({ prompt: 'q' }, '').answer, '');
});

test('model: a depth call reads its region from the detail first, then the box argument; only a number is a depth', () => {
  const depth = (args: Record<string, unknown>, result: unknown, detail?: TraceEntry['detail']): CallView =>
    one({ index: 0, tool: 'depth', line: 1, args: { img_pth: IMG, ...args }, result, ms: 1, ...(detail ? { detail } : {}) });
  assert.deepEqual(depth({ bbox: [1, 2, 3, 4] }, 1, { region: [5, 6, 7, 8] }).region, [5, 6, 7, 8]);
  assert.deepEqual(depth({ bbox: [1, 2, 3, 4] }, 1).region, [1, 2, 3, 4]);
  assert.equal(depth({ bbox: [1, 2, 3] }, 1).region, null);
  assert.equal(depth({ bbox: [1, 2, 3, 4] }, '1.5').depth, null);
  assert.equal(depth({ bbox: [1, 2, 3, 4] }, 0).depth, 0);
});

test('model: visibleCount is the number of candidates scoring strictly above the threshold, unscored always in', () => {
  const scores = [0.9, 0.5, 0.5, 0.2];
  const c = one(detect(0, { detail: { candidates: scores.map((s, i) => ({ bbox: [i, i, i + 5, i + 5], label: 'mug', score: s })), box_threshold: 0.35 } }));
  for (const [t, n] of [
    [1, 0],
    [0.9, 0],
    [0.89, 1],
    [0.5, 1],
    [0.49, 3],
    [0.2, 3],
    [0.19, 4],
    [0, 4],
  ] as const) {
    assert.equal(visibleCount(c, t), n, `at ${t}`);
  }
  assert.equal(visibleCount(c, null), 4, 'no threshold: every box');
  // A call without candidates shows every box whatever the threshold.
  const plain = one(detect(0, { result: [{ bbox: [0, 0, 1, 1], label: 'a', score: 0.1 }, { bbox: [0, 0, 2, 2], label: 'b', score: 0.2 }] }));
  assert.equal(visibleCount(plain, 0.9), 2);
  // Boxes without a score come first and stay visible at any threshold.
  const mixed: CallView = { ...c, boxes: [{ ...c.boxes[0]!, score: null }, { ...c.boxes[0]!, score: null }, ...c.boxes] };
  assert.equal(visibleCount(mixed, 0.95), 2);
  assert.equal(visibleCount(mixed, 0.3), 5);
});

test('model: effectiveThreshold takes a finite choice for this call index, else the program threshold', () => {
  const c = one(detect(3, { detail: { candidates: [{ bbox: [0, 0, 4, 4], label: 'mug', score: 0.5 }], box_threshold: 0.3 } }));
  assert.equal(effectiveThreshold(c, {}), 0.3);
  assert.equal(effectiveThreshold(c, { '3': 0.1 }), 0.1);
  assert.equal(effectiveThreshold(c, { '3': 0 }), 0);
  assert.equal(effectiveThreshold(c, { '0': 0.1 }), 0.3, "another call's choice");
  assert.equal(effectiveThreshold(c, { '3': Number.NaN }), 0.3);
  assert.equal(effectiveThreshold(c, { '3': Number.POSITIVE_INFINITY }), 0.3);
  assert.equal(effectiveThreshold(c, { '3': '0.1' as unknown as number }), 0.3);
  const plain = one(detect(3, { result: [{ bbox: [0, 0, 1, 1], label: 'a', score: 0.1 }] }));
  assert.equal(effectiveThreshold(plain, { '3': 0.5 }), null, 'nothing to re-filter');
  // visibleBoxes: the prefix above the chosen threshold.
  assert.deepEqual(
    visibleBoxes(c, { '3': 0.6 }).map((b) => b.score),
    [],
  );
  assert.deepEqual(
    visibleBoxes(c, { '3': 0.4 }).map((b) => b.score),
    [0.5],
  );
});

const fate = (index: number, kept: boolean, dropped_at?: BoxFate['dropped_at']): BoxFate => ({
  index,
  bbox: [0, 0, 1, 1],
  label: 'mug',
  score: 0.5,
  kept,
  ...(dropped_at ? { dropped_at } : {}),
});

test('model: grounding filters and counts by stage', () => {
  const boxes = [fate(0, true), fate(1, true), fate(2, false, 'coarse'), fate(3, false, 'crop'), fate(4, false, 'crop'), fate(5, false, 'dedup'), fate(6, false), fate(7, true, 'crop')];
  const pick = (f: Parameters<typeof groundingMatches>[1]): number[] => boxes.filter((b) => groundingMatches(b, f)).map((b) => b.index);
  assert.deepEqual(pick('all'), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(pick('kept'), [0, 1, 7]);
  assert.deepEqual(pick('crop'), [3, 4], 'a kept box is not listed under a stage, whatever it says');
  assert.deepEqual(pick('coarse'), [2]);
  assert.deepEqual(pick('dedup'), [5]);
  const g: GroundingResult = { image: { path: IMG, sha256: 'a', width: 10, height: 10 }, prompt: 'mug', boxes, verifier_model: 'v', ms: 1 };
  assert.deepEqual(groundingCounts(g), { kept: 3, coarse: 1, crop: 2, dedup: 1, total: 8 });
});

test('model: the recorded image size comes from the image, else the first grounding result, else none', () => {
  const grounding: GroundingResult = { image: { path: IMG, sha256: 'a', width: 640, height: 480 }, prompt: 'p', boxes: [], verifier_model: 'v', ms: 1 };
  assert.deepEqual(recordedImageSize({ id: 'r', image: { path: IMG, sha256: 'a', width: 800, height: 600 }, grounding: [grounding] }), { width: 800, height: 600 });
  assert.deepEqual(recordedImageSize({ id: 'r', grounding: [grounding] }), { width: 640, height: 480 });
  assert.equal(recordedImageSize({ id: 'r' }), null);
  assert.equal(recordedImageSize({ id: 'r', grounding: [] }), null);
  assert.equal(recordedImageSize({ id: 'r', image: { path: IMG, sha256: 'a', width: 0, height: 600 } }), null);
  assert.equal(recordedImageSize({ id: 'r', image: { path: IMG, sha256: 'a', width: 800, height: 0 } }), null);
});

test('model: extentOf is the largest right and bottom edge of any box, region or crop, rounded up, at least 1', () => {
  assert.deepEqual(extentOf([]), { width: 1, height: 1 });
  const calls = buildCalls({
    id: 'r',
    trace: [
      detect(0, { result: [{ bbox: [0, 0, 10.2, 5], label: 'a' }, { bbox: [0, 0, 4, 7.5], label: 'b' }] }),
      { index: 1, tool: 'depth', line: 2, args: { bbox: [0, 0, 3, 30.1] }, result: 1, ms: 1 },
      { index: 2, tool: 'vqa', line: 3, args: { bbox: [0, 0, 50.5, 2], prompt: 'q' }, result: 'a', ms: 1 },
    ],
  });
  assert.deepEqual(extentOf(calls), { width: 51, height: 31 });
  assert.deepEqual(extentOf(calls.slice(0, 1)), { width: 11, height: 8 });
  assert.deepEqual(extentOf(buildCalls({ id: 'r', trace: [detect(0, { result: [{ bbox: [0, 0, 0.5, 0.25], label: 'a' }] })] })), { width: 1, height: 1 });
});

test('model: preview shows JSON, quotes strings, cuts long text at max characters with an ellipsis', () => {
  assert.equal(preview('hi'), '"hi"');
  assert.equal(preview({ a: [1, 2] }), '{"a":[1,2]}');
  assert.equal(preview(undefined), 'undefined');
  assert.equal(preview(10n), '10', 'a BigInt, which JSON cannot hold');
  const loop: Record<string, unknown> = {};
  loop['self'] = loop;
  assert.equal(preview(loop), '[object Object]');
  assert.equal(preview('abcdef', 8), '"abcdef"', 'exactly max characters: whole');
  assert.equal(preview('abcdefg', 8), '"abcdef…');
  assert.equal(preview('abcdefg', 8).length, 8);
  const long = 'x'.repeat(200);
  assert.equal(preview(long), `"${'x'.repeat(158)}…`);
  assert.equal(preview('x'.repeat(158)), `"${'x'.repeat(158)}"`, '160 characters with the quotes: whole');
});

test('model: stableJson sorts object keys at every depth and keeps array order', () => {
  assert.equal(stableJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  assert.equal(stableJson([2, 1]), '[2,1]');
  assert.equal(stableJson(undefined), 'undefined');
  assert.equal(stableJson(null), 'null');
  assert.equal(stableJson({ b: 1, a: 2 }), stableJson({ a: 2, b: 1 }));
});

test('model: diffCalls names each difference, in the order tool, args, result, error', () => {
  const base = buildCalls({
    id: 'a',
    trace: [
      detect(0, { args: { img_pth: IMG, prompt: 'mug' }, result: [] }),
      { index: 1, tool: 'depth', line: 2, args: { bbox: [0, 0, 1, 1] }, result: 1, ms: 1 },
    ],
  });
  const same = buildCalls({
    id: 'b',
    trace: [
      detect(0, { args: { prompt: 'mug', img_pth: IMG }, result: [], ms: 99 }),
      { index: 1, tool: 'depth', line: 9, args: { bbox: [0, 0, 1, 1] }, result: 1, ms: 5 },
    ],
  });
  assert.deepEqual(
    diffCalls(base, same).map((d) => [d.index, d.differs, d.what]),
    [
      [0, false, []],
      [1, false, []],
    ],
    'key order, line and time are not differences',
  );
  const other = buildCalls({
    id: 'c',
    trace: [
      { index: 0, tool: 'vqa', line: 1, args: { prompt: 'q' }, result: 'x', ms: 1, error: { type: 'E', message: 'm' } },
      { index: 1, tool: 'depth', line: 2, args: { bbox: [0, 0, 1, 1] }, result: 2, ms: 1 },
      detect(2),
    ],
  });
  const d = diffCalls(base, other);
  assert.deepEqual(
    d.map((x) => [x.index, x.differs, x.what]),
    [
      [0, true, ['tool', 'args', 'result', 'error']],
      [1, true, ['result']],
      [2, true, ['missing']],
    ],
  );
  assert.equal(d[2]?.a, null);
  assert.equal(d[2]?.b?.index, 2);
  assert.equal(d[1]?.a, base[1]);
  assert.deepEqual(
    diffCalls(base, [{ ...base[0]!, args: { img_pth: IMG, prompt: 'cup' } }, base[1]!]).map((x) => x.what),
    [['args'], []],
  );
  assert.deepEqual(
    diffCalls(base, [{ ...base[0]!, error: { type: 'E', message: 'm' } }, base[1]!]).map((x) => x.what),
    [['error'], []],
  );
  assert.deepEqual(
    diffCalls([base[0]!, base[1]!], [base[0]!]).map((x) => [x.differs, x.b]),
    [
      [false, base[0]],
      [true, null],
    ],
  );
});

test('model: keepUnchanged keeps the old object for a field that holds the same value, the new one otherwise', () => {
  const prev = { a: { x: 1, y: [1, 2] }, b: { y: 1 }, c: 1, e: 'same' };
  const next = { a: { y: [1, 2], x: 1 }, b: { y: 2 }, d: { z: 1 }, e: 'same' } as unknown as typeof prev;
  const nextA = next.a;
  const out = keepUnchanged(prev, next) as unknown as Record<string, unknown>;
  assert.equal(out['a'], prev.a, 'same value in a new object: the old object');
  assert.equal(out['b'], next.b);
  assert.equal(out['d'], (next as unknown as Record<string, unknown>)['d']);
  assert.equal(out['e'], 'same');
  assert.equal('c' in out, false, 'a field only the old record had is not brought back');
  assert.equal(next.a, nextA, 'the new record itself is not changed');
  assert.notEqual(out, next);
});
