/**
 * A person's verdict on a reward or a detector box: asked with a note, appended to the audit
 * log (core's `appendOverride`, the log `valor audit` reads), and applied at once to the
 * document's scores or the run's grounding.
 */
import { userInfo } from 'node:os';
import * as vscode from 'vscode';
import type { GroundingResult, Override, RewardName } from '../protocol/run.js';
import { applyBoxOverrides, applyRewardOverrides, boxSubject, rewardSubject } from '../core/audit.js';
import type { CommandDeps } from './commands/commandDeps.js';
import { saveGrounding, saveScores } from './documentResults.js';
import { ActionableError } from './errors.js';
import type { StoredRun, StoredScores } from './resultsStore.js';
import { auditPathFor } from './storageLocations.js';

type OverrideDeps = Pick<CommandDeps, 'store' | 'panels' | 'runsTree' | 'context'>;

/** Who is deciding, as the audit log records it (absent when the OS does not say). */
export function auditAuthor(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

export async function askNote(reward: string, value: number): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: `Override ${reward}: ${value === 1 ? 'pass' : 'fail'}`,
    prompt: 'Why? (saved in .valor/audits.jsonl with your verdict)',
    placeHolder: 'e.g. the plan does resolve "left of" with box x-coordinates in step 3',
    ignoreFocusOut: true,
  });
}

/** Records a person's verdict on one reward, and shows it everywhere at once. */
export async function recordOverride(d: OverrideDeps, uri: vscode.Uri, scores: StoredScores, reward: RewardName, value: 0 | 1, note: string): Promise<StoredScores> {
  const verdict = scores.set.verdicts.find((v) => v.reward === reward);
  if (!verdict) throw new ActionableError(`there is no ${reward} verdict to override: score the document first`);
  const machine = scores.set.overridden?.[reward]?.machine_value ?? verdict.value;
  const override: Override = {
    kind: 'reward',
    subject: scores.subject || rewardSubject(scores.query, scores.reply),
    target: reward,
    value,
    machine_value: machine,
    note,
    author: auditAuthor(),
    at: new Date().toISOString(),
  };
  const { appendOverride } = await import('../core/audit.js');
  await appendOverride(auditPathFor(d, uri), override);
  const next: StoredScores = { ...scores, set: applyRewardOverrides(scores.set, override.subject, [override]) };
  await saveScores(d, uri, next);
  return next;
}

/** Records a person's keep/drop of one box of a run's grounding, and shows it at once. */
export async function recordBoxOverride(
  d: OverrideDeps,
  run: StoredRun,
  at: { grounding: number; box: number; kept: boolean; machineKept: boolean },
  note: string,
  auditUri: vscode.Uri | undefined,
): Promise<GroundingResult[]> {
  const g = run.record.grounding?.[at.grounding];
  if (!g) throw new ActionableError(`the run has no grounding box ${at.grounding}/${at.box}`);
  const override: Override = {
    kind: 'box',
    subject: boxSubject(g.image.sha256, g.prompt),
    target: String(at.box),
    value: at.kept ? 1 : 0,
    machine_value: at.machineKept ? 1 : 0,
    note,
    author: auditAuthor(),
    at: new Date().toISOString(),
  };
  const { appendOverride } = await import('../core/audit.js');
  await appendOverride(auditPathFor(d, auditUri), override);
  const grounding = (run.record.grounding ?? []).map((r) => applyBoxOverrides(r, [override]));
  await saveGrounding(d, undefined, run, grounding);
  return grounding;
}
