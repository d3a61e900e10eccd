// The stage's parts in-process, against the hand-written DOM and canvas double of domDouble.ts:
// the tooltip (webview/stage/tooltip.ts), the pointer gestures (pointer.ts), the screen-reader
// list (boxList.ts) and what the painter draws where (painter.ts). The double stands in only for
// the browser's objects; the pixels themselves are checked in a real browser by render.test.ts
// and screenshots.test.ts. Expected numbers are worked out by hand beside each assertion.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { GroundingResult, TraceEntry } from '../../src/protocol/run.js';
import { buildCalls, type CallView, type ViewBox } from '../../webview/model.js';
import { BoxList } from '../../webview/stage/boxList.js';
import { LABEL_FONT_PX, Painter } from '../../webview/stage/painter.js';
import { bindPointer, type PointerHost } from '../../webview/stage/pointer.js';
import type { StageScene } from '../../webview/stage/scene.js';
import { Tooltip } from '../../webview/stage/tooltip.js';
import { FakeContext, FakeElement, installDom } from './domDouble.js';

let restore: () => void = () => {};
before(() => {
  restore = installDom().restore;
});
after(() => restore());

const LAYERS = { boxes: true, labels: true, depthRegions: true, crops: true, depthMap: false, grounding: false };
const ID = { fit: 1, s: 1, ox: 0, oy: 0 };

function box(over: Partial<ViewBox> = {}): ViewBox {
  return { call: 0, bbox: [0, 0, 10, 10], label: 'mug', score: 0.9, resultIndex: 0, text: 'mug 0.90', ...over };
}

function callsOf(trace: TraceEntry[]): CallView[] {
  return buildCalls({ id: 'r', trace });
}

// ------------------------------------------------------------------ tooltip

test('tooltip: names the box, its call and line, and the program variable that holds it', () => {
  const tip = new Tooltip();
  const el = tip.el as unknown as FakeElement;
  assert.equal(el.getAttribute('role'), 'tooltip');
  assert.equal(el.hidden, true, 'hidden until a box is under the pointer');
  const calls = callsOf([{ index: 2, tool: 'gd_detect', line: 3, variable: 'mugs', args: {}, result: [], ms: 1 }]);
  tip.show(box({ call: 2, resultIndex: 1 }), calls, 0, 0, 500, 500);
  assert.equal(el.hidden, false);
  assert.equal(el.textContent, 'mug 0.90gd_detect call #2, line 3mugs[1]');
  assert.deepEqual(
    el.children.map((c) => (typeof c === 'string' ? c : c.tagName)),
    ['STRONG', 'BR', 'gd_detect call #2, line 3', 'BR', 'mugs[1]'],
  );
  assert.equal(el.elements[0]?.textContent, 'mug 0.90');
  // Shown as the document's line when the run came from a .vprog file.
  const fromDoc = buildCalls({ id: 'r', program_document_line: 10, trace: [{ index: 2, tool: 'gd_detect', line: 3, args: {}, result: [], ms: 1 }] });
  tip.show(box({ call: 2, resultIndex: 0 }), fromDoc, 0, 0, 500, 500);
  assert.equal(el.textContent, 'mug 0.90gd_detect call #2, line 12result[0]', 'no variable recorded: result[i]');
  const noLine = callsOf([{ index: 2, tool: 'gd_detect', line: null, variable: 'mugs', args: {}, result: [], ms: 1 }]);
  tip.show(box({ call: 2, resultIndex: null }), noLine, 0, 0, 500, 500);
  assert.equal(el.textContent, 'mug 0.90gd_detect call #2candidate below the program\u2019s threshold (the program did not see it)');
  tip.show(box({ call: 7, resultIndex: 4 }), calls, 0, 0, 500, 500);
  assert.equal(el.textContent, 'mug 0.90call #7result[4]', 'a box of a call not in the list');
  tip.show(null, calls, 0, 0, 500, 500);
  assert.equal(el.hidden, true);
  tip.show(box(), null, 0, 0, 500, 500);
  assert.equal(el.hidden, true, 'no calls: hidden');
});

