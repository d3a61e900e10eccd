/**
 * Entry of the run view bundle (dist/webview/main.js). `zodSetup` must stay the first import:
 * it switches zod to its eval-free mode before any schema is built (see there).
 */
import './zodSetup.js';
import { App } from './app.js';
import { hostApi } from './vscodeApi.js';

function start(): void {
  const root = document.getElementById('app');
  if (!root) throw new Error('the run view page has no #app element; build it with webviewHtml()');
  const { api, real } = hostApi();
  new App(root, api, real);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
