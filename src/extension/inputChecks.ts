/**
 * What a command checks before it runs a program or asks a model: the workspace is trusted, the
 * document has its image and question (core's `missingHeadersMessage`, as the CLI checks), the
 * image exists, and there is a program. Each failure says what to fix and offers the action.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { missingHeadersMessage, type VprogDocument } from '../core/vprog.js';
import { COMMANDS } from './commandIds.js';
import { workspaceRoots } from './editorFeatures.js';
import { ActionableError } from './errors.js';
import { IMAGE_EXTENSIONS, isImagePath, resolveDocumentImage } from './imagePaths.js';

export function requireTrust(what: string): void {
  if (!vscode.workspace.isTrusted) {
    throw new ActionableError(
      `this workspace is not trusted, so VALOR Studio does not ${what}: the program in a .vprog document is Python code that would run on this machine. Trust the workspace to allow it.`,
      [{ kind: 'manageTrust' }],
      'warning',
    );
  }
}

export interface Inputs {
  query: string;
  imagePath: string;
  vprog: VprogDocument;
}

export function requireInputs(doc: vscode.TextDocument, vprog: VprogDocument): Inputs {
  const name = basename(doc.uri.fsPath || doc.uri.path);
  const problems = { kind: 'command' as const, command: 'workbench.actions.view.problems', label: 'Show Problems' };
  const missing = missingHeadersMessage(name, vprog, ['image', 'query']);
  if (missing || !vprog.query || !vprog.image) {
    throw new ActionableError(`${missing}: a .vprog document starts with the image and the question, e.g. "# image: kitchen.jpg" and "# query: Is the mug left of the laptop?"`, [problems]);
  }
  if (!isImagePath(vprog.image)) {
    throw new ActionableError(`the image '${vprog.image}' in ${name} is not an image file (expected ${IMAGE_EXTENSIONS.join(', ')}): fix the '# image:' line`, [problems]);
  }
  const imagePath = resolveDocumentImage(doc.uri.scheme === 'file' ? doc.uri.fsPath : null, vprog.image, workspaceRoots());
  if (!imagePath || !existsSync(imagePath)) {
    throw new ActionableError(
      `the image ${imagePath ?? vprog.image} named in ${name} does not exist: fix the '# image:' line (a path relative to the document's folder, or absolute)`,
      [problems],
    );
  }
  return { query: vprog.query, imagePath, vprog };
}

export function requireProgram(doc: vscode.TextDocument, vprog: VprogDocument): void {
  if (vprog.parsed.program === null || vprog.parsed.program.trim() === '') {
    throw new ActionableError('the document holds no program (no <answer> block, or an empty one): generate the plan and program first', [
      { kind: 'command', command: COMMANDS.generate, label: 'Generate', args: [doc.uri] },
    ]);
  }
}
