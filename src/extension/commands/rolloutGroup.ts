/**
 * VALOR: Score Rollout Group: for the query (and image) of a .vprog document, draw 5 replies with
 * VALOR's sampling, score each with the six rewards and open the group (totals, GRPO advantages,
 * what separates best from worst) as a Markdown document. The work is core's
 * (src/core/audit/rolloutGroup.ts), the same as `valor rollouts`.
 */
import * as vscode from 'vscode';
import { readAuditLog, OverrideIndex } from '../../core/audit.js';
import { targetDocument } from '../commandArguments.js';
import { withCancellableProgress, withRole, type Report } from '../commandGuard.js';
import { requireInputs, requireTrust } from '../inputChecks.js';
import { auditPathFor } from '../storageLocations.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';

export const rolloutGroup: CommandSpec = {
  doing: 'Scoring the rollout group',
  create: (d) => async (arg?: unknown) => {
    const doc = await targetDocument(arg);
    requireTrust('score a rollout group (the syntax reward runs the programs)');
    const { query, imagePath } = requireInputs(doc, d.layouts.vprog(doc));
    await withCancellableProgress('VALOR: rollout group (5 replies, six rewards each)', (signal, report) =>
      showRolloutGroup(d, query, imagePath, auditPathFor(d, doc.uri), signal, report),
    );
  },
};

async function showRolloutGroup(d: Pick<CommandDeps, 'clients' | 'config'>, query: string, imagePath: string, auditPath: string, signal: AbortSignal, report: Report): Promise<void> {
  const { DEFAULT_GROUP_SIZE, scoreRolloutGroup } = await import('../../core/audit/rolloutGroup.js');
  const { rolloutMarkdown } = await import('../../core/audit/rolloutReport.js');
  const cfg = d.config();
  const generator = await d.clients.chat('generator', { noCache: true });
  const judge = await d.clients.chat('judge');
  const runner = await d.clients.runner();
  const audit = await readAuditLog(auditPath);
  report(`drawing ${DEFAULT_GROUP_SIZE} replies from ${generator.model}, then scoring them with ${judge.model}…`);
  const group = await withRole(
    'judge',
    scoreRolloutGroup({
      query,
      imagePath,
      n: DEFAULT_GROUP_SIZE,
      generator,
      judge,
      runner,
      weights: cfg.rewards.weights,
      overrides: new OverrideIndex(audit.overrides),
      sampling: { max_tokens: cfg.generator.maxTokens },
      judgeTimeoutMs: cfg.judge.timeoutMs,
      signal,
    }),
  );
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: rolloutMarkdown(group) });
  await vscode.window.showTextDocument(doc, { preview: true });
}
