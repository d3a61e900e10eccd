/**
 * Failing verdicts' cited lines in the `.vprog` editor (issue #15): a warning-coloured bar at the
 * start of each line a failing judge cites, a mark in the overview ruler, and a hover naming the
 * judge ("spatial judge: fail — cites this line (plan step 2)"). citedLinesModel.ts decides which
 * lines; edits re-check shortly after typing stops, like the other decorations.
 */
import * as vscode from 'vscode';
import { citedLineHover, citedLineMarks } from './citedLinesModel.js';
import type { LayoutOf } from './editorFeatures.js';
import { isVprog } from './editorFeatures.js';
import { followVprogEditors, refreshEditorsOf } from './followVprogEditors.js';
import { PerKeyDebounce } from './perKeyDebounce.js';
import type { ResultsStore } from './resultsStore.js';

/** Theme colours of the editor itself (no colours of our own to contribute). */
export const CITED_LINE_COLORS = {
  bar: 'editorWarning.foreground',
  background: 'editorWarning.background',
} as const;

export class CitedLineDecorations implements vscode.Disposable {
  readonly type: vscode.TextEditorDecorationType;
  private readonly subs: vscode.Disposable[] = [];
  private readonly edits = new PerKeyDebounce(150);

  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
  ) {
    const warn = new vscode.ThemeColor(CITED_LINE_COLORS.bar);
    this.type = vscode.window.createTextEditorDecorationType({
      isWholeLine: true,
      backgroundColor: new vscode.ThemeColor(CITED_LINE_COLORS.background),
      borderColor: warn,
      borderStyle: 'solid',
      borderWidth: '0 0 0 2px',
      overviewRulerColor: warn,
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
    this.subs.push(...followVprogEditors(store, this.edits, (uri) => this.refreshUri(uri), (e) => this.refresh(e)));
  }

  refreshUri(uri: string): void {
    refreshEditorsOf(uri, (e) => this.refresh(e));
  }

  refresh(editor: vscode.TextEditor): void {
    if (!isVprog(editor.document)) return;
    const doc = editor.document;
    let marks;
    try {
      marks = citedLineMarks(this.layoutOf(doc), this.store.get(doc.uri.toString()).scores);
    } catch {
      return; // a decoration bug must never take the editor down
    }
    editor.setDecorations(
      this.type,
      marks
        .filter((m) => m.line >= 0 && m.line < doc.lineCount)
        .map((m) => {
          const hover = new vscode.MarkdownString();
          hover.appendText(citedLineHover(m));
          return { range: doc.lineAt(m.line).range, hoverMessage: hover };
        }),
    );
  }

  dispose(): void {
    this.edits.dispose();
    for (const s of this.subs) s.dispose();
    this.type.dispose();
  }
}
