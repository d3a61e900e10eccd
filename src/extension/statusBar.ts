/**
 * The tool server's status bar item: starting, ready (with its device), error, stopped, or the
 * remote server in use, and how programs are confined (valor.run.isolation). Clicking it shows
 * the log, where the server's output is.
 */
import * as vscode from 'vscode';
import { COMMANDS } from './commandIds.js';
import type { ServerState } from './toolServerSupervisor.js';

export type ServerDisplay = ServerState | { kind: 'remote'; url: string };

export interface StatusView {
  text: string;
  tooltip: string;
  /** Theme colour id of the background for states that need attention. */
  background?: string;
}

export type IsolationSetting = 'sandbox' | 'process';

/**
 * Pure: what the item shows for a server state and the `valor.run.isolation` setting in force
 * (tested directly). The tooltip always says how programs run; process isolation also marks the
 * text, since it is the weaker mode.
 */
export function statusView(s: ServerDisplay, isolation: IsolationSetting = 'sandbox'): StatusView {
  const v = serverView(s);
  if (isolation === 'process') {
    return {
      ...v,
      text: `${v.text} $(warning) no sandbox`,
      tooltip: `${v.tooltip}\nPrograms run without the OS sandbox (valor.run.isolation is "process"): a hostile program could read your files and reach the network.`,
      background: v.background ?? 'statusBarItem.warningBackground',
    };
  }
  return { ...v, tooltip: `${v.tooltip}\nPrograms run in the OS sandbox (Landlock + seccomp; valor.run.isolation is "sandbox").` };
}

function serverView(s: ServerDisplay): StatusView {
  switch (s.kind) {
    case 'stopped':
      return { text: '$(circle-outline) VALOR tools', tooltip: 'VALOR tool server: not running (it starts when a program runs). Click to show the log.' };
    case 'starting':
      return {
        text: '$(loading~spin) VALOR tools: starting',
        tooltip: `VALOR tool server: starting${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}. Click to show the log.`,
      };
    case 'ready':
      return { text: `$(check) VALOR tools: ${s.device}`, tooltip: `VALOR tool server: ready at ${s.url} on ${s.device} (pid ${s.pid}). Click to show the log.` };
    case 'error':
      return {
        text: '$(error) VALOR tools: error',
        tooltip: `VALOR tool server: ${s.message}. Click to show the log; run "VALOR: Restart Tool Server" after fixing the cause.`,
        background: 'statusBarItem.errorBackground',
      };
    case 'remote':
      return { text: '$(remote) VALOR tools: remote', tooltip: `VALOR tool server: using ${s.url} (valor.toolServer.url). Click to show the log.` };
  }
}

export class ServerStatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem('valor.toolServer', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'VALOR Tool Server';
    this.item.command = COMMANDS.showLogs;
  }

  show(s: ServerDisplay, isolation: IsolationSetting = 'sandbox'): void {
    const v = statusView(s, isolation);
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.backgroundColor = v.background ? new vscode.ThemeColor(v.background) : undefined;
    this.item.show();
    void vscode.commands.executeCommand('setContext', 'valor.toolServerRunning', s.kind === 'ready' || s.kind === 'starting');
  }

  dispose(): void {
    this.item.dispose();
  }
}
