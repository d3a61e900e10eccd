/** VALOR: Refresh Runs: re-reads the runs tree. */
import type { CommandSpec } from './commandDeps.js';

export const refreshRuns: CommandSpec = {
  doing: 'Refreshing runs',
  create: (d) => () => d.runsTree.refresh(),
};
