/**
 * What command handlers get: the extension's long-lived parts, built once by main.ts. Each
 * command file (./<name>.ts) exports a `CommandSpec`: the phrase its failures start with
 * ("Running the program failed: …") and a factory that takes these deps and returns the handler
 * (rust-analyzer's `createCommands` shape). ./registry.ts registers them from one map.
 */
import type * as vscode from 'vscode';
import { targetDocument } from '../commandArguments.js';
import { withCancellableProgress, type Report } from '../commandGuard.js';
import type { CoreClients } from '../coreClients.js';
import type { ValorConfig } from '../config.js';
import type { ExtensionLog } from '../extensionLog.js';
import type { LayoutCache } from '../vprogLayout.js';
import type { ResultsStore } from '../resultsStore.js';
import type { RunPanels } from '../runPanel.js';
import type { RunsTreeProvider } from '../runsTree.js';
import type { ApiKeys } from '../secrets.js';
import type { ToolServerSupervisor } from '../toolServerSupervisor.js';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  log: ExtensionLog;
  config: () => ValorConfig;
  keys: ApiKeys;
  supervisor: ToolServerSupervisor;
  clients: CoreClients;
  store: ResultsStore;
  layouts: LayoutCache;
  panels: RunPanels;
  runsTree: RunsTreeProvider;
  /** Re-reads which server the status bar should show (embedded or remote). */
  refreshServerStatus: () => void;
}

export interface CommandSpec {
  /** What the command was doing, for its failure message ("Scoring" -> "Scoring failed: …"). */
  doing: string;
  create(d: CommandDeps): (...args: never[]) => Promise<unknown> | unknown;
}

/**
 * The shape most document commands share: find the `.vprog` document the argument names, do
 * the work under a cancellable progress notification, then tell the person the outcome.
 */
export function documentCommand<T>(
  doing: string,
  progressTitle: string,
  work: (d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report) => Promise<T>,
  outcome: (d: CommandDeps, result: T, doc: vscode.TextDocument) => unknown,
): CommandSpec {
  return {
    doing,
    create: (d) => async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const result = await withCancellableProgress(progressTitle, (signal, report) => work(d, doc, signal, report));
      await outcome(d, result, doc);
    },
  };
}
