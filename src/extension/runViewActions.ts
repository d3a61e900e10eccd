/**
 * What the run view (runPanel.ts) asks of the extension: show a program line in the editor,
 * record a person's verdict or box decision, fetch a depth map, find a run to restore a panel.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { GroundingResult, RewardSet } from '../protocol/run.js';
import type { DepthMapData, FlipBoxMessage, OverrideMessage } from '../protocol/webview.js';
import { rewardSubject } from '../core/audit.js';
import type { CommandDeps } from './commands/commandDeps.js';
import { COMMANDS } from './commandIds.js';
import { ActionableError } from './errors.js';
import type { StoredRun, StoredScores } from './resultsStore.js';
import type { PanelActions } from './runPanel.js';
import { documentUriOfRecord, findRunById } from './storageLocations.js';
import { askNote, recordBoxOverride, recordOverride } from './verdictOverrides.js';

export class RunViewActions implements PanelActions {
  constructor(private readonly d: CommandDeps) {}

  async revealLine(run: StoredRun, programLine: number): Promise<void> {
    const docs = this.d.store.documentsOfRun(run.record.id).map((u) => vscode.Uri.parse(u));
    const uri = docs[0] ?? documentUriOfRecord(run.record, run.path);
    if (!uri) throw new ActionableError('this run was not made from a document, so there is no line to show');
    const doc = await vscode.workspace.openTextDocument(uri);
    const vprog = this.d.layouts.vprog(doc);
    if (vprog.parsed.program !== run.record.program) {
      this.d.log.warn(`run view: ${basename(uri.fsPath)} changed since run ${run.record.id}; program line ${programLine} may have moved`);
    }
    const layout = this.d.layouts.get(doc);
    const line = layout.programLineToDocLine(programLine) ?? layout.answerLine ?? 0;
    const range = doc.lineAt(Math.min(line, doc.lineCount - 1)).range;
    const visible = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === doc.uri.toString());
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One, preserveFocus: true, selection: range });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  async override(run: StoredRun, msg: OverrideMessage): Promise<RewardSet | undefined> {
    const uriText = this.d.store.documentsOfRun(run.record.id)[0];
    const uri = uriText ? vscode.Uri.parse(uriText) : documentUriOfRecord(run.record, run.path);
    const scores: StoredScores | undefined = (uriText ? this.d.store.get(uriText).scores : undefined) ??
      (run.record.rewards ? { set: run.record.rewards, subject: rewardSubject(run.record.query, run.record.reply), query: run.record.query, reply: run.record.reply, program: run.record.program } : undefined);
    if (!scores) throw new ActionableError('this run has no scores to override: score its document first');
    const note = await askNote(msg.reward, msg.value);
    if (note === undefined) return undefined;
    const key = uri ?? vscode.Uri.parse(`valor-run:${run.record.id}`);
    const next = await recordOverride(this.d, key, scores, msg.reward, msg.value, note);
    return next.set;
  }

  async fixWithModel(run: StoredRun): Promise<void> {
    const uri = this.d.store.documentsOfRun(run.record.id).map((u) => vscode.Uri.parse(u))[0] ?? documentUriOfRecord(run.record, run.path);
    if (!uri) throw new ActionableError('this run was not made from a document, so there is no program to fix');
    // The command says what went wrong itself (guarded), so nothing is thrown back to the view.
    await vscode.commands.executeCommand(COMMANDS.fixWithModel, uri);
  }

  async flipBox(run: StoredRun, msg: FlipBoxMessage): Promise<GroundingResult[] | undefined> {
    const g = run.record.grounding?.[msg.grounding];
    const box = g?.boxes.find((b) => b.index === msg.box);
    if (!g || !box) throw new ActionableError(`the run has no grounding box ${msg.grounding}/${msg.box}`);
    const note = await vscode.window.showInputBox({
      title: `${msg.kept ? 'Keep' : 'Drop'} box ${msg.box} (${box.label})`,
      prompt: 'Why? (saved in .valor/audits.jsonl with your decision)',
      ignoreFocusOut: true,
    });
    if (note === undefined) return undefined;
    return recordBoxOverride(this.d, run, msg, note, documentUriOfRecord(run.record, run.path));
  }

  async depthMap(run: StoredRun, signal: AbortSignal): Promise<DepthMapData> {
    const t = await this.d.clients.tools(signal);
    return t.client.depthMap(run.record.image.path, 1024, signal);
  }

  findRun(runId: string): Promise<StoredRun | undefined> {
    return findRunById(this.d, runId);
  }
}
