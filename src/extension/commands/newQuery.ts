/**
 * VALOR: New Query from Image…: asks for an image and a question, writes a new `.vprog` beside
 * the image (an untitled one when that folder is read-only), then generates, runs and (with a
 * judge endpoint) scores it.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { withCancellableProgress } from '../commandGuard.js';
import { ActionableError } from '../errors.js';
import { headerImageRef, IMAGE_EXTENSIONS, isImagePath, newDocumentPath, newDocumentText } from '../imagePaths.js';
import { afterRun, afterScore } from '../outcomeMessages.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';
import { generateInto } from './generate.js';
import { runDocument } from './runProgram.js';
import { scoreDocument } from './score.js';

export const newQuery: CommandSpec = {
  doing: 'Starting a new query',
  create: (d) => (arg?: unknown) => runNewQuery(d, arg),
};

async function runNewQuery(d: CommandDeps, arg: unknown): Promise<void> {
  let image = arg instanceof vscode.Uri ? arg : undefined;
  if (!image) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: 'Ask about this image',
      filters: { Images: IMAGE_EXTENSIONS.map((e) => e.slice(1)) },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    image = picked?.[0];
    if (!image) return;
  }
  if (image.scheme !== 'file') throw new ActionableError(`the image must be a file on this machine (got ${image.toString()})`);
  const imagePath = image.fsPath;
  if (!isImagePath(imagePath)) {
    throw new ActionableError(`${basename(imagePath)} is not an image file (expected ${IMAGE_EXTENSIONS.join(', ')}): pick a photo to ask about`);
  }
  if (!existsSync(imagePath)) throw new ActionableError(`the image ${imagePath} does not exist`);
  const question = await vscode.window.showInputBox({
    title: `New VALOR query about ${basename(imagePath)}`,
    prompt: 'Your question about the image (one line)',
    placeHolder: 'e.g. Is the red mug to the left of the laptop?',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Write a question about the image'),
  });
  if (question === undefined) return;

  const docPath = newDocumentPath(imagePath);
  let doc: vscode.TextDocument;
  try {
    await writeFile(docPath, newDocumentText(headerImageRef(dirname(docPath), imagePath), question), { flag: 'wx' });
    doc = await vscode.workspace.openTextDocument(vscode.Uri.file(docPath));
  } catch (err) {
    // The image's folder may be read-only: keep the work in an untitled document instead.
    d.log.warn(`could not create ${docPath} (${(err as Error).message}); using an untitled document`);
    doc = await vscode.workspace.openTextDocument({ language: 'vprog', content: newDocumentText(imagePath, question) });
  }
  await vscode.window.showTextDocument(doc, { preview: false });

  const outcome = await withCancellableProgress('VALOR: new query', async (signal, report) => {
    await generateInto(d, doc, signal, (m) => report(`generating: ${m}`), false);
    if (!vscode.workspace.isTrusted || signal.aborted) return { stored: undefined, scores: undefined };
    const stored = await runDocument(d, doc, signal, (m) => report(`running: ${m}`));
    if (!stored || signal.aborted) return { stored, scores: undefined };
    const cfg = d.config();
    // Scoring needs a judge endpoint; without one the query is still complete, just unscored.
    const scores = cfg.judge.baseUrl && cfg.judge.model ? await scoreDocument(d, doc, signal, (m) => report(`scoring: ${m}`)) : undefined;
    return { stored, scores };
  });
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('The plan and program are written. This workspace is not trusted, so the program was not run.', 'Manage Workspace Trust').then((p) =>
      p ? vscode.commands.executeCommand('workbench.trust.manage') : undefined,
    );
    return;
  }
  if (outcome.stored) afterRun(d, outcome.stored);
  if (outcome.scores) afterScore(d, outcome.scores);
}