test('tooltip: follows the pointer 14 px right and down, flips left near the right edge, stays inside', () => {
  const tip = new Tooltip();
  const el = tip.el as unknown as FakeElement;
  el.offsetWidth = 100;
  el.offsetHeight = 30;
  const at = (x: number, y: number, w = 300, h = 200): [string | undefined, string | undefined] => {
    tip.move(x, y, w, h);
    return [el.style['left'], el.style['top']];
  };
  assert.deepEqual(at(100, 100), ['114px', '114px']);
  // x + 14 + 100 = 300 fits a 300-wide stage exactly; one more and it flips to x - 14 - 100.
  assert.deepEqual(at(186, 10), ['200px', '24px']);
  assert.deepEqual(at(187, 10), ['73px', '24px']);
  // Flipped, but the stage is narrower than the pointer's left side allows: pinned at 0.
  el.offsetWidth = 400;
  assert.deepEqual(at(50, 10), ['0px', '24px']);
  el.offsetWidth = 100;
  // Near the bottom: top = min(200 - 30, y + 14).
  assert.deepEqual(at(10, 156), ['24px', '170px']);
  assert.deepEqual(at(10, 180), ['24px', '170px']);
  // Taller than the stage: pinned at the top.
  el.offsetHeight = 300;
  assert.deepEqual(at(10, 100), ['24px', '0px']);
  // show() places it too.
  el.offsetHeight = 30;
  tip.show(box(), callsOf([{ index: 0, tool: 'gd_detect', line: 1, args: {}, result: [], ms: 1 }]), 187, 180, 300, 200);
  assert.deepEqual([el.style['left'], el.style['top']], ['73px', '170px']);
});

// ------------------------------------------------------------------ pointer

interface Recorded {
  log: unknown[][];
  host: PointerHost;
}

function recorder(hit: (x: number, y: number) => ViewBox | null): Recorded {
  const log: unknown[][] = [];
  return {
    log,
    host: {
      boxAt: hit,
      hover: (b, x, y) => log.push(['hover', b?.label ?? null, x, y]),
      click: (b) => log.push(['click', b.label]),
      center: () => [50, 60],
      dragTo: (from, dx, dy) => log.push(['dragTo', from, dx, dy]),
      dragEnded: () => log.push(['dragEnded']),
      zoomAt: (f, at) => log.push(['zoomAt', f, at]),
      fit: () => log.push(['fit']),
    },
  };
}

const HIT = (x: number, y: number): ViewBox | null => (x >= 0 && x <= 10 && y >= 0 && y <= 10 ? box({ label: 'hit' }) : null);

function pointerEl(): FakeElement {
  const el = new FakeElement('div');
  el.rect = { left: 100, top: 200, width: 400, height: 300 };
  return el;
}

test('pointer: moving hovers the box under the pointer, in stage coordinates; leaving hovers none', () => {
  const el = pointerEl();
  const r = recorder(HIT);
  bindPointer(el as unknown as HTMLElement, r.host);
  el.fire('pointermove', { pointerId: 1, clientX: 105, clientY: 207 });
  el.fire('pointermove', { pointerId: 1, clientX: 150, clientY: 250 });
  el.fire('pointerleave', {});
  assert.deepEqual(r.log, [
    ['hover', 'hit', 5, 7],
    ['hover', null, 50, 50],
    ['hover', null, 0, 0],
  ]);
});

