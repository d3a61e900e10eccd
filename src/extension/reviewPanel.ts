/**
 * The host side of the review queue (webview/review/, messages in src/protocol/review.ts): one
 * WebviewPanel per opened queue, the strict-CSP page from host/webviewHtml.ts with the review
 * bundle, every message handled by core/review/host.ts against the queue's ReviewSession. Images
 * may only come from the folders allowed at creation (the extension's dist/ and media/, the
 * workspace folders, the source's folder and the folders of the queue's first images), and only
 * files named as images; anything else is not shown, and the view says there is no image.
 */
import { dirname, relative, isAbsolute } from 'node:path';
import * as vscode from 'vscode';
import { webviewHtml } from '../host/webviewHtml.js';
import { handleReviewMessage } from '../core/review/host.js';
import type { ReviewSession } from '../core/review/session.js';
import { REVIEW_VIEW_TYPE } from './commandIds.js';
import type { ExtensionLog } from './extensionLog.js';

const IMAGE_EXT = /\.(png|jpe?g|webp|gif|bmp)$/i;

function inside(root: string, path: string): boolean {
  const r = relative(root, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

export function openReviewPanel(
  extensionUri: vscode.Uri,
  log: ExtensionLog,
  session: ReviewSession,
  allowedFolders: readonly string[],
  title: string,
): vscode.WebviewPanel {
  const roots = [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media'), ...allowedFolders.map((f) => vscode.Uri.file(f))];
  const panel = vscode.window.createWebviewPanel(REVIEW_VIEW_TYPE, title, { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, {
    enableScripts: true,
    localResourceRoots: roots,
    retainContextWhenHidden: true,
    enableFindWidget: false,
  });
  const w = panel.webview;
  // Only image files, and only inside the allowed folders: a replies file cannot make the view load anything else.
  session.setImageUri((path) => (IMAGE_EXT.test(path) && allowedFolders.some((f) => inside(f, path)) ? w.asWebviewUri(vscode.Uri.file(path)).toString() : null));
  w.html = webviewHtml({
    cspSource: w.cspSource,
    scriptUri: w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'review.js')).toString(),
    styleUri: w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'review.css')).toString(),
    title,
  });
  // One message at a time, in order, so decisions reach the audit log in the order they were made.
  let chain: Promise<void> = Promise.resolve();
  const sub = w.onDidReceiveMessage((data: unknown) => {
    chain = chain.then(async () => {
      const replies = await handleReviewMessage(session, data);
      for (const r of replies) {
        if (r.type === 'error') log.warn(`review queue: ${r.message}`);
        await w.postMessage(r);
      }
    }).catch((err: unknown) => log.warn(`review queue: ${String(err)}`));
  });
  panel.onDidDispose(() => sub.dispose());
  return panel;
}

/** Folders an item's image may be served from: the source's, and those of the first images. */
export function imageFolders(paths: Iterable<string | null>, limit = 8): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    if (!p || !IMAGE_EXT.test(p)) continue;
    out.add(dirname(p));
    if (out.size >= limit) break;
  }
  return [...out];
}
