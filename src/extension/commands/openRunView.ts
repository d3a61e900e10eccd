/** VALOR: Open Run View: the run view of the document's last run. */
import { COMMANDS } from '../commandIds.js';
import { targetDocument } from '../commandArguments.js';
import { lastRunOf } from '../documentResults.js';
import { ActionableError } from '../errors.js';
import type { CommandSpec } from './commandDeps.js';

export const openRunView: CommandSpec = {
  doing: 'Opening the run view',
  create: (d) => async (arg?: unknown) => {
    const doc = await targetDocument(arg);
    const run = await lastRunOf(d, doc);
    if (!run) {
      throw new ActionableError('this document has no run yet: run it first', [{ kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] }], 'warning');
    }
    d.panels.show(run);
  },
};
