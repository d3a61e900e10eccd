/** VALOR: Open Settings: VS Code's settings, filtered to a key (default: every valor.* setting). */
import * as vscode from 'vscode';
import type { CommandSpec } from './commandDeps.js';

export const openSettings: CommandSpec = {
  doing: 'Opening settings',
  create: () => (arg?: unknown) => vscode.commands.executeCommand('workbench.action.openSettings', typeof arg === 'string' ? arg : 'valor'),
};
