/** VALOR: Verify Boxes: the grounding verifier on every gd_detect prompt of the last run (core's `verifyBoxes`, as `valor verify-boxes`). */
import type * as vscode from 'vscode';
import type { GroundingResult } from '../../protocol/run.js';
import { applyBoxOverrides, readAuditLog } from '../../core/audit.js';
import { COMMANDS } from '../commandIds.js';
import { withRole, type Report } from '../commandGuard.js';
import { lastRunOf, saveGrounding } from '../documentResults.js';
import { ActionableError } from '../errors.js';
import { requireTrust } from '../inputChecks.js';
import { notify } from '../outcomeMessages.js';
import { auditPathFor } from '../storageLocations.js';
import { documentCommand, type CommandDeps, type CommandSpec } from './commandDeps.js';

export async function verifyDocumentBoxes(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<GroundingResult[]> {
  requireTrust('verify boxes');
  const run = await lastRunOf(d, doc);
  if (!run) {
    throw new ActionableError('verifying boxes needs a run of this document (its gd_detect calls): run it first', [
      { kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] },
    ]);
  }
  const prompts = [...new Set(run.record.trace.filter((t) => t.tool === 'gd_detect' && typeof t.args.prompt === 'string').map((t) => String(t.args.prompt)))];
  if (prompts.length === 0) throw new ActionableError('the last run made no gd_detect calls, so there are no boxes to verify');
  const vlm = await d.clients.chat('vision');
  const t = await d.clients.tools(signal);
  const audit = await readAuditLog(auditPathFor(d, doc.uri));
  const { verifyBoxes } = await import('../../core/grounding/verifier.js');
  const results: GroundingResult[] = [];
  for (const [i, prompt] of prompts.entries()) {
    report(`"${prompt}" (${i + 1} of ${prompts.length})`);
    const r = await withRole(
      'vision',
      verifyBoxes({
        imagePath: run.record.image.path,
        prompt,
        detect: async (thresholds, s) => (await t.client.detect(run.record.image.path, prompt, thresholds, s)).detections,
        vlm,
        signal,
        onStage: (stage, info) => report(`"${prompt}": ${stage}${info.remaining ? ` (${info.remaining} left)` : ''}`),
      }),
    );
    const { transcript: _t, ...result } = r;
    results.push(applyBoxOverrides(result, audit.overrides));
  }
  await saveGrounding(d, doc.uri, run, results);
  return results;
}

export const verifyBoxes: CommandSpec = documentCommand('Verifying boxes', 'VALOR: verifying boxes', verifyDocumentBoxes, async (d, results, doc) => {
  const all = results.flatMap((r) => r.boxes);
  void notify(d, `Grounding verifier: kept ${all.filter((b) => b.kept).length} of ${all.length} candidate boxes.`);
  const run = await lastRunOf(d, doc);
  if (run) d.panels.show(run);
});
