/**
 * The review queue view in real headless Chromium: the page from `webviewHtml()` (same CSP as in
 * VS Code) with the review bundle built now from webview/review/main.ts, and an
 * `acquireVsCodeApi()` stand-in whose `postMessage` goes to a real host in this process: a
 * `ReviewSession` over real files, answered through the same `handleReviewMessage` the
 * extension's panel uses. So a key press in the page travels to the audit log on disk and back.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { webviewHtml } from '../../src/host/webviewHtml.js';
import { handleReviewMessage } from '../../src/core/review/host.js';
import type { ReviewSession } from '../../src/core/review/session.js';
import { startStaticServer, THEMES, type ServedFile, type StaticServer } from './browser.js';

const ROOT = resolve(__dirname, '..', '..');

export async function buildReviewBundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'valor-review-bundle-'));
  try {
    const outfile = join(dir, 'review.js');
    await esbuild.build({ entryPoints: [join(ROOT, 'webview', 'review', 'main.ts')], outfile, bundle: true, platform: 'browser', format: 'iife', target: 'es2022', logLevel: 'warning' });
    return readFileSync(outfile, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Serves the review page, bundle, stylesheet and `extra` files (images). */
export async function startReviewServer(extra: Record<string, ServedFile> = {}): Promise<StaticServer> {
  const js = await buildReviewBundle();
  const css = readFileSync(join(ROOT, 'media', 'review.css'), 'utf8');
  return startStaticServer(
    { '/review.js': { body: js, type: 'text/javascript' }, '/review.css': { body: css, type: 'text/css' }, ...extra },
    (path, origin) =>
      path === '/index.html'
        ? { body: webviewHtml({ cspSource: origin, scriptUri: `${origin}/review.js`, styleUri: `${origin}/review.css`, title: 'VALOR review' }), type: 'text/html; charset=utf-8' }
        : undefined,
  );
}

export interface ReviewView {
  page: Page;
  /** Messages the host sent, in order (type only). */
  sent: string[];
  errors: string[];
  cspViolations(): Promise<unknown[]>;
  /** Resolves when the view shows `position` and has nothing queued or in flight. */
  waitIdleAt(position: number): Promise<void>;
  close(): Promise<void>;
}

function shim(theme: { bodyClass: string; vars: Record<string, string> }): string {
  return `(() => {
  window.__csp = [];
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return {
      postMessage: (m) => { window.__inflight = (window.__inflight || 0) + 1; window.__toHost(JSON.parse(JSON.stringify(m))); },
      getState: () => undefined,
      setState: (s) => s,
    };
  };
  window.addEventListener('message', () => { window.__inflight = Math.max(0, (window.__inflight || 0) - 1); });
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI }));
  const theme = ${JSON.stringify(theme)};
  const apply = () => { for (const [k, v] of Object.entries(theme.vars)) document.documentElement.style.setProperty(k, v); if (document.body) document.body.classList.add(theme.bodyClass); };
  if (document.documentElement) apply();
  document.addEventListener('DOMContentLoaded', apply);
})();`;
}

export async function openReviewView(browser: Browser, server: StaticServer, session: ReviewSession): Promise<ReviewView> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const sent: string[] = [];
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Host messages are answered one at a time, in arrival order, as a panel's handler would.
  let chain = Promise.resolve();
  await page.exposeFunction('__toHost', (m: unknown) => {
    chain = chain.then(async () => {
      const replies = await handleReviewMessage(session, m);
      for (const r of replies) {
        sent.push(r.type);
        await page.evaluate((x) => window.postMessage(x, '*'), r as unknown);
      }
    });
  });
  const t = THEMES.dark;
  await page.addInitScript({ content: shim({ bodyClass: t.bodyClass, vars: { ...t.vars } }) });
  await page.goto(`${server.origin}/index.html`);
  await page.waitForSelector('.rv-progress');
  return {
    page,
    sent,
    errors,
    cspViolations: () => page.evaluate(() => (window as unknown as { __csp: unknown[] }).__csp),
    async waitIdleAt(position) {
      await page.waitForFunction(
        (p) => {
          const el = document.querySelector<HTMLElement>('.rv-progress');
          const w = window as unknown as { __inflight?: number };
          return el?.dataset['position'] === String(p) && (w.__inflight ?? 0) === 0 && document.querySelector('.app')?.getAttribute('data-busy') === 'no';
        },
        position,
      );
    },
    close: () => context.close(),
  };
}
