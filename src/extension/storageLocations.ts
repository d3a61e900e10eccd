/**
 * Where the extension keeps what it writes: run records in `<workspace folder>/.valor/runs`
 * and the audit log in `<workspace folder>/.valor/audits.jsonl` (the places `valor run` and
 * `valor audit` use from that folder), or in the extension's global storage for a document
 * outside every workspace folder; and how a run record names its document.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_AUDIT_PATH } from '../core/audit.js';
import { WORKSPACE_RUNS_DIR } from '../core/runStore.js';
import type { RunRecord } from '../protocol/run.js';
import { workspaceRoots } from './editorFeatures.js';
import type { StoredRun } from './resultsStore.js';

/** The part of the command deps these need: the extension's global storage. */
export interface StorageDeps {
  context: { globalStorageUri: { fsPath: string } };
}

/** The workspace folder of a document (the first folder when it is in none). */
export function folderOf(uri: vscode.Uri | undefined): string | undefined {
  const f = uri ? vscode.workspace.getWorkspaceFolder(uri) : undefined;
  if (f && f.uri.scheme === 'file') return f.uri.fsPath;
  return workspaceRoots()[0];
}

function storageDir(d: StorageDeps): string {
  return d.context.globalStorageUri.fsPath;
}

export function runsDirFor(d: StorageDeps, uri: vscode.Uri | undefined): string {
  const folder = folderOf(uri);
  return folder ? join(folder, WORKSPACE_RUNS_DIR) : join(storageDir(d), 'runs');
}

export function auditPathFor(d: StorageDeps, uri: vscode.Uri | undefined): string {
  const folder = folderOf(uri);
  return folder ? join(folder, DEFAULT_AUDIT_PATH) : join(storageDir(d), 'audits.jsonl');
}

/** How a run record names its document: relative to the workspace folder when inside one. */
export function documentRef(doc: vscode.TextDocument): string | null {
  if (doc.uri.scheme !== 'file') return null;
  const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
  if (!folder) return doc.uri.fsPath;
  return relative(folder.uri.fsPath, doc.uri.fsPath).split(sep).join('/');
}

/** The document a run record names, resolved from the folder whose .valor/runs holds the record. */
export function documentUriOfRecord(record: RunRecord, runPath?: string): vscode.Uri | undefined {
  if (!record.document) return undefined;
  if (isAbsolute(record.document)) return vscode.Uri.file(record.document);
  const folder = runPath ? dirname(dirname(dirname(runPath))) : workspaceRoots()[0];
  return folder ? vscode.Uri.file(join(folder, record.document)) : undefined;
}

/** A run by id: in a workspace folder's .valor/runs, else in the global storage. */
export async function findRunById(d: StorageDeps, runId: string): Promise<StoredRun | undefined> {
  const { readRunRecord } = await import('../core/runStore.js');
  for (const root of workspaceRoots()) {
    const path = join(root, WORKSPACE_RUNS_DIR, `${runId}.json`);
    if (existsSync(path)) return { record: await readRunRecord(path), path };
  }
  const path = join(storageDir(d), 'runs', `${runId}.json`);
  return existsSync(path) ? { record: await readRunRecord(path), path } : undefined;
}
