/**
 * What the person is told when a command finishes: the answer of a run (or where its program
 * failed, or that the tool server failed, with a restart button), the total of a scoring (or
 * which judges failed). Every text passes the secret redactor.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { shownLine } from '../protocol/run.js';
import { COMMANDS } from './commandIds.js';
import type { CommandDeps } from './commands/commandDeps.js';
import { ActionableError } from './errors.js';
import type { StoredRun, StoredScores } from './resultsStore.js';
import { repairTarget, toolServerTrouble } from './repairTarget.js';
import { answerText } from './runsTree.js';

/** Shows an information (or warning) message; its text passes the secret redactor first. */
export function notify(d: Pick<CommandDeps, 'log'>, text: string, severity: 'info' | 'warning' = 'info'): Thenable<string | undefined> {
  const safe = d.log.redact(text);
  return severity === 'warning' ? vscode.window.showWarningMessage(safe) : vscode.window.showInformationMessage(safe);
}

export function afterRun(d: Pick<CommandDeps, 'log' | 'config' | 'panels' | 'store'>, stored: StoredRun): void {
  const r = stored.record;
  if (d.config().run.openViewAfterRun) d.panels.show(stored);
  if (r.error) {
    if (toolServerTrouble(r)) {
      throw new ActionableError(`the tool server failed during the run (${r.error.message}). Restart it and run again.`, [
        { kind: 'restartServer' },
        { kind: 'showLogs' },
        { kind: 'openSettings', query: 'valor.toolServer' },
      ]);
    }
    const where = r.error.line === null ? '' : r.program_document_line ? ` on line ${shownLine(r, r.error.line)}${r.document ? ` of ${basename(r.document)}` : ''}` : ` on program line ${r.error.line}`;
    const text = d.log.redact(`The program failed${where}: ${r.error.type}: ${r.error.message}`);
    offerFix(d, stored, vscode.window.showWarningMessage(text, ...(fixable(d, stored) ? [FIX_LABEL] : [])));
    return;
  }
  void notify(d, `Answer: ${answerText(r)}`);
}

const FIX_LABEL = 'Fix with the Model';

/** The document of the run, when the run is of its current reply and the program's failure is repairable. */
function fixable(d: Pick<CommandDeps, 'store'>, stored: StoredRun): string | undefined {
  return d.store.documentsOfRun(stored.record.id).find((u) => repairTarget(d.store.get(u), stored.record.reply).ok);
}

function offerFix(d: Pick<CommandDeps, 'store'>, stored: StoredRun, shown: Thenable<string | undefined>): void {
  void Promise.resolve(shown).then((picked) => {
    const uri = picked === FIX_LABEL ? fixable(d, stored) : undefined;
    if (uri) void vscode.commands.executeCommand(COMMANDS.fixWithModel, vscode.Uri.parse(uri));
  });
}

export function afterScore(d: Pick<CommandDeps, 'log'>, scores: StoredScores): void {
  const s = scores.set;
  const failed = s.verdicts.filter((v) => v.state === 'error');
  if (failed.length > 0) {
    throw new ActionableError(
      `${failed.length} judge${failed.length === 1 ? '' : 's'} failed (${failed.map((v) => `${v.reward}: ${v.error ?? 'no verdict'}`).join('; ')}); the total is incomplete. Check the judge endpoint, or re-judge from the hover.`,
      [{ kind: 'openSettings', query: 'valor.judge' }, { kind: 'showLogs' }],
      'warning',
    );
  }
  void notify(d, `VALOR total ${s.total === null ? 'incomplete' : s.total.toFixed(2)} (${s.verdicts.map((v) => `${v.reward} ${v.value ?? '?'}`).join(', ')})`);
}
