// Reproducing VALOR's prompts from the user's own files: the generation prompt from a file and the
// reference judge mode from a folder laid out like VALOR's valor/prompts/. The files here are
// stand-ins of the same shape (our own text, the same placeholders and layout); every test checks
// the exact bytes the real chat client sent to the local OpenAI-compatible server.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createChatClient } from '../../src/core/llmClient.js';
import { generateReply } from '../../src/core/pipeline.js';
import { BUILTIN_PROMPT, loadPromptFile, PromptFileError } from '../../src/core/promptSource.js';
import { sha256Hex } from '../../src/core/contentHash.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { createVerdictCache } from '../../src/core/rewards/judge.js';
import { JudgeSetError, loadReferenceJudgeSet, parseReferenceReply } from '../../src/core/rewards/judgeSet.js';
import { scoreReply } from '../../src/core/rewards/score.js';
import { parseReply } from '../../src/core/reply.js';
import { checkValorPreset, valorPreset } from '../../src/core/valorPreset.js';
import { startOpenAIServer, type RecordedRequest } from '../helpers/openaiServer.js';
import { GOOD_QUERY, GOOD_REPLY } from '../helpers/judgeReplies.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'valor-refprompts-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Stand-ins of VALOR's shape, our own words. Positional fields like the reference templates;
// `{{`/`}}` are literal braces in str.format, so a JSON example in a template survives filling.
const STANDIN = {
  'spatial_reward.txt': 'SPATIAL CHECK\nQuestion: {}\nPlan:\n{}\nTools:\n{}\nReply like {{"x": 1}} then <answer>0 or 1</answer>.\n',
  'attribute_reward.txt': 'ATTRIBUTE CHECK\nQ={0}\nP={1}\nAPI={2}\nQ again={0}\n',
  'logic_reward.txt': 'LOGIC CHECK {0} | {1} | {2}',
  'code_prompt.txt': 'ADHERENCE CHECK\nPlan: {}\nCode: {}\nAPI: {}\n',
  'api_prompt.txt': 'gd_detect(img_pth, prompt) -> boxes\ndepth(img_pth, bbox) -> metres\n',
} as const;

function writeVALORCheckout(overrides: Partial<Record<keyof typeof STANDIN | 'system_prompt.jinja', string | null>> = {}): string {
  const repo = tempDir();
  const prompts = join(repo, 'valor', 'prompts');
  mkdirSync(prompts, { recursive: true });
  const files: Record<string, string | null> = { ...STANDIN, 'system_prompt.jinja': 'You write plans and programs.\nUse the tools.\n', ...overrides };
  for (const [name, text] of Object.entries(files)) if (text !== null) writeFileSync(join(prompts, name), text);
  return repo;
}

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

async function server(t: { after: (fn: () => unknown) => void }) {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, maxRetries: 1, retryBaseMs: 5, retryMaxMs: 20 });
  return { srv, client };
}

function whichTemplate(req: RecordedRequest): string {
  const content = (req.json as { messages: Array<{ content: string }> }).messages[0]!.content;
  return content.split('\n')[0]!.split(' ')[0]!;
}

