/** VALOR: Override a Verdict…: a person's pass/fail on one reward, with a note, into the audit log. */
import * as vscode from 'vscode';
import { COMMANDS } from '../commandIds.js';
import { rewardArg, targetDocument } from '../commandArguments.js';
import { ActionableError } from '../errors.js';
import { notify } from '../outcomeMessages.js';
import { askNote, recordOverride } from '../verdictOverrides.js';
import type { CommandSpec } from './commandDeps.js';

export const overrideVerdict: CommandSpec = {
  doing: 'Recording the override',
  create: (d) => async (arg?: unknown) => {
    const doc = await targetDocument(arg);
    const scores = d.store.get(doc.uri.toString()).scores;
    if (!scores) {
      throw new ActionableError('this document has no scores to override yet: score it first', [{ kind: 'command', command: COMMANDS.score, label: 'Score', args: [doc.uri] }], 'warning');
    }
    let reward = rewardArg(arg);
    if (!reward) {
      const pick = await vscode.window.showQuickPick(
        scores.set.verdicts.map((v) => ({
          label: v.reward,
          description: `${scores.set.overridden?.[v.reward] ? 'overridden: ' : ''}${v.state}${v.value !== null ? ` (${v.value})` : ''}`,
          detail: (v.rationale || v.error || '').slice(0, 200),
          reward: v.reward,
        })),
        { title: 'Override which verdict?' },
      );
      if (!pick) return;
      reward = pick.reward;
    }
    const verdict = await vscode.window.showQuickPick(
      [
        { label: '$(pass) Pass', description: 'the reward is earned (1)', value: 1 as const },
        { label: '$(error) Fail', description: 'the reward is not earned (0)', value: 0 as const },
      ],
      { title: `Your verdict for ${reward}` },
    );
    if (!verdict) return;
    const note = await askNote(reward, verdict.value);
    if (note === undefined) return;
    const next = await recordOverride(d, doc.uri, scores, reward, verdict.value, note);
    const total = next.set.total === null ? 'incomplete' : next.set.total.toFixed(2);
    void notify(d, `Recorded your verdict: ${reward} = ${verdict.value === 1 ? 'pass' : 'fail'}. Total now ${total}.`);
  },
};
