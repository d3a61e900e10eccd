// The stage's arithmetic, in-process: where the image sits (webview/stage/geometry.ts) and which
// box is under a point (webview/stage/hitTest.ts). Every expected number is worked out by hand in
// the comment beside it. The same behaviour is checked on screen by render.test.ts and
// interaction.test.ts in a real browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TraceEntry } from '../../src/protocol/run.js';
import { buildCalls } from '../../webview/model.js';
import { clampCenter, clampZoom, deviceRect, MAX_ZOOM, MIN_ZOOM, pannedCenter, transformOf, zoomAbout, type Geometry } from '../../webview/stage/geometry.js';
import { boxAt } from '../../webview/stage/hitTest.js';
import type { StageScene } from '../../webview/stage/scene.js';

// A 200 x 100 image in a 400 x 400 stage: fit = min(400/200, 400/100) = 2, so at zoom 1 the image
// is 400 x 200 CSS pixels, centred: offset (0, 100).
const G: Geometry = { imageW: 200, imageH: 100, cssW: 400, cssH: 400, zoom: 1, center: null };

test('geometry: zoom is kept between 0.25 and 64', () => {
  assert.equal(MIN_ZOOM, 0.25);
  assert.equal(MAX_ZOOM, 64);
  assert.equal(clampZoom(0.1), 0.25);
  assert.equal(clampZoom(0.25), 0.25);
  assert.equal(clampZoom(2), 2);
  assert.equal(clampZoom(64), 64);
  assert.equal(clampZoom(100), 64);
});

test('geometry: the transform fits the image, centres it, and follows zoom and centre', () => {
  assert.deepEqual(transformOf(G), { fit: 2, s: 2, ox: 0, oy: 100 });
  // A tall stage the other way: 100 x 400 stage, fit = min(0.5, 4) = 0.5; offset (50 - 50, 200 - 25).
  assert.deepEqual(transformOf({ ...G, cssW: 100 }), { fit: 0.5, s: 0.5, ox: 0, oy: 175 });
  // Zoom 2 about image point (150, 75): s = 4, ox = 200 - 600, oy = 200 - 300.
  assert.deepEqual(transformOf({ ...G, zoom: 2, center: [150, 75] }), { fit: 2, s: 4, ox: -400, oy: -100 });
  // A stage of no size yet: the fit falls back to 1 rather than 0 (or NaN for an empty image too).
  assert.equal(transformOf({ ...G, cssW: 0, cssH: 0 }).fit, 1);
  assert.equal(transformOf({ imageW: 0, imageH: 0, cssW: 0, cssH: 0, zoom: 1, center: null }).fit, 1);
});

test('geometry: the centre is kept on the image', () => {
  assert.deepEqual(clampCenter(G, -5, 500), [0, 100]);
  assert.deepEqual(clampCenter(G, 300, -1), [200, 0]);
  assert.deepEqual(clampCenter(G, 50, 25), [50, 25]);
});

test('geometry: zooming keeps the image point under the pointer where it is', () => {
  // Default point: the stage's centre (200, 200) = image (100, 50); doubling keeps it centred.
  assert.deepEqual(zoomAbout(G, 2), { zoom: 2, center: [100, 50] });
  // Pointer at (400, 300) = image ((400 - 0)/2, (300 - 100)/2) = (200, 100). At zoom 2 (s = 4) the
  // centre must be (200 - (400 - 200)/4, 100 - (300 - 200)/4) = (150, 75).
  const z = zoomAbout(G, 2, { x: 400, y: 300 });
  assert.deepEqual(z, { zoom: 2, center: [150, 75] });
  const t = transformOf({ ...G, ...z });
  assert.deepEqual([t.ox + 200 * t.s, t.oy + 100 * t.s], [400, 300], 'the same image point is still under the pointer');
  // Pointer at image (0, 0) = CSS (0, 100): centre (0 + 200/4, 0 + 100/4) = (50, 25).
  assert.deepEqual(zoomAbout(G, 2, { x: 0, y: 100 }), { zoom: 2, center: [50, 25] });
  // The zoom is clamped, and so is the centre.
  assert.equal(zoomAbout(G, 1000).zoom, 64);
  assert.equal(zoomAbout(G, 0.001).zoom, 0.25);
  // Zooming out about the corner would put the centre off the image: clamped to it.
  // At zoom 0.5 (s = 1): centre = (0 + 200, 0 + 100) = (200, 100), the image's far corner.
  assert.deepEqual(zoomAbout(G, 0.5, { x: 0, y: 100 }), { zoom: 0.5, center: [200, 100] });
  // From an already zoomed view: zoom 2 at centre (150, 75), pointer at the stage's centre.
  assert.deepEqual(zoomAbout({ ...G, zoom: 2, center: [150, 75] }, 2), { zoom: 4, center: [150, 75] });
});

test('geometry: panning moves the centre against the drag, in image pixels, kept on the image', () => {
  // s = 2: dragging 20 CSS pixels right and 10 up moves the centre 10 left and 5 down.
  assert.deepEqual(pannedCenter(G, [100, 50], 20, -10), [90, 55]);
  assert.deepEqual(pannedCenter(G, [100, 50], 1000, 0), [0, 50]);
  assert.deepEqual(pannedCenter({ ...G, zoom: 2 }, [100, 50], 20, 40), [95, 40]);
});

