/**
 * Every command the extension contributes, declared once. package.json `contributes.commands`
 * must list exactly these ids (a test checks both directions), and `registerCommands` registers
 * exactly these (the activation test checks that too).
 */
export const COMMANDS = {
  newQuery: 'valor.newQuery',
  generate: 'valor.generate',
  runProgram: 'valor.runProgram',
  replayRun: 'valor.replayRun',
  analyzeSensitivity: 'valor.analyzeSensitivity',
  fixWithModel: 'valor.fixWithModel',
  score: 'valor.score',
  verifyBoxes: 'valor.verifyBoxes',
  openRunView: 'valor.openRunView',
  openRun: 'valor.openRun',
  overrideVerdict: 'valor.overrideVerdict',
  rejudgeReward: 'valor.rejudgeReward',
  showAgreement: 'valor.showAgreement',
  startToolServer: 'valor.startToolServer',
  stopToolServer: 'valor.stopToolServer',
  restartToolServer: 'valor.restartToolServer',
  showLogs: 'valor.showLogs',
  setApiKey: 'valor.setApiKey',
  clearApiKey: 'valor.clearApiKey',
  refreshRuns: 'valor.refreshRuns',
  openSettings: 'valor.openSettings',
  openReviewQueue: 'valor.openReviewQueue',
  rolloutGroup: 'valor.rolloutGroup',
} as const;

export type CommandKey = keyof typeof COMMANDS;
export type CommandId = (typeof COMMANDS)[CommandKey];

export const COMMAND_IDS: readonly CommandId[] = Object.values(COMMANDS);

/** Ids of the other contributions, shared by the manifest, the code and the tests. */
export const LANGUAGE_ID = 'vprog';
export const RUNS_VIEW_ID = 'valor.runs';
export const RUN_VIEW_TYPE = 'valor.runView';
export const REVIEW_VIEW_TYPE = 'valor.reviewQueue';
export const OUTPUT_CHANNEL_NAME = 'VALOR';

/** Context keys used in `when` clauses of package.json. */
export const CONTEXT_KEYS = {
  serverRunning: 'valor.toolServerRunning',
  hasScores: 'valor.hasScores',
  hasRun: 'valor.hasRun',
} as const;