test('pointer: a press that moves 3 px or less is a click on the box under it; more is a drag', () => {
  const el = pointerEl();
  const r = recorder(HIT);
  bindPointer(el as unknown as HTMLElement, r.host);
  // Click: down, a wobble of |2| + |-1| = 3 px (not a drag), up on the box.
  el.fire('pointerdown', { button: 0, pointerId: 7, clientX: 105, clientY: 205 });
  assert.deepEqual(el.captured, [7]);
  el.fire('pointermove', { pointerId: 7, clientX: 107, clientY: 204 });
  el.fire('pointerup', { pointerId: 7, clientX: 107, clientY: 204 });
  assert.deepEqual(r.log, [['click', 'hit']], 'no hover while pressed, no drag, one click');
  r.log.length = 0;
  // Up off any box: nothing.
  el.fire('pointerdown', { button: 0, pointerId: 7, clientX: 150, clientY: 250 });
  el.fire('pointerup', { pointerId: 7, clientX: 150, clientY: 250 });
  assert.deepEqual(r.log, []);
  // Drag: 4 px left (|-4| > 3) starts it; from then on every move drags, even back to the start.
  el.fire('pointerdown', { button: 0, pointerId: 8, clientX: 105, clientY: 205 });
  el.fire('pointermove', { pointerId: 8, clientX: 101, clientY: 205 });
  el.fire('pointermove', { pointerId: 8, clientX: 105, clientY: 206 });
  el.fire('pointerup', { pointerId: 8, clientX: 105, clientY: 206 });
  assert.deepEqual(r.log, [['dragTo', [50, 60], -4, 0], ['dragTo', [50, 60], 0, 1], ['dragEnded']], 'a drag that ends on a box is not a click');
  r.log.length = 0;
  // Vertical only: |0| + |-4|.
  el.fire('pointerdown', { button: 0, pointerId: 9, clientX: 105, clientY: 205 });
  el.fire('pointermove', { pointerId: 9, clientX: 105, clientY: 201 });
  el.fire('pointercancel', { pointerId: 9, clientX: 105, clientY: 201 });
  assert.deepEqual(r.log, [['dragTo', [50, 60], 0, -4], ['dragEnded']], 'a cancelled drag ends like a release');
});

test('pointer: only the primary button presses; another pointer neither drags nor ends the press', () => {
  const el = pointerEl();
  const r = recorder(HIT);
  bindPointer(el as unknown as HTMLElement, r.host);
  el.fire('pointerdown', { button: 2, pointerId: 1, clientX: 105, clientY: 205 });
  assert.deepEqual(el.captured, []);
  el.fire('pointermove', { pointerId: 1, clientX: 150, clientY: 250 });
  el.fire('pointerup', { pointerId: 1, clientX: 105, clientY: 205 });
  assert.deepEqual(r.log, [['hover', null, 50, 50]], 'a right press is no drag and no click');
  r.log.length = 0;
  el.fire('pointerdown', { button: 0, pointerId: 1, clientX: 105, clientY: 205 });
  el.fire('pointermove', { pointerId: 2, clientX: 160, clientY: 260 });
  el.fire('pointerup', { pointerId: 2, clientX: 105, clientY: 205 });
  el.fire('pointermove', { pointerId: 1, clientX: 120, clientY: 205 });
  el.fire('pointerup', { pointerId: 1, clientX: 120, clientY: 205 });
  assert.deepEqual(r.log, [['hover', null, 60, 60], ['dragTo', [50, 60], 15, 0], ['dragEnded']]);
  r.log.length = 0;
  // After the press ended, moves hover again and a stray release does nothing.
  el.fire('pointerup', { pointerId: 1, clientX: 105, clientY: 205 });
  el.fire('pointermove', { pointerId: 1, clientX: 105, clientY: 205 });
  assert.deepEqual(r.log, [['hover', 'hit', 5, 5]]);
});

test('pointer: the wheel zooms about the pointer by exp(-deltaY * 0.0015); a double click fits', () => {
  const el = pointerEl();
  const r = recorder(HIT);
  bindPointer(el as unknown as HTMLElement, r.host);
  let prevented = 0;
  el.fire('wheel', { deltaY: 100, clientX: 130, clientY: 240, preventDefault: () => prevented++ });
  el.fire('wheel', { deltaY: -200, clientX: 100, clientY: 200, preventDefault: () => prevented++ });
  el.fire('dblclick', {});
  assert.equal(prevented, 2, 'the page itself does not scroll');
  assert.deepEqual(r.log, [['zoomAt', Math.exp(-100 * 0.0015), { x: 30, y: 40 }], ['zoomAt', Math.exp(200 * 0.0015), { x: 0, y: 0 }], ['fit']]);
  assert.deepEqual(
    el.listeners.get('wheel')?.map((l) => l.options),
    [{ passive: false }],
    'a passive wheel listener could not prevent the scroll',
  );
});

