// Repair end to end: a real python3 run (src/core/runner) of a scripted failing reply, the repair
// request through the real client to the OpenAI-compatible test server, the proposed reply run
// again, and the loop's accounting (no-parse answers, the attempt limit, VALOR's single attempt).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createChatClient } from '../../../src/core/llmClient.js';
import { runQuery } from '../../../src/core/pipeline.js';
import { PlaceholderTools } from '../../../src/core/placeholderTools.js';
import { BUILTIN_PROMPT } from '../../../src/core/promptSource.js';
import { failureOf, proposeRepair, repairLoop, RepairParseError, REPAIR_INSTRUCTIONS, REPAIR_PROMPT, type RepairLoopDeps } from '../../../src/core/repair/index.js';
import { syntaxVerdict } from '../../../src/core/rewards/syntax.js';
import { ProgramRunner } from '../../../src/core/runner/index.js';
import type { RewardSet, RunRecord } from '../../../src/protocol/run.js';
import { join } from 'node:path';
import { REPO } from '../../helpers/cli.js';
import { startOpenAIServer } from '../../helpers/openaiServer.js';
import { ScriptedTools } from '../../helpers/scriptedTools.js';

const FIXTURE_IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');
const QUERY = 'How many mugs are there?';
const reply = (program: string[], plan = '1. Detect the mugs.\n2. Count them and answer "one" or "several".') =>
  `<plan>\n${plan}\n</plan>\n<answer>\n\`\`\`python\n${program.join('\n')}\n\`\`\`\n</answer>`;
const BROKEN = reply(['mugs = gd_detect(img_pth, "mug")', 'n = len(mug)', 'final_answer = "one" if n == 1 else "several"']);
const FIXED = reply(['mugs = gd_detect(img_pth, "mug")', 'n = len(mugs)', 'final_answer = "one" if n == 1 else "several"']);
const STILL_BROKEN = reply(['mugs = gd_detect(img_pth, "mug")', 'n = len(cups)', 'final_answer = "one" if n == 1 else "several"']);

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

const tools = () => new ScriptedTools({ gd_detect: () => [{ bbox: [10, 20, 50, 80], label: 'mug', score: 0.8 }] });
const run = (r: string): Promise<RunRecord> => runQuery({ query: QUERY, imagePath: FIXTURE_IMAGE, reply: r, tools: tools(), toolsUrl: 'scripted', runner });
/** The syntax reward as the check: the real runner with placeholder tools. */
const check = async (record: RunRecord): Promise<RewardSet> => ({
  verdicts: [await syntaxVerdict({ program: record.program, runner, tools: new PlaceholderTools() })],
  total: null,
  incomplete: false,
  weights: {},
});

async function generator(t: { after: (fn: () => unknown) => void }) {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'gen-m', cacheDir: false, maxRetries: 0 });
  const deps: RepairLoopDeps = { run: (r) => run(r), check, propose: (input, signal) => proposeRepair(input, { generator: client, signal }) };
  return { srv, client, deps };
}

