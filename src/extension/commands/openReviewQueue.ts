/**
 * VALOR: Open Review Queue: pick a set of judged items (an eval output folder, a folder of run
 * records, or a JSONL file of replies; by default the workspace's .valor/runs), choose how to
 * sample them, and review them one at a time in the review panel (../reviewPanel.ts). Decisions
 * go to the workspace's audit log, the same one `valor audit stats` reads.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { WORKSPACE_RUNS_DIR } from '../../core/runStore.js';
import type { SampleOptions } from '../../core/review/sampler.js';
import { RewardName } from '../../protocol/run.js';
import { workspaceRoots } from '../editorFeatures.js';
import { auditPathFor } from '../storageLocations.js';
import { auditAuthor } from '../verdictOverrides.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';

export const openReviewQueue: CommandSpec = {
  doing: 'Opening the review queue',
  create: (d) => (arg?: unknown) => openQueue(d, arg),
};

async function pickSource(arg: unknown): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string') return arg;
  const runs = workspaceRoots().map((r) => join(r, WORKSPACE_RUNS_DIR)).find((p) => existsSync(p));
  const items: Array<{ label: string; description?: string; path?: string }> = [];
  if (runs) items.push({ label: "This workspace's runs", description: runs, path: runs });
  items.push({ label: 'Choose an eval output folder, a runs folder or a .jsonl file…' });
  const pick = await vscode.window.showQuickPick(items, { title: 'Review which judged items?' });
  if (!pick) return undefined;
  if (pick.path) return pick.path;
  const chosen = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, filters: { 'Replies (JSONL)': ['jsonl'] }, title: 'Judged items to review' });
  return chosen?.[0]?.fsPath;
}

async function pickSample(): Promise<SampleOptions | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: 'All, in order', s: {} as SampleOptions },
      { label: 'Random sample of 50 (seed 1)', s: { order: 'random', seed: 1, limit: 50 } as SampleOptions },
      { label: 'Only failures (a verdict 0 or a failed judge)', s: { only: 'failures' } as SampleOptions },
      { label: 'Only disagreements between the two judges', s: { only: 'disagreements' } as SampleOptions },
      ...RewardName.options.map((r) => ({ label: `Only the ${r} verdict`, s: { reward: r } as SampleOptions })),
    ],
    { title: 'Which items, in which order?' },
  );
  return pick?.s;
}

async function openQueue(d: Pick<CommandDeps, 'context' | 'log'>, arg?: unknown): Promise<void> {
  const path = await pickSource(arg);
  if (!path) return;
  const sample = await pickSample();
  if (!sample) return;
  const { ReviewSession } = await import('../../core/review/session.js');
  const { openReviewSource } = await import('../../core/review/source.js');
  const { imageFolders, openReviewPanel } = await import('../reviewPanel.js');
  const source = await openReviewSource(path);
  const auditPath = auditPathFor(d, vscode.Uri.file(path));
  const first = await Promise.all(source.entries.slice(0, 4).map((e) => source.load(e).then((i) => i.imagePath, () => null)));
  const allowed = [...workspaceRoots(), dirname(path), path, ...imageFolders(first)];
  const session = await ReviewSession.open({ source, sample, auditPath, author: auditAuthor() });
  for (const w of session.warnings) d.log.warn(`review queue: ${w}`);
  openReviewPanel(d.context.extensionUri, d.log, session, allowed, `Review: ${session.title}`);
}
