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

// CSP source expressions (CSP Level 3, "source-expression"), one token each.
const SCHEME = "[A-Za-z][A-Za-z0-9+.-]*";
const HOST = String.raw`(?:\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)`;
const PORT = String.raw`(?::(?:[0-9]+|\*))?`;
// RFC 3986 path characters without `;` and `,` (they separate directives and policies) and without quotes.
const PATH = String.raw`(?:/(?:[A-Za-z0-9\-._~!$&()*+=:@/]|%[0-9A-Fa-f]{2})*)?`;
const SCHEME_SOURCE = new RegExp(`^${SCHEME}:$`);
const HOST_SOURCE = new RegExp(`^(?:${SCHEME}://)?${HOST}${PORT}${PATH}$`);
/** The one keyword a resource origin may carry: `'self'` (VS Code's own cspSource has it). */
const ALLOWED_KEYWORDS = new Set(["'self'"]);

/**
 * Checks that `cspSource` is a list of CSP source expressions that only names where resources
 * may come from: scheme sources (`https:`), host sources (`https://*.vscode-cdn.net`,
 * `http://127.0.0.1:4711`) and the keyword `'self'`, separated by spaces. Refused, with the
 * reason: anything that could end the directive and open another (`;`, `,`, line breaks, other
 * control characters, stray quotes), and keywords that would widen the policy (`'unsafe-inline'`,
 * `'unsafe-eval'`, `'strict-dynamic'`, nonces and hashes) or a bare `*`.
 */
export function checkCspSource(cspSource: string): void {
  const fail = (why: string): never => {
    throw new Error(`webviewCsp: cspSource ${JSON.stringify(cspSource)} is not a list of CSP source expressions (${why}); pass webview.cspSource.`);
  };
  // eslint-disable-next-line no-control-regex
  if (/[;,\u0000-\u001f\u007f]/.test(cspSource)) fail('it contains ; , a line break or another control character, which could open a new directive');
  const tokens = cspSource.split(' ').filter((t) => t !== '');
  if (tokens.length === 0) fail('it is empty');
  for (const t of tokens) {
    if (t.startsWith("'")) {
      if (!ALLOWED_KEYWORDS.has(t.toLowerCase())) fail(`${t} is not allowed: only 'self' may name the resource origin; nonces, hashes and 'unsafe-…' keywords would widen the policy`);
      continue;
    }
    if (t === '*') fail('a bare * would allow every host');
    if (!SCHEME_SOURCE.test(t) && !HOST_SOURCE.test(t)) fail(`${JSON.stringify(t)} is neither a scheme source like https: nor a host source like https://*.example.com`);
  }
}

/** The Content-Security-Policy of the run view for a resource origin and a nonce. */
export function webviewCsp(cspSource: string, nonce: string): string {
  checkCspSource(cspSource);
  if (!NONCE_RE.test(nonce)) {
    throw new Error(`webviewCsp: nonce ${JSON.stringify(nonce)} must be at least 16 base64 characters; use makeNonce().`);
  }
  const src = cspSource.split(' ').filter((t) => t !== '').join(' ');
  return [
    "default-src 'none'",
    `img-src ${src} data: blob:`,
    `style-src ${src}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${src}`,
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
