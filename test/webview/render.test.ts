// The run view in a real Chromium: boxes land on the image where the record says, in their
// call's colour, with labels; the threshold slider re-filters the cached candidates; the depth
// heat map's legend shows the map's range; the canvas is sharp at device pixel ratio 2.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BBox } from '../../src/protocol/tools.js';
import type { Pixels } from '../helpers/browser.js';
import { colorDistance, openRunView, screenshotPixels } from '../helpers/browser.js';
import type { ImageGeometry, ViewFixture } from './fixture.js';
import { imageGeometry, parseRgb, startViewFixture, toScreen } from './fixture.js';
import { LAPTOP_CANDIDATES, MUG_CANDIDATES, SCENE, depthMap, makeRun } from './runData.js';

let fx: ViewFixture;
before(async () => {
  fx = await startViewFixture();
});
after(async () => {
  await fx?.close();
});

/** Whether a pixel within ±2 CSS px (horizontally) of the point has the colour. */
function edgeHas(px: Pixels, p: { x: number; y: number }, color: readonly number[], tolerance = 40): boolean {
  for (let dx = -2; dx <= 2; dx++) if (colorDistance(px.at(p.x + dx, p.y), color) < tolerance) return true;
  return false;
}

/** The left edge of a box at half its height, in screen pixels. */
function leftEdge(g: ImageGeometry, b: BBox): { x: number; y: number } {
  return toScreen(g, b[0], (b[1] + b[3]) / 2);
}

async function swatchColors(page: import('playwright-core').Page): Promise<Record<string, [number, number, number]>> {
  const list = await page.$$eval('li.call .swatch[data-color]', (els) =>
    els.map((e) => [e.closest('li')?.getAttribute('data-index') ?? '', getComputedStyle(e).backgroundColor] as const),
  );
  return Object.fromEntries(list.map(([i, c]) => [i, parseRgb(c)]));
}

test('boxes are drawn at their pixel positions in their call colour, with labels; hidden candidates are not', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const g = await imageGeometry(view.page);
  const px = await screenshotPixels(view.page);
  const colors = await swatchColors(view.page);
  const mugColor = colors['0'];
  const laptopColor = colors['1'];
  assert.ok(mugColor && laptopColor, 'each detection call shows its colour in the trace');
  assert.ok(colorDistance(mugColor, laptopColor) > 100, 'two detection calls get clearly different colours');

  const bg = [SCENE.background.r, SCENE.background.g, SCENE.background.b];
  const threshold = run.trace[0]?.detail?.box_threshold ?? 0.35;
  for (const [cands, color, call] of [
    [MUG_CANDIDATES, mugColor, 0],
    [LAPTOP_CANDIDATES, laptopColor, 1],
  ] as const) {
    for (const c of cands) {
      const edge = leftEdge(g, c.bbox);
      const shown = c.score >= threshold;
      assert.equal(edgeHas(px, edge, color), shown, `call ${call} box ${c.label} ${c.score} at ${c.bbox.join(',')}: drawn=${!shown}`);
      if (shown) {
        // 8 px inside the edge is the image again (the object), 8 px outside is the background:
        // the box is an outline at the right place, not a smear.
        const inside = px.at(edge.x + 8, edge.y);
        const object = SCENE.objects.find((o) => o.bbox.join() === c.bbox.join());
        if (object) assert.ok(colorDistance(inside, [object.color.r, object.color.g, object.color.b]) < 30, `inside ${c.bbox.join(',')} is the object, got ${inside.join(',')}`);
        assert.ok(colorDistance(px.at(edge.x - 8, edge.y), bg) < 30, `outside ${c.bbox.join(',')} is the background`);
        // The label chip sits on the box's top-left corner, filled with the call colour.
        const corner = toScreen(g, c.bbox[0], c.bbox[1]);
        assert.ok(colorDistance(px.at(corner.x + 1, corner.y - 8), color) < 40, `label chip of ${c.bbox.join(',')}`);
      }
    }
  }
  // The labels themselves, as listed in the canvas's accessible fallback content.
  const labels = await view.page.$$eval('.box-list li', (els) => els.map((e) => e.textContent));
  const expected = [
    ...MUG_CANDIDATES.filter((c) => c.score >= threshold).map((c) => `call 0: ${c.label} ${c.score.toFixed(2)}`),
    ...LAPTOP_CANDIDATES.filter((c) => c.score >= threshold).map((c) => `call 1: ${c.label} ${c.score.toFixed(2)}`),
  ];
  assert.deepEqual([...labels].sort(), [...expected].sort());
});

