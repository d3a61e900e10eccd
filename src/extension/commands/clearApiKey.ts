/** VALOR: Forget API Key…: removes a role's key from VS Code's secret storage. */
import { pickRole } from '../commandArguments.js';
import { notify } from '../outcomeMessages.js';
import { KEY_ROLE_LABELS } from '../secrets.js';
import type { CommandSpec } from './commandDeps.js';

export const clearApiKey: CommandSpec = {
  doing: 'Forgetting the API key',
  create: (d) => async (arg?: unknown) => {
    const role = await pickRole(arg, 'Forget the API key of…');
    if (!role) return;
    await d.keys.clear(role);
    void notify(d, `Forgot the key for ${KEY_ROLE_LABELS[role].label}.`);
  },
};
