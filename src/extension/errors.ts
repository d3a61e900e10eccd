/**
 * Turning any failure into a message a person can act on: what happened, what was expected, and
 * buttons for the fix (open the right settings, set a key, restart the tool server, show the
 * log, trust the workspace). Cancellation is not a failure and produces no message.
 *
 * No `vscode` import: `describeFailure` is a pure mapping, tested with plain node; the adapter
 * in ui.ts shows it and runs the chosen action.
 */
import type { EndpointRole } from '../core/endpoints.js';
import { isNetworkFailure } from '../core/toolClient.js';
import type { KeyRole } from './secrets.js';

export type ErrorAction =
  | { kind: 'openSettings'; query: string; label?: string }
  | { kind: 'setApiKey'; role: KeyRole }
  | { kind: 'restartServer' }
  | { kind: 'showLogs' }
  | { kind: 'manageTrust' }
  | { kind: 'openFile'; path: string; label?: string }
  | { kind: 'command'; command: string; label: string; args?: unknown[] };

export function actionLabel(a: ErrorAction): string {
  switch (a.kind) {
    case 'openSettings':
      return a.label ?? 'Open Settings';
    case 'setApiKey':
      return 'Set API Key';
    case 'restartServer':
      return 'Restart Tool Server';
    case 'showLogs':
      return 'Show Log';
    case 'manageTrust':
      return 'Manage Workspace Trust';
    case 'openFile':
      return a.label ?? 'Open File';
    case 'command':
      return a.label;
  }
}

/** An error whose message is already written for a person, with the actions that fix it. */
export class ActionableError extends Error {
  constructor(
    message: string,
    readonly actions: ErrorAction[] = [],
    readonly severity: 'error' | 'warning' = 'error',
  ) {
    super(message);
    this.name = 'ActionableError';
  }
}

/** Where a failure happened, so the message can point at the right settings and key. */
export interface FailureContext {
  /** What we were doing, e.g. "Running the program". */
  doing: string;
  /** The endpoint in use when the failure came from a language model. */
  role?: EndpointRole;
}

export interface Failure {
  message: string;
  actions: ErrorAction[];
  severity: 'error' | 'warning';
}

const ROLE_KEY: Record<EndpointRole, KeyRole> = { generator: 'generator', judge: 'judge', vision: 'vision' };

function errName(err: unknown): string {
  return typeof err === 'object' && err !== null && 'name' in err ? String((err as { name: unknown }).name) : '';
}

function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
}

export function isCancellation(err: unknown): boolean {
  const name = errName(err);
  if (name === 'AbortError') return true;
  if (name === 'ChatError' && (err as { kind?: string }).kind === 'cancelled') return true;
  return false;
}

/** Maps an error to a message and actions; null for a cancellation (nothing to show). */
export function describeFailure(err: unknown, ctx: FailureContext): Failure | null {
  if (isCancellation(err)) return null;
  const name = errName(err);
  const msg = errMessage(err);
  const prefix = `${ctx.doing} failed: `;
  if (err instanceof ActionableError) return { message: `${prefix}${err.message}`, actions: err.actions, severity: err.severity };

  if (name === 'ChatError') {
    const kind = (err as { kind?: string }).kind;
    const role = ctx.role;
    const settings: ErrorAction = { kind: 'openSettings', query: role ? `valor.${role}` : 'valor' };
    switch (kind) {
      case 'auth':
        return {
          message: `${prefix}the endpoint rejected the API key (${msg}). Set the key with "VALOR: Set API Key…", or check the endpoint in the settings.`,
          actions: role ? [{ kind: 'setApiKey', role: ROLE_KEY[role] }, settings] : [settings],
          severity: 'error',
        };
      case 'config':
      case 'bad_request':
        return { message: `${prefix}${msg}. Check the endpoint and model in the settings.`, actions: [settings], severity: 'error' };
      case 'network':
      case 'timeout':
      case 'server':
        return {
          message: `${prefix}the endpoint could not be reached or did not answer (${msg}). Check that the server is running and that the base URL in the settings is right.`,
          actions: [settings, { kind: 'showLogs' }],
          severity: 'error',
        };
      case 'rate_limit':
        return { message: `${prefix}the endpoint is rate-limiting requests (${msg}). Wait a little and try again.`, actions: [settings], severity: 'warning' };
      default:
        return { message: `${prefix}${msg}`, actions: [settings, { kind: 'showLogs' }], severity: 'error' };
    }
  }
  if (name === 'ToolServerStartError') {
    const last = (err as { lastLines?: string[] }).lastLines ?? [];
    const tail = last.length ? ` Last output: ${last.slice(-2).join(' | ')}` : '';
    return {
      message: `${prefix}the embedded tool server did not start (${msg}).${tail} Check the model folder and device in the settings, then restart the server.`,
      actions: [{ kind: 'showLogs' }, { kind: 'openSettings', query: 'valor.toolServer' }, { kind: 'restartServer' }],
      severity: 'error',
    };
  }
  if (name === 'RunnerSetupError' && (err as { code?: string }).code === 'sandbox-unavailable') {
    // The message says what is missing and how to opt into the weaker isolation.
    return { message: `${prefix}${msg}`, actions: [{ kind: 'openSettings', query: 'valor.run.isolation' }, { kind: 'showLogs' }], severity: 'error' };
  }
  if (name === 'RunnerSetupError') {
    return {
      message: `${prefix}${msg}. Programs run in python3 with numpy installed; install them (or set VALOR_PYTHON to a python3 that has numpy) and try again.`,
      actions: [{ kind: 'showLogs' }],
      severity: 'error',
    };
  }
  if (name === 'ImageInputError') {
    return { message: `${prefix}${msg}`, actions: [], severity: 'error' };
  }
  if (name === 'ToolClientError' || name === 'ToolServerError' || isNetworkFailure(err)) {
    return {
      message: `${prefix}the tool server did not answer (${msg}). It may have stopped; restart it, or check valor.toolServer.url.`,
      actions: [{ kind: 'restartServer' }, { kind: 'showLogs' }, { kind: 'openSettings', query: 'valor.toolServer' }],
      severity: 'error',
    };
  }
  return { message: `${prefix}${msg}`, actions: [{ kind: 'showLogs' }], severity: 'error' };
}
