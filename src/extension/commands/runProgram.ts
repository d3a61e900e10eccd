/** VALOR: Run Program: runs the document's program against the tools and records the run. */
import * as vscode from 'vscode';
import { programLineToDocumentLine } from '../../core/vprog.js';
import type { Report } from '../commandGuard.js';
import { saveRun } from '../documentResults.js';
import { requireInputs, requireProgram, requireTrust } from '../inputChecks.js';
import { afterRun } from '../outcomeMessages.js';
import type { StoredRun } from '../resultsStore.js';
import { answerText } from '../runsTree.js';
import { documentRef } from '../storageLocations.js';
import { documentCommand, type CommandDeps, type CommandSpec } from './commandDeps.js';

/** The weaker isolation is pointed out once per session, on the first run that uses it. */
let warnedWeakIsolation = false;

export async function runDocument(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredRun | undefined> {
  requireTrust('run programs');
  const vprog = d.layouts.vprog(doc);
  const { query, imagePath } = requireInputs(doc, vprog);
  requireProgram(doc, vprog);
  const cfg = d.config();
  report(cfg.toolServer.url ? 'connecting to the tool server…' : 'starting the tool server…');
  const t = await d.clients.tools(signal);
  const runner = await d.clients.runner();
  report('running the program…');
  const { runQuery } = await import('../../core/pipeline.js');
  const record = await runQuery({
    query,
    imagePath,
    reply: vprog.reply,
    tools: t.tools,
    toolsUrl: t.url,
    runner,
    timeoutMs: cfg.run.timeoutMs,
    memoryMB: cfg.run.memoryMB,
    document: documentRef(doc),
    programDocumentLine: programLineToDocumentLine(vprog, 1),
    signal,
  });
  if (signal.aborted) return undefined;
  const stored = await saveRun(d, doc, record);
  d.log.info(`run ${record.id}: ${record.error ? `${record.error.type}: ${record.error.message}` : `answer ${answerText(record)}`} (${record.trace.length} tool calls, isolation ${record.isolation ?? 'unknown'})`);
  if (record.isolation === 'process' && !warnedWeakIsolation) {
    warnedWeakIsolation = true;
    void vscode.window.showWarningMessage('VALOR runs programs without the OS sandbox (valor.run.isolation is "process"): a hostile program could read your files and reach the network. See docs/threat-model.md.');
  }
  return stored;
}

export const runProgram: CommandSpec = documentCommand('Running the program', 'VALOR: running the program', runDocument, (d, stored) => stored && afterRun(d, stored));
