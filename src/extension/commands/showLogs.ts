/** VALOR: Show Tool Server Log: the "VALOR" output channel. */
import type { CommandSpec } from './commandDeps.js';

export const showLogs: CommandSpec = {
  doing: 'Showing the log',
  create: (d) => () => d.log.show(),
};
