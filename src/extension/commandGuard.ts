/**
 * How every command handler runs: under a cancellable progress notification when it is long
 * (cancellation tokens become AbortSignals), and wrapped by `guarded`, so a failure becomes a
 * message with action buttons and nothing it throws becomes an unhandled rejection.
 */
import * as vscode from 'vscode';
import { COMMANDS } from './commandIds.js';
import { actionLabel, describeFailure, type ErrorAction, type FailureContext } from './errors.js';
import type { ExtensionLog } from './extensionLog.js';

/** A signal that aborts when the token is cancelled. */
export function toAbortSignal(token: vscode.CancellationToken | undefined): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  if (!token) return { signal: ac.signal, dispose: () => {} };
  if (token.isCancellationRequested) ac.abort();
  const sub = token.onCancellationRequested(() => ac.abort());
  return { signal: ac.signal, dispose: () => sub.dispose() };
}

export type Report = (message: string, increment?: number) => void;

/** Runs `task` under a cancellable progress notification, with the token as an AbortSignal. */
export function withCancellableProgress<T>(title: string, task: (signal: AbortSignal, report: Report) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    const { signal, dispose } = toAbortSignal(token);
    try {
      return await task(signal, (message, increment) => progress.report({ message, increment }));
    } finally {
      dispose();
    }
  });
}

async function runAction(a: ErrorAction): Promise<void> {
  switch (a.kind) {
    case 'openSettings':
      await vscode.commands.executeCommand('workbench.action.openSettings', a.query);
      return;
    case 'setApiKey':
      await vscode.commands.executeCommand(COMMANDS.setApiKey, a.role);
      return;
    case 'restartServer':
      await vscode.commands.executeCommand(COMMANDS.restartToolServer);
      return;
    case 'showLogs':
      await vscode.commands.executeCommand(COMMANDS.showLogs);
      return;
    case 'manageTrust':
      await vscode.commands.executeCommand('workbench.trust.manage');
      return;
    case 'openFile':
      await vscode.window.showTextDocument(vscode.Uri.file(a.path));
      return;
    case 'command':
      await vscode.commands.executeCommand(a.command, ...(a.args ?? []));
      return;
  }
}

/**
 * Shows a failure with its action buttons and runs the chosen one. Never throws: this is the
 * last stop of every command's error path.
 */
export async function reportFailure(err: unknown, ctx: FailureContext, log: ExtensionLog): Promise<void> {
  try {
    const f = describeFailure(err, ctx);
    if (!f) {
      log.info(`${ctx.doing}: cancelled`);
      return;
    }
    const message = log.redact(f.message);
    log.error(message);
    const stack = err instanceof Error && err.stack ? err.stack.split('\n').slice(1, 6).join('\n') : '';
    if (stack) log.info(stack);
    const labels = f.actions.map(actionLabel);
    const show = f.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
    const picked = await show(message, ...labels);
    const action = f.actions[labels.indexOf(picked ?? '')];
    if (action) await runAction(action);
  } catch (inner) {
    // Showing the message failed (e.g. the window is closing): the log is all that is left.
    try {
      log.error(`could not report a failure: ${String(inner)}`);
    } catch {
      // nothing more to do
    }
  }
}

/** Wraps a command handler: failures are reported, the returned promise never rejects. */
export function guarded<A extends unknown[]>(
  doing: string | ((...args: A) => FailureContext),
  log: ExtensionLog,
  fn: (...args: A) => Promise<unknown> | unknown,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const ctx = typeof doing === 'string' ? { doing } : doing(...args);
      const role = (err as { valorRole?: FailureContext['role'] })?.valorRole;
      await reportFailure(err, role ? { ...ctx, role } : ctx, log);
    }
  };
}

/** Tags an error with the endpoint role it came from, so its message points at the right settings. */
export function withRole<T>(role: NonNullable<FailureContext['role']>, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    if (typeof err === 'object' && err !== null) (err as { valorRole?: string }).valorRole = role;
    throw err;
  });
}
