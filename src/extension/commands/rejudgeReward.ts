/**
 * VALOR: Re-judge One Reward…: asks the judge (or the runner, for syntax) again for one reward,
 * bypassing caches; the total and the person's overrides follow (core's `rejudgeReward`).
 */
import * as vscode from 'vscode';
import type { RewardName } from '../../protocol/run.js';
import { readAuditLog } from '../../core/audit.js';
import { COMMANDS } from '../commandIds.js';
import { rewardArg, targetDocument } from '../commandArguments.js';
import { withCancellableProgress, withRole } from '../commandGuard.js';
import { saveScores } from '../documentResults.js';
import { ActionableError } from '../errors.js';
import { requireTrust } from '../inputChecks.js';
import { notify } from '../outcomeMessages.js';
import type { StoredScores } from '../resultsStore.js';
import { auditPathFor } from '../storageLocations.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';

export async function rejudgeDocument(d: CommandDeps, doc: vscode.TextDocument, reward: RewardName, signal: AbortSignal): Promise<StoredScores> {
  const scores = d.store.get(doc.uri.toString()).scores;
  if (!scores) throw new ActionableError('there are no scores to re-judge: score the document first', [{ kind: 'command', command: COMMANDS.score, label: 'Score', args: [doc.uri] }]);
  if (reward === 'format') throw new ActionableError('the format reward comes from the parser, not a judge: edit the document and score it again');
  const vprog = d.layouts.vprog(doc);
  if (vprog.reply !== scores.reply) {
    throw new ActionableError('the document changed since it was scored: score it again instead', [{ kind: 'command', command: COMMANDS.score, label: 'Score', args: [doc.uri] }]);
  }
  if (reward === 'syntax') requireTrust('run the syntax check');
  // The client is made outside the judge's role tag, so a missing endpoint reads as it does for Score.
  const judge = reward === 'syntax' ? undefined : await d.clients.chat('judge', { noCache: true });
  const { rejudgeVerdict, withVerdict } = await import('../../core/workflows/rejudgeReward.js');
  const asked = rejudgeVerdict({
    reward,
    query: scores.query,
    plan: vprog.parsed.plan,
    program: vprog.parsed.program,
    judge: async () => judge ?? d.clients.chat('judge', { noCache: true }),
    runner: () => d.clients.runner(),
    judgeTimeoutMs: d.config().judge.timeoutMs,
    signal,
  });
  const verdict = await (reward === 'syntax' ? asked : withRole('judge', asked));
  const audit = await readAuditLog(auditPathFor(d, doc.uri));
  const next: StoredScores = { ...scores, set: withVerdict(scores.set, scores.subject, verdict, audit.overrides) };
  await saveScores(d, doc.uri, next);
  return next;
}

export const rejudgeReward: CommandSpec = {
  doing: 'Re-judging',
  create: (d) => async (arg?: unknown) => {
    const doc = await targetDocument(arg);
    let reward = rewardArg(arg);
    if (!reward) {
      const pick = await vscode.window.showQuickPick(
        (['syntax', 'spatial', 'attribute', 'logic', 'adherence'] as const).map((r) => ({ label: r })),
        { title: 'Re-judge which reward?' },
      );
      if (!pick) return;
      reward = pick.label;
    }
    const r = reward;
    const next = await withCancellableProgress(`VALOR: re-judging ${r}`, (signal) => rejudgeDocument(d, doc, r, signal));
    const v = next.set.verdicts.find((x) => x.reward === r);
    void notify(d, `${r}: ${v?.state ?? 'no verdict'}${v?.error ? ` (${v.error})` : ''}.`);
  },
};
