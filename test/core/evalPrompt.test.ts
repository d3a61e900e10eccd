// `valor eval` with a generation prompt file: every generator request carries the file's text,
// each run record and the summary name the prompt by sha256 and path, and a resume with another
// prompt is refused (a run must not mix prompts).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createChatClient } from '../../src/core/llmClient.js';
import { loadDataset } from '../../src/core/eval/dataset.js';
import { EvalSetupError, runEval, type EvalDeps } from '../../src/core/eval/loop.js';
import { loadPromptFile } from '../../src/core/promptSource.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { readRunRecord } from '../../src/core/runStore.js';
import { createToolClient } from '../../src/core/toolClient.js';
import { benchHandler, SCENE, vqaAnswer, writeBenchmark } from '../helpers/evalBench.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

describe('eval with a generation prompt file', () => {
  let llm: OpenAIServer;
  let toolServer: ProtocolToolServer;
  let runner: ProgramRunner;
  let work: string;
  let file: string;
  before(async () => {
    llm = await startOpenAIServer({ handler: benchHandler() });
    toolServer = await startProtocolToolServer({ objects: SCENE, vqa: vqaAnswer, width: 64, height: 48 });
    runner = new ProgramRunner();
    work = await mkdtemp(join(tmpdir(), 'valor-evalprompt-'));
    file = await writeBenchmark(join(work, 'bench'));
  });
  after(async () => {
    await runner.dispose();
    await llm.close();
    await toolServer.close();
    await rm(work, { recursive: true, force: true });
  });

  it('sends the file text, records it, and refuses to resume with another prompt', async () => {
    await writeFile(join(work, 'system_prompt.jinja'), 'STAND-IN PROMPT: plan, then program.\n');
    const prompt = await loadPromptFile(join(work, 'system_prompt.jinja'));
    const deps: EvalDeps = {
      generator: createChatClient({ baseUrl: llm.url, model: 'valor-policy', cacheDir: false, maxRetries: 1, retryBaseMs: 5 }),
      tools: createToolClient({ url: toolServer.url, token: toolServer.token, maxRetries: 0 }),
      toolsUrl: toolServer.url,
      runner,
    };
    const opts = { dataset: await loadDataset(file), imagesDir: join(work, 'bench'), outDir: join(work, 'out'), limit: 2, toolRetries: 1, toolRetryDelayMs: 5 };
    const o = await runEval({ ...opts, prompt }, deps);
    assert.equal(o.status, 'complete');
    const reqs = llm.chatRequests();
    assert.equal(reqs.length, 2);
    for (const r of reqs) {
      const content = (r.json as { messages: Array<{ content: string }> }).messages[0]!.content;
      assert.ok(content.startsWith('STAND-IN PROMPT: plan, then program.\n\nQuestion: '), content.slice(0, 80));
    }
    const ref = { source: 'file', path: prompt.path, sha256: prompt.sha256 };
    assert.deepEqual(o.summary.models.generator.prompt, ref);
    const runsDir = join(work, 'out', 'runs');
    const names = (await readdir(runsDir)).filter((n) => n.endsWith('.json'));
    assert.equal(names.length, 2);
    for (const n of names) assert.deepEqual((await readRunRecord(join(runsDir, n))).generator?.prompt, ref);
    await assert.rejects(runEval({ ...opts, resume: true }, deps), (e: Error) => e instanceof EvalSetupError && /the generation prompt differs/.test(e.message));
  });
});
