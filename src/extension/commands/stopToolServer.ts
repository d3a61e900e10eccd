/** VALOR: Stop Tool Server: stops the embedded tool server (its whole process tree). */
import type { CommandSpec } from './commandDeps.js';

export const stopToolServer: CommandSpec = {
  doing: 'Stopping the tool server',
  create: (d) => () => d.supervisor.stop(),
};
