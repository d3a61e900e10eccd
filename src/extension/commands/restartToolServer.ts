/** VALOR: Restart Tool Server: stops and starts the embedded tool server (with a remote one, says so). */
import { withCancellableProgress } from '../commandGuard.js';
import { notify } from '../outcomeMessages.js';
import type { CommandSpec } from './commandDeps.js';

export const restartToolServer: CommandSpec = {
  doing: 'Restarting the tool server',
  create: (d) => async () => {
    if (d.config().toolServer.url) {
      d.refreshServerStatus();
      void notify(d, `Using the remote tool server at ${d.config().toolServer.url}; there is no embedded server to restart.`);
      return;
    }
    await withCancellableProgress('VALOR: restarting the tool server', (signal) => d.supervisor.restart(signal));
  },
};
