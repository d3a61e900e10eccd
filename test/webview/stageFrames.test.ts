// The stage itself (webview/stage/stage.ts) in-process, against the DOM and canvas double of
// domDouble.ts: the image's load states and their messages, where the image is placed, the
// canvases' device-pixel size, which canvases a change redraws (coalesced into one frame), the
// view changes it reports, and the pointer wired to hover, click, drag and zoom. A real browser
// checks the same stage on screen (render.test.ts, interaction.test.ts); this only makes its
// logic visible to the mutation run. Expected numbers are worked out by hand beside each line.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { TraceEntry } from '../../src/protocol/run.js';
import { buildCalls, type ViewBox } from '../../webview/model.js';
import type { StageScene } from '../../webview/stage/scene.js';
import { Stage } from '../../webview/stage/stage.js';
import { FakeCanvas, FakeElement, FakeImage, type FakeWindow, useDomDouble } from './domDouble.js';

let win: FakeWindow;
useDomDouble((w) => {
  win = w;
});

const LAYERS = { boxes: true, labels: true, depthRegions: true, crops: true, depthMap: false, grounding: false };

const TRACE: TraceEntry[] = [
  {
    index: 0,
    tool: 'gd_detect',
    line: 1,
    variable: 'mugs',
    args: {},
    result: [
      { bbox: [20, 20, 60, 60], label: 'mug', score: 0.9 },
      { bbox: [120, 40, 180, 90], label: 'mug', score: 0.6 },
    ],
    ms: 1,
  },
];

function scene(over: Partial<StageScene> = {}): StageScene {
  return { calls: buildCalls({ id: 'r', trace: TRACE }), grounding: [], thresholds: {}, selectedCall: null, layers: LAYERS, focusedBox: null, ...over };
}

interface Parts {
  stage: Stage;
  root: FakeElement;
  img: FakeImage;
  depth: FakeCanvas;
  base: FakeCanvas;
  hi: FakeCanvas;
  tooltip: FakeElement;
  status: FakeElement;
  events: unknown[][];
}

/** A stage in a 400 x 400 panel at device pixel ratio 2. */
function make(): Parts {
  win.devicePixelRatio = 2;
  const events: unknown[][] = [];
  const stage = new Stage({
    hoverBox: (b: ViewBox | null) => events.push(['hoverBox', b?.text ?? null]),
    clickBox: (b: ViewBox) => events.push(['clickBox', b.text]),
    viewChanged: (zoom: number, center: [number, number] | null) => events.push(['viewChanged', zoom, center]),
  });
  const root = stage.root as unknown as FakeElement;
  root.clientWidth = 400;
  root.clientHeight = 400;
  const [img, depth, base, hi, tooltip, status] = root.elements as [FakeImage, FakeCanvas, FakeCanvas, FakeCanvas, FakeElement, FakeElement];
  return { stage, root, img, depth, base, hi, tooltip, status, events };
}

/** Runs the pending frame; returns the canvases it redrew (from the `valor-frame` event). */
function frame(): { boxes: number; imageReady: boolean; canvases: string[] } | null {
  const before = win.events.length;
  const ran = win.runFrames();
  if (ran === 0) return null;
  assert.equal(ran, 1, 'one animation frame for everything that changed');
  const ev = win.events.slice(before);
  assert.equal(ev.length, 1);
  assert.equal(ev[0]?.type, 'valor-frame');
  const d = ev[0]?.detail as { ms: number; boxes: number; imageReady: boolean; canvases: string[] };
  assert.equal(typeof d.ms, 'number');
  // A duration since the frame began: never more than the clock itself reads.
  assert.ok(d.ms >= 0 && d.ms <= performance.now());
  return { boxes: d.boxes, imageReady: d.imageReady, canvases: d.canvases };
}

