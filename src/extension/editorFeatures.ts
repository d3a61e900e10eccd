/**
 * The `.vprog` editor features that VS Code asks for or we push: inline score decorations, the
 * score hover, CodeLens, and Problems-panel diagnostics. Each is a thin adapter over the pure
 * models (scoreView.ts, diagnosticsModel.ts) and the results store.
 */
import { existsSync, statSync } from 'node:fs';
import * as vscode from 'vscode';
import { COMMANDS, CONTEXT_KEYS, LANGUAGE_ID } from './commandIds.js';
import { documentProblems, type DocProblem } from './diagnosticsModel.js';
import { PerKeyDebounce } from './perKeyDebounce.js';
import { isImagePath, resolveDocumentImage } from './imagePaths.js';
import type { DocLayout } from './vprogLayout.js';
import { repairTarget } from './repairTarget.js';
import type { ResultsStore } from './resultsStore.js';
import { hoverMarkdown, scoreBadges, type BadgeKind } from './scoreView.js';
import { followVprogEditors, refreshEditorsOf } from './followVprogEditors.js';

export type LayoutOf = (doc: vscode.TextDocument) => DocLayout;

export function isVprog(doc: vscode.TextDocument | undefined): doc is vscode.TextDocument {
  return doc !== undefined && doc.languageId === LANGUAGE_ID;
}

/** Theme colour ids per badge kind (contributed in package.json with theme-derived defaults). */
export const BADGE_COLORS: Record<BadgeKind, string> = {
  pass: 'valor.scorePassed',
  fail: 'valor.scoreFailed',
  error: 'valor.scoreError',
  overridden: 'valor.scoreOverridden',
};

// ------------------------------------------------------------------ decorations

export class ScoreDecorations implements vscode.Disposable {
  readonly types: Record<BadgeKind, vscode.TextEditorDecorationType>;
  private readonly subs: vscode.Disposable[] = [];
  private readonly edits = new PerKeyDebounce(200);

  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
  ) {
    const make = (kind: BadgeKind) =>
      vscode.window.createTextEditorDecorationType({
        after: { color: new vscode.ThemeColor(BADGE_COLORS[kind]), margin: '0 0 0 1.5em' },
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      });
    this.types = { pass: make('pass'), fail: make('fail'), error: make('error'), overridden: make('overridden') };
    this.subs.push(
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e) this.refresh(e);
        this.updateContext(e);
      }),
      ...followVprogEditors(store, this.edits, (uri) => this.refreshUri(uri), (e) => this.refresh(e)),
    );
  }

  refreshUri(uri: string): void {
    refreshEditorsOf(uri, (e) => this.refresh(e));
    this.updateContext(vscode.window.activeTextEditor);
  }

  refresh(editor: vscode.TextEditor): void {
    if (!isVprog(editor.document)) return;
    const scores = this.store.get(editor.document.uri.toString()).scores;
    const byKind: Record<BadgeKind, vscode.DecorationOptions[]> = { pass: [], fail: [], error: [], overridden: [] };
    if (scores && scores.reply !== undefined) {
      const layout = this.layoutOf(editor.document);
      // Scores of another reply would sit on the wrong lines and mislead: show them only while current.
      if (layout.reply === scores.reply) {
        for (const l of scoreBadges(layout, scores.set)) {
          if (l.line >= editor.document.lineCount) continue;
          const end = editor.document.lineAt(l.line).range.end;
          const range = new vscode.Range(end, end);
          const perKind = new Map<BadgeKind, string[]>();
          for (const b of l.badges) perKind.set(b.kind, [...(perKind.get(b.kind) ?? []), b.text]);
          for (const [kind, texts] of perKind) {
            byKind[kind].push({ range, renderOptions: { after: { contentText: `  ${texts.join('   ')}` } } });
          }
        }
      }
    }
    for (const kind of Object.keys(byKind) as BadgeKind[]) editor.setDecorations(this.types[kind], byKind[kind]);
  }

  private updateContext(editor: vscode.TextEditor | undefined): void {
    const r = editor && isVprog(editor.document) ? this.store.get(editor.document.uri.toString()) : {};
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.hasScores, Boolean(r.scores));
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.hasRun, Boolean(r.run));
  }

  dispose(): void {
    this.edits.dispose();
    for (const s of this.subs) s.dispose();
    for (const t of Object.values(this.types)) t.dispose();
  }
}

// ------------------------------------------------------------------ hover

export class ScoreHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
  ) {}

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const scores = this.store.get(doc.uri.toString()).scores;
    if (!scores) return undefined;
    const layout = this.layoutOf(doc);
    if (layout.reply !== scores.reply) return undefined;
    const line = scoreBadges(layout, scores.set).find((l) => l.line === pos.line);
    if (!line) return undefined;
    const md = new vscode.MarkdownString(hoverMarkdown(scores.set, line.rewards, doc.uri.toString(), line.badges.some((b) => b.reward === 'total'), (n) => layout.programLineToDocLine(n)));
    // Only our two commands may run from the hover's links; judge text is escaped.
    md.isTrusted = { enabledCommands: [COMMANDS.overrideVerdict, COMMANDS.rejudgeReward] };
    md.supportHtml = false;
    return new vscode.Hover(md, doc.lineAt(pos.line).range);
  }
}

// ------------------------------------------------------------------ code lenses

