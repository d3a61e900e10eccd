// StrykerJS configuration for `npm run mutation` (scripts/mutation/run.mjs). One module group per
// run, chosen by VALOR_MUTATION_GROUP (see scripts/mutation/groups.mjs); docs/testing.md explains.
import { GROUPS } from './scripts/mutation/groups.mjs';

const name = process.env.VALOR_MUTATION_GROUP ?? 'reply';
const group = GROUPS[name];
if (!group) throw new Error(`unknown mutation group '${name}'; known: ${Object.keys(GROUPS).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  tap: {
    testFiles: group.tests,
    // node's test runner prints TAP when stdout is not a terminal; tsx runs the TypeScript.
    nodeArgs: ['--import', 'tsx', '{{testFile}}'],
  },
  plugins: ['@stryker-mutator/tap-runner', '@stryker-mutator/typescript-checker'],
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: group.mutate,
  // Per test file: a mutant runs only the group's test files that reached it.
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  reporters: ['json', 'clear-text', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  tempDirName: `.stryker-tmp/${name}`,
  cleanTempDir: true,
  ignorePatterns: ['.stryker-tmp', '.vscode-test', 'dist', 'examples/models', 'test-artifacts', 'reports', '.valor', '*.vsix'],
  concurrency: Number(process.env.VALOR_MUTATION_CONCURRENCY ?? 2),
  // A mutant's run is stopped as a timeout after 2 x its normal time + 10 s (each test file takes 1-3 s
  // here, so 10 s is several times that even under load; mutants that loop forever cost 10 s each).
  timeoutMS: 10_000,
  timeoutFactor: 2,
  thresholds: { high: 90, low: 80, break: null },
};
