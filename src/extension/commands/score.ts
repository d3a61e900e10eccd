/** VALOR: Score Program (Six Rewards): the six rewards of the document's reply (core's `scoreReply`, as `valor score`). */
import type * as vscode from 'vscode';
import { readAuditLog } from '../../core/audit.js';
import { storedRewardSet } from '../../core/rewards/storedRewardSet.js';
import { withRole, type Report } from '../commandGuard.js';
import { saveScores } from '../documentResults.js';
import { requireInputs, requireTrust } from '../inputChecks.js';
import { afterScore } from '../outcomeMessages.js';
import { promptSettings } from '../promptSettings.js';
import type { StoredScores } from '../resultsStore.js';
import { auditPathFor } from '../storageLocations.js';
import { documentCommand, type CommandDeps, type CommandSpec } from './commandDeps.js';

export async function scoreDocument(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredScores> {
  requireTrust('score programs (the syntax reward runs the program)');
  const vprog = d.layouts.vprog(doc);
  const { query, imagePath } = requireInputs(doc, vprog);
  const cfg = d.config();
  const judge = await d.clients.chat('judge');
  const runner = await d.clients.runner();
  const judgeSet = await (await promptSettings(d, doc.uri)).judgeSet();
  const audit = await readAuditLog(auditPathFor(d, doc.uri));
  report(`asking ${judge.model}…`);
  const { scoreReply } = await import('../../core/rewards/score.js');
  const scored = await withRole(
    'judge',
    scoreReply({
      query,
      reply: vprog.reply,
      imagePath,
      judge,
      runner,
      weights: cfg.rewards.weights,
      overrides: audit.overrides,
      judgeSet,
      judgeTimeoutMs: cfg.judge.timeoutMs,
      signal,
    }),
  );
  const scores: StoredScores = { set: storedRewardSet(scored), subject: scored.subject, query, reply: vprog.reply, program: vprog.parsed.program };
  await saveScores(d, doc.uri, scores);
  return scores;
}

export const score: CommandSpec = documentCommand('Scoring', 'VALOR: scoring (six rewards)', scoreDocument, afterScore);
