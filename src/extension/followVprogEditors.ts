/**
 * What keeps a kind of `.vprog` editor decoration current (the score badges, the line values,
 * the cited lines): redraw a document's visible editors when its results change or an editor
 * comes into view, and shortly after typing in it stops (an edit may make the results stale).
 */
import * as vscode from 'vscode';
import { LANGUAGE_ID } from './commandIds.js';
import type { PerKeyDebounce } from './perKeyDebounce.js';
import type { ResultsStore } from './resultsStore.js';

/** Calls `refresh` on every visible editor of the document `uri`. */
export function refreshEditorsOf(uri: string, refresh: (editor: vscode.TextEditor) => void): void {
  for (const e of vscode.window.visibleTextEditors) if (e.document.uri.toString() === uri) refresh(e);
}

/** Subscribes the redraws (and draws the visible editors once); the caller disposes what it returns. */
export function followVprogEditors(
  store: Pick<ResultsStore, 'onDidChange'>,
  edits: PerKeyDebounce,
  refreshUri: (uri: string) => void,
  refresh: (editor: vscode.TextEditor) => void,
): vscode.Disposable[] {
  const subs = [
    store.onDidChange((uri) => refreshUri(uri)),
    vscode.window.onDidChangeVisibleTextEditors((eds) => eds.forEach((e) => refresh(e))),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.languageId !== LANGUAGE_ID) return;
      const key = e.document.uri.toString();
      edits.schedule(key, () => refreshUri(key));
    }),
  ];
  for (const e of vscode.window.visibleTextEditors) refresh(e);
  return subs;
}
