/**
 * VALOR: Show Judge Agreement Statistics: machine vs person agreement from the audit log, as a
 * read-only Markdown document (../agreementDocument.ts) that follows the audit log while it is
 * open and asks nothing when it is closed.
 */
import * as vscode from 'vscode';
import { AgreementDocuments, agreementUri } from '../agreementDocument.js';
import { auditPathFor } from '../storageLocations.js';
import type { CommandSpec } from './commandDeps.js';

export const showAgreement: CommandSpec = {
  doing: 'Computing judge agreement',
  create: (d) => {
    // The document provider lives as long as the command (registered once, at activation).
    const documents = new AgreementDocuments();
    d.context.subscriptions.push(documents);
    return async () => {
      const uri = agreementUri(auditPathFor(d, vscode.window.activeTextEditor?.document.uri));
      // Already open: read the log again now rather than trust that its watcher saw every write.
      if (vscode.workspace.textDocuments.some((t) => t.uri.toString() === uri.toString())) documents.refresh(uri);
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { preview: true });
    };
  },
};
