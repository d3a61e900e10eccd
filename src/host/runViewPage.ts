/**
 * The run view as one self-contained HTML file, for people without VS Code (`valor run --html`):
 * the same webview bundle and stylesheet the extension serves, inlined, with the run record, the
 * image (a data URL) and, when known, the depth map inlined as JSON. It opens from disk with no
 * server and no network: the page's Content-Security-Policy allows only its own nonce'd script
 * and style and `data:`/`blob:` images, nothing else (`connect-src` stays at 'none').
 *
 * A small host stand-in plays VS Code's part of the message protocol (src/protocol/webview.ts):
 * it answers `ready` with `init`, `requestDepthMap` with the inlined map, and says that
 * overrides need VS Code or `valor audit override`, since a saved page cannot write anything.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { RunRecord } from '../protocol/run.js';
import type { DepthMapData, InitMessage } from '../protocol/webview.js';
import { makeNonce } from './webviewHtml.js';

/** Theme variables the stylesheet reads from VS Code, for a page outside it (light, and dark by preference). */
const THEME = `
:root{--vscode-editor-background:#ffffff;--vscode-foreground:#3b3b3b;--vscode-descriptionForeground:#717171;--vscode-panel-border:#e5e5e5;--vscode-focusBorder:#005fb8;--vscode-list-activeSelectionBackground:#e8e8e8;--vscode-list-activeSelectionForeground:#000000;--vscode-list-hoverBackground:#f2f2f2;--vscode-button-background:#005fb8;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#e5e5e5;--vscode-button-secondaryForeground:#3b3b3b;--vscode-editorWidget-background:#f8f8f8;--vscode-errorForeground:#d13438;--vscode-textLink-foreground:#005fb8;--vscode-testing-iconPassed:#388a34;--vscode-testing-iconFailed:#d13438;--vscode-textCodeBlock-background:#f2f2f2;--vscode-font-family:system-ui,-apple-system,'Segoe UI','DejaVu Sans',sans-serif;--vscode-font-size:13px;--vscode-editor-font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace}
@media (prefers-color-scheme: dark){:root{--vscode-editor-background:#1f1f1f;--vscode-foreground:#cccccc;--vscode-descriptionForeground:#9d9d9d;--vscode-panel-border:#2b2b2b;--vscode-focusBorder:#0078d4;--vscode-list-activeSelectionBackground:#04395e;--vscode-list-activeSelectionForeground:#ffffff;--vscode-list-hoverBackground:#2a2d2e;--vscode-button-background:#0078d4;--vscode-button-secondaryBackground:#313131;--vscode-button-secondaryForeground:#cccccc;--vscode-editorWidget-background:#202020;--vscode-input-background:#313131;--vscode-input-foreground:#cccccc;--vscode-errorForeground:#f85149;--vscode-textLink-foreground:#4daafc;--vscode-testing-iconPassed:#73c991;--vscode-testing-iconFailed:#f14c4c;--vscode-textCodeBlock-background:#2b2b2b}}
body{margin:0;background:var(--vscode-editor-background);color:var(--vscode-foreground)}
`;

/** The host stand-in. Reads the inlined data, sets the theme class, then the bundle runs. */
const HOST = `(function(){
var data=JSON.parse(document.getElementById('valor-run-data').textContent);
var dark=window.matchMedia&&window.matchMedia('(prefers-color-scheme: dark)').matches;
document.body.classList.add(dark?'vscode-dark':'vscode-light');
var state;
function send(m){setTimeout(function(){window.postMessage(m,'*');},0);}
window.acquireVsCodeApi=function(){return{
postMessage:function(m){
if(!m||typeof m!=='object')return;
if(m.type==='ready')send(data.init);
else if(m.type==='requestDepthMap')send(data.depthMap?{type:'depthMap',runId:m.runId,map:data.depthMap}:{type:'error',request:'requestDepthMap',message:'This saved run view holds no depth map (the run made no depth call, or the tool server could not give one).'});
else if(m.type==='override'||m.type==='flipBox')send({type:'error',request:m.type,message:'This is a saved copy of the run: record overrides in VS Code, or with valor audit override.'});
},
getState:function(){return state;},
setState:function(s){state=s;}
};};
})();`;

