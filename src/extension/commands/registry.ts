/**
 * The one map from command (ids in ../commandIds.ts, titles in package.json
 * `contributes.commands`) to the file that implements it. `registerCommands` registers every
 * entry wrapped by `guarded`, so a failure becomes "<doing> failed: …" with its actions and
 * never an unhandled rejection. A test checks this map, commandIds.ts and the manifest agree.
 */
import * as vscode from 'vscode';
import { COMMANDS, type CommandKey } from '../commandIds.js';
import { guarded } from '../commandGuard.js';
import { analyzeSensitivity } from './analyzeSensitivity.js';
import { clearApiKey } from './clearApiKey.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';
import { fixWithModel } from './fixWithModel.js';
import { generate } from './generate.js';
import { newQuery } from './newQuery.js';
import { openReviewQueue } from './openReviewQueue.js';
import { openRun } from './openRun.js';
import { openRunView } from './openRunView.js';
import { openSettings } from './openSettings.js';
import { overrideVerdict } from './overrideVerdict.js';
import { refreshRuns } from './refreshRuns.js';
import { rejudgeReward } from './rejudgeReward.js';
import { replayRun } from './replayRun.js';
import { restartToolServer } from './restartToolServer.js';
import { rolloutGroup } from './rolloutGroup.js';
import { runProgram } from './runProgram.js';
import { score } from './score.js';
import { setApiKey } from './setApiKey.js';
import { showAgreement } from './showAgreement.js';
import { showLogs } from './showLogs.js';
import { startToolServer } from './startToolServer.js';
import { stopToolServer } from './stopToolServer.js';
import { verifyBoxes } from './verifyBoxes.js';

export const COMMAND_SPECS: Readonly<Record<CommandKey, CommandSpec>> = {
  newQuery,
  generate,
  runProgram,
  replayRun,
  analyzeSensitivity,
  fixWithModel,
  score,
  verifyBoxes,
  openRunView,
  openRun,
  overrideVerdict,
  rejudgeReward,
  showAgreement,
  startToolServer,
  stopToolServer,
  restartToolServer,
  showLogs,
  setApiKey,
  clearApiKey,
  refreshRuns,
  openSettings,
  openReviewQueue,
  rolloutGroup,
};

export function registerCommands(d: CommandDeps): vscode.Disposable[] {
  return (Object.keys(COMMANDS) as CommandKey[]).map((k) => {
    const spec = COMMAND_SPECS[k];
    return vscode.commands.registerCommand(COMMANDS[k], guarded(spec.doing, d.log, spec.create(d) as (...args: unknown[]) => Promise<unknown> | unknown));
  });
}
