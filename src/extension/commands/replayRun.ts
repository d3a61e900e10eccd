/**
 * VALOR: Replay Last Run: re-runs the document's program (as it is now, edited or not) against
 * its last run's record: no tool server, no model (src/core/replay.ts). Calls the record has no
 * result for fail in the program with NoRecordedResult and are listed in the new record.
 */
import * as vscode from 'vscode';
import type { RunRecord } from '../../protocol/run.js';
import { COMMANDS } from '../commandIds.js';
import type { Report } from '../commandGuard.js';
import { lastRunOf, saveRun } from '../documentResults.js';
import { ActionableError } from '../errors.js';
import { requireProgram, requireTrust } from '../inputChecks.js';
import { afterRun } from '../outcomeMessages.js';
import type { StoredRun } from '../resultsStore.js';
import { answerText } from '../runsTree.js';
import { documentRef } from '../storageLocations.js';
import { documentCommand, type CommandDeps, type CommandSpec } from './commandDeps.js';

export async function replayDocument(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredRun | undefined> {
  requireTrust('replay programs');
  const last = await lastRunOf(d, doc);
  if (!last) {
    throw new ActionableError('replay needs a run of this document to take the tool results from: run it first', [
      { kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] },
    ]);
  }
  const vprog = d.layouts.vprog(doc);
  requireProgram(doc, vprog);
  const runner = await d.clients.runner();
  report('replaying the program against the recorded tool results…');
  const { replayRecord } = await import('../../core/replay.js');
  const { record, missing } = await replayRecord(last.record, { runner, reply: vprog.reply, source: last.path ?? last.record.id, timeoutMs: d.config().run.timeoutMs, signal });
  if (signal.aborted) return undefined;
  const replayed: RunRecord = { ...record, document: documentRef(doc) };
  const stored = await saveRun(d, doc, replayed);
  d.log.info(`replay ${replayed.id} of ${last.record.id}: ${replayed.error ? `${replayed.error.type}: ${replayed.error.message}` : `answer ${answerText(replayed)}`}; ${missing.length} call(s) without a recorded result`);
  if (missing.length > 0) {
    const list = missing.map((m) => `${m.tool}(${JSON.stringify(m.args)})${m.line ? ` on program line ${m.line}` : ''}`).join('; ');
    void vscode.window.showWarningMessage(`Replay: ${missing.length} call(s) had no recorded result: ${list}. Run the program against the tools to get them.`);
  }
  return stored;
}

export const replayRun: CommandSpec = documentCommand('Replaying the last run', 'VALOR: replaying the last run', replayDocument, (d, stored) => stored && afterRun(d, stored));
