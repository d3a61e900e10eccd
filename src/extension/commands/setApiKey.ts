/** VALOR: Set API Key…: a role's key into VS Code's secret storage (never settings or logs). */
import * as vscode from 'vscode';
import { pickRole } from '../commandArguments.js';
import { notify } from '../outcomeMessages.js';
import { KEY_ROLE_LABELS } from '../secrets.js';
import type { CommandSpec } from './commandDeps.js';

export const setApiKey: CommandSpec = {
  doing: 'Saving the API key',
  create: (d) => async (arg?: unknown) => {
    const role = await pickRole(arg, 'Set the API key for…');
    if (!role) return;
    const value = await vscode.window.showInputBox({
      title: `API key: ${KEY_ROLE_LABELS[role].label}`,
      prompt: `${KEY_ROLE_LABELS[role].detail}. Stored in VS Code's secret storage, never in settings or logs.`,
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'Enter a key (use "Forget API Key" to remove one)'),
    });
    if (value === undefined) return;
    await d.keys.set(role, value);
    void notify(d, `Saved the key for ${KEY_ROLE_LABELS[role].label} in VS Code's secret storage.`);
  },
};