describe('failureOf', () => {
  test('a NameError run: a runtime error on its program line, with the line text and traceback', async () => {
    const record = await run(BROKEN);
    assert.equal(record.error?.type, 'NameError');
    const f = failureOf(record);
    assert.equal(f.kind, 'runtime_error');
    assert.equal(f.errorType, 'NameError');
    assert.equal(f.line, 2);
    assert.equal(f.lineText, 'n = len(mug)');
    assert.match(f.message, /^NameError: name 'mug' is not defined/);
    assert.equal(failureOf(await run(FIXED)).kind, 'none');
  });

  test('no final_answer, format 0, syntax 0, and failures that are not the program’s', async () => {
    const none = await run(reply(['mugs = gd_detect(img_pth, "mug")']));
    assert.equal(failureOf(none).kind, 'no_final_answer');
    const noBlocks = await run('I would detect the mugs and count them.');
    const f = failureOf(noBlocks);
    assert.equal(f.kind, 'format');
    assert.match(f.message, /exactly one <plan> block and one <answer> block/);
    // The real run passed; a failed syntax check (given here) still calls for repair, on its line.
    const strict = await run(reply(['mugs = gd_detect(img_pth, "mug")', 'final_answer = 1 if mugs[0]["score"] > 0.5 else 2']));
    assert.equal(failureOf(strict).kind, 'none');
    const syntax = { verdicts: [{ reward: 'syntax' as const, state: 'fail' as const, value: 0, rationale: 'The program failed with placeholder tools on line 2: KeyError', judge: 'runner', line: 2 }], total: 0, incomplete: false, weights: {} };
    const s = failureOf(strict, syntax);
    assert.deepEqual([s.kind, s.line, s.lineText], ['syntax', 2, 'final_answer = 1 if mugs[0]["score"] > 0.5 else 2']);
    // Not the program's fault: nothing to repair.
    const broken = await run(BROKEN);
    assert.equal(failureOf({ ...broken, error: { type: 'NoRecordedResult', message: 'no result', line: 1 } }).kind, 'none');
    assert.equal(failureOf({ ...broken, eval: { error_kind: 'tool_outage' } }).kind, 'none');
    const outage = { ...broken, trace: [{ index: 0, tool: 'gd_detect' as const, line: 1, args: {}, result: null, ms: 1, error: { type: 'ToolError', message: 'cannot reach the tool server', tool_server: true } }] };
    assert.equal(failureOf(outage).kind, 'none', 'a call the tool server failed is an outage, not the program’s');
    assert.equal(failureOf({ ...outage, trace: [{ ...outage.trace[0]!, error: { type: 'ToolError', message: 'bad box' } }] }).kind, 'runtime_error');
    assert.equal(failureOf({ ...broken, error: { type: 'Timeout', message: 'ran past 60 s', line: 3 } }).kind, 'runtime_error', 'an endless loop is the program’s');
  });
});

