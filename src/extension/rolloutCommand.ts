/**
 * VALOR: Score Rollout Group: for the query (and image) of a .vprog document, draw 5 replies with
 * VALOR's sampling, score each with the six rewards and open the group (totals, GRPO advantages,
 * what separates best from worst) as a Markdown document. The work is core's
 * (src/core/audit/rolloutGroup.ts), the same as `valor rollouts`.
 */
import * as vscode from 'vscode';
import { readAuditLog, OverrideIndex } from '../core/audit.js';
import { DEFAULT_GROUP_SIZE, scoreRolloutGroup } from '../core/audit/rolloutGroup.js';
import { rolloutMarkdown } from '../core/audit/rolloutReport.js';
import type { ValorConfig } from './config.js';
import type { Services } from './services.js';
import { withRole, type Report } from './ui.js';

export interface RolloutCommandDeps {
  services: Services;
  config: () => ValorConfig;
}

export async function showRolloutGroup(d: RolloutCommandDeps, query: string, imagePath: string, auditPath: string, signal: AbortSignal, report: Report): Promise<void> {
  const cfg = d.config();
  const generator = await d.services.chat('generator', { noCache: true });
  const judge = await d.services.chat('judge');
  const runner = await d.services.runner();
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
