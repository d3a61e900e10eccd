/**
 * Writing a model's reply into a document as it streams: deltas are coalesced into few edits
 * (every 60 ms or 4 KiB), applied in order, and a closed document or a refused edit fails the
 * stream instead of losing text silently.
 */
import * as vscode from 'vscode';
import { ActionableError } from './errors.js';

/** Appends streamed text to the end of a document, coalescing deltas into few edits. */
export class DocumentStreamer {
  private pending = '';
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failed: Error | undefined;

  constructor(private readonly doc: vscode.TextDocument) {}

  push(delta: string): void {
    if (this.failed) throw this.failed;
    this.pending += delta;
    if (this.pending.length > 4096) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), 60);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const text = this.pending;
    this.pending = '';
    if (!text) return;
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      if (this.doc.isClosed) {
        this.failed = new ActionableError('the document was closed while the reply was being written into it');
        return;
      }
      const end = this.doc.positionAt(this.doc.getText().length);
      const edit = new vscode.WorkspaceEdit();
      edit.insert(this.doc.uri, end, text);
      if (!(await vscode.workspace.applyEdit(edit))) this.failed = new ActionableError('VS Code refused to edit the document while streaming the reply into it');
    });
  }

  async flush(): Promise<void> {
    this.kick();
    await this.chain;
    if (this.failed) throw this.failed;
  }
}

export async function replaceWholeText(doc: vscode.TextDocument, text: string): Promise<void> {
  if (doc.getText() === text) return;
  const edit = new vscode.WorkspaceEdit();
  edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), text);
  if (!(await vscode.workspace.applyEdit(edit))) throw new ActionableError('VS Code refused to edit the document');
}
