/**
 * Shared set-up of the browser tests: one Chromium and one local server (page, bundle, styles,
 * the scene image) per test file, and geometry helpers to find where an image pixel landed on
 * the screen.
 */
import type { Browser, Page } from 'playwright-core';
import type { StaticServer } from '../helpers/browser.js';
import { launchChromium, startRunViewServer } from '../helpers/browser.js';
import { sceneImage } from './runData.js';

export interface ViewFixture {
  browser: Browser;
  server: StaticServer;
  /** URI of the scene image on the server (what the host would pass as `imageUri`). */
  imageUri: string;
  close(): Promise<void>;
}

export async function startViewFixture(): Promise<ViewFixture> {
  const png = await sceneImage();
  const server = await startRunViewServer({ '/scene.png': { body: png, type: 'image/png' } });
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    browser,
    server,
    imageUri: `${server.origin}/scene.png`,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

export interface ImageGeometry {
  left: number;
  top: number;
  scaleX: number;
  scaleY: number;
}

/** Where the image is drawn in the page (CSS pixels), from the <img> element itself. */
export async function imageGeometry(page: Page): Promise<ImageGeometry> {
  return page.evaluate(() => {
    const img = document.querySelector<HTMLImageElement>('.stage-image');
    if (!img || !img.naturalWidth) throw new Error('the stage image is not loaded');
    const r = img.getBoundingClientRect();
    return { left: r.left, top: r.top, scaleX: r.width / img.naturalWidth, scaleY: r.height / img.naturalHeight };
  });
}

export function toScreen(g: ImageGeometry, x: number, y: number): { x: number; y: number } {
  return { x: g.left + x * g.scaleX, y: g.top + y * g.scaleY };
}

/** `rgb(r, g, b)` (computed style) -> [r, g, b]. */
export function parseRgb(css: string): [number, number, number] {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css);
  if (!m) throw new Error(`not an rgb() colour: ${css}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}