test('stage: its layers in order, labelled for screen readers, and watching size and pixel ratio', () => {
  const p = make();
  assert.equal(p.root.className, 'stage');
  assert.equal(p.root.getAttribute('tabindex'), '0');
  assert.equal(p.root.getAttribute('aria-label'), 'image with detections; drag or left and right arrows pan, wheel or + and - zoom, 0 fits');
  assert.deepEqual(
    p.root.elements.map((e) => [e.tagName, e.className]),
    [
      ['IMG', 'stage-image'],
      ['CANVAS', 'stage-depth'],
      ['CANVAS', 'stage-canvas'],
      ['CANVAS', 'stage-canvas stage-hi'],
      ['DIV', 'stage-tooltip'],
      ['DIV', 'stage-status'],
    ],
  );
  assert.equal(p.img.getAttribute('alt'), 'run image');
  assert.equal(p.img.getAttribute('draggable'), 'false');
  assert.equal(p.depth.getAttribute('aria-hidden'), 'true');
  assert.equal(p.hi.getAttribute('aria-hidden'), 'true');
  assert.equal(p.base.getAttribute('role'), 'img');
  assert.equal(p.base.getAttribute('aria-label'), 'detections drawn on the image');
  assert.equal(p.base.elements[0]?.className, 'box-list', 'the list of boxes is the canvas fallback content');
  assert.equal(p.status.hidden, true);
  assert.equal(p.stage.image, p.img as unknown as HTMLImageElement);
  assert.equal(p.stage.depthLayer, p.depth as unknown as HTMLCanvasElement);
  assert.deepEqual(win.resizeObserved, [p.root]);
  assert.deepEqual(win.queries, ['(resolution: 2dppx)']);
  assert.deepEqual(
    win.mediaListeners.map((l) => l.options),
    [{ once: true }],
  );
  assert.equal(win.frames.length, 0, 'nothing drawn before there is something to draw');
  // A resize or a new pixel ratio relays out; the ratio is then watched at its new value.
  win.resizeCallbacks[0]?.();
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  win.devicePixelRatio = 3;
  win.mediaListeners[0]?.fn();
  assert.deepEqual(win.queries, ['(resolution: 2dppx)', '(resolution: 3dppx)']);
  assert.equal(win.mediaListeners.length, 2);
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  assert.equal(p.base.width, 1200, '400 CSS pixels at ratio 3');
});

test('stage: without an image, boxes go on an empty canvas of the recorded size, and it says so', async () => {
  const p = make();
  await p.stage.setImage(null, { width: 200, height: 100 });
  assert.equal(p.img.hidden, true);
  assert.equal(p.status.hidden, false);
  assert.equal(p.status.textContent, 'The image is not available: boxes are drawn on an empty canvas of the recorded size.');
  assert.deepEqual(p.stage.imageSize, { width: 200, height: 100, ready: false });
  assert.equal(p.img.decodes, 0);
  // One frame: fit = min(400/200, 400/100) = 2, image 400 x 200 at (0, 100); canvases 800 x 800 device pixels.
  assert.deepEqual(frame(), { boxes: 0, imageReady: false, canvases: ['layout', 'base', 'hi'] });
  assert.deepEqual([p.base.width, p.base.height, p.hi.width, p.hi.height], [800, 800, 800, 800]);
  for (const el of [p.img, p.depth]) assert.deepEqual(el.style, { left: '0px', top: '100px', width: '400px', height: '200px' });
  assert.equal(p.depth.hidden, true, 'the depth map is off until asked for');
  assert.equal(p.root.dataset['zoom'], '1.000');
  assert.equal(p.img.classList.contains('pixelated'), false);
  assert.deepEqual(p.stage.toScreen(50, 25), { x: 100, y: 150 });
  // The same again changes nothing: no new frame.
  await p.stage.setImage(null, { width: 200, height: 100 });
  assert.equal(win.frames.length, 0);
});

test('stage: an image shows once decoded, at its natural size; the same image is not loaded twice', async () => {
  const p = make();
  const loading = p.stage.setImage('https://x/a.png', { width: 200, height: 100 });
  assert.equal(p.img.src, 'https://x/a.png');
  assert.equal(p.img.hidden, false);
  assert.equal(p.status.hidden, true);
  assert.equal(p.status.textContent, '');
  assert.deepEqual(p.stage.imageSize, { width: 200, height: 100, ready: false }, 'the recorded size until decoded');
  p.img.finishDecode({ width: 800, height: 400 });
  await loading;
  assert.deepEqual(p.stage.imageSize, { width: 800, height: 400, ready: true });
  // fit = min(400/800, 400/400) = 0.5: 400 x 200 at (0, 100).
  assert.deepEqual(frame(), { boxes: 0, imageReady: true, canvases: ['layout', 'base', 'hi'] });
  assert.deepEqual(p.img.style, { left: '0px', top: '100px', width: '400px', height: '200px' });
  await p.stage.setImage('https://x/a.png', { width: 1, height: 1 });
  assert.equal(p.img.decodes, 1);
  assert.equal(win.frames.length, 0);
  assert.deepEqual(p.stage.imageSize, { width: 800, height: 400, ready: true });
  // An image that reports no natural size keeps the recorded one.
  const other = p.stage.setImage('https://x/b.png', { width: 300, height: 150 });
  p.img.naturalWidth = 0;
  p.img.naturalHeight = 0;
  p.img.finishDecode({ width: 0, height: 0 });
  await other;
  assert.deepEqual(p.stage.imageSize, { width: 300, height: 150, ready: true });
});

