/**
 * The read-only documents under the `valor-repair:` scheme that hold a proposed `.vprog` text,
 * so `vscode.diff` can show the document against the model's fix (docs/debugger.md "Repair").
 * Only the latest few proposals are kept: a proposal is looked at, then accepted or rejected.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';

export const REPAIR_SCHEME = 'valor-repair';
const KEEP = 8;

export class RepairProposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private count = 0;

  /** A new read-only document holding `text`, named after the document it would replace. */
  add(of: vscode.Uri, text: string): vscode.Uri {
    const name = basename(of.fsPath || of.path) || 'proposal.vprog';
    const uri = vscode.Uri.parse(`${REPAIR_SCHEME}:/${++this.count}/${encodeURIComponent(name)}`);
    this.texts.set(uri.path, text);
    while (this.texts.size > KEEP) this.texts.delete(this.texts.keys().next().value!);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.path) ?? '(this proposal is no longer kept: run "VALOR: Fix with the Model" again)';
  }

  dispose(): void {
    this.texts.clear();
    this.changed.dispose();
  }
}
