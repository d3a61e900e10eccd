/**
 * Entry of the review queue's bundle (dist/webview/review.js). `zodSetup` stays the first import
 * (zod without `new Function`, as the CSP requires).
 */
import '../zodSetup.js';
import { hostApi } from '../vscodeApi.js';
import { ReviewApp } from './app.js';

function start(): void {
  const root = document.getElementById('app');
  if (!root) throw new Error('the review page has no #app element; build it with webviewHtml()');
  const { api } = hostApi();
  new ReviewApp(root, api);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
