/**
 * Real-browser helpers: launch the system's headless Chromium with playwright-core, serve files
 * from a tiny HTTP server on 127.0.0.1, and open the run view exactly as VS Code would serve it
 * (the same `webviewHtml()` page and CSP, the bundle built from webview/main.ts), with an
 * `acquireVsCodeApi()` stand-in that records posted messages and keeps `setState` in
 * sessionStorage so a reload restores like a VS Code panel does.
 *
 *     const browser = await launchChromium();
 *     const server = await startRunViewServer({ '/scene.png': { body: png, type: 'image/png' } });
 *     const view = await openRunView(browser, server, { theme: 'dark' });
 *     await view.init({ type: 'init', run, imageUri: `${server.origin}/scene.png` });
 *     await view.waitForPosted('revealLine');
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { webviewHtml } from '../../src/host/webviewHtml.js';

const ROOT = resolve(__dirname, '..', '..');

/** The flags the project runs Chromium with (DEVELOPERS.md): headless, no sandbox (containers), no GPU, no network chatter. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Path of the Chromium to drive: $VALOR_CHROMIUM, else `chromium` / `chromium-browser` on PATH. */
export function chromiumPath(): string {
  const fromEnv = process.env['VALOR_CHROMIUM'];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`VALOR_CHROMIUM is set to ${fromEnv}, which does not exist. Point it at a Chromium executable or unset it.`);
    return fromEnv;
  }
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const p = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch {
      // not on PATH; try the next name
    }
  }
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  throw new Error(
    'Chromium was not found, and the run view tests need a real browser. Install it with `sudo apt-get install chromium` ' +
      '(.ci/run does this in CI), or set VALOR_CHROMIUM to the path of a Chromium executable.',
  );
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Builds webview/main.ts the way scripts/build.mjs does, into a temporary folder; returns the JS. */
export async function buildWebviewBundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'valor-webview-'));
  try {
    const outfile = join(dir, 'main.js');
    await esbuild.build({
      entryPoints: [join(ROOT, 'webview', 'main.ts')],
      outfile,
      bundle: true,
      platform: 'browser',
      format: 'iife',
      target: 'es2022',
      sourcemap: false,
      logLevel: 'warning',
    });
    return readFileSync(outfile, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ServedFile {
  body: string | Buffer;
  type: string;
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>`: also the page's CSP source. */
  origin: string;
  files: Map<string, ServedFile>;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `files` by path; `dynamic` (given the origin) may answer a path first, e.g. with a page made per request. */
export async function startStaticServer(
  files: Record<string, ServedFile>,
  dynamic?: (path: string, origin: string) => ServedFile | undefined,
): Promise<StaticServer> {
  const map = new Map(Object.entries(files));
  const requests: string[] = [];
  let origin = '';
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const f = dynamic?.(path, origin) ?? map.get(path);
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    files: map,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/**
 * Serves the run view page (`/index.html` from `webviewHtml`, with a fresh nonce per request),
 * the bundle (`/main.js`, built now from the sources) and the stylesheet (`/webview.css`), plus
 * `extra` files such as test images.
 */
export async function startRunViewServer(extra: Record<string, ServedFile> = {}): Promise<StaticServer> {
  const js = await buildWebviewBundle();
  const css = readFileSync(join(ROOT, 'media', 'webview.css'), 'utf8');
  // The page is made per request so each load gets its own nonce, as a VS Code panel does.
  return startStaticServer(
    {
      '/main.js': { body: js, type: 'text/javascript' },
      '/webview.css': { body: css, type: 'text/css' },
      ...extra,
    },
    (path, origin) =>
      path === '/index.html'
        ? { body: webviewHtml({ cspSource: origin, scriptUri: `${origin}/main.js`, styleUri: `${origin}/webview.css` }), type: 'text/html; charset=utf-8' }
        : undefined,
  );
}

/** VS Code theme variables (a subset of the real ones) for light, dark and high-contrast panels. */
export const THEMES = {
  light: {
    bodyClass: 'vscode-light',
    vars: {
      '--vscode-editor-background': '#ffffff',
      '--vscode-foreground': '#3b3b3b',
      '--vscode-descriptionForeground': '#717171',
      '--vscode-panel-border': '#e5e5e5',
      '--vscode-focusBorder': '#005fb8',
      '--vscode-list-activeSelectionBackground': '#e8e8e8',
      '--vscode-list-activeSelectionForeground': '#000000',
      '--vscode-list-hoverBackground': '#f2f2f2',
      '--vscode-button-background': '#005fb8',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-secondaryBackground': '#e5e5e5',
      '--vscode-button-secondaryForeground': '#3b3b3b',
      '--vscode-editorWidget-background': '#f8f8f8',
      '--vscode-errorForeground': '#f85149',
      '--vscode-textLink-foreground': '#005fb8',
      '--vscode-font-family': "system-ui, 'DejaVu Sans', sans-serif",
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': "'DejaVu Sans Mono', monospace",
    },
  },
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      '--vscode-editor-background': '#1f1f1f',
      '--vscode-foreground': '#cccccc',
      '--vscode-descriptionForeground': '#9d9d9d',
      '--vscode-panel-border': '#2b2b2b',
      '--vscode-focusBorder': '#0078d4',
      '--vscode-list-activeSelectionBackground': '#04395e',
      '--vscode-list-activeSelectionForeground': '#ffffff',
      '--vscode-list-hoverBackground': '#2a2d2e',
      '--vscode-button-background': '#0078d4',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-secondaryBackground': '#313131',
      '--vscode-button-secondaryForeground': '#cccccc',
      '--vscode-editorWidget-background': '#202020',
      '--vscode-input-background': '#313131',
      '--vscode-input-foreground': '#cccccc',
      '--vscode-errorForeground': '#f85149',
      '--vscode-textLink-foreground': '#4daafc',
      '--vscode-testing-iconPassed': '#73c991',
      '--vscode-testing-iconFailed': '#f14c4c',
      '--vscode-textCodeBlock-background': '#2b2b2b',
      '--vscode-inputValidation-errorBackground': '#5a1d1d',
      '--vscode-inputValidation-errorBorder': '#be1100',
      '--vscode-editorHoverWidget-background': '#202020',
      '--vscode-font-family': "system-ui, 'DejaVu Sans', sans-serif",
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': "'DejaVu Sans Mono', monospace",
    },
  },
  'high-contrast': {
    bodyClass: 'vscode-high-contrast',
    vars: {
      '--vscode-editor-background': '#000000',
      '--vscode-foreground': '#ffffff',
      '--vscode-descriptionForeground': '#ffffff',
      '--vscode-panel-border': '#6fc3df',
      '--vscode-contrastBorder': '#6fc3df',
      '--vscode-contrastActiveBorder': '#f38518',
      '--vscode-focusBorder': '#f38518',
      '--vscode-list-activeSelectionBackground': '#000000',
      '--vscode-list-activeSelectionForeground': '#ffffff',
      '--vscode-list-hoverBackground': '#000000',
      '--vscode-button-background': '#000000',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-secondaryBackground': '#000000',
      '--vscode-button-secondaryForeground': '#ffffff',
      '--vscode-editorWidget-background': '#0c141f',
      '--vscode-input-background': '#000000',
      '--vscode-input-foreground': '#ffffff',
      '--vscode-errorForeground': '#f48771',
      '--vscode-textLink-foreground': '#21a6ff',
      '--vscode-testing-iconPassed': '#73c991',
      '--vscode-testing-iconFailed': '#f48771',
      '--vscode-textCodeBlock-background': '#000000',
      '--vscode-inputValidation-errorBackground': '#000000',
      '--vscode-inputValidation-errorBorder': '#6fc3df',
      '--vscode-editorHoverWidget-background': '#0c141f',
      '--vscode-font-family': "system-ui, 'DejaVu Sans', sans-serif",
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': "'DejaVu Sans Mono', monospace",
    },
  },
} as const;
export type ThemeName = keyof typeof THEMES;

export interface RunViewOptions {
  theme?: ThemeName;
  viewport?: { width: number; height: number };
  deviceScaleFactor?: number;
}

/** A message the view posted, as recorded by the `acquireVsCodeApi` stand-in. */
export interface Posted {
  type: string;
  [key: string]: unknown;
}

export interface FrameRecord {
  ms: number;
  boxes: number;
  imageReady: boolean;
  canvases: string[];
  at: number;
}

export interface RunView {
  page: Page;
  context: BrowserContext;
  /** Loads (or reloads) the page and waits for the view's `ready`. */
  load(): Promise<void>;
  reload(): Promise<void>;
  /** Sends a host message (as the extension's `webview.postMessage` would). */
  send(message: unknown): Promise<void>;
  /** Sends init and waits until the image is drawn and the box list is up to date. */
  init(message: unknown): Promise<void>;
  posted(): Promise<Posted[]>;
  waitForPosted(type: string, count?: number): Promise<Posted>;
  /** Waits until a frame has been drawn after everything pending, and the box list caught up. */
  settle(): Promise<void>;
  cspViolations(): Promise<Array<{ directive: string; blocked: string; sample: string }>>;
  close(): Promise<void>;
}

/**
 * Installed before the page's own scripts on every load (VS Code injects its API the same way).
 * Plain JavaScript text, not a function: the test runner's transpiler adds helpers to compiled
 * functions that do not exist in the page.
 */
function hostShim(theme: { bodyClass: string; vars: Record<string, string> }): string {
  return `(() => {
  const theme = ${JSON.stringify(theme)};
  window.__posted = [];
  window.__frames = [];
  window.__csp = [];
  const KEY = '__vscodeState';
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return {
      postMessage: (m) => { window.__posted.push(JSON.parse(JSON.stringify(m))); },
      getState: () => { const s = sessionStorage.getItem(KEY); return s ? JSON.parse(s) : undefined; },
      setState: (s) => { sessionStorage.setItem(KEY, JSON.stringify(s)); return s; },
    };
  };
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
  });
  window.addEventListener('valor-frame', (e) => { window.__frames.push({ ...e.detail, at: performance.now() }); });
  const apply = () => {
    for (const [k, v] of Object.entries(theme.vars)) document.documentElement.style.setProperty(k, v);
    if (document.body) document.body.classList.add(theme.bodyClass);
  };
  if (document.documentElement) apply();
  document.addEventListener('DOMContentLoaded', apply);
})();`;
}

export async function openRunView(browser: Browser, server: StaticServer, opts: RunViewOptions = {}): Promise<RunView> {
  const theme = THEMES[opts.theme ?? 'light'];
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1200, height: 800 }, deviceScaleFactor: opts.deviceScaleFactor ?? 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.addInitScript({ content: hostShim({ bodyClass: theme.bodyClass, vars: { ...theme.vars } }) });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  const waitReady = async (): Promise<void> => {
    await page.waitForFunction(() => ((window as unknown as { __posted?: Posted[] }).__posted ?? []).some((m) => m.type === 'ready'));
    if (pageErrors.length) throw new Error(`the run view threw: ${pageErrors.join('\n')}`);
  };
  const view: RunView = {
    page,
    context,
    async load() {
      await page.goto(`${server.origin}/index.html`);
      await waitReady();
    },
    async reload() {
      await page.reload();
      await waitReady();
    },
    async send(message) {
      await page.evaluate((m) => window.postMessage(m, '*'), message);
    },
    async init(message) {
      const seen = await page.evaluate(() => (window as unknown as { __frames: FrameRecord[] }).__frames.length);
      await view.send(message);
      // A frame drawn after this message, with the image decoded (or no image to wait for).
      await page.waitForFunction((n) => {
        const frames = (window as unknown as { __frames: FrameRecord[] }).__frames.slice(n);
        const img = document.querySelector<HTMLImageElement>('.stage-image');
        const wantImage = img !== null && !img.hidden && img.getAttribute('src') !== null;
        return frames.some((f) => f.imageReady || !wantImage);
      }, seen);
      await view.settle();
    },
    async posted() {
      return page.evaluate(() => (window as unknown as { __posted: Posted[] }).__posted);
    },
    async waitForPosted(type, count = 1) {
      const handle = await page.waitForFunction(
        ([t, n]) => {
          const list = (window as unknown as { __posted: Posted[] }).__posted.filter((m) => m.type === t);
          return list.length >= (n as number) ? list[(n as number) - 1] : null;
        },
        [type, count] as const,
      );
      return (await handle.jsonValue()) as Posted;
    },
    async settle() {
      // Two animation frames: the one that draws pending changes, and one after it; then the
      // debounced box list must match what was drawn.
      await page.evaluate(() => new Promise<void>((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok()))));
      await page.waitForFunction(() => {
        const c = document.querySelector<HTMLCanvasElement>('.stage-canvas');
        return c !== null && c.dataset['listed'] === c.dataset['drawn'];
      });
      if (pageErrors.length) throw new Error(`the run view threw: ${pageErrors.join('\n')}`);
    },
    async cspViolations() {
      return page.evaluate(() => (window as unknown as { __csp: Array<{ directive: string; blocked: string; sample: string }> }).__csp);
    },
    async close() {
      await context.close();
    },
  };
  return view;
}

/** RGB of one CSS pixel in a PNG screenshot taken at device scale factor 1. */
export interface Pixels {
  width: number;
  height: number;
  at(x: number, y: number): [number, number, number];
}

export async function screenshotPixels(page: Page): Promise<Pixels> {
  const png = await page.screenshot({ type: 'png' });
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    at(x, y) {
      const xi = Math.round(x);
      const yi = Math.round(y);
      if (xi < 0 || yi < 0 || xi >= info.width || yi >= info.height) throw new Error(`pixel ${xi},${yi} is outside the ${info.width}x${info.height} screenshot`);
      const o = (yi * info.width + xi) * info.channels;
      return [data[o] ?? 0, data[o + 1] ?? 0, data[o + 2] ?? 0];
    },
  };
}

export function colorDistance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot((a[0] ?? 0) - (b[0] ?? 0), (a[1] ?? 0) - (b[1] ?? 0), (a[2] ?? 0) - (b[2] ?? 0));
}
