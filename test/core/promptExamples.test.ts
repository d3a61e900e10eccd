/**
 * The prompt's worked examples are real programs: each one runs to an answer in a real python3
 * child with the syntax reward's placeholder tools (the same signatures as the real tools), so
 * the policy is never shown an example that would fail the syntax reward.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { PlaceholderTools } from '../../src/core/placeholderTools.js';
import { PROMPT_EXAMPLES } from '../../src/core/prompt.js';
import { parseReply } from '../../src/core/reply.js';
import { ProgramRunner } from '../../src/core/runner/index.js';

const runner = new ProgramRunner();
after(() => runner.dispose());

for (const ex of PROMPT_EXAMPLES) {
  test(`example runs with placeholder tools: ${ex.query}`, async () => {
    const parsed = parseReply(ex.reply);
    assert.equal(parsed.format.score, 1);
    const outcome = await runner.run({ program: parsed.program!, imagePath: '/tmp/example.jpg', tools: new PlaceholderTools(), timeoutMs: 30000 });
    assert.equal(outcome.error, null, JSON.stringify(outcome.error));
    assert.ok(outcome.ok);
    assert.notEqual(outcome.final_answer, null);
    assert.ok(outcome.trace.length > 0, 'the example calls the tools');
  });
}