/** JSON for a `<script type="application/json">` block: no `<` survives, so no text can close the element. */
function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A script's text inside `<script>`: `</script` cannot occur, so the element cannot be closed early. */
function inlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** CSS inside `<style>`: `</style` cannot occur. */
function inlineCss(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface StandaloneRunViewOptions {
  record: RunRecord;
  /** The run's image as a `data:` URL, or null when it is gone. */
  imageDataUrl: string | null;
  depthMap?: DepthMapData | null;
  /** The built webview bundle (dist/webview/main.js) and its stylesheet (media/webview.css). */
  bundle: string;
  css: string;
  nonce?: string;
}

/** The page's policy: its nonce for script and style, images from data: and blob:, nothing else. */
export function standaloneCsp(nonce: string): string {
  return ["default-src 'none'", 'img-src data: blob:', `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`].join('; ');
}

export function standaloneRunViewHtml(o: StandaloneRunViewOptions): string {
  const nonce = o.nonce ?? makeNonce();
  const init: InitMessage = { type: 'init', run: o.record, imageUri: o.imageDataUrl, depthMap: o.depthMap ?? null, pending: [] };
  const title = `VALOR run: ${o.record.query}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeText(standaloneCsp(nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeText(title)}</title>
<style nonce="${nonce}">${inlineCss(THEME)}
${inlineCss(o.css)}</style>
</head>
<body>
<div id="app" class="app"><p class="app-loading">Loading the run view…</p></div>
<script type="application/json" id="valor-run-data">${inlineJson({ init, depthMap: o.depthMap ?? null })}</script>
<script nonce="${nonce}">${inlineScript(HOST)}</script>
<script nonce="${nonce}">${inlineScript(o.bundle)}</script>
</body>
</html>
`;
}

/** dist/webview/main.js and media/webview.css next to the running code (a bundle in dist/, or the sources). */
export function runViewAssets(from: string = __dirname): { bundle: string; css: string } | undefined {
  for (const root of [resolve(from, '..'), resolve(from, '..', '..')]) {
    const bundle = join(root, 'dist', 'webview', 'main.js');
    const css = join(root, 'media', 'webview.css');
    if (existsSync(bundle) && existsSync(css)) return { bundle, css };
  }
  return undefined;
}

const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif', '.bmp': 'image/bmp', '.tif': 'image/tiff', '.tiff': 'image/tiff' };

/** The whole page for a run record: reads the bundle, the stylesheet and the image. */
export async function buildStandaloneRunView(record: RunRecord, depthMap?: DepthMapData | null): Promise<string> {
  const assets = runViewAssets();
  if (!assets) throw new Error("the run view bundle (dist/webview/main.js) or media/webview.css is missing: build with 'npm run build'");
  const [bundle, css] = await Promise.all([readFile(assets.bundle, 'utf8'), readFile(assets.css, 'utf8')]);
  let imageDataUrl: string | null = null;
  try {
    const bytes = await readFile(record.image.path);
    // TIFF and BMP do not display in browsers: send them as PNG.
    const type = IMAGE_TYPES[extname(record.image.path).toLowerCase()];
    if (type && type !== 'image/tiff' && type !== 'image/bmp') imageDataUrl = `data:${type};base64,${bytes.toString('base64')}`;
    else {
      const sharp = (await import('sharp')).default;
      imageDataUrl = `data:image/png;base64,${(await sharp(bytes).rotate().png().toBuffer()).toString('base64')}`;
    }
  } catch {
    imageDataUrl = null;
  }
  return standaloneRunViewHtml({ record, imageDataUrl, depthMap, bundle, css });
}
