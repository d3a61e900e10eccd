/**
 * VALOR: Analyze Answer Sensitivity: for the document's last run, how far each detection
 * threshold and each depth value can move before the answer changes (src/core/sensitivity.ts).
 * It replays the program on the run's recorded candidates and values only: no tool server, no
 * model. The report is kept in the run record (as `valor run --sensitivity` does), so the run
 * view's threshold sliders show the answer each position would give.
 */
import type * as vscode from 'vscode';
import type { RunRecord } from '../../protocol/run.js';
import { COMMANDS } from '../commandIds.js';
import type { Report } from '../commandGuard.js';
import { lastRunOf, saveRun } from '../documentResults.js';
import { ActionableError } from '../errors.js';
import { requireTrust } from '../inputChecks.js';
import { notify } from '../outcomeMessages.js';
import type { StoredRun } from '../resultsStore.js';
import { documentCommand, type CommandDeps, type CommandSpec } from './commandDeps.js';

export async function analyzeDocument(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredRun | undefined> {
  requireTrust('replay programs');
  const last = await lastRunOf(d, doc);
  if (!last) {
    throw new ActionableError('the sensitivity analysis replays a run of this document: run it first', [
      { kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] },
    ]);
  }
  if (!last.record.trace.some((e) => e.tool === 'gd_detect' || e.tool === 'depth')) {
    throw new ActionableError('the last run made no gd_detect or depth call, so no threshold or depth value can change its answer');
  }
  const runner = await d.clients.runner();
  report('replaying the program at each threshold where the kept boxes change…');
  const { formatSensitivity, sensitivity } = await import('../../core/sensitivity.js');
  const rep = await sensitivity(last.record, { runner, timeoutMs: d.config().run.timeoutMs, signal });
  if (signal.aborted) return undefined;
  const record: RunRecord = { ...last.record, sensitivity: rep };
  const stored = await saveRun(d, doc, record);
  d.log.info(formatSensitivity(rep));
  return stored;
}

export const analyzeSensitivity: CommandSpec = documentCommand('Analyzing the answer\'s sensitivity', 'VALOR: analyzing the answer\'s sensitivity', analyzeDocument, (d, stored) => {
  if (!stored?.record.sensitivity) return;
  d.panels.show(stored);
  const rep = stored.record.sensitivity;
  const first = rep.detect[0]?.summary ?? rep.depth[0]?.summary ?? 'no call changes the answer';
  void notify(d, `Sensitivity (${rep.replays} replays): ${first}. The run view's threshold sliders now show the answer at each position.`);
});
