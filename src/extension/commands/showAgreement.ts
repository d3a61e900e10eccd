/** VALOR: Show Judge Agreement Statistics: machine vs person agreement from the audit log, as Markdown. */
import * as vscode from 'vscode';
import { readAuditLog } from '../../core/audit.js';
import { agreementMarkdown } from '../agreementMarkdown.js';
import { auditPathFor } from '../storageLocations.js';
import type { CommandSpec } from './commandDeps.js';

export const showAgreement: CommandSpec = {
  doing: 'Computing judge agreement',
  create: (d) => async () => {
    const path = auditPathFor(d, vscode.window.activeTextEditor?.document.uri);
    const { agreementStats } = await import('../../core/audit.js');
    const audit = await readAuditLog(path);
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: agreementMarkdown(path, audit.overrides, agreementStats(audit.overrides), audit.warnings.length) });
    await vscode.window.showTextDocument(doc, { preview: true });
  },
};