describe('generation prompt from a file', () => {
  test('the file text is the system part of the one user message, byte for byte (one trailing newline dropped), and is recorded by sha256 and path', async (t) => {
    const { srv, client } = await server(t);
    srv.setHandler(() => ({ text: GOOD_REPLY }));
    const dir = tempDir();
    const text = 'Ünïcode line with  two spaces\t and a tab\n\nSecond paragraph: {"bbox": [1, 2]}\n';
    writeFileSync(join(dir, 'system_prompt.jinja'), text);
    const prompt = await loadPromptFile('system_prompt.jinja', dir);
    const g = await generateReply(client, '  Is the cup left of the plate? ', { prompt });
    const req = srv.chatRequests()[0]!;
    const messages = (req.json as { messages: unknown }).messages;
    const expected = `${text.slice(0, -1)}\n\nQuestion: Is the cup left of the plate?`;
    assert.deepEqual(messages, [{ role: 'user', content: expected }]);
    // The raw body carries exactly these bytes (JSON escaping aside).
    assert.ok(req.body.includes(JSON.stringify(expected)));
    assert.deepEqual(g.prompt, { source: 'file', path: join(dir, 'system_prompt.jinja'), sha256: sha256Hex(text.slice(0, -1)) });
    // VALOR's sampling with thinking off goes along.
    const body = req.json as Record<string, unknown>;
    assert.equal(body.temperature, 0.7);
    assert.equal(body.top_k, 20);
    assert.deepEqual(body.chat_template_kwargs, { enable_thinking: false });
  });

  test('without a file the built-in prompt is sent and recorded as builtin', async (t) => {
    const { srv, client } = await server(t);
    srv.setHandler(() => ({ text: GOOD_REPLY }));
    const g = await generateReply(client, 'Q?');
    assert.equal((srv.chatRequests()[0]!.json as { messages: Array<{ content: string }> }).messages[0]!.content, `${BUILTIN_PROMPT.text}\n\nQuestion: Q?`);
    assert.deepEqual(g.prompt, { source: 'builtin', path: null, sha256: BUILTIN_PROMPT.sha256 });
  });

  test('a missing file, an empty one, a byte-order mark and Jinja syntax are clear errors naming the file', async () => {
    const dir = tempDir();
    await assert.rejects(loadPromptFile(join(dir, 'nope.jinja')), (e: Error) => e instanceof PromptFileError && e.message.includes('nope.jinja') && /does not exist/.test(e.message));
    writeFileSync(join(dir, 'empty.jinja'), '\n');
    await assert.rejects(loadPromptFile(join(dir, 'empty.jinja')), /empty\.jinja is empty/);
    writeFileSync(join(dir, 'bom.jinja'), '\ufeffhello');
    await assert.rejects(loadPromptFile(join(dir, 'bom.jinja')), /byte-order mark/);
    writeFileSync(join(dir, 'tpl.jinja'), 'line one\nHello {{ name }}\n');
    await assert.rejects(loadPromptFile(join(dir, 'tpl.jinja')), /tpl\.jinja line 2 holds Jinja syntax "\{\{"/);
  });
});

