// Judges' cites (issue #15, "Verdicts that point"): the plan steps and program lines a verdict
// rests on, asked for in our prompts, read from JSON and tagged replies through the real client
// against the OpenAI-compatible test server, bounded to the material, and absent in reference mode.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createChatClient } from '../../src/core/llmClient.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { boundCites, citeBounds, citesFromJson, citesFromTags, describeCites, planStepReplyLines, planSteps, programWithLineNumbers } from '../../src/core/rewards/cites.js';
import { createVerdictCache, runJudge, verdictCacheKey } from '../../src/core/rewards/judge.js';
import { loadReferenceJudgeSet } from '../../src/core/rewards/judgeSet.js';
import { verdictResponseFormat } from '../../src/core/rewards/rubrics.js';
import { scoreReply } from '../../src/core/rewards/score.js';
import { parseJudgeReply } from '../../src/core/rewards/verdictParse.js';
import { parseReply } from '../../src/core/reply.js';
import { Verdict } from '../../src/protocol/run.js';
import { startOpenAIServer } from '../helpers/openaiServer.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf } from '../helpers/judgeReplies.js';

const PARSED = parseReply(GOOD_REPLY);
const MATERIAL = { query: GOOD_QUERY, plan: PARSED.plan!, program: PARSED.program! };

describe('plan steps and program lines', () => {
  test('numbered items are steps, in order; other lines belong to the item above; a preamble belongs to none', () => {
    const plan = 'Approach:\n1. Detect the mug.\n   - keep the highest score\n2) If none, ask vqa.\n\nStep 3: Compare x centres.\n';
    assert.deepEqual(planSteps(plan), [
      { step: 1, startLine: 2, endLine: 3 },
      { step: 2, startLine: 4, endLine: 4 },
      { step: 3, startLine: 6, endLine: 6 },
    ]);
    // "3.5 m" inside a step is not a new step; only a number followed by ". " / ") " / ": " starts one.
    assert.equal(planSteps('1. Measure.\n3.5 m is the limit\n2. Answer.').length, 2);
  });

  test('a plan without numbered items has one step per non-empty line', () => {
    assert.deepEqual(planSteps('Detect the mug\n\nCompare\n'), [
      { step: 1, startLine: 1, endLine: 1 },
      { step: 2, startLine: 3, endLine: 3 },
    ]);
    assert.deepEqual(planSteps(''), []);
    assert.deepEqual(planSteps(null), []);
  });

  test('the program is numbered as the adherence judge sees it, padded to the widest number', () => {
    const p = Array.from({ length: 10 }, (_, i) => `x${i} = ${i}`).join('\n');
    const shown = programWithLineNumbers(`${p}\n\n`).split('\n');
    assert.equal(shown.length, 10);
    assert.equal(shown[0], ' 1| x0 = 0');
    assert.equal(shown[9], '10| x9 = 9');
    assert.equal(programWithLineNumbers('if a:\n\n    b = 1'), '1| if a:\n2|\n3|     b = 1');
  });

  test('the plan steps of a reply are located on reply lines', () => {
    // GOOD_REPLY: `<plan>` on line 1, steps 1-4 on lines 2-5.
    assert.deepEqual([...planStepReplyLines(GOOD_REPLY)], [[1, 2], [2, 3], [3, 4], [4, 5]]);
    const inline = '<plan>  1. Look.\n2. Answer.</plan>\n<answer>final_answer = 1</answer>';
    assert.deepEqual([...planStepReplyLines(inline)], [[1, 1], [2, 2]]);
    assert.equal(planStepReplyLines('no plan here').size, 0);
  });
});

