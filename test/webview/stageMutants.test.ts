// Tests for the webview group's surviving mutants that were real gaps (docs/testing.md lists the
// rest as equivalent): the highlight at device pixel ratio 2, a chip exactly at the top, a stage
// limited by its height, a label that must match, and parts of the stage's frame loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TraceEntry } from '../../src/protocol/run.js';
import { buildCalls } from '../../webview/model.js';
import { transformOf } from '../../webview/stage/geometry.js';
import { Painter } from '../../webview/stage/painter.js';
import type { StageScene } from '../../webview/stage/scene.js';
import { Stage } from '../../webview/stage/stage.js';
import { FakeCanvas, FakeContext, FakeElement, type FakeWindow, useDomDouble } from './domDouble.js';

let win: FakeWindow;
useDomDouble((w) => {
  win = w;
});

const LAYERS = { boxes: true, labels: true, depthRegions: true, crops: true, depthMap: false, grounding: false };
const ID = { fit: 1, s: 1, ox: 0, oy: 0 };
const TRACE: TraceEntry[] = [{ index: 0, tool: 'gd_detect', line: 1, args: {}, result: [{ bbox: [10, 40, 50, 90], label: 'mug', score: 0.9 }], ms: 1 }];

function scene(over: Partial<StageScene> = {}, trace: TraceEntry[] = TRACE): StageScene {
  return { calls: buildCalls({ id: 'r', trace }), grounding: [], thresholds: {}, selectedCall: null, layers: LAYERS, focusedBox: null, ...over };
}

test('painter: the highlight scales with the device pixel ratio', () => {
  const p = new Painter();
  p.dpr = 2;
  const ctx = new FakeContext();
  const s = scene({
    focusedBox: [0, 0],
    grounding: [{ image: { path: 'i', sha256: 'a', width: 1, height: 1 }, prompt: 'p', boxes: [{ index: 0, bbox: [5, 5, 15, 15], label: 'mug', score: 1, kept: false, dropped_at: 'crop' }], verifier_model: 'v', ms: 1 }],
  });
  p.drawHi(ctx as unknown as CanvasRenderingContext2D, s, ID, 0, s.calls[0]!.boxes[0]!);
  assert.deepEqual(
    ctx.calls.filter((c) => c.op === 'stroke' || c.op === 'strokeRect').map((c) => [c.op, ...c.args, c.lineWidth, c.lineDash]),
    [
      ['stroke', 12, []],
      ['stroke', 6, []],
      // Box [20, 80, 80, 100] in device pixels, 8 device pixels outside it.
      ['strokeRect', 12, 72, 96, 116, 4, [8, 6]],
      ['strokeRect', 10, 10, 20, 20, 10, []],
      ['strokeRect', 10, 10, 20, 20, 5, [12, 8]],
    ],
  );
});

test('painter: a chip that just fits above its box goes above it', () => {
  const p = new Painter();
  const ctx = new FakeContext();
  // Depth region starting at y = 15: a 15-pixel chip fits exactly above it (top 0).
  p.drawBase(ctx as unknown as CanvasRenderingContext2D, scene({}, [{ index: 0, tool: 'depth', line: 1, args: { bbox: [0, 15, 5, 25] }, result: 2, ms: 1 }]), ID);
  assert.equal(ctx.ops('fillRect')[0]?.args[1], 0);
});

test('geometry: a wide stage fits the image to its height', () => {
  // 200 x 100 image in a 400 x 100 stage: min(400/200, 100/100) = 1.
  assert.deepEqual(transformOf({ imageW: 200, imageH: 100, cssW: 400, cssH: 100, zoom: 1, center: null }), { fit: 1, s: 1, ox: 100, oy: 0 });
});

test('model: a candidate with another label is not the received box, even with the same box', () => {
  const c = buildCalls({
    id: 'r',
    trace: [
      {
        index: 0,
        tool: 'gd_detect',
        line: 1,
        args: {},
        result: [{ bbox: [1, 1, 9, 9], label: 'mug', score: 0.8 }],
        ms: 1,
        detail: {
          candidates: [
            { bbox: [1, 1, 9, 9], label: 'cup', score: 0.9 },
            { bbox: [1, 1, 9, 9], label: 'mug', score: 0.8 },
          ],
        },
      },
    ],
  })[0]!;
  assert.deepEqual(
    c.boxes.map((b) => [b.label, b.resultIndex]),
    [
      ['cup', null],
      ['mug', 0],
    ],
  );
});

test('stage: not ready before any image; the wheel zooms; only dirty canvases are drawn; a width-only change resizes', () => {
  win.devicePixelRatio = 1;
  const events: unknown[][] = [];
  const stage = new Stage({ hoverBox: () => {}, clickBox: () => {}, viewChanged: (z, c) => events.push([z, c]) });
  assert.equal(stage.imageSize.ready, false);
  assert.deepEqual(
    win.mediaListeners.map((l) => l.type),
    ['change'],
  );
  const root = stage.root as unknown as FakeElement;
  root.clientWidth = 400;
  root.clientHeight = 400;
  const [, , base, hi] = root.elements as [FakeElement, FakeCanvas, FakeCanvas, FakeCanvas];
  void stage.setImage(null, { width: 200, height: 100 });
  stage.setScene(scene());
  win.runFrames();
  root.fire('wheel', { deltaY: -200, clientX: 200, clientY: 200, preventDefault: () => {} });
  assert.equal(events.length, 1);
  assert.equal(events[0]?.[0], Math.exp(200 * 0.0015));
  win.runFrames();
  const nBase = base.ctx!.calls.length;
  const nHi = hi.ctx!.calls.length;
  stage.setHoverCall(0);
  win.runFrames();
  assert.equal(base.ctx!.calls.length, nBase, 'a highlight change does not redraw the base canvas');
  assert.ok(hi.ctx!.calls.length > nHi);
  const hiNow = hi.ctx!.calls.length;
  stage.invalidate('base');
  win.runFrames();
  assert.equal(hi.ctx!.calls.length, hiNow, 'a base change does not redraw the highlight canvas');
  root.clientWidth = 300;
  win.resizeCallbacks[0]?.();
  win.runFrames();
  assert.deepEqual([base.width, base.height], [300, 400]);
});