test('the threshold slider re-filters candidates live: drawn boxes follow the scores, the image is not reloaded', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri });
  const imageLoads = fx.server.requests.filter((p) => p === '/scene.png').length;
  const slider = view.page.locator('li.call[data-index="0"] input.threshold');
  const drawn = async (): Promise<number> => Number(await view.page.locator('canvas.stage-canvas').first().getAttribute('data-drawn'));
  const laptopsShown = LAPTOP_CANDIDATES.filter((c) => c.score >= 0.35).length;

  // Keyboard on the slider, the way a person would: step down until the threshold is below 0.2.
  await slider.focus();
  for (let i = 0; i < 30 && Number(await slider.inputValue()) > 0.2; i++) await view.page.keyboard.press('ArrowLeft');
  const t1 = Number(await slider.inputValue());
  await view.settle();
  const mugsAtT1 = MUG_CANDIDATES.filter((c) => c.score >= t1).length;
  assert.ok(mugsAtT1 > MUG_CANDIDATES.filter((c) => c.score >= 0.35).length, 'lowering the threshold brings back candidates');
  assert.equal(await drawn(), mugsAtT1 + laptopsShown);
  assert.equal(await view.page.locator('li.call[data-index="0"] .threshold-count').getAttribute('data-visible'), String(mugsAtT1));
  assert.match((await view.page.locator('li.call[data-index="0"] .threshold-count').textContent()) ?? '', new RegExp(`^${mugsAtT1} of ${MUG_CANDIDATES.length} boxes`));

  // A candidate that was hidden is now on the image, in pixels.
  const g = await imageGeometry(view.page);
  const mugColor = (await swatchColors(view.page))['0'];
  assert.ok(mugColor);
  const revived = MUG_CANDIDATES.find((c) => c.score >= t1 && c.score < 0.35);
  assert.ok(revived);
  assert.ok(edgeHas(await screenshotPixels(view.page), leftEdge(g, revived.bbox), mugColor), 'the revived candidate is drawn');

  // All the way up: only candidates scoring 1 remain.
  await view.page.keyboard.press('End');
  await view.settle();
  const t2 = Number(await slider.inputValue());
  assert.equal(t2, 1);
  assert.equal(await drawn(), MUG_CANDIDATES.filter((c) => c.score >= t2).length + laptopsShown);
  assert.equal(fx.server.requests.filter((p) => p === '/scene.png').length, imageLoads, 'sliding never reloads the image');

  // Reset goes back to the program's own threshold.
  await view.page.locator('li.call[data-index="0"] .threshold-reset').click();
  await view.settle();
  assert.equal(await drawn(), MUG_CANDIDATES.filter((c) => c.score >= 0.35).length + laptopsShown);
});

test('hovering a box tells which call and which variable produced it', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri });
  const g = await imageGeometry(view.page);
  const target = MUG_CANDIDATES[1];
  assert.ok(target);
  const p = toScreen(g, (target.bbox[0] + target.bbox[2]) / 2, (target.bbox[1] + target.bbox[3]) / 2);
  await view.page.mouse.move(p.x, p.y);
  const tip = view.page.locator('.stage-tooltip');
  await tip.waitFor({ state: 'visible' });
  const text = (await tip.textContent()) ?? '';
  // mugs[1]: the second box the program received (detector order, which the record keeps).
  const index = MUG_CANDIDATES.filter((c) => c.score >= 0.35).indexOf(target);
  assert.match(text, new RegExp(`mugs\\[${index}\\]`));
  assert.match(text, /line 1/);
  assert.match(text, new RegExp(`${target.label} ${target.score.toFixed(2)}`));
  // The trace row of that call is marked while its boxes are highlighted.
  assert.equal(await view.page.locator('li.call[data-index="0"]').evaluate((e) => e.classList.contains('hovered')), true);
  await view.page.mouse.move(2, 2);
  await tip.waitFor({ state: 'hidden' });
});