describe('reference judge mode', () => {
  test('each template is filled positionally as the reference fills it and sent as the one user message, no system message, no JSON schema', async (t) => {
    const { srv, client } = await server(t);
    srv.setHandler(() => ({ text: 'Looks fine.\n<answer>1</answer>' }));
    const set = await loadReferenceJudgeSet(join(writeVALORCheckout(), 'valor', 'prompts'));
    const r = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge: client, runner, cache: createVerdictCache(), judgeSet: set });
    const parsed = parseReply(GOOD_REPLY);
    const plan = parsed.plan!;
    const program = parsed.program!;
    const api = STANDIN['api_prompt.txt'];
    const expected: Record<string, string> = {
      SPATIAL: `SPATIAL CHECK\nQuestion: ${GOOD_QUERY}\nPlan:\n${plan}\nTools:\n${api}\nReply like {"x": 1} then <answer>0 or 1</answer>.\n`,
      ATTRIBUTE: `ATTRIBUTE CHECK\nQ=${GOOD_QUERY}\nP=${plan}\nAPI=${api}\nQ again=${GOOD_QUERY}\n`,
      LOGIC: `LOGIC CHECK ${GOOD_QUERY} | ${plan} | ${api}`,
      ADHERENCE: `ADHERENCE CHECK\nPlan: ${plan}\nCode: ${program}\nAPI: ${api}\n`,
    };
    const reqs = srv.chatRequests();
    assert.equal(reqs.length, 4);
    for (const req of reqs) {
      const body = req.json as Record<string, unknown>;
      const key = whichTemplate(req);
      assert.deepEqual(body.messages, [{ role: 'user', content: expected[key] }], key);
      assert.equal(body.response_format, undefined, key);
    }
    for (const name of ['spatial', 'attribute', 'logic', 'adherence']) {
      const v = r.verdicts.find((x) => x.reward === name)!;
      assert.equal(v.state, 'pass', name);
      assert.equal(v.rationale, 'Looks fine.');
    }
    assert.deepEqual(r.judges, { kind: 'reference', dir: set.dir, sha256: set.sha256 });
    assert.equal(r.total, 1);
  });

  test("replies are read the reference's way (score in <answer> tags), but an unreadable one is re-asked once and then an error, never 0", async (t) => {
    const { srv, client } = await server(t);
    const set = await loadReferenceJudgeSet(join(writeVALORCheckout(), 'valor', 'prompts'));
    // spatial: prose, then a good tag on the re-ask; logic: never a score; the others pass with 1.0.
    srv.setHandler((req) => {
      const key = whichTemplate(req);
      const turns = (req.json as { messages: unknown[] }).messages.length;
      if (key === 'SPATIAL') return { text: turns === 1 ? 'I think it is good.' : 'Fine now. <answer>0</answer>' };
      if (key === 'LOGIC') return { text: 'Score: <answer>maybe</answer>' };
      return { text: '<think>hmm <answer>0</answer></think>Reasoning here. <answer>1.0</answer>' };
    });
    const r = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge: client, runner, cache: createVerdictCache(), judgeSet: set });
    const by = (n: string) => r.verdicts.find((v) => v.reward === n)!;
    assert.equal(by('spatial').state, 'fail');
    assert.equal(by('spatial').value, 0);
    assert.equal(by('attribute').value, 1);
    assert.equal(by('attribute').rationale, 'Reasoning here.');
    assert.equal(by('logic').state, 'error');
    assert.equal(by('logic').value, null);
    assert.match(by('logic').error!, /"maybe"/);
    assert.equal(r.total, null);
    assert.equal(r.incomplete, true);
    const spatialReask = srv.chatRequests().filter((q) => whichTemplate(q) === 'SPATIAL');
    assert.equal(spatialReask.length, 2);
    const second = (spatialReask[1]!.json as { messages: Array<{ role: string; content: string }> }).messages;
    assert.equal(second[1]!.role, 'assistant');
    assert.match(second[2]!.content, /<answer><\/answer>/);
  });

  test('parseReferenceReply rules', () => {
    assert.deepEqual(parseReferenceReply('ok <answer> 1 </answer>'), { ok: true, score: 1, rationale: 'ok' });
    assert.deepEqual(parseReferenceReply('<answer>0.0</answer>'), { ok: true, score: 0, rationale: '' });
    assert.equal(parseReferenceReply('<answer>1</answer> and <answer>1</answer>').ok, true);
    assert.equal(parseReferenceReply('<answer>1</answer> <answer>0</answer>').ok, false);
    assert.equal(parseReferenceReply('<answer>2</answer>').ok, false);
    assert.equal(parseReferenceReply('<answer></answer>').ok, false);
    assert.equal(parseReferenceReply('score 1').ok, false);
    assert.equal(parseReferenceReply('').ok, false);
  });

  test('a missing or malformed template is an error naming the file and the placeholders expected', async () => {
    const missing = writeVALORCheckout({ 'logic_reward.txt': null });
    await assert.rejects(loadReferenceJudgeSet(join(missing, 'valor', 'prompts')), (e: Error) => e instanceof JudgeSetError && /logic_reward\.txt is missing/.test(e.message));
    const noApi = writeVALORCheckout({ 'api_prompt.txt': null });
    await assert.rejects(loadReferenceJudgeSet(join(noApi, 'valor', 'prompts')), /api_prompt\.txt is missing/);
    const two = writeVALORCheckout({ 'spatial_reward.txt': 'Q {} P {}' });
    await assert.rejects(
      loadReferenceJudgeSet(join(two, 'valor', 'prompts')),
      (e: Error) => /spatial_reward\.txt has placeholders for arguments \{0\} \{1\}; expected 3 positional placeholders .* \(query, plan, api\)/.test(e.message),
    );
    const named = writeVALORCheckout({ 'code_prompt.txt': 'Plan {plan} code {} api {}' });
    await assert.rejects(loadReferenceJudgeSet(join(named, 'valor', 'prompts')), /code_prompt\.txt line 1: field '\{plan\}' is not positional.*expected 3 positional placeholders .*\(plan, program, api\)/);
    const brace = writeVALORCheckout({ 'attribute_reward.txt': '{} {} {} and a JSON {"a": 1}' });
    await assert.rejects(loadReferenceJudgeSet(join(brace, 'valor', 'prompts')), /attribute_reward\.txt line 1: field '\{"a": 1\}' is not positional/);
    const mixed = writeVALORCheckout({ 'logic_reward.txt': '{} {1} {2}' });
    await assert.rejects(loadReferenceJudgeSet(join(mixed, 'valor', 'prompts')), /cannot switch from automatic field numbering to manual/);
    const lone = writeVALORCheckout({ 'logic_reward.txt': '{} {} {} }' });
    await assert.rejects(loadReferenceJudgeSet(join(lone, 'valor', 'prompts')), /single '\}'/);
  });
});

