/**
 * Keeping a document's results in one state everywhere: the results store (editor features),
 * the run record on disk, the open run view and the runs tree. The last run of a document is
 * this session's, else the newest record naming it.
 */
import { dirname } from 'node:path';
import type * as vscode from 'vscode';
import type { GroundingResult, RunRecord } from '../protocol/run.js';
import type { CommandDeps } from './commands/commandDeps.js';
import type { StoredRun, StoredScores } from './resultsStore.js';
import { documentRef, runsDirFor } from './storageLocations.js';

type ResultDeps = Pick<CommandDeps, 'store' | 'panels' | 'runsTree'>;

/** The last run of a document: this session's, else the newest record naming it. */
export async function lastRunOf(d: Pick<CommandDeps, 'store' | 'context'>, doc: vscode.TextDocument): Promise<StoredRun | undefined> {
  const mine = d.store.get(doc.uri.toString()).run;
  if (mine) return mine;
  const ref = documentRef(doc);
  if (!ref) return undefined;
  const { listRunRecords } = await import('../core/runStore.js');
  const found = (await listRunRecords(runsDirFor(d, doc.uri))).find((l) => l.record?.document === ref);
  if (!found?.record) return undefined;
  const stored: StoredRun = { record: found.record, path: found.path };
  d.store.setRun(doc.uri.toString(), stored);
  return stored;
}

/** Stores the scores in the last run's record when that run is of the same reply. */
export async function attachRewards(d: ResultDeps, uri: vscode.Uri, scores: StoredScores): Promise<void> {
  const run = d.store.get(uri.toString()).run;
  if (!run || run.record.reply !== scores.reply) return;
  const record: RunRecord = { ...run.record, rewards: scores.set };
  const stored: StoredRun = { ...run, record };
  if (run.path) {
    const { writeRunRecord } = await import('../core/runStore.js');
    await writeRunRecord(dirname(run.path), record);
  }
  // setRun keeps the scores (the record now carries them).
  d.store.setRun(uri.toString(), stored);
  d.panels.update(record.id, { rewards: scores.set }, stored);
  d.runsTree.refresh();
}

/** Stores new scores of a document and attaches them to its last run. */
export async function saveScores(d: ResultDeps, uri: vscode.Uri, scores: StoredScores): Promise<void> {
  d.store.setScores(uri.toString(), scores);
  await attachRewards(d, uri, scores);
}

/** Stores the grounding results in the run's record and everywhere the run is shown. */
export async function saveGrounding(d: Pick<CommandDeps, 'store' | 'panels'>, uri: vscode.Uri | undefined, run: StoredRun, grounding: GroundingResult[]): Promise<StoredRun> {
  const record: RunRecord = { ...run.record, grounding };
  const stored: StoredRun = { ...run, record };
  if (run.path) {
    const { writeRunRecord } = await import('../core/runStore.js');
    await writeRunRecord(dirname(run.path), record);
  }
  if (uri) d.store.setRun(uri.toString(), stored);
  for (const u of d.store.documentsOfRun(record.id)) d.store.setRun(u, stored);
  d.panels.update(record.id, { grounding }, stored);
  return stored;
}

/** Writes a new run of a document and shows it in the store and the runs tree. */
export async function saveRun(d: Pick<CommandDeps, 'store' | 'runsTree' | 'context'>, doc: vscode.TextDocument, record: RunRecord): Promise<StoredRun> {
  const { writeRunRecord } = await import('../core/runStore.js');
  const path = await writeRunRecord(runsDirFor(d, doc.uri), record);
  const stored: StoredRun = { record, path };
  d.store.setRun(doc.uri.toString(), stored);
  d.runsTree.refresh();
  return stored;
}