export class VprogCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
  ) {
    this.sub = store.onDidChange(() => this.changed.fire());
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const layout = this.layoutOf(doc);
    const results = this.store.get(doc.uri.toString());
    return codeLensesFor(doc, layout, Boolean(results.run), repairTarget(results, layout.reply).ok);
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}

export function codeLensesFor(doc: vscode.TextDocument, layout: DocLayout, hasRun: boolean, repairable = false): vscode.CodeLens[] {
  const line = Math.min(layout.headerLine ?? 0, Math.max(0, doc.lineCount - 1));
  const range = doc.lineAt(line).range;
  const args = [doc.uri];
  const lens = (title: string, command: string, tooltip: string) => new vscode.CodeLens(range, { title, command, arguments: args, tooltip });
  if (layout.program === null || layout.program.trim() === '') {
    return [lens('$(sparkle) Generate plan and program', COMMANDS.generate, 'Ask the generator for a plan and a program for this query')];
  }
  const out = [
    lens('$(play) Run', COMMANDS.runProgram, 'Run the program against the tools'),
    lens('$(checklist) Score', COMMANDS.score, 'Score the reply with the six VALOR rewards'),
    lens('$(inspect) Verify boxes', COMMANDS.verifyBoxes, "Check the last run's detections with the grounding verifier"),
  ];
  if (hasRun) out.push(lens('$(preview) Open view', COMMANDS.openRunView, 'Show the last run: detections, depth and the trace'));
  // The last run of this reply failed in a way a new program can fix (repairTarget.ts).
  if (repairable) out.push(lens('$(wrench) Fix with the model', COMMANDS.fixWithModel, 'Ask the generator to fix the program that failed, and review its fix as a diff'));
  return out;
}

// ------------------------------------------------------------------ diagnostics

export function toDiagnostic(doc: vscode.TextDocument, p: DocProblem): vscode.Diagnostic {
  const line = Math.min(Math.max(0, p.line), Math.max(0, doc.lineCount - 1));
  const text = doc.lineAt(line);
  const start = Math.min(p.startColumn, text.range.end.character);
  const end = p.endColumn === null ? text.range.end.character : Math.min(p.endColumn, text.range.end.character);
  const range = new vscode.Range(line, start, line, Math.max(start, end === start ? text.range.end.character : end));
  const sev =
    p.severity === 'error' ? vscode.DiagnosticSeverity.Error : p.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information;
  const d = new vscode.Diagnostic(range, p.message, sev);
  d.source = p.source;
  d.code = p.code;
  return d;
}

export class VprogDiagnostics implements vscode.Disposable {
  readonly collection: vscode.DiagnosticCollection;
  private readonly edits: PerKeyDebounce;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly store: ResultsStore,
    private readonly layoutOf: LayoutOf,
    debounceMs = 250,
  ) {
    this.edits = new PerKeyDebounce(debounceMs);
    this.collection = vscode.languages.createDiagnosticCollection('valor');
    this.subs.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.update(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.collection.delete(d.uri);
        this.store.clear(d.uri.toString());
      }),
      store.onDidChange((uri) => {
        const d = vscode.workspace.textDocuments.find((x) => x.uri.toString() === uri);
        if (d) this.update(d);
      }),
    );
    for (const d of vscode.workspace.textDocuments) this.update(d);
  }

  schedule(doc: vscode.TextDocument): void {
    if (!isVprog(doc)) return;
    this.edits.schedule(doc.uri.toString(), () => this.update(doc));
  }

  update(doc: vscode.TextDocument): void {
    if (!isVprog(doc)) return;
    try {
      const layout = this.layoutOf(doc);
      const r = this.store.get(doc.uri.toString());
      const problems = documentProblems({
        layout,
        run: r.run ? { program: r.run.record.program, error: r.run.record.error } : null,
        rewards: r.scores ? { program: r.scores.program, set: r.scores.set } : null,
        header: headerProblems(doc, layout),
      });
      this.collection.set(doc.uri, problems.map((p) => toDiagnostic(doc, p)));
    } catch {
      // A diagnostics bug must never take the editor down; the next edit tries again.
    }
  }

  dispose(): void {
    this.edits.dispose();
    for (const s of this.subs) s.dispose();
    this.collection.dispose();
  }
}

/** The image named in the header must exist and be an image file. */
export function headerProblems(doc: vscode.TextDocument, layout: DocLayout): Array<{ line: number; message: string; severity: 'error' | 'warning' }> {
  if (layout.image === null || layout.imageLine === null) return [];
  const resolved = resolveDocumentImage(doc.uri.scheme === 'file' ? doc.uri.fsPath : null, layout.image, workspaceRoots());
  if (!isImagePath(layout.image)) {
    return [{ line: layout.imageLine, severity: 'error', message: `"${layout.image}" is not an image file name (expected .jpg, .jpeg, .png, .webp, .bmp, .gif or .tiff).` }];
  }
  if (!resolved || !existsSync(resolved)) {
    return [{ line: layout.imageLine, severity: 'error', message: `Image not found: ${resolved ?? layout.image}. Paths are relative to the document's folder.` }];
  }
  try {
    if (!statSync(resolved).isFile()) return [{ line: layout.imageLine, severity: 'error', message: `The image path is a folder, not a file: ${resolved}` }];
  } catch {
    // vanished between the checks; the next update reports it
  }
  return [];
}

export function workspaceRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}
