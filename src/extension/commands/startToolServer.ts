/** VALOR: Start Tool Server: starts the embedded tool server (refused while a remote one is configured). */
import { withCancellableProgress } from '../commandGuard.js';
import { ActionableError } from '../errors.js';
import type { CommandSpec } from './commandDeps.js';

export const startToolServer: CommandSpec = {
  doing: 'Starting the tool server',
  create: (d) => async () => {
    if (d.config().toolServer.url) {
      throw new ActionableError(`a remote tool server is configured (${d.config().toolServer.url}); clear valor.toolServer.url to use the embedded one`, [
        { kind: 'openSettings', query: 'valor.toolServer.url' },
      ], 'warning');
    }
    await withCancellableProgress('VALOR: starting the tool server', (signal) => d.supervisor.ensureStarted(signal));
  },
};