describe('reading cites', () => {
  test('JSON: the cites object is read, malformed entries ignored, and it is no extra key', () => {
    const r = parseJudgeReply('{"rationale": "Step 2 folds the relation into the prompt.", "score": 0, "cites": {"plan_steps": [2, 2, "3", 1.5], "program_lines": [4]}}');
    assert.ok(r.ok);
    assert.deepEqual(r.cites, { plan_steps: [2, 2], program_lines: [4] });
    assert.deepEqual(r.extraKeys, []);
    assert.equal(citesFromJson('2, 3'), undefined);
    assert.equal(citesFromJson([2]), undefined);
    assert.deepEqual(citesFromJson({ plan_steps: 3 }), { plan_steps: [], program_lines: [] });
    // Absent cites: the verdict stands, with none.
    const plain = parseJudgeReply('{"rationale": "fine", "score": 1}');
    assert.ok(plain.ok);
    assert.equal('cites' in plain, false);
  });

  test('tagged: a <cites> block before the verdict, with ranges; it stays out of the rationale; absence is fine', () => {
    const r = parseJudgeReply('Step 3 compares y instead of x.\n<cites>plan: 3; program: 7-9, 2</cites>\n<answer>0</answer>');
    assert.ok(r.ok);
    assert.equal(r.rationale, 'Step 3 compares y instead of x.');
    assert.deepEqual(r.cites, { plan_steps: [3], program_lines: [7, 8, 9, 2] });
    assert.deepEqual(citesFromTags('<cites>Plan steps 1 and 4</cites>'), { plan_steps: [1, 4], program_lines: [] });
    assert.deepEqual(citesFromTags('<cites>nothing useful</cites>'), { plan_steps: [], program_lines: [] });
    const none = parseJudgeReply('Fine.\n<answer>1</answer>');
    assert.ok(none.ok);
    assert.equal('cites' in none, false);
    // A block after the verdict is not part of it.
    const late = parseJudgeReply('ok <answer>1</answer> <cites>plan: 1</cites>');
    assert.ok(late.ok && !('cites' in late));
  });

  test('bounding: numbers outside the plan or program are dropped, the rest de-duplicated and sorted', () => {
    const bounds = citeBounds(MATERIAL);
    assert.deepEqual(bounds, { planSteps: 4, programLines: 9 });
    assert.deepEqual(boundCites({ plan_steps: [4, 0, 5, 2, 2, -1], program_lines: [10, 9, 1, 9] }, bounds), { plan_steps: [2, 4], program_lines: [1, 9] });
    assert.deepEqual(boundCites({ plan_steps: [1], program_lines: [1] }, citeBounds({ plan: '', program: '' })), { plan_steps: [], program_lines: [] });
  });

  test('described for people, program lines through a mapping', () => {
    assert.equal(describeCites({ plan_steps: [2], program_lines: [3, 4] }, (n) => `${n} (document line ${n + 9})`), 'plan step 2; program lines 3 (document line 12), 4 (document line 13)');
    assert.equal(describeCites({ plan_steps: [1, 2], program_lines: [] }), 'plan steps 1, 2');
    assert.equal(describeCites({ plan_steps: [], program_lines: [] }), '');
  });

  test('the protocol field has exactly the agreed shape', () => {
    const base = { reward: 'spatial', state: 'fail', value: 0, rationale: 'r', judge: 'j' };
    assert.ok(Verdict.safeParse({ ...base, cites: { plan_steps: [1], program_lines: [] } }).success);
    assert.ok(Verdict.safeParse(base).success, 'optional');
    assert.ok(!Verdict.safeParse({ ...base, cites: { plan_steps: [1.5], program_lines: [] } }).success, 'whole numbers');
    assert.ok(!Verdict.safeParse({ ...base, cites: { plan_steps: [1] } }).success, 'both arrays');
  });
});

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

async function endpoint(t: { after: (fn: () => unknown) => void }) {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  const judge = createChatClient({ baseUrl: srv.url, model: 'judge-m', cacheDir: false, maxRetries: 0 });
  return { srv, judge };
}