// ------------------------------------------------------------------ box list

function listScene(over: Partial<StageScene> = {}): StageScene {
  return {
    calls: callsOf([
      { index: 0, tool: 'gd_detect', line: 1, args: {}, result: [], ms: 1, detail: { box_threshold: 0.35, candidates: [{ bbox: [0, 0, 5, 5], label: 'mug', score: 0.8 }, { bbox: [0, 0, 6, 6], label: 'mug', score: 0.2 }] } },
      { index: 1, tool: 'depth', line: 2, args: { bbox: [0, 0, 1, 1] }, result: 1, ms: 1 },
      { index: 2, tool: 'gd_detect', line: 3, args: {}, result: [{ bbox: [1, 1, 2, 2], label: 'cup' }], ms: 1 },
    ]),
    grounding: [],
    thresholds: {},
    selectedCall: null,
    layers: LAYERS,
    focusedBox: null,
    ...over,
  };
}

test('box list: lists the drawn boxes after 120 ms, once for a burst of changes', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const list = new BoxList();
  const el = list.el as unknown as FakeElement;
  assert.equal(el.tagName, 'UL');
  assert.equal(el.className, 'box-list');
  const told: number[] = [];
  let current: StageScene | null = listScene();
  list.schedule(() => current, (n) => told.push(n));
  t.mock.timers.tick(60);
  // A second change before the first list was built: one list, of the latest scene.
  current = listScene({ thresholds: { '0': 0.1 } });
  list.schedule(() => current, (n) => told.push(n));
  t.mock.timers.tick(119);
  assert.deepEqual([...told], [], 'not yet: 119 ms since the last change');
  t.mock.timers.tick(1);
  assert.deepEqual([...told], [3]);
  assert.deepEqual(
    el.elements.map((li) => [li.tagName, li.textContent, li.getAttribute('data-call'), li.getAttribute('data-color')]),
    [
      ['LI', 'call 0: mug 0.80', '0', '#e6194b'],
      ['LI', 'call 0: mug 0.20', '0', '#e6194b'],
      ['LI', 'call 2: cup', '2', '#3cb44b'],
    ],
  );
  t.mock.timers.tick(1000);
  assert.deepEqual([...told], [3], 'built once');
  // At the program's threshold the 0.2 candidate is not drawn, so not listed.
  list.schedule(() => listScene(), (n) => told.push(n));
  t.mock.timers.tick(120);
  assert.deepEqual([...told], [3, 2]);
  assert.deepEqual(
    el.elements.map((li) => li.textContent),
    ['call 0: mug 0.80', 'call 2: cup'],
  );
  list.schedule(() => listScene({ layers: { ...LAYERS, boxes: false } }), (n) => told.push(n));
  t.mock.timers.tick(120);
  assert.deepEqual([...told], [3, 2, 0], 'boxes hidden: the list is empty');
  assert.equal(el.children.length, 0);
  list.schedule(() => listScene(), (n) => told.push(n));
  t.mock.timers.tick(120);
  list.schedule(() => null, (n) => told.push(n));
  t.mock.timers.tick(120);
  assert.deepEqual([...told], [3, 2, 0, 2, 0], 'no scene: empty');
  assert.equal(el.children.length, 0);
});

// ------------------------------------------------------------------ painter

const GROUNDING: GroundingResult = {
  image: { path: 'i.png', sha256: 'a', width: 800, height: 600 },
  prompt: 'mug',
  boxes: [
    { index: 0, bbox: [10, 20, 30, 40], label: 'mug', score: 0.8, kept: true },
    { index: 1, bbox: [50, 60, 70, 80], label: 'mug', score: 0.6, kept: false, dropped_at: 'crop' },
    { index: 2, bbox: [0, 0, 5, 5], label: 'cup', score: 0.5, kept: false },
  ],
  verifier_model: 'v',
  ms: 1,
};