test('geometry: deviceRect maps an image box to whole device pixels, at least one wide', () => {
  // x1 = round((10 + 1·2)·1.5) = 18, y1 = round((20 + 2·2)·1.5) = 36, x2 = round((10 + 5·2)·1.5) = 30, y2 = round((20 + 9·2)·1.5) = 57.
  assert.deepEqual(deviceRect({ fit: 2, s: 2, ox: 10, oy: 20 }, 1.5, [1, 2, 5, 9]), [18, 36, 12, 21]);
  // Rounding: (0.3 + 1.5) = 1.8 -> 2, (0.2 + 1.5) = 1.7 -> 2, (0.3 + 4.5) = 4.8 -> 5, (0.2 + 4.5) = 4.7 -> 5.
  assert.deepEqual(deviceRect({ fit: 1.5, s: 1.5, ox: 0.3, oy: 0.2 }, 1, [1, 1, 3, 3]), [2, 2, 3, 3]);
  // A box of no size is still one device pixel.
  assert.deepEqual(deviceRect({ fit: 1, s: 1, ox: 0, oy: 0 }, 2, [5, 6, 5, 6]), [10, 12, 1, 1]);
  // An inverted box is not given a negative size.
  assert.deepEqual(deviceRect({ fit: 1, s: 1, ox: 0, oy: 0 }, 1, [9, 9, 5, 5]), [9, 9, 1, 1]);
});

const LAYERS = { boxes: true, labels: true, depthRegions: true, crops: true, depthMap: false, grounding: false };

function scene(trace: TraceEntry[], over: Partial<StageScene> = {}): StageScene {
  return { calls: buildCalls({ id: 'r', trace }), grounding: [], thresholds: {}, selectedCall: null, layers: LAYERS, focusedBox: null, ...over };
}

const cand = (bbox: [number, number, number, number], score: number, label = 'mug') => ({ bbox, label, score });

test('hitTest: the smallest visible detection box holding the point, edges included', () => {
  const s = scene([
    {
      index: 0,
      tool: 'gd_detect',
      line: 1,
      args: {},
      result: [],
      ms: 1,
      detail: { candidates: [cand([0, 0, 100, 100], 0.9, 'big'), cand([20, 20, 40, 40], 0.8, 'small'), cand([50, 50, 60, 60], 0.1, 'hidden')], box_threshold: 0.35 },
    },
    { index: 1, tool: 'depth', line: 2, args: { bbox: [0, 0, 10, 10] }, result: 1, ms: 1 },
  ]);
  const id = { fit: 1, s: 1, ox: 0, oy: 0 };
  assert.equal(boxAt(s, id, 30, 30)?.label, 'small');
  assert.equal(boxAt(s, id, 10, 10)?.label, 'big');
  assert.equal(boxAt(s, id, 20, 40)?.label, 'small', 'on the corner of the small box');
  assert.equal(boxAt(s, id, 40, 20)?.label, 'small');
  assert.equal(boxAt(s, id, 41, 30)?.label, 'big', 'just right of it');
  assert.equal(boxAt(s, id, 30, 41)?.label, 'big', 'just below it');
  assert.equal(boxAt(s, id, 19, 30)?.label, 'big', 'just left of it');
  assert.equal(boxAt(s, id, 30, 19)?.label, 'big', 'just above it');
  assert.equal(boxAt(s, id, 100, 100)?.label, 'big');
  assert.equal(boxAt(s, id, 101, 50), null);
  assert.equal(boxAt(s, id, 50, 101), null);
  assert.equal(boxAt(s, id, -1, 50), null);
  assert.equal(boxAt(s, id, 50, -1), null);
  assert.equal(boxAt(s, id, 55, 55)?.label, 'big', 'a box below the threshold is not drawn, so not hit');
  assert.equal(boxAt({ ...s, thresholds: { '0': 0.05 } }, id, 55, 55)?.label, 'hidden', 'lowering the slider shows it');
  // CSS point -> image point through the transform: s = 2, offset (10, 20): CSS (70, 80) = image (30, 30).
  assert.equal(boxAt(s, { fit: 2, s: 2, ox: 10, oy: 20 }, 70, 80)?.label, 'small');
  // CSS (84, 62) = image (37, 21): in small. Adding the offsets instead would give x 47 or y 41, outside it.
  assert.equal(boxAt(s, { fit: 2, s: 2, ox: 10, oy: 20 }, 84, 62)?.label, 'small');
  // CSS (90, 58) = image (40, 19): one pixel above small, so big.
  assert.equal(boxAt(s, { fit: 2, s: 2, ox: 10, oy: 20 }, 90, 58)?.label, 'big');
  assert.equal(boxAt({ ...s, layers: { ...LAYERS, boxes: false } }, id, 30, 30), null, 'boxes hidden: nothing to hit');
  assert.equal(boxAt(null, id, 30, 30), null);
});

test('hitTest: among boxes of the same area the first listed wins, across calls too', () => {
  const s = scene([
    { index: 0, tool: 'gd_detect', line: 1, args: {}, result: [cand([0, 0, 10, 10], 0.9, 'first'), cand([5, 5, 15, 15], 0.8, 'second')], ms: 1 },
    { index: 1, tool: 'gd_detect', line: 2, args: {}, result: [cand([2, 2, 12, 12], 0.9, 'third'), cand([6, 6, 9, 9], 0.5, 'inner')], ms: 1 },
  ]);
  const id = { fit: 1, s: 1, ox: 0, oy: 0 };
  assert.equal(boxAt(s, id, 7, 5)?.label, 'first');
  assert.equal(boxAt(s, id, 13, 13)?.label, 'second');
  assert.equal(boxAt(s, id, 7, 7)?.label, 'inner', 'the smaller box of the later call');
  assert.equal(boxAt(s, id, 11, 11)?.label, 'second');
});
