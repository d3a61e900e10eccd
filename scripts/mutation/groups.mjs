// Mutation-testing module groups: which source files are mutated, and which test files run against
// them. Each group is one Stryker run with its own incremental file, so a mutant only ever runs the
// tests of its own module (and, within the group, only the test files that cover it: the TAP
// runner records coverage per test file).
//
// Only in-process tests belong here: Stryker sees coverage only in the process it starts, so tests
// that exercise a module through a child process (the tool server over HTTP, the python worker)
// would leave its mutants "no coverage". A `note` says what a group's figure leaves out (tests
// that are not in-process, a run too long for this machine); `npm run mutation -- --list` prints it.

/** @type {Record<string, { mutate: string[]; tests: string[]; note?: string }>} */
export const GROUPS = {
  reply: { mutate: ['src/core/reply.ts', 'src/core/replyProgram.ts', 'src/core/replyLines.ts'], tests: ['test/core/reply.test.ts', 'test/core/replyDiagnostics.test.ts'] },
  metrics: { mutate: ['src/core/eval/metrics.ts'], tests: ['test/core/evalMetrics.test.ts', 'test/core/evalMetricsEdges.test.ts', 'test/core/evalMetricsMutants.test.ts'] },
  boxes: { mutate: ['src/server/boxes.ts'], tests: ['test/server/boxes.test.ts', 'test/server/depthReading.test.ts'] },
  http: { mutate: ['src/server/http.ts'], tests: ['test/server/httpBody.test.ts'] },
  audit: { mutate: ['src/core/audit.ts', 'src/core/overrideIndex.ts', 'src/core/kappa.ts', 'src/core/rewards/overrides.ts'], tests: ['test/core/audit.test.ts', 'test/core/auditEdges.test.ts', 'test/core/exports.test.ts', 'test/core/auditMutants.test.ts'] },
  'rewards-units': {
    mutate: ['src/core/rewards/total.ts', 'src/core/rewards/degenerate.ts', 'src/core/rewards/verdictParse.ts'],
    tests: ['test/core/rewardsUnits.test.ts'],
  },
  rewards: {
    mutate: ['src/core/rewards/judge.ts', 'src/core/rewards/score.ts', 'src/core/rewards/rubrics.ts', 'src/core/rewards/syntax.ts', 'src/core/rewards/pyFormat.ts'],
    tests: ['test/core/rewards.test.ts', 'test/core/referencePrompts.test.ts', 'test/core/rewardsCites.test.ts', 'test/core/rewardsMutants.test.ts'],
  },
  caches: { mutate: ['src/core/diskCache.ts', 'src/core/contentHash.ts', 'src/server/lru.ts'], tests: ['test/core/diskCache.test.ts', 'test/core/cacheKeys.test.ts', 'test/server/lru.test.ts', 'test/core/llmClient.test.ts'] },
  exports: { mutate: ['src/core/exports/*.ts'], tests: ['test/core/exports.test.ts', 'test/cli/exportVerl.test.ts', 'test/core/exportsMutants.test.ts'] },
  // The eval loop is four groups so that each fits a run here: what a summary says, its repair
  // section and merging shards, reading the benchmark file and sharding it, and how the loop gets
  // there (pool, items, retries, cancellation, records, resume, output folder).
  'eval-summary': {
    mutate: ['src/core/eval/summary.ts'],
    tests: ['test/core/evalSummaryLines.test.ts', 'test/core/evalSummaryFigures.test.ts', 'test/core/evalSummaryMutants.test.ts'],
    note: 'the in-process tests only: evalLoop and evalRepair reach the same code through real python3 runs, 4-6 s a mutant',
  },
  'eval-merge': {
    mutate: ['src/core/eval/merge.ts', 'src/core/eval/repairSummary.ts', 'src/core/eval/result.ts'],
    tests: ['test/core/evalMerge.test.ts', 'test/core/evalRepairSummary.test.ts'],
  },
  // Reading a benchmark file and splitting it into shards.
  'eval-dataset': { mutate: ['src/core/eval/dataset.ts', 'src/core/eval/shard.ts'], tests: ['test/core/evalDataset.test.ts', 'test/core/evalDatasetMutants.test.ts'] },
  'eval-loop': {
    mutate: [
      'src/core/eval/loop.ts',
      'src/core/eval/records.ts',
      'src/core/eval/resume.ts',
      'src/core/eval/runSummary.ts',
      'src/core/eval/context.ts',
      'src/core/eval/outputFolder.ts',
      'src/core/eval/pool.ts',
      'src/core/eval/item.ts',
      'src/core/eval/failures.ts',
      'src/core/eval/toolRetries.ts',
      'src/core/eval/cancellation.ts',
      'src/core/eval/imageCache.ts',
      'src/core/eval/memorySampler.ts',
      'src/core/eval/repairStep.ts',
      'src/core/concurrency.ts',
    ],
    tests: ['test/core/evalLoop.test.ts', 'test/core/evalPrompt.test.ts', 'test/core/evalProgress.test.ts', 'test/core/mapLimit.test.ts', 'test/core/evalRepair.test.ts', 'test/core/evalLoopMutants.test.ts', 'test/core/evalLoopMutantRuns.test.ts'],
  },
  // The whole runner: 1,089 mutants, 743 of them in the modules that start and watch python children
  // (activeRun, index, pool, processes), whose tests take 2-16 s a file: hours at concurrency 1, not
  // yet measured (docs/testing.md). runner-pure is the part that runs in minutes.
  runner: {
    mutate: ['src/core/runner/*.ts'],
    tests: ['test/core/runnerUnits.test.ts', 'test/core/runnerProcesses.test.ts', 'test/core/runnerLifecycle.test.ts', 'test/core/runner.test.ts', 'test/core/runnerLimits.test.ts', 'test/core/runnerPlaceholder.test.ts'],
    note: 'activeRun, index, pool and processes are reached only with real python children: hours at concurrency 1',
  },
  // runnerLimits.test.ts (16 s a start, ten times the others) is left out here: runnerUnits pins the
  // same caps in-process. Leaving a test file out can only lower the figure.
  'runner-pure': {
    mutate: ['src/core/runner/toolCall.ts', 'src/core/runner/runOutcome.ts', 'src/core/runner/childLimits.ts', 'src/core/runner/env.ts', 'src/core/runner/wire.ts', 'src/core/runner/dispatch.ts'],
    tests: ['test/core/runnerUnits.test.ts', 'test/core/runner.test.ts', 'test/core/runnerPlaceholder.test.ts'],
  },
  // The runner's child-process modules, one group each so that each fits a run here. Only the
  // files that start real python3 children reach them; runnerLimits.test.ts (16 s a start) is left
  // out as in runner-pure, and sandbox.test.ts (10 s) only where the child is started.
  'runner-processes': {
    mutate: ['src/core/runner/processes.ts', 'src/core/runner/index.ts'],
    tests: ['test/core/runnerProcesses.test.ts', 'test/core/runnerLifecycle.test.ts', 'test/core/runner.test.ts', 'test/core/runnerPlaceholder.test.ts', 'test/core/sandbox.test.ts'],
    note: 'runnerLimits.test.ts left out (16 s a start): the caps it checks end-to-end are pinned in-process by runnerUnits',
  },
  // runnerPool.test.ts drives both launchers against a worker stand-in that misbehaves on cue
  // (test/fixtures/runner/fakeWorker.mjs); runner and runnerLifecycle run the real worker.
  'runner-pool': {
    mutate: ['src/core/runner/pool.ts'],
    tests: ['test/core/runnerPool.test.ts', 'test/core/runnerPoolEdges.test.ts', 'test/core/runner.test.ts', 'test/core/runnerLifecycle.test.ts'],
    note: 'runnerLimits.test.ts left out (16 s a start): runnerPool.test.ts checks the same worker deaths and hangs against the stand-in',
  },
  'runner-active': {
    mutate: ['src/core/runner/activeRun.ts'],
    tests: ['test/core/runner.test.ts', 'test/core/runnerPlaceholder.test.ts', 'test/core/runnerActiveMutants.test.ts'],
    note: 'runnerLimits.test.ts left out (16 s a start)',
  },
  images: { mutate: ['src/server/images.ts'], tests: ['test/server/imagePaths.test.ts', 'test/server/imageStore.test.ts', 'test/server/imageMutants.test.ts', 'test/server/imagePathCap.test.ts'] },
  'server-routes': {
    mutate: ['src/server/server.ts', 'src/server/context.ts', 'src/server/routes/*.ts', 'src/server/timing.ts'],
    tests: ['test/server/hardening.test.ts', 'test/server/http.test.ts', 'test/server/perImageWork.test.ts', 'test/server/speedOptions.test.ts'],
    note: 'exercised through the tool server child process: needs in-process tests before its figure means anything',
  },
  'server-models': {
    mutate: ['src/server/grounding.ts', 'src/server/depth.ts'],
    // In-process only: inference.test.ts and parity.test.ts go through the tool server's child
    // process (parity's in-process caption and post-processing checks are covered here again).
    tests: ['test/server/groundingInProcess.test.ts', 'test/server/groundingReference.test.ts', 'test/server/depthMaps.test.ts', 'test/server/depthInProcess.test.ts', 'test/server/modelsMutants.test.ts'],
  },
  // The stage's real-browser tests (render, interaction, screenshots) stay as they are; these run the
  // same modules in-process, the stage parts against the small DOM/canvas double in test/webview/domDouble.ts.
  webview: {
    mutate: ['webview/model.ts', 'webview/stage/*.ts'],
    tests: ['test/webview/protocol.test.ts', 'test/webview/modelMutants.test.ts', 'test/webview/stageGeometry.test.ts', 'test/webview/stageParts.test.ts', 'test/webview/stageFrames.test.ts', 'test/webview/stageMutants.test.ts'],
  },
};