/** A detection call (colour set to black, so its labels are white), a depth call and a VQA call. */
function paintScene(over: Partial<StageScene> = {}, trace?: TraceEntry[]): StageScene {
  const calls = callsOf(
    trace ?? [
      {
        index: 0,
        tool: 'gd_detect',
        line: 1,
        args: {},
        result: [
          { bbox: [100, 4, 120, 30], label: 'mug', score: 0.5 },
          { bbox: [10, 40, 50, 90], label: 'mug', score: 0.9 },
        ],
        ms: 1,
      },
      { index: 1, tool: 'depth', line: 2, variable: 'd', args: { bbox: [200, 210, 260, 280] }, result: 1.5, ms: 1 },
      { index: 2, tool: 'vqa', line: 3, args: { bbox: [300, 310, 350, 360], prompt: 'colour?' }, result: 'red', ms: 1 },
    ],
  );
  for (const c of calls) if (c.tool === 'gd_detect') c.color = '#000000';
  return { calls, grounding: [GROUNDING], thresholds: {}, selectedCall: null, layers: LAYERS, focusedBox: null, ...over };
}

type Row = [string, ...unknown[]];
const rows = (ctx: FakeContext, ...ops: string[]): Row[] => ctx.calls.filter((c) => ops.includes(c.op)).map((c) => [c.op, ...c.args] as Row);

test('painter: detection boxes, their label chips, the depth region and the VQA crop at device pixels', () => {
  const p = new Painter();
  assert.equal(LABEL_FONT_PX, 11);
  assert.equal(p.font, '11px sans-serif');
  p.dpr = 2;
  const ctx = new FakeContext();
  const drawn = p.drawBase(ctx as unknown as CanvasRenderingContext2D, paintScene(), ID);
  assert.equal(drawn, 2);
  // At dpr 2 every image pixel is 2 device pixels; chips are (11 + 4)·2 = 30 high, text 7 px a
  // character wide plus 3·2 padding each side.
  assert.deepEqual(rows(ctx, 'rect', 'stroke', 'strokeRect', 'fillRect', 'fillText'), [
    // The boxes in score order: 0.9 [10, 40, 50, 90], then 0.5 [100, 4, 120, 30], one path.
    ['rect', 20, 80, 80, 100],
    ['rect', 200, 8, 40, 52],
    ['stroke'],
    // Labels sit on the outer edge of the 4-px stroke: (20 - 2, 80 - 2); above the box: top 78 - 30 = 48.
    ['fillRect', 18, 48, 68, 30],
    ['fillText', 'mug 0.90', 24, 63],
    // The second box is 8 px from the top: no room above (6 - 30 < 0), so the chip is inside, top 6.
    ['fillRect', 198, 6, 68, 30],
    ['fillText', 'mug 0.50', 204, 21],
    // Depth region [200, 210, 260, 280] dashed twice (halo, then colour), its chip 'd 1.50 m'.
    ['strokeRect', 400, 420, 120, 140],
    ['strokeRect', 400, 420, 120, 140],
    ['fillRect', 400, 390, 68, 30],
    ['fillText', 'd 1.50 m', 406, 405],
    // VQA crop [300, 310, 350, 360], chip 'vqa: red'.
    ['strokeRect', 600, 620, 100, 100],
    ['strokeRect', 600, 620, 100, 100],
    ['fillRect', 600, 590, 68, 30],
    ['fillText', 'vqa: red', 606, 605],
  ]);
  const style = (i: number) => {
    const c = ctx.calls.filter((x) => ['stroke', 'strokeRect', 'fillRect', 'fillText'].includes(x.op))[i]!;
    return [c.op, c.strokeStyle, c.fillStyle, c.lineWidth, c.lineDash, c.globalAlpha];
  };
  assert.deepEqual(style(0), ['stroke', '#000000', '#000000', 4, [], 1], 'the call colour, 2 px wide');
  assert.equal(style(1)[2], '#000000', 'chip in the call colour');
  assert.equal(style(2)[2], '#ffffff', 'white text on a black chip');
  assert.deepEqual(style(5), ['strokeRect', 'rgba(0,0,0,0.75)', '#ffffff', 6, [12, 8], 1], 'depth halo: 3 px, dashed 6/4');
  assert.deepEqual(style(6).slice(0, 5), ['strokeRect', '#ffffff', '#ffffff', 3, [12, 8]], 'depth line: white, 1.5 px');
  assert.equal(style(7)[2], '#ffffff', 'depth chip white');
  assert.equal(style(8)[2], '#000000', 'black text on white');
  assert.deepEqual(style(9).slice(0, 5), ['strokeRect', 'rgba(0,0,0,0.75)', '#000000', 6, [12, 8]]);
  assert.deepEqual(style(10).slice(0, 5), ['strokeRect', '#ffe119', '#000000', 3, [12, 8]], 'crop line yellow');
  assert.equal(style(11)[2], '#ffe119');
  assert.equal(style(12)[2], '#000000', 'black text on yellow');
  // Text: the font scaled to device pixels, centred vertically on the chip.
  assert.equal(ctx.calls.find((c) => c.op === 'fillText')?.font, '22px sans-serif');
  assert.equal(ctx.calls.find((c) => c.op === 'fillText')?.textBaseline, 'middle');
  assert.equal(ctx.globalAlpha, 1);
  assert.deepEqual(ctx.calls.at(-1)?.lineDash, [], 'dashes are switched off after each region');
});

