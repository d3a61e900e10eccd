/**
 * The run view's HTML page. One pure function, so the extension (with `webview.asWebviewUri`
 * values) and the browser tests (with http://127.0.0.1 URLs) serve the very same markup and
 * Content-Security-Policy: what the tests prove about the CSP holds in VS Code.
 *
 * The policy allows nothing by default; scripts only with the page's nonce, styles, fonts and
 * images only from the webview's resource origin (`cspSource`), images also from `data:` and
 * `blob:` (the view makes crop previews and heat maps locally). No 'unsafe-inline', no
 * 'unsafe-eval', no network (`connect-src` stays at 'none').
 */
import { randomBytes } from 'node:crypto';

export interface WebviewHtmlOptions {
  /** `webview.cspSource` (in tests: the origin of the local server, e.g. `http://127.0.0.1:4711`). */
  cspSource: string;
  /** URI of the bundle `dist/webview/main.js`, as the page may load it. */
  scriptUri: string;
  /** URI of the stylesheet `media/webview.css`. */
  styleUri: string;
  /** Nonce for the script tag; a fresh one from `makeNonce()` when omitted. Use a new one per page. */
  nonce?: string;
  /** Page title (VS Code shows the panel title from the panel, not from here). */
  title?: string;
}

const NONCE_RE = /^[A-Za-z0-9+/_-]{16,}={0,2}$/;

/** A fresh random nonce (128 bits, base64url). */
export function makeNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The Content-Security-Policy of the run view for a resource origin and a nonce. */
export function webviewCsp(cspSource: string, nonce: string): string {
  // A `;`, quote or line break would let the value open a new directive and widen the policy.
  if (!cspSource.trim() || /[;'"\r\n]/.test(cspSource)) {
    throw new Error(
      `webviewCsp: cspSource ${JSON.stringify(cspSource)} is not a CSP source expression (empty, or contains ; quotes or line breaks); pass webview.cspSource.`,
    );
  }
  if (!NONCE_RE.test(nonce)) {
    throw new Error(`webviewCsp: nonce ${JSON.stringify(nonce)} must be at least 16 base64 characters; use makeNonce().`);
  }
  return [
    "default-src 'none'",
    `img-src ${cspSource} data: blob:`,
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
  ].join('; ');
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The whole HTML document of the run view. */
export function webviewHtml(opts: WebviewHtmlOptions): string {
  const nonce = opts.nonce ?? makeNonce();
  const csp = webviewCsp(opts.cspSource, nonce);
  const title = escapeAttr(opts.title ?? 'VALOR run');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${escapeAttr(opts.styleUri)}">
<title>${title}</title>
</head>
<body>
<div id="app" class="app"><p class="app-loading">Loading the run view…</p></div>
<script nonce="${escapeAttr(nonce)}" src="${escapeAttr(opts.scriptUri)}"></script>
</body>
</html>
`;
}
