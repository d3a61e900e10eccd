// The set-up the eval-loop tests share: a scripted OpenAI-compatible generator (benchHandler), a
// protocol tool server over the scene, a real ProgramRunner, a temporary folder holding the
// benchmark file and its images; and the run's deps and options pointing at them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { loadDataset } from '../../src/core/eval/dataset.js';
import type { EvalDeps, EvalOptions } from '../../src/core/eval/loop.js';
import { createChatClient } from '../../src/core/llmClient.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { createToolClient } from '../../src/core/toolClient.js';
import { benchHandler, SCENE, vqaAnswer, writeBenchmark } from './evalBench.js';
import { startOpenAIServer, type OpenAIServer } from './openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from './protocolToolServer.js';

export interface EvalHarness {
  llm: OpenAIServer;
  toolServer: ProtocolToolServer;
  runner: ProgramRunner;
  /** The temporary folder (removed after the suite). */
  work: string;
  /** The benchmark file, in `<work>/bench` beside its images. */
  file: string;
  /** Deps against the harness's servers and runner. */
  deps(over?: Partial<EvalDeps>): EvalDeps;
  /** Options for a run of the benchmark into `<work>/<out>`. */
  opts(out: string, over?: Partial<EvalOptions>): Promise<EvalOptions>;
}

/** Registers the suite's before/after hooks; the fields are set once `before` has run. */
export function evalHarness(tmpPrefix: string, base: Partial<EvalOptions> = {}): EvalHarness {
  const h = {
    deps: (over: Partial<EvalDeps> = {}): EvalDeps => ({
      generator: createChatClient({ baseUrl: h.llm.url, model: 'valor-policy', cacheDir: false, maxRetries: 1, retryBaseMs: 5 }),
      tools: createToolClient({ url: h.toolServer.url, token: h.toolServer.token, maxRetries: 0 }),
      toolsUrl: h.toolServer.url,
      runner: h.runner,
      ...over,
    }),
    opts: async (out: string, over: Partial<EvalOptions> = {}): Promise<EvalOptions> => ({
      dataset: await loadDataset(h.file),
      imagesDir: join(h.work, 'bench'),
      outDir: join(h.work, out),
      toolRetries: 1,
      toolRetryDelayMs: 5,
      ...base,
      ...over,
    }),
  } as EvalHarness;
  before(async () => {
    h.llm = await startOpenAIServer({ handler: benchHandler() });
    h.toolServer = await startProtocolToolServer({ objects: SCENE, vqa: vqaAnswer, width: 64, height: 48 });
    h.runner = new ProgramRunner();
    h.work = await mkdtemp(join(tmpdir(), tmpPrefix));
    h.file = await writeBenchmark(join(h.work, 'bench'));
  });
  after(async () => {
    await h.runner.dispose();
    await h.llm.close();
    await h.toolServer.close();
    await rm(h.work, { recursive: true, force: true });
  });
  return h;
}