test('stage: an image that cannot be decoded is hidden with a message naming it, and is tried again next time', async () => {
  const p = make();
  const loading = p.stage.setImage('https://x/broken.png', { width: 200, height: 100 });
  frame();
  p.img.finishDecode('fail');
  await loading;
  assert.equal(p.img.hidden, true);
  assert.equal(p.status.hidden, false);
  assert.equal(p.status.textContent, 'The image could not be loaded (https://x/broken.png). Boxes are drawn on an empty canvas.');
  assert.deepEqual(p.stage.imageSize, { width: 200, height: 100, ready: false });
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi'], 'relaid out for the empty canvas');
  const again = p.stage.setImage('https://x/broken.png', { width: 200, height: 100 });
  assert.equal(p.img.decodes, 2, 'not loaded yet, so asked again');
  assert.equal(p.img.hidden, false);
  assert.equal(p.status.hidden, true);
  p.img.finishDecode({ width: 10, height: 20 });
  await again;
  assert.deepEqual(p.stage.imageSize, { width: 10, height: 20, ready: true });
});

test('stage: a newer image wins over an older one still decoding, whether the older one loads or fails', async () => {
  const p = make();
  const first = p.stage.setImage('https://x/old.png', { width: 200, height: 100 });
  const second = p.stage.setImage('https://x/new.png', { width: 300, height: 150 });
  p.img.finishDecode({ width: 999, height: 999 }, 0);
  await first;
  assert.deepEqual(p.stage.imageSize, { width: 300, height: 150, ready: false }, 'the old image does not count');
  p.img.finishDecode({ width: 640, height: 480 }, 0);
  await second;
  assert.deepEqual(p.stage.imageSize, { width: 640, height: 480, ready: true });
  frame();
  const third = p.stage.setImage('https://x/bad.png', { width: 50, height: 50 });
  const fourth = p.stage.setImage(null, { width: 60, height: 30 });
  p.img.finishDecode('fail', 0);
  await third;
  await fourth;
  assert.equal(p.status.textContent, 'The image is not available: boxes are drawn on an empty canvas of the recorded size.', 'the old failure does not replace the newer message');
  assert.deepEqual(p.stage.imageSize, { width: 60, height: 30, ready: false });
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  assert.equal(win.frames.length, 0, 'the stale failure asked for no frame');
});

test('stage: changes are drawn in one frame, and only the canvases they touch', async () => {
  const p = make();
  await p.stage.setImage(null, { width: 200, height: 100 });
  p.stage.setScene(scene());
  p.stage.setHoverCall(0);
  assert.equal(win.frames.length, 1);
  assert.deepEqual(frame(), { boxes: 2, imageReady: false, canvases: ['layout', 'base', 'hi'] });
  // The same depth-map layer: boxes and highlight only.
  p.stage.setScene(scene({ selectedCall: 0 }));
  assert.deepEqual(frame(), { boxes: 2, imageReady: false, canvases: ['base', 'hi'] });
  // The depth-map layer switched: relaid out (the heat map shows or hides).
  p.stage.setScene(scene({ layers: { ...LAYERS, depthMap: true } }));
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  p.stage.setHoverCall(0);
  assert.equal(frame(), null, 'the same hovered call: nothing to redraw');
  p.stage.setHoverCall(null);
  assert.deepEqual(frame()?.canvases, ['hi']);
  p.stage.setDepthVisible(true);
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  assert.equal(p.depth.hidden, false);
  p.stage.setDepthVisible(false);
  frame();
  assert.equal(p.depth.hidden, true);
  // Boxes hidden: none drawn.
  p.stage.setScene(scene({ layers: { ...LAYERS, boxes: false } }));
  assert.equal(frame()?.boxes, 0);
});