test('painter: grounding boxes when that layer is on: kept solid green, dropped dashed red', () => {
  const p = new Painter();
  p.dpr = 2;
  const ctx = new FakeContext();
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, paintScene({ layers: { ...LAYERS, grounding: true, boxes: false, depthRegions: false, crops: false } }), ID);
  assert.deepEqual(
    ctx.calls.filter((c) => c.op === 'strokeRect').map((c) => [c.args, c.strokeStyle, c.lineWidth, c.lineDash]),
    [
      [[20, 40, 40, 40], '#3cb44b', 4, []],
      [[100, 120, 40, 40], '#e6194b', 4, [12, 8]],
      [[0, 0, 10, 10], '#e6194b', 4, [12, 8]],
    ],
  );
  assert.deepEqual(rows(ctx, 'rect', 'fillRect', 'fillText'), [], 'the other layers are off');
  // Grounding off (the default here): no grounding box.
  const off = new FakeContext();
  p.drawBase(off as unknown as CanvasRenderingContext2D, paintScene({ layers: { ...LAYERS, boxes: false, depthRegions: false, crops: false } }), ID);
  assert.deepEqual(off.calls, [], 'nothing drawn');
});

test('painter: a selected call is drawn thicker and the others dimmed', () => {
  const p = new Painter();
  const ctx = new FakeContext();
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, paintScene({ selectedCall: 1 }), ID);
  const strokes = ctx.calls.filter((c) => c.op === 'stroke' || c.op === 'strokeRect').map((c) => [c.op, c.lineWidth, c.globalAlpha]);
  assert.deepEqual(strokes, [
    ['stroke', 2, 0.35],
    ['strokeRect', 4, 1],
    ['strokeRect', 2, 1],
    ['strokeRect', 3, 0.35],
    ['strokeRect', 1.5, 0.35],
  ]);
  assert.equal(ctx.globalAlpha, 1, 'full opacity again after the frame');
  const sel0 = new FakeContext();
  p.drawBase(sel0 as unknown as CanvasRenderingContext2D, paintScene({ selectedCall: 0 }), ID);
  assert.deepEqual(
    sel0.calls.filter((c) => c.op === 'stroke').map((c) => [c.lineWidth, c.globalAlpha]),
    [[3, 1]],
  );
  // The selected detection's labels move out by half its 3-px stroke: box [10, 40] -> (8.5, 38.5), top 38.5 - 15.
  assert.deepEqual(sel0.ops('fillRect')[0]?.args, [8.5, 23.5, 62, 15]);
  const vqaSel = new FakeContext();
  p.drawBase(vqaSel as unknown as CanvasRenderingContext2D, paintScene({ selectedCall: 2 }), ID);
  assert.deepEqual(
    vqaSel.ops('strokeRect').map((c) => [c.lineWidth, c.globalAlpha]),
    [
      [3, 0.35],
      [1.5, 0.35],
      [4, 1],
      [2, 1],
    ],
  );
});

