/**
 * The judge agreement statistics as a read-only virtual document: a `valor-agreement:` URI whose
 * path ends in `.md` (so VS Code shows it as Markdown) and whose query names the audit log it
 * summarises. Its text is computed from the audit log each time VS Code asks for it, so there is
 * nothing to save when it is closed; while it is open, a change of that audit log (an override,
 * a review decision, `valor audit` in a terminal) refreshes it.
 */
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { agreementStats, readAuditLog } from '../core/audit.js';
import { agreementMarkdown } from './agreementMarkdown.js';

export const AGREEMENT_SCHEME = 'valor-agreement';

/** The document URI for the statistics of one audit log. */
export function agreementUri(auditPath: string): vscode.Uri {
  return vscode.Uri.file('/Judge agreement.md').with({ scheme: AGREEMENT_SCHEME, query: JSON.stringify({ audit: auditPath }) });
}

/** The audit log an agreement URI names, or undefined for a URI that names none. */
export function auditPathOf(uri: vscode.Uri): string | undefined {
  try {
    const q = JSON.parse(uri.query) as { audit?: unknown };
    return typeof q.audit === 'string' && q.audit !== '' ? q.audit : undefined;
  } catch {
    return undefined;
  }
}

export class AgreementDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  /** One watcher per audit log with an open statistics document, keyed by the document URI. */
  private readonly watchers = new Map<string, vscode.Disposable>();
  private readonly subs: vscode.Disposable[];

  constructor() {
    this.subs = [
      vscode.workspace.registerTextDocumentContentProvider(AGREEMENT_SCHEME, this),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        const key = doc.uri.toString();
        this.watchers.get(key)?.dispose();
        this.watchers.delete(key);
      }),
    ];
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const path = auditPathOf(uri);
    if (!path) return '# Judge agreement\n\nThis link names no audit log: run "VALOR: Show Judge Agreement Statistics" again.\n';
    this.watch(uri, path);
    const audit = await readAuditLog(path);
    return agreementMarkdown(path, audit.overrides, agreementStats(audit.overrides), audit.warnings.length);
  }

  /** Asks VS Code to read the document of `uri` again. */
  refresh(uri: vscode.Uri): void {
    this.changed.fire(uri);
  }

  private watch(uri: vscode.Uri, path: string): void {
    const key = uri.toString();
    if (this.watchers.has(key)) return;
    // Watch from the folder above the log's own folder (`.valor/` may not exist before the first audit).
    const dir = dirname(path);
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dirname(dir)), `${basename(dir)}/${basename(path)}`));
    const fire = () => this.changed.fire(uri);
    const subs = [w, w.onDidCreate(fire), w.onDidChange(fire), w.onDidDelete(fire)];
    this.watchers.set(key, { dispose: () => subs.forEach((s) => s.dispose()) });
  }

  dispose(): void {
    for (const w of this.watchers.values()) w.dispose();
    this.watchers.clear();
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}