test('stage: each canvas is cleared before drawing; the base canvas records how many boxes it drew and, later, listed', async () => {
  const p = make();
  await p.stage.setImage(null, { width: 200, height: 100 });
  p.stage.setScene(scene());
  p.stage.setHoverCall(0);
  frame();
  const ctx = p.base.ctx!;
  assert.deepEqual(ctx.calls.slice(0, 2).map((c) => [c.op, ...c.args]), [
    ['setTransform', 1, 0, 0, 1, 0, 0],
    ['clearRect', 0, 0, 800, 800],
  ]);
  // Box [20, 20, 60, 60] at s = 2, offset (0, 100), ratio 2: CSS (40, 140)..(120, 220), device [80, 280, 160, 160].
  assert.deepEqual(ctx.ops('rect')[0]?.args, [80, 280, 160, 160]);
  assert.equal(ctx.ops('fillText')[0]?.font, '22px sans-serif', 'the stage font, sans-serif when it names none, at ratio 2');
  assert.equal(p.base.dataset['drawn'], '2');
  assert.equal(p.base.dataset['listed'], undefined);
  mock.timers.tick(120);
  assert.equal(p.base.dataset['listed'], '2');
  const hi = p.hi.ctx!;
  assert.deepEqual(hi.calls.slice(0, 2).map((c) => [c.op, ...c.args]), [
    ['setTransform', 1, 0, 0, 1, 0, 0],
    ['clearRect', 0, 0, 800, 800],
  ]);
  assert.equal(hi.ops('stroke').length, 2, 'the hovered call: halo and colour');
  // The font comes from the stage's computed style.
  win.fontFamily = 'Inter';
  win.resizeCallbacks[0]?.();
  frame();
  assert.equal(ctx.ops('fillText').at(-1)?.font, '22px Inter');
  // No 2-D context: nothing drawn, none counted.
  p.base.ctx = null;
  p.hi.ctx = null;
  p.stage.setScene(scene());
  assert.equal(frame()?.boxes, 0);
});

test('stage: label widths are measured again only when a canvas changes size', async () => {
  const p = make();
  await p.stage.setImage(null, { width: 200, height: 100 });
  p.stage.setScene(scene());
  frame();
  const ctx = p.base.ctx!;
  assert.equal(ctx.measured.length, 2);
  win.resizeCallbacks[0]?.();
  frame();
  assert.equal(ctx.measured.length, 2, 'same size: the widths hold');
  p.root.clientHeight = 300;
  win.resizeCallbacks[0]?.();
  frame();
  assert.deepEqual([p.base.width, p.base.height], [800, 600]);
  assert.equal(ctx.measured.length, 4, 'a new height alone is a resize');
  p.root.clientWidth = 0;
  p.root.clientHeight = 0;
  win.resizeCallbacks[0]?.();
  frame();
  assert.deepEqual([p.base.width, p.base.height], [2, 2], 'a hidden panel is taken as 1 x 1 CSS pixel');
  // A window that reports no pixel ratio is taken at 1.
  p.root.clientWidth = 400;
  p.root.clientHeight = 300;
  win.devicePixelRatio = 0;
  win.resizeCallbacks[0]?.();
  frame();
  assert.deepEqual([p.base.width, p.base.height], [400, 300]);
});

test('stage: zoom, pan and fit move the image and are reported; zoom is kept in range', async () => {
  const p = make();
  await p.stage.setImage(null, { width: 200, height: 100 });
  frame();
  // Zoom 2 about the centre: s = 4, the image 800 x 400 at (200 - 400, 200 - 200).
  p.stage.zoomBy(2);
  assert.deepEqual(p.events, [['viewChanged', 2, [100, 50]]]);
  assert.equal(p.stage.zoomLevel, 2);
  frame();
  assert.deepEqual(p.img.style, { left: '-200px', top: '0px', width: '800px', height: '400px' });
  assert.equal(p.root.dataset['zoom'], '2.000');
  assert.equal(p.img.classList.contains('pixelated'), true, 'at 4 CSS pixels an image pixel, drawn as blocks');
  // Pan 40 right, 20 up at s = 4: the centre moves 10 left and 5 down.
  p.stage.panBy(40, -20);
  assert.deepEqual(p.events.at(-1), ['viewChanged', 2, [90, 55]]);
  frame();
  assert.deepEqual(p.stage.toScreen(90, 55), { x: 200, y: 200 });
  p.stage.fit();
  assert.deepEqual(p.events.at(-1), ['viewChanged', 1, null]);
  assert.equal(p.stage.zoomLevel, 1);
  frame();
  assert.deepEqual(p.stage.toScreen(0, 0), { x: 0, y: 100 });
  // Zoom about a point: pointer at (400, 300) = image (200, 100); see stageGeometry.test.ts.
  p.stage.zoomBy(2, { x: 400, y: 300 });
  assert.deepEqual(p.events.at(-1), ['viewChanged', 2, [150, 75]]);
  // setView (from saved state) clamps the zoom, is not reported back, and is drawn.
  const n = p.events.length;
  p.stage.setView(1000, [10, 20]);
  assert.equal(p.stage.zoomLevel, 64);
  assert.equal(p.events.length, n);
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  p.stage.setView(1.5, null);
  frame();
  // s = 3: exactly the size from which pixels are drawn as blocks.
  assert.equal(p.img.classList.contains('pixelated'), true);
  assert.equal(p.root.dataset['zoom'], '1.500');
  p.stage.setView(1.4, null);
  frame();
  assert.equal(p.img.classList.contains('pixelated'), false);
  // panBy from the default centre (the image's middle).
  p.stage.fit();
  p.stage.panBy(20, 0);
  assert.deepEqual(p.events.at(-1), ['viewChanged', 1, [90, 50]]);
});