test('depth: the heat map legend shows the map range; without a map the view asks the host for one', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const g = await imageGeometry(view.page);
  const top = toScreen(g, SCENE.width - 20, 15);
  const bottom = toScreen(g, SCENE.width - 20, SCENE.height - 15);
  const before = await screenshotPixels(view.page);
  assert.ok(colorDistance(before.at(top.x, top.y), before.at(bottom.x, bottom.y)) < 10, 'the plain image is uniform there');

  await view.page.keyboard.press('h');
  const req = await view.waitForPosted('requestDepthMap');
  assert.equal(req['runId'], run.id);
  assert.match((await view.page.locator('.legend').textContent()) ?? '', /Loading/);

  const map = depthMap(64, 48, 0.73, 9.21);
  await view.send({ type: 'depthMap', runId: run.id, map });
  await view.page.locator('.legend-min').waitFor();
  assert.equal(await view.page.locator('.legend-min').textContent(), `${map.min.toFixed(2)} m`);
  assert.equal(await view.page.locator('.legend-max').textContent(), `${map.max.toFixed(2)} m`);
  await view.settle();
  const heat = await view.page.locator('canvas.stage-depth').evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height, hidden: c.hidden }));
  assert.deepEqual(heat, { w: map.width, h: map.height, hidden: false });
  const after = await screenshotPixels(view.page);
  // The map is far at the top and near at the bottom: the overlay must differ between them.
  assert.ok(colorDistance(after.at(top.x, top.y), after.at(bottom.x, bottom.y)) > 60, 'the heat map shows the depth gradient');

  // A map for another run is ignored; toggling off hides the legend.
  await view.send({ type: 'depthMap', runId: 'another-run', map: depthMap(8, 6, 1, 2) });
  await view.page.keyboard.press('h');
  await view.page.locator('.legend').waitFor({ state: 'hidden' });
  await view.page.keyboard.press('h');
  assert.equal(await view.page.locator('.legend-min').textContent(), `${map.min.toFixed(2)} m`);
  assert.equal((await view.posted()).filter((m) => m.type === 'requestDepthMap').length, 1, 'the map is asked for once');
});

test('a depth map sent with init is shown at once, with its range in the legend', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const map = depthMap();
  await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri, depthMap: map });
  await view.page.locator('button.toggle[data-layer="depthMap"]').click();
  assert.equal(await view.page.locator('.legend-min').textContent(), `${map.min.toFixed(2)} m`);
  assert.equal(await view.page.locator('.legend-max').textContent(), `${map.max.toFixed(2)} m`);
  assert.equal((await view.posted()).filter((m) => m.type === 'requestDepthMap').length, 0);
});

test('at device pixel ratio 2 the overlay is drawn at device resolution and box edges are crisp', async (t) => {
  const view = await openRunView(fx.browser, fx.server, { deviceScaleFactor: 2 });
  t.after(() => view.close());
  await view.load();
  await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri });
  const size = await view.page.locator('canvas.stage-canvas').first().evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height, cw: c.clientWidth, ch: c.clientHeight }));
  assert.equal(size.w, Math.round(size.cw * 2));
  assert.equal(size.h, Math.round(size.ch * 2));
  const g = await imageGeometry(view.page);
  const color = (await swatchColors(view.page))['0'];
  assert.ok(color);
  const shot = await view.page.screenshot({ type: 'png' });
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const box = MUG_CANDIDATES[0]!.bbox;
  const edge = leftEdge(g, box);
  const y = Math.round(edge.y * 2);
  // Scan across the edge in device pixels: the stroke is solid colour (no blur) over >= 3 pixels.
  let solid = 0;
  for (let x = Math.round(edge.x * 2) - 6; x <= Math.round(edge.x * 2) + 6; x++) {
    const o = (y * info.width + x) * info.channels;
    if (colorDistance([data[o] ?? 0, data[o + 1] ?? 0, data[o + 2] ?? 0], color) < 12) solid++;
  }
  assert.ok(solid >= 3, `expected a crisp stroke of at least 3 device pixels, found ${solid}`);
});