test('painter: labels off, a depth call without a value or variable, a VQA call without an answer', () => {
  const p = new Painter();
  const ctx = new FakeContext();
  const trace: TraceEntry[] = [
    { index: 0, tool: 'gd_detect', line: 1, args: {}, result: [{ bbox: [10, 40, 50, 90], label: 'mug', score: 0.9 }], ms: 1 },
    { index: 1, tool: 'depth', line: 2, args: { bbox: [200, 210, 260, 280] }, result: null, ms: 1 },
    { index: 2, tool: 'depth', line: 3, args: { bbox: [0, 20, 5, 25] }, result: 3, ms: 1 },
    { index: 3, tool: 'vqa', line: 4, args: { bbox: [300, 310, 350, 360], prompt: 'q' }, result: null, ms: 1 },
    { index: 4, tool: 'depth', line: 5, args: { bbox: 'none' }, result: 3, ms: 1 },
    { index: 5, tool: 'vqa', line: 6, args: { bbox: null, prompt: 'q' }, result: 'x', ms: 1 },
  ];
  assert.equal(p.drawBase(ctx as unknown as CanvasRenderingContext2D, paintScene({ layers: { ...LAYERS, labels: false } }, trace), ID), 1);
  assert.deepEqual(rows(ctx, 'fillText'), [
    ['fillText', 'depth 3.00 m', 3, 12.5],
    ['fillText', 'vqa: ?', 303, 302.5],
  ]);
  // Region [0, 20, 5, 25]: chip top 20 - 15 = 5; text at 5 + 7.5. No region and the whole image: nothing drawn.
  assert.deepEqual(ctx.ops('fillRect')[0]?.args, [0, 5, 12 * 7 + 6, 15]);
  assert.equal(ctx.ops('strokeRect').length, 6, 'three regions dashed twice each; none for the depth call without a box or the whole-image VQA');
  // Every layer off: nothing at all is drawn, and no box counted.
  const none = new FakeContext();
  const drawn = p.drawBase(none as unknown as CanvasRenderingContext2D, paintScene({ layers: { boxes: false, labels: true, depthRegions: false, crops: false, depthMap: false, grounding: false } }, trace), ID);
  assert.equal(drawn, 0);
  assert.deepEqual(rows(none, 'rect', 'stroke', 'strokeRect', 'fillRect', 'fillText'), []);
});

test('painter: a label width is measured once, and again after the canvas was resized', () => {
  const p = new Painter();
  const ctx = new FakeContext();
  const s = paintScene();
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, s, ID);
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, s, ID);
  assert.deepEqual(ctx.measured, ['mug 0.90', 'mug 0.50', 'd 1.50 m', 'vqa: red']);
  p.resized();
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, s, ID);
  assert.equal(ctx.measured.length, 8);
});

test('painter: the font follows the stage font and the device pixel ratio', () => {
  const p = new Painter();
  p.dpr = 3;
  p.font = '11px "Fira Sans", serif';
  const ctx = new FakeContext();
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, paintScene(), ID);
  assert.equal(ctx.font, '33px "Fira Sans", serif');
  assert.equal(ctx.textBaseline, 'middle');
});