test('stage: the pointer hovers, clicks, drags and zooms through the stage', async () => {
  const p = make();
  await p.stage.setImage(null, { width: 200, height: 100 });
  p.stage.setScene(scene());
  frame();
  // Box [20, 20, 60, 60] is at CSS (40..120, 140..220); [120, 40, 180, 90] at (240..360, 180..280).
  p.root.fire('pointermove', { pointerId: 1, clientX: 80, clientY: 180 });
  assert.deepEqual(p.events, [['hoverBox', 'mug 0.90']]);
  assert.equal(p.tooltip.hidden, false);
  assert.equal(p.tooltip.textContent, 'mug 0.90gd_detect call #0, line 1mugs[0]');
  assert.deepEqual([p.tooltip.style['left'], p.tooltip.style['top']], ['94px', '194px']);
  assert.deepEqual(frame()?.canvases, ['hi'], 'the hovered box is drawn on the highlight canvas only');
  // Moving within the same box: the tooltip follows, nothing is reported or redrawn.
  p.root.fire('pointermove', { pointerId: 1, clientX: 90, clientY: 190 });
  assert.equal(p.events.length, 1);
  assert.deepEqual([p.tooltip.style['left'], p.tooltip.style['top']], ['104px', '204px']);
  assert.equal(frame(), null);
  p.root.fire('pointermove', { pointerId: 1, clientX: 300, clientY: 200 });
  assert.deepEqual(p.events.at(-1), ['hoverBox', 'mug 0.60']);
  p.root.fire('pointermove', { pointerId: 1, clientX: 10, clientY: 10 });
  assert.deepEqual(p.events.at(-1), ['hoverBox', null]);
  assert.equal(p.tooltip.hidden, true);
  frame();
  // A click on a box.
  p.root.fire('pointerdown', { button: 0, pointerId: 1, clientX: 80, clientY: 180 });
  p.root.fire('pointerup', { pointerId: 1, clientX: 80, clientY: 180 });
  assert.deepEqual(p.events.at(-1), ['clickBox', 'mug 0.90']);
  // A drag from the default centre (100, 50): 20 CSS px right at s = 2 is 10 image px.
  p.events.length = 0;
  p.root.fire('pointerdown', { button: 0, pointerId: 1, clientX: 10, clientY: 10 });
  p.root.fire('pointermove', { pointerId: 1, clientX: 30, clientY: 10 });
  assert.deepEqual(frame()?.canvases, ['layout', 'base', 'hi']);
  assert.deepEqual(p.stage.toScreen(90, 50), { x: 200, y: 200 });
  assert.deepEqual(p.events, [], 'reported when the drag ends, not on every move');
  p.root.fire('pointerup', { pointerId: 1, clientX: 30, clientY: 10 });
  assert.deepEqual(p.events, [['viewChanged', 1, [90, 50]]]);
  p.root.fire('wheel', { deltaY: 0, clientX: 200, clientY: 200, preventDefault: () => {} });
  assert.deepEqual(p.events.at(-1), ['viewChanged', 1, [90, 50]]);
  p.root.fire('dblclick', {});
  assert.deepEqual(p.events.at(-1), ['viewChanged', 1, null]);
  // Boxes hidden: nothing under the pointer.
  p.stage.setScene(scene({ layers: { ...LAYERS, boxes: false } }));
  p.root.fire('pointermove', { pointerId: 1, clientX: 80, clientY: 180 });
  assert.deepEqual(p.events.at(-1), ['viewChanged', 1, null]);
});
