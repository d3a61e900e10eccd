/**
 * What a command's argument means: VS Code passes a Uri (explorer, editor title), a string (a
 * path or URI from another command), an object with `uri` (code lens, hover links) or
 * `reward`, or nothing (the palette). These coerce it, and ask the person when it is missing.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { RewardName } from '../protocol/run.js';
import { COMMANDS, LANGUAGE_ID } from './commandIds.js';
import { isVprog } from './editorFeatures.js';
import { ActionableError } from './errors.js';
import { KEY_ROLES, KEY_ROLE_LABELS, type KeyRole } from './secrets.js';

/** The `.vprog` document the argument names, else the active editor's. */
export async function targetDocument(arg: unknown): Promise<vscode.TextDocument> {
  let uri: vscode.Uri | undefined;
  if (arg instanceof vscode.Uri) uri = arg;
  else if (typeof arg === 'string' && arg) uri = arg.includes(':') && !/^[A-Za-z]:[\\/]/.test(arg) ? vscode.Uri.parse(arg) : vscode.Uri.file(arg);
  else if (arg && typeof arg === 'object' && 'uri' in arg) {
    const u = (arg as { uri: unknown }).uri;
    if (u instanceof vscode.Uri) uri = u;
    else if (typeof u === 'string') uri = vscode.Uri.parse(u);
  }
  if (uri) {
    const key = uri.toString();
    const doc = vscode.workspace.textDocuments.find((x) => x.uri.toString() === key) ?? (await vscode.workspace.openTextDocument(uri));
    if (doc.languageId !== LANGUAGE_ID) throw new ActionableError(`${basename(doc.uri.fsPath || doc.uri.path)} is not a .vprog document`);
    return doc;
  }
  const active = vscode.window.activeTextEditor?.document;
  if (isVprog(active)) return active;
  throw new ActionableError('no .vprog document is active: open one, or start one from an image', [
    { kind: 'command', command: COMMANDS.newQuery, label: 'New Query from Image…' },
  ]);
}

/** The reward an argument `{ reward }` names, when it is one. */
export function rewardArg(arg: unknown): RewardName | undefined {
  const r = arg && typeof arg === 'object' && 'reward' in arg ? (arg as { reward: unknown }).reward : undefined;
  const parsed = RewardName.safeParse(r);
  return parsed.success ? parsed.data : undefined;
}

/** The key role an argument names, else the one the person picks. */
export async function pickRole(arg: unknown, title: string): Promise<KeyRole | undefined> {
  if (typeof arg === 'string' && (KEY_ROLES as readonly string[]).includes(arg)) return arg as KeyRole;
  const pick = await vscode.window.showQuickPick(
    KEY_ROLES.map((r) => ({ label: KEY_ROLE_LABELS[r].label, detail: KEY_ROLE_LABELS[r].detail, role: r })),
    { title },
  );
  return pick?.role;
}