describe('VALOR preset', () => {
  test('checks list what is in place and what is not', async () => {
    const repo = writeVALORCheckout({ 'code_prompt.txt': null });
    const models = tempDir();
    mkdirSync(join(models, 'grounding-dino'));
    writeFileSync(join(models, 'grounding-dino', 'model.onnx'), 'x');
    const { checks } = await checkValorPreset({ preset: valorPreset(repo), env: { VALOR_JUDGE_BASE_URL: 'http://j/v1', VALOR_JUDGE_MODEL: 'other' }, modelsDir: models });
    const by = (w: string) => checks.find((c) => c.what === w)!;
    assert.equal(by('generator prompt').ok, true);
    assert.equal(by('judge prompts').ok, false);
    assert.match(by('judge prompts').detail, /code_prompt\.txt is missing/);
    assert.equal(by('generator endpoint').ok, false);
    assert.equal(by('judge endpoint').ok, true);
    assert.match(by('judge endpoint').detail, /VALOR used gemini-2\.5-flash/);
    assert.equal(by('detector model').ok, true);
    assert.equal(by('depth model').ok, false);
  });
});

describe('valor judges compare and valor doctor', () => {
  test('agreement per reward between our rubrics and reference prompts on the same replies; rule-scored verdicts are left out', async (t) => {
    const { judgesCompareCommand } = await import('../../src/cli/commands/judgesCompare.js');
    const { cliIO } = await import('../helpers/cliIO.js');
    const { srv } = await server(t);
    srv.setHandler((req) => {
      const body = req.json as { response_format?: unknown };
      if (body.response_format !== undefined) return { text: JSON.stringify({ rationale: 'ours', score: 1 }) };
      return { text: whichTemplate(req) === 'SPATIAL' ? 'No.<answer>0</answer>' : 'Yes.<answer>1</answer>' };
    });
    const repo = writeVALORCheckout();
    const work = tempDir();
    const lines = [
      { query: GOOD_QUERY, reply: GOOD_REPLY },
      { problem: 'How many mugs?', reply: GOOD_REPLY.replace('laptop', 'notebook') },
      { query: 'Degenerate?', reply: '<plan>\nx\n</plan>\n<answer>\nfinal_answer = 1\n</answer>' },
    ];
    writeFileSync(join(work, 'replies.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    const io = cliIO({ VALOR_JUDGE_BASE_URL: srv.url, VALOR_JUDGE_MODEL: 'jm', VALOR_NO_CACHE: '1' }, work);
    const code = await judgesCompareCommand.run(['--in', 'replies.jsonl', '--preset', 'valor', '--valor-repo', repo, '--json'], io);
    assert.equal(code, 0, io.err.text);
    const out = JSON.parse(io.out.text) as { replies: number; rewards: Array<{ reward: string; compared: number; rate: number; not_judged: number; pass_rate: { a: number; b: number } }> };
    assert.equal(out.replies, 3);
    const by = (r: string) => out.rewards.find((x) => x.reward === r)!;
    assert.equal(by('spatial').compared, 2);
    assert.equal(by('spatial').rate, 0);
    assert.deepEqual(by('spatial').pass_rate, { a: 1, b: 0 });
    assert.equal(by('logic').rate, 1);
    assert.equal(by('adherence').not_judged, 1);
  });

  test('doctor lists each part and exits 1 while something is missing', async () => {
    const { doctorCommand } = await import('../../src/cli/commands/doctor.js');
    const { cliIO } = await import('../helpers/cliIO.js');
    const repo = writeVALORCheckout();
    const models = tempDir();
    const io = cliIO({ VALOR_MODELS_DIR: models }, tempDir());
    assert.equal(await doctorCommand.run(['--preset', 'valor', repo], io), 1);
    assert.match(io.out.text, /ok +generator prompt +.*system_prompt\.jinja/);
    assert.match(io.out.text, /ok +judge prompts/);
    assert.match(io.out.text, /MISSING judge endpoint +set VALOR_JUDGE_BASE_URL and VALOR_JUDGE_MODEL \(VALOR used gemini-2\.5-flash\)/);
    assert.match(io.out.text, /MISSING detector model/);
  });
});
