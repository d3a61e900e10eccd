// Screenshots of the run view in light, dark and high-contrast themes (test-artifacts/), made in a
// real Chromium with VS Code's theme variables injected; the light one is also the README's
// picture (media/screenshot-run-view.png). Each theme must actually apply: the page background
// is the theme's, and the call swatches are outlined in a colour readable on it.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { ThemeName } from '../helpers/browser.js';
import { THEMES, colorDistance, openRunView, screenshotPixels } from '../helpers/browser.js';
import type { ViewFixture } from './fixture.js';
import { parseRgb, startViewFixture } from './fixture.js';
import { depthMap, makeRun } from './runData.js';

const ROOT = resolve(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');

let fx: ViewFixture;
before(async () => {
  fx = await startViewFixture();
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await fx?.close();
});

function luminance([r, g, b]: readonly number[]): number {
  const lin = (c: number): number => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r ?? 0) + 0.7152 * lin(g ?? 0) + 0.0722 * lin(b ?? 0);
}

function contrast(a: readonly number[], b: readonly number[]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

for (const theme of Object.keys(THEMES) as ThemeName[]) {
  test(`screenshot in the ${theme} theme`, async (t) => {
    const view = await openRunView(fx.browser, fx.server, { theme, viewport: { width: 1200, height: 800 } });
    t.after(() => view.close());
    await view.load();
    await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri, depthMap: depthMap(), compare: makeRun({ id: 'run-desk-2', answer: 'no', laptopThreshold: 0.25 }) });
    const file = join(ARTIFACTS, `run-view-${theme}.png`);
    await view.page.screenshot({ path: file, type: 'png' });
    const meta = await sharp(file).metadata();
    assert.equal(meta.width, 1200);
    assert.equal(meta.height, 800);

    const bg = THEMES[theme].vars['--vscode-editor-background'];
    const bgRgb = parseRgb(await view.page.evaluate(() => getComputedStyle(document.body).backgroundColor));
    assert.ok(colorDistance(bgRgb, [parseInt(bg.slice(1, 3), 16), parseInt(bg.slice(3, 5), 16), parseInt(bg.slice(5, 7), 16)]) < 2, `body background is the theme's ${bg}`);
    // The header's right end is empty page: its pixel is the theme background.
    const px = await screenshotPixels(view.page);
    assert.ok(colorDistance(px.at(1190, 8), bgRgb) < 4, `page pixel ${px.at(1190, 8).join(',')} vs theme background ${bgRgb.join(',')}`);
    const border = parseRgb(await view.page.locator('li.call .swatch').first().evaluate((e) => getComputedStyle(e).borderTopColor));
    assert.ok(contrast(border, bgRgb) >= 4.5, `swatch outline contrast ${contrast(border, bgRgb).toFixed(2)} in ${theme}`);

    if (theme === 'light') {
      const readme = join(ROOT, 'media', 'screenshot-run-view.png');
      copyFileSync(file, readme);
      assert.ok(statSync(readme).size < 400_000, 'the README screenshot stays small');
    }
  });
}