describe('judges cite through the real client', () => {
  test('JSON schema: each judge is asked for what it can see, and its cites come back bounded', async (t) => {
    const { srv, judge } = await endpoint(t);
    srv.setHandler((req) => {
      const j = judgeOf(req);
      if (j === 'adherence') return { text: JSON.stringify({ rationale: 'Line 9 compares the wrong corners.', score: 0, cites: { plan_steps: [3, 3, 7], program_lines: [9, 42, 8, 0] } }) };
      if (j === 'spatial') return { text: JSON.stringify({ rationale: 'Step 3 settles left of.', score: 1, cites: { plan_steps: [3, 1] } }) };
      return { text: JSON.stringify({ rationale: 'fine', score: 1 }) };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache: createVerdictCache() });
    const by = new Map(set.verdicts.map((v) => [v.reward, v]));
    assert.deepEqual(by.get('adherence')!.cites, { plan_steps: [3], program_lines: [8, 9] });
    assert.deepEqual(by.get('spatial')!.cites, { plan_steps: [1, 3], program_lines: [] });
    assert.equal(by.get('logic')!.cites, undefined, 'a judge that cites nothing has no cites');
    assert.equal(by.get('syntax')!.cites, undefined);
    for (const v of set.verdicts) assert.ok(Verdict.safeParse(v).success, `${v.reward} fits the protocol`);

    const reqs = new Map(srv.chatRequests().map((r) => [judgeOf(r)!, r]));
    const adh = reqs.get('adherence')!;
    const spa = reqs.get('spatial')!;
    assert.deepEqual(adh.json.response_format, verdictResponseFormat('adherence'));
    assert.deepEqual(Object.keys(adh.json.response_format.json_schema.schema.properties.cites.properties), ['plan_steps', 'program_lines']);
    assert.deepEqual(Object.keys(spa.json.response_format.json_schema.schema.properties.cites.properties), ['plan_steps'], 'a plan-only judge is not asked for program lines');
    assert.deepEqual(adh.json.response_format.json_schema.schema.required, ['rationale', 'score', 'cites']);
    assert.match(adh.json.messages[0].content, /"program_lines": \[<line numbers>\]/);
    assert.match(adh.json.messages[1].content, /===== PROGRAM =====\n1\| dets = gd_detect/);
    assert.match(adh.json.messages[1].content, /\n9\| final_answer = "yes"/);
    assert.doesNotMatch(spa.json.messages[0].content, /program_lines/);
  });

  test('tagged fallback: the <cites> form is asked for and read; a reply without it still scores', async (t) => {
    const { srv, judge } = await endpoint(t);
    srv.script(
      { text: 'Step 2 has no fallback for an empty detection.\n<cites>plan: 2, 9; program: 3</cites>\n<answer>0</answer>' },
      { text: 'Fine.\n<answer>1</answer>' },
      { text: 'Line 4 guards the empty case.\n<cites>plan: 2; program: 4, 4, 11</cites>\n<answer>1</answer>' },
    );
    const logic = await runJudge({ reward: 'logic', material: MATERIAL, client: judge, structured: 'tagged', cache: createVerdictCache() });
    assert.equal(logic.state, 'fail');
    assert.equal(logic.rationale, 'Step 2 has no fallback for an empty detection.');
    assert.deepEqual(logic.cites, { plan_steps: [2], program_lines: [] }, 'the logic judge never saw the program: its line cites are dropped');
    const spatial = await runJudge({ reward: 'spatial', material: MATERIAL, client: judge, structured: 'tagged', cache: createVerdictCache() });
    assert.equal(spatial.state, 'pass');
    assert.equal(spatial.cites, undefined);
    const adherence = await runJudge({ reward: 'adherence', material: MATERIAL, client: judge, structured: 'tagged', cache: createVerdictCache() });
    assert.deepEqual(adherence.cites, { plan_steps: [2], program_lines: [4] });
    const [first, , third] = srv.chatRequests();
    assert.equal(first!.json.response_format, undefined);
    assert.match(first!.json.messages[0].content, /<cites>plan: 2, 3<\/cites>/);
    assert.match(third!.json.messages[0].content, /<cites>plan: 2, 3; program: 5, 7<\/cites>/);
  });

  test('the cache key follows the request: the schema asked for is part of it', () => {
    const client = { baseUrl: 'http://x/v1', model: 'm' };
    const msgs = [{ role: 'user' as const, content: 'same' }];
    const a = verdictCacheKey(client, 'spatial', msgs, 'json_schema', undefined);
    assert.equal(a, verdictCacheKey(client, 'spatial', msgs, 'json_schema', undefined));
    // Same messages, another schema (adherence is asked for program lines): another verdict.
    assert.notEqual(a, verdictCacheKey(client, 'adherence', msgs, 'json_schema', undefined));
    assert.notEqual(a, verdictCacheKey(client, 'spatial', msgs, 'tagged', undefined));
  });

  test('reference mode: the prompt is exactly the template, and no cites are read even when the reply has some', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'valor-cites-ref-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prompts = join(dir, 'prompts');
    mkdirSync(prompts);
    for (const [name, text] of Object.entries({
      'spatial_reward.txt': 'SPATIAL {} {} {}',
      'attribute_reward.txt': 'ATTRIBUTE {} {} {}',
      'logic_reward.txt': 'LOGIC {} {} {}',
      'code_prompt.txt': 'CODE {} {} {}',
      'api_prompt.txt': 'API',
    }))
      writeFileSync(join(prompts, name), text);
    const set = await loadReferenceJudgeSet(prompts);
    const { srv, judge } = await endpoint(t);
    srv.setHandler(() => ({ text: 'bad\n<cites>plan: 1</cites>\n<answer>0</answer>' }));
    const v = await runJudge({ reward: 'adherence', material: MATERIAL, client: judge, judgeSet: set, cache: createVerdictCache() });
    assert.equal(v.state, 'fail');
    assert.equal(v.cites, undefined);
    const [req] = srv.chatRequests();
    assert.deepEqual(req!.json.messages, [{ role: 'user', content: `CODE ${MATERIAL.plan} ${MATERIAL.program} API` }]);
    assert.equal(req!.json.response_format, undefined);
  });
});
