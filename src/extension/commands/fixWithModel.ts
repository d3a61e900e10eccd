/**
 * VALOR: Fix with the Model (docs/debugger.md "Repair"): when the document's last run failed in
 * a way a new program can fix, send the reply with what failed and where to the generator
 * (core `proposeRepair`, the same function `valor eval --repair` loops over), show the proposed
 * document against the current one in a diff, and replace the reply only when the person
 * accepts. Nothing else is recorded: the person runs the fixed program to see whether it passes.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { RepairProposal } from '../../core/repair/propose.js';
import { replaceVprogReply } from '../../core/vprog.js';
import { COMMANDS } from '../commandIds.js';
import { targetDocument } from '../commandArguments.js';
import { withCancellableProgress, withRole } from '../commandGuard.js';
import { lastRunOf } from '../documentResults.js';
import { replaceWholeText } from '../documentStreamer.js';
import { ActionableError } from '../errors.js';
import { promptSettings } from '../promptSettings.js';
import { RepairProposals, REPAIR_SCHEME } from '../repairProposals.js';
import { repairTarget, type RepairTarget } from '../repairTarget.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';

export const ACCEPT = 'Accept';
export const REJECT = 'Reject';

/** Why there is nothing to fix, as an error that says what to do instead. */
function nothingToFix(t: Exclude<RepairTarget, { ok: true }>, doc: vscode.TextDocument): ActionableError {
  const run = { kind: 'command' as const, command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] };
  switch (t.why) {
    case 'no_run':
      return new ActionableError('the document has no run to fix: run the program first, then fix it if it fails', [run]);
    case 'stale':
      return new ActionableError('the reply changed since the last run, so that run does not describe it: run the program again, then fix it if it fails', [run]);
    case 'tool_server':
      return new ActionableError(`the last run failed because the tool server failed (${t.record?.error?.message ?? 'no answer'}), not because of the program: restart the server and run again`, [
        { kind: 'restartServer' },
        run,
      ]);
    case 'not_failed':
      return new ActionableError(
        t.record?.error
          ? `the last run's failure (${t.record.error.type}) is not the program's, so a new program would not help: run it again`
          : 'the last run did not fail (it raised nothing, set final_answer, and the format and syntax rewards are not 0): there is nothing to fix',
        t.record?.error ? [run] : [],
        'warning',
      );
  }
}

export async function proposeFix(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: (m: string) => void): Promise<RepairProposal | undefined> {
  const vprog = d.layouts.vprog(doc);
  await lastRunOf(d, doc);
  const target = repairTarget(d.store.get(doc.uri.toString()), vprog.reply);
  if (!target.ok) throw nothingToFix(target, doc);
  const generator = await d.clients.chat('generator');
  const prompt = await (await promptSettings(d, doc.uri)).prompt();
  const { proposeRepair, RepairParseError } = await import('../../core/repair/propose.js');
  report(`asking ${generator.model} to fix: ${target.failure.message.split('\n')[0]}`);
  try {
    const proposal = await withRole(
      'generator',
      proposeRepair(
        { query: target.record.query, reply: target.record.reply, failure: target.failure },
        { generator, prompt, sampling: { max_tokens: d.config().generator.maxTokens }, signal },
      ),
    );
    return signal.aborted ? undefined : proposal;
  } catch (err) {
    if (!(err instanceof RepairParseError)) throw err;
    d.log.warn(`the model's fix held no program; it answered: ${err.reply.slice(0, 2000)}`);
    throw new ActionableError(`${err.message}. The document is unchanged.`, [
      { kind: 'command', command: COMMANDS.fixWithModel, label: 'Ask Again', args: [doc.uri] },
      { kind: 'showLogs' },
    ]);
  }
}

/** Closes the diff tab(s) showing `proposed`, once the person has answered: it has done its job. */
async function closeDiffOf(proposed: vscode.Uri): Promise<void> {
  const key = proposed.toString();
  const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === key);
  if (tabs.length > 0) await vscode.window.tabGroups.close(tabs, true);
}

/** Shows the proposal as a diff, asks Accept / Reject, replaces the reply on Accept, and closes the diff. */
export async function offerFix(d: CommandDeps, proposals: RepairProposals, doc: vscode.TextDocument, proposal: RepairProposal): Promise<boolean> {
  const failedReply = d.layouts.vprog(doc).reply;
  const before = doc.getText();
  const proposed = proposals.add(doc.uri, replaceVprogReply(before, proposal.reply));
  const { diffStats } = await import('../../core/repair/lineDiff.js');
  const s = diffStats(proposal.diff);
  const name = basename(doc.uri.fsPath || doc.uri.path);
  await vscode.commands.executeCommand('vscode.diff', doc.uri, proposed, `${name} ↔ the model's fix`, { preview: true });
  d.log.info(`fix for ${name} from ${proposal.model} in ${Math.round(proposal.ms)} ms${proposal.cached ? ' (cached)' : ''}: program +${s.inserted} −${s.deleted} line(s); prompt ${proposal.prompt.sha256.slice(0, 12)}`);
  const picked = await vscode.window.showInformationMessage(
    `The model proposes a fix for ${name}: ${s.inserted} program line(s) added, ${s.deleted} removed (the diff shows it). Replace the plan and program with it?`,
    ACCEPT,
    REJECT,
  );
  if (picked !== ACCEPT) {
    await closeDiffOf(proposed);
    d.log.info(`fix for ${name}: ${picked === REJECT ? 'rejected' : 'dismissed'}; the document is unchanged`);
    return false;
  }
  if (d.layouts.vprog(doc).reply !== failedReply) {
    throw new ActionableError(`${name} changed while the fix was shown, so it was not applied (it would overwrite the change): run "VALOR: Fix with the Model" again`);
  }
  await replaceWholeText(doc, replaceVprogReply(doc.getText(), proposal.reply));
  if (!doc.isUntitled) await doc.save();
  // Only after the save: closing the diff can close the document too (it may be its only tab).
  await closeDiffOf(proposed);
  d.log.info(`fix for ${name}: accepted; run the program to check it`);
  void vscode.window.showInformationMessage(`Fix applied to ${name}: run the program to check it.`);
  return true;
}

export const fixWithModel: CommandSpec = {
  doing: 'Fixing the program with the model',
  create: (d) => {
    let proposals: RepairProposals | undefined;
    const provider = (): RepairProposals => {
      if (!proposals) {
        proposals = new RepairProposals();
        d.context.subscriptions.push(proposals, vscode.workspace.registerTextDocumentContentProvider(REPAIR_SCHEME, proposals));
      }
      return proposals;
    };
    return async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const proposal = await withCancellableProgress('VALOR: asking the model for a fix', (signal, report) => proposeFix(d, doc, signal, report));
      if (proposal) await offerFix(d, provider(), doc, proposal);
    };
  },
};
