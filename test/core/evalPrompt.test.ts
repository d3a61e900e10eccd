// `valor eval` with a generation prompt file: every generator request carries the file's text,
// each run record and the summary name the prompt by sha256 and path, and a resume with another
// prompt is refused (a run must not mix prompts).
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EvalSetupError, runEval } from '../../src/core/eval/loop.js';
import { loadPromptFile } from '../../src/core/promptSource.js';
import { readRunRecord } from '../../src/core/runStore.js';
import { evalHarness } from '../helpers/evalHarness.js';

describe('eval with a generation prompt file', () => {
  const h = evalHarness('valor-evalprompt-');

  it('sends the file text, records it, and refuses to resume with another prompt', async () => {
    await writeFile(join(h.work, 'system_prompt.jinja'), 'STAND-IN PROMPT: plan, then program.\n');
    const prompt = await loadPromptFile(join(h.work, 'system_prompt.jinja'));
    const deps = h.deps();
    const opts = await h.opts('out', { limit: 2 });
    const o = await runEval({ ...opts, prompt }, deps);
    assert.equal(o.status, 'complete');
    const reqs = h.llm.chatRequests();
    assert.equal(reqs.length, 2);
    for (const r of reqs) {
      const content = (r.json as { messages: Array<{ content: string }> }).messages[0]!.content;
      assert.ok(content.startsWith('STAND-IN PROMPT: plan, then program.\n\nQuestion: '), content.slice(0, 80));
    }
    const ref = { source: 'file', path: prompt.path, sha256: prompt.sha256 };
    assert.deepEqual(o.summary.models.generator.prompt, ref);
    const runsDir = join(h.work, 'out', 'runs');
    const names = (await readdir(runsDir)).filter((n) => n.endsWith('.json'));
    assert.equal(names.length, 2);
    for (const n of names) assert.deepEqual((await readRunRecord(join(runsDir, n))).generator?.prompt, ref);
    await assert.rejects(runEval({ ...opts, resume: true }, deps), (e: Error) => e instanceof EvalSetupError && /the generation prompt differs/.test(e.message));
  });
});