describe('proposeRepair and repairLoop', () => {
  test('a NameError reply becomes a passing one: what is sent, what comes back, the diff, the real re-run', async (t) => {
    const { srv, deps } = await generator(t);
    srv.script({ text: FIXED });
    const result = await repairLoop({ query: QUERY, reply: BROKEN }, deps, 3);
    assert.equal(result.stopped, 'passed');
    assert.equal(result.repairs, 1);
    assert.equal(result.attempts.length, 2);
    assert.equal(result.original.failure.kind, 'runtime_error');
    assert.equal(result.original.record?.final_answer, null);
    assert.equal(result.final.record?.final_answer, 'one', 'the repaired program ran for real');
    assert.equal(result.final.failure.kind, 'none');
    assert.equal(result.final.rewards?.verdicts[0]?.state, 'pass', 'and passed the syntax check');
    const p = result.final.proposal!;
    assert.equal(p.program, 'mugs = gd_detect(img_pth, "mug")\nn = len(mugs)\nfinal_answer = "one" if n == 1 else "several"');
    assert.deepEqual(p.diff.filter((d) => d.op !== 'equal'), [
      { op: 'delete', text: 'n = len(mug)', oldLine: 2 },
      { op: 'insert', text: 'n = len(mugs)', newLine: 2 },
    ]);
    assert.deepEqual(p.prompt, REPAIR_PROMPT);
    assert.equal(p.model, 'gen-m');

    // The request: the generation message, the failed reply, then our repair message.
    const [req] = srv.chatRequests();
    const msgs = req!.json.messages as Array<{ role: string; content: string }>;
    assert.deepEqual(msgs.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(msgs[0]!.content, `${BUILTIN_PROMPT.text}\n\nQuestion: ${QUERY}`);
    assert.equal(msgs[1]!.content, BROKEN);
    assert.match(msgs[2]!.content, /^Running your program failed on program line 2:\n\n {4}n = len\(mug\)\n\nNameError: name 'mug' is not defined/);
    assert.match(msgs[2]!.content, /Traceback \(program lines only\):/);
    assert.ok(msgs[2]!.content.endsWith(REPAIR_INSTRUCTIONS));
    assert.equal(req!.json.temperature, 0.7, "VALOR's generation sampling by default");
  });

  test('an answer without a program is a typed error; in the loop it is an attempt that ran nothing', async (t) => {
    const { srv, client, deps } = await generator(t);
    srv.script({ text: 'Sorry, I cannot fix this.' });
    const record = await run(BROKEN);
    await assert.rejects(
      proposeRepair({ query: QUERY, reply: BROKEN, failure: failureOf(record) }, { generator: client }),
      (e: unknown) => e instanceof RepairParseError && e.reply === 'Sorry, I cannot fix this.' && e.format.score === 0 && /holds no program to run \(format 0/.test(e.message),
    );
    await assert.rejects(proposeRepair({ query: QUERY, reply: FIXED, failure: failureOf(await run(FIXED)) }, { generator: client }), RangeError);

    srv.script({ text: '<plan>\n1. Count.\n</plan>\n<answer>\n</answer>' }, { text: FIXED });
    const result = await repairLoop({ query: QUERY, reply: BROKEN, record }, deps, 2);
    assert.equal(result.stopped, 'passed');
    assert.deepEqual(result.attempts.map((a) => [a.attempt, a.error?.type ?? null, a.record ? 'ran' : 'nothing ran']), [
      [0, null, 'ran'],
      [1, 'RepairParseError', 'nothing ran'],
      [2, null, 'ran'],
    ]);
    assert.equal(result.original.record, record, 'a given original run is not run again');
    // The diff of the passing repair is against the last program that ran, not the unreadable answer.
    assert.deepEqual(result.final.proposal!.diff.filter((d) => d.op !== 'equal').map((d) => `${d.op} ${d.text}`), ['delete n = len(mug)', 'insert n = len(mugs)']);
    // The second repair request shows the model its unreadable answer and says so.
    const second = srv.chatRequests()[2]!.json.messages as Array<{ role: string; content: string }>;
    assert.deepEqual(second.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user']);
    assert.match(second[4]!.content, /^Your reply could not be read\. the generator's repair holds no program to run/);
  });

  test('max attempts: N repairs and no more, every attempt kept, each request longer than the last', async (t) => {
    const { srv, deps } = await generator(t);
    srv.setHandler(() => ({ text: STILL_BROKEN }));
    const result = await repairLoop({ query: QUERY, reply: BROKEN }, deps, 2);
    assert.equal(result.stopped, 'max_attempts');
    assert.equal(result.repairs, 2);
    assert.equal(srv.chatRequests().length, 2);
    assert.deepEqual(result.attempts.map((a) => a.failure.lineText), ['n = len(mug)', 'n = len(cups)', 'n = len(cups)']);
    assert.equal(result.final, result.attempts[2]);
    assert.deepEqual(srv.chatRequests().map((r) => r.json.messages.length), [3, 5]);
  });

  test("VALOR's default, no repair: the original runs once and the model is not asked", async (t) => {
    const { srv, deps } = await generator(t);
    const result = await repairLoop({ query: QUERY, reply: BROKEN }, deps, 0);
    assert.equal(result.stopped, 'max_attempts');
    assert.equal(result.attempts.length, 1);
    assert.equal(result.final, result.original);
    assert.equal(srv.chatRequests().length, 0);
    const ok = await repairLoop({ query: QUERY, reply: FIXED }, deps, 5);
    assert.equal(ok.stopped, 'not_needed');
    assert.equal(srv.chatRequests().length, 0);
    await assert.rejects(repairLoop({ query: QUERY, reply: FIXED }, deps, -1), RangeError);
    await assert.rejects(repairLoop({ query: QUERY, reply: FIXED }, deps, 1.5), RangeError);
  });
});
