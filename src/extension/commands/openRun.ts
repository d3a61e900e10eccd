/** VALOR: Open Past Run…: a run record (from the runs tree, a path, or picked from the workspace's) in the run view. */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { WORKSPACE_RUNS_DIR } from '../../core/runStore.js';
import { workspaceRoots } from '../editorFeatures.js';
import { ActionableError } from '../errors.js';
import type { StoredRun } from '../resultsStore.js';
import { answerText } from '../runsTree.js';
import { documentUriOfRecord } from '../storageLocations.js';
import type { CommandSpec } from './commandDeps.js';

export const openRun: CommandSpec = {
  doing: 'Opening the run',
  create: (d) => async (arg?: unknown) => {
    const { readRunRecord, listRunRecords } = await import('../../core/runStore.js');
    let path: string | undefined;
    if (typeof arg === 'string') path = arg;
    else if (arg instanceof vscode.Uri) path = arg.fsPath;
    else if (arg && typeof arg === 'object' && 'listing' in arg) path = (arg as { listing: { path: string } }).listing.path;
    if (!path) {
      const listings = (await Promise.all(workspaceRoots().map((r) => listRunRecords(join(r, WORKSPACE_RUNS_DIR))))).flat();
      const items = listings
        .filter((l) => l.record)
        .map((l) => ({ label: l.record!.query, description: `→ ${answerText(l.record!)}`, detail: l.record!.created, path: l.path }));
      if (items.length === 0) throw new ActionableError('there are no runs in this workspace yet (.valor/runs is empty)', [], 'warning');
      const pick = await vscode.window.showQuickPick(items, { title: 'Open a past run', matchOnDescription: true });
      if (!pick) return;
      path = pick.path;
    }
    const record = await readRunRecord(path);
    const stored: StoredRun = { record, path };
    const docUri = documentUriOfRecord(record, path);
    const open = docUri && vscode.workspace.textDocuments.find((x) => x.uri.toString() === docUri.toString());
    if (open) d.store.setRun(open.uri.toString(), stored);
    d.panels.show(stored);
  },
};
