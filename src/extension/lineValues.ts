/**
 * The line trace in the `.vprog` editor (issue #15): after a run, each executed program line
 * shows the values it bound at its end (theme colours, like live-programming tools), lines that
 * never ran are dimmed, the line that raised shows the exception, and hovering a name on a line
 * shows its value there. Edits clear what no longer applies (lineValuesModel.ts decides what).
 */
import * as vscode from 'vscode';
import type { LayoutOf } from './editorFeatures.js';
import { isVprog } from './editorFeatures.js';
import { followVprogEditors, refreshEditorsOf } from './followVprogEditors.js';
import { PerKeyDebounce } from './perKeyDebounce.js';
import { lineValueView, programLineAt, valueAt, wordAt } from './lineValuesModel.js';
import type { ResultsStore } from './resultsStore.js';

/** Theme colours of the editor itself (no colours of our own to contribute). */
export const LINE_VALUE_COLORS = {
  value: 'editorInlayHint.foreground',
  raised: 'editorError.foreground',
  dimmed: 'disabledForeground',
} as const;

export class LineValueDecorations implements vscode.Disposable {
  readonly types: { value: vscode.TextEditorDecorationType; raised: vscode.TextEditorDecorationType; dimmed: vscode.TextEditorDecorationType };
  private readonly subs: vscode.Disposable[] = [];
  private readonly edits = new PerKeyDebounce(150);

  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
  ) {
    const after = (color: string, style?: string) => ({ color: new vscode.ThemeColor(color), margin: '0 0 0 2em', ...(style ? { fontStyle: style } : {}) });
    this.types = {
      value: vscode.window.createTextEditorDecorationType({ after: after(LINE_VALUE_COLORS.value, 'italic'), rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed }),
      raised: vscode.window.createTextEditorDecorationType({ after: after(LINE_VALUE_COLORS.raised), rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed }),
      dimmed: vscode.window.createTextEditorDecorationType({ opacity: '0.5', isWholeLine: true, after: after(LINE_VALUE_COLORS.dimmed) }),
    };
    this.subs.push(...followVprogEditors(store, this.edits, (uri) => this.refreshUri(uri), (e) => this.refresh(e)));
  }

  refreshUri(uri: string): void {
    refreshEditorsOf(uri, (e) => this.refresh(e));
  }

  refresh(editor: vscode.TextEditor): void {
    if (!isVprog(editor.document)) return;
    const doc = editor.document;
    let view;
    try {
      view = lineValueView(this.layoutOf(doc), this.store.get(doc.uri.toString()).run?.record);
    } catch {
      return; // a decoration bug must never take the editor down
    }
    const end = (line: number) => doc.lineAt(line).range.end;
    const inDoc = (line: number) => line >= 0 && line < doc.lineCount;
    editor.setDecorations(
      this.types.value,
      view.values.filter((v) => inDoc(v.line) && v.line !== view.raised?.line).map((v) => ({ range: new vscode.Range(end(v.line), end(v.line)), renderOptions: { after: { contentText: v.text } } })),
    );
    editor.setDecorations(
      this.types.raised,
      view.raised && inDoc(view.raised.line)
        ? [{ range: new vscode.Range(end(view.raised.line), end(view.raised.line)), renderOptions: { after: { contentText: raisedText(view, view.raised.line, view.raised.text) } } }]
        : [],
    );
    editor.setDecorations(this.types.dimmed, view.dimmed.filter(inDoc).map((l) => ({ range: doc.lineAt(l).range })));
  }

  dispose(): void {
    this.edits.dispose();
    for (const s of this.subs) s.dispose();
    for (const t of Object.values(this.types)) t.dispose();
  }
}

function raisedText(view: ReturnType<typeof lineValueView>, line: number, text: string): string {
  const values = view.values.find((v) => v.line === line);
  return values ? `${values.text}   ${text}` : text;
}

export class LineValueHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
  ) {}

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const record = this.store.get(doc.uri.toString()).run?.record;
    if (!record?.line_trace || record.program === null) return undefined;
    const layout = this.layoutOf(doc);
    if (layout.program !== record.program) return undefined; // stale: the program was edited since the run
    const line = programLineAt(layout, pos.line);
    if (line === null) return undefined;
    const name = wordAt(doc.lineAt(pos.line).text, pos.character);
    if (!name) return undefined;
    const v = valueAt(record.line_trace, line, name);
    if (!v) return undefined;
    const md = new vscode.MarkdownString();
    md.isTrusted = false;
    md.supportHtml = false;
    const head = v.kind === 'bound' ? `${name} after line ${line}` : `${name} when line ${line} started`;
    const runs = v.kind === 'bound' && v.hits > 1 ? ` (ran ${v.hits}×, first ${v.values.length} shown)` : '';
    md.appendText(`${head}${runs}:\n`);
    for (const value of v.values) md.appendText(`${value.repr}  (${value.type})\n`);
    return new vscode.Hover(md);
  }
}