test('painter: the highlight layer: the hovered call with a halo, the box under the pointer, the focused grounding box', () => {
  const p = new Painter();
  const ctx = new FakeContext();
  const s = paintScene({ focusedBox: [0, 1] });
  const hovered = s.calls[0]!.boxes[0]!;
  p.drawHi(ctx as unknown as CanvasRenderingContext2D, s, ID, 0, hovered);
  assert.deepEqual(
    ctx.calls.filter((c) => c.op !== 'beginPath').map((c) => [c.op, ...c.args, c.strokeStyle, c.lineWidth, c.lineDash]),
    [
      ['rect', 10, 40, 40, 50, '#000000', 1, []],
      ['rect', 100, 4, 20, 26, '#000000', 1, []],
      // A wide dark halo, then the call's colour on top.
      ['stroke', 'rgba(0,0,0,0.75)', 6, []],
      ['stroke', '#000000', 3, []],
      // The hovered box, 4 px outside it, white dashed: [10 - 4, 40 - 4, 40 + 8, 50 + 8].
      ['strokeRect', 6, 36, 48, 58, '#ffffff', 2, [4, 3]],
      // Focused grounding box #1 [50, 60, 70, 80]: halo 5 px, then dashed red 2.5 px (dropped).
      ['strokeRect', 50, 60, 20, 20, 'rgba(0,0,0,0.75)', 5, []],
      ['strokeRect', 50, 60, 20, 20, '#e6194b', 2.5, [6, 4]],
      // '#1 mug dropped (crop)' is 21 characters: 147 + 6 wide, 15 high, above the box.
      ['fillRect', 50, 45, 153, 15, '#e6194b', 2.5, []],
      ['fillText', '#1 mug dropped (crop)', 53, 52.5, '#e6194b', 2.5, []],
    ],
  );
  assert.equal(ctx.ops('fillRect')[0]?.fillStyle, '#e6194b');
  assert.equal(ctx.font, '11px sans-serif');
});

test('painter: the highlight layer draws only what is there', () => {
  const p = new Painter();
  p.dpr = 2;
  // A kept focused box: solid green, "kept".
  const kept = new FakeContext();
  p.drawHi(kept as unknown as CanvasRenderingContext2D, paintScene({ focusedBox: [0, 0] }), ID, null, null);
  assert.deepEqual(
    kept.calls.filter((c) => c.op === 'strokeRect' || c.op === 'fillRect' || c.op === 'fillText').map((c) => [c.op, ...c.args, c.strokeStyle, c.fillStyle, c.lineWidth, c.lineDash]),
    [
      ['strokeRect', 20, 40, 40, 40, 'rgba(0,0,0,0.75)', '#000000', 10, []],
      ['strokeRect', 20, 40, 40, 40, '#3cb44b', '#000000', 5, []],
      // '#0 mug kept': 11 characters, 77 + 12 wide, 30 high; 40 - 30 = 10 above the box.
      ['fillRect', 20, 10, 89, 30, '#3cb44b', '#3cb44b', 5, []],
      ['fillText', '#0 mug kept', 26, 25, '#3cb44b', '#000000', 5, []],
    ],
  );
  assert.equal(kept.calls.find((c) => c.op === 'fillText')?.font, '22px sans-serif');
  // A dropped box with no stage recorded.
  const unknown = new FakeContext();
  p.drawHi(unknown as unknown as CanvasRenderingContext2D, paintScene({ focusedBox: [0, 2] }), ID, null, null);
  assert.equal(unknown.ops('fillText')[0]?.args[0], '#2 cup dropped (?)');
  // A focused box that is not in the record, a hovered call that is not a detection, boxes hidden: nothing.
  for (const [s, call] of [
    [paintScene({ focusedBox: [0, 9] }), null],
    [paintScene({ focusedBox: [3, 0] }), null],
    [paintScene(), 1],
    [paintScene(), 5],
    [paintScene({ layers: { ...LAYERS, boxes: false } }), 0],
  ] as const) {
    const ctx = new FakeContext();
    p.drawHi(ctx as unknown as CanvasRenderingContext2D, s, ID, call, null);
    assert.deepEqual(rows(ctx, 'rect', 'stroke', 'strokeRect', 'fillRect', 'fillText'), [], JSON.stringify([s.focusedBox, call]));
  }
  // The hovered call's boxes follow the threshold chosen for it.
  const low = new FakeContext();
  const withCandidates = paintScene({ thresholds: { '0': 0.7 } }, [
    { index: 0, tool: 'gd_detect', line: 1, args: {}, result: [], ms: 1, detail: { candidates: [{ bbox: [0, 0, 1, 1], label: 'a', score: 0.9 }, { bbox: [0, 0, 2, 2], label: 'b', score: 0.6 }] } },
  ]);
  p.drawHi(low as unknown as CanvasRenderingContext2D, withCandidates, ID, 0, null);
  assert.equal(low.ops('rect').length, 1);
});
