// The six rewards end to end: the real language-model client against the local
// OpenAI-compatible test server (real HTTP), the real program runner (python3) for syntax.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createChatClient } from '../../src/core/llmClient.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { createVerdictCache } from '../../src/core/rewards/judge.js';
import { verdictResponseFormat, TOOL_API_TEXT } from '../../src/core/rewards/rubrics.js';
import { scoreBatch, scoreReply } from '../../src/core/rewards/score.js';
import { rewardSubject } from '../../src/core/audit.js';
import type { Override } from '../../src/protocol/run.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict, type JudgeName } from '../helpers/judgeReplies.js';

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

async function setup(t: { after: (fn: () => unknown) => void }, clientOpts: { timeoutMs?: number; maxRetries?: number } = {}) {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  const judge = createChatClient({ baseUrl: srv.url, model: 'judge-m', cacheDir: false, maxRetries: clientOpts.maxRetries ?? 1, retryBaseMs: 5, retryMaxMs: 20, timeoutMs: clientOpts.timeoutMs });
  return { srv, judge, cache: createVerdictCache() };
}

/**
 * Answers each judge with its score from `scores` (default 1), after `delayMs` (a stand-in for a
 * judge's latency; the wait is in the handler because the helper's own delay reply does not fire
 * for handler replies).
 */
function byJudge(srv: OpenAIServer, scores: Partial<Record<JudgeName, number>> = {}, delayMs = 0): void {
  srv.setHandler(async (req) => {
    const j = judgeOf(req);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    return { text: jsonVerdict(j ? (scores[j] ?? 1) : 1, `${j} looks right`) };
  });
}

const value = (set: { verdicts: Array<{ reward: string; value: number | null }> }, r: string) => set.verdicts.find((v) => v.reward === r)?.value;
const verdict = <T extends { reward: string }>(set: { verdicts: T[] }, r: string): T => {
  const v = set.verdicts.find((x) => x.reward === r);
  assert.ok(v, `no ${r} verdict`);
  return v;
};

describe('requests sent to the judges', () => {
  test('each rubric sends what we intend: model, temperature, schema, and only the material its judge may see', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    const reqs = srv.chatRequests();
    assert.equal(reqs.length, 4);
    const seen = new Map(reqs.map((r) => [judgeOf(r), r]));
    assert.deepEqual([...seen.keys()].sort(), ['adherence', 'attribute', 'logic', 'spatial']);
    for (const [name, r] of seen) {
      assert.equal(r.json.model, 'judge-m');
      assert.equal(r.json.temperature, 0);
      assert.deepEqual(r.json.response_format, verdictResponseFormat(name!));
      assert.equal(r.json.messages.length, 2);
      const [sys, user] = r.json.messages as Array<{ role: string; content: string }>;
      assert.equal(sys!.role, 'system');
      assert.equal(user!.role, 'user');
      assert.ok(sys!.content.includes(TOOL_API_TEXT), `${name}: the tool API is in the system message`);
      assert.match(sys!.content, /\{"rationale": .*"score": 0 or 1, "cites": \{"plan_steps": \[<step numbers>\]/);
      assert.ok(user!.content.includes('===== PLAN =====\n1. Detect the mug'), `${name}: plan sent`);
      if (name === 'adherence') {
        assert.ok(!user!.content.includes(GOOD_QUERY), 'adherence does not see the query');
        assert.ok(user!.content.includes('===== PROGRAM =====\n1| dets = gd_detect(img_pth, "mug, laptop")'), 'adherence sees the program, fences removed, lines numbered');
      } else {
        assert.ok(user!.content.includes(`===== QUESTION =====\n${GOOD_QUERY}\n`), `${name}: query sent`);
        assert.ok(!user!.content.includes('dets = gd_detect'), `${name}: does not see the program`);
      }
      // The verdict records exactly what went over the wire.
      const v = verdict(set, name!);
      assert.deepEqual(v.prompt, r.json.messages);
      assert.equal(v.raw_reply, jsonVerdict(1, `${name} looks right`));
      assert.equal(v.rationale, `${name} looks right`);
      assert.equal(v.judge, 'judge-m');
      assert.equal(v.cached, false);
      assert.equal(v.saw_image, false);
      assert.equal(typeof v.ms, 'number');
    }
    // Rubrics differ per judge.
    const systems = new Set(reqs.map((r) => r.json.messages[0].content));
    assert.equal(systems.size, 4);
    assert.equal(set.total, 1);
    assert.equal(set.incomplete, false);
    assert.equal(value(set, 'format'), 1);
    assert.equal(value(set, 'syntax'), 1);
    assert.deepEqual(set.weights, { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 });
    assert.equal(set.subject, rewardSubject(GOOD_QUERY, GOOD_REPLY));
  });

  test('the total follows the weights: logic 0 and spatial 0 give 1 - 0.3 - 0.2', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv, { logic: 0, spatial: 0 });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(verdict(set, 'logic').state, 'fail');
    assert.equal(value(set, 'logic'), 0);
    assert.equal(set.total, 0.5);
    const custom = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, weights: { logic: 0.1, adherence: 0.4 } });
    assert.equal(custom.total, 0.7);
    await assert.rejects(scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, weights: { logic: 0.9 } }), /sum to 1/);
  });

  test('the four judges of one program run at the same time', async (t) => {
    const { srv, judge, cache } = await setup(t);
    // No judge is answered until all four have asked: judges run one after another would time out.
    srv.setHandler(async (req) => {
      await srv.waitForRequests(4, 15_000);
      return { text: jsonVerdict(1, `${judgeOf(req)} ok`) };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, judgeTimeoutMs: 20_000 });
    assert.equal(set.total, 1);
    const reqs = srv.chatRequests();
    assert.equal(reqs.length, 4);
    const lastStart = Math.max(...reqs.map((r) => r.startMs));
    const firstEnd = Math.min(...reqs.map((r) => r.endMs ?? Infinity));
    assert.ok(lastStart < firstEnd, 'every judge request started before any of them was answered');
  });

  test('identical scoring is served from the cache without any request', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const first = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(srv.chatRequests().length, 4);
    const second = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(srv.chatRequests().length, 4, 'no new request');
    for (const r of ['spatial', 'attribute', 'logic', 'adherence']) {
      assert.equal(verdict(second, r).cached, true);
      assert.equal(verdict(second, r).rationale, verdict(first, r).rationale);
    }
    assert.equal(second.total, first.total);
    // Concurrent identical scorings share one request per judge.
    const { srv: srv2, judge: judge2, cache: cache2 } = await setup(t);
    byJudge(srv2, {}, 100);
    await Promise.all([1, 2, 3].map(() => scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge: judge2, runner, cache: cache2 })));
    assert.equal(srv2.chatRequests().length, 4);
  });
});

describe('reading verdicts', () => {
  test('a tagged reply after a rationale is accepted; extra JSON keys are tolerated', async (t) => {
    const { srv, judge, cache } = await setup(t);
    srv.setHandler((req) => {
      const j = judgeOf(req);
      if (j === 'spatial') return { text: 'The plan compares x centres of both boxes, as required.\n<answer>1</answer>' };
      if (j === 'logic') return { text: '```json\n{"rationale": "No fallback for empty detections.", "score": 0, "confidence": 0.9}\n```' };
      if (j === 'attribute') return { text: '<think>hmm, no measurement needed</think>{"rationale": "Nothing to measure.", "score": 1}' };
      return { text: jsonVerdict(1) };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(srv.chatRequests().length, 4, 'no re-ask needed');
    assert.equal(value(set, 'spatial'), 1);
    assert.equal(verdict(set, 'spatial').rationale, 'The plan compares x centres of both boxes, as required.');
    assert.equal(value(set, 'logic'), 0);
    assert.equal(verdict(set, 'logic').rationale, 'No fallback for empty detections.');
    assert.equal(value(set, 'attribute'), 1);
    assert.equal(set.total, 0.7);
  });

  test('prose without a verdict is re-asked once with the problem; the corrected verdict counts', async (t) => {
    const { srv, judge, cache } = await setup(t);
    let asked = 0;
    srv.setHandler((req) => {
      const j = judgeOf(req);
      if (j === 'logic' && req.json.messages.length === 2) {
        asked++;
        return { text: 'The plan looks reasonable overall and I would probably accept it.' };
      }
      return { text: jsonVerdict(1) };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(asked, 1);
    const logicReqs = srv.chatRequests().filter((r) => judgeOf(r) === 'logic');
    assert.equal(logicReqs.length, 2);
    const reask = logicReqs[1]!.json.messages as Array<{ role: string; content: string }>;
    assert.equal(reask.length, 4);
    assert.equal(reask[2]!.role, 'assistant');
    assert.equal(reask[2]!.content, 'The plan looks reasonable overall and I would probably accept it.');
    assert.equal(reask[3]!.role, 'user');
    assert.match(reask[3]!.content, /could not be used: no verdict was found/);
    assert.equal(verdict(set, 'logic').state, 'pass');
    assert.deepEqual(verdict(set, 'logic').prompt, reask);
    assert.equal(set.total, 1);
  });

  test('a score of 2, then prose: the judge is in error, never a silent 0, and the total is incomplete', async (t) => {
    const { srv, judge, cache } = await setup(t);
    srv.setHandler((req) => {
      const j = judgeOf(req);
      if (j === 'adherence') return { text: req.json.messages.length === 2 ? '{"rationale": "Great", "score": 2}' : 'I think it is fine.' };
      return { text: jsonVerdict(1) };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    const adh = srv.chatRequests().filter((r) => judgeOf(r) === 'adherence');
    assert.equal(adh.length, 2, 'exactly one re-ask');
    assert.match(adh[1]!.json.messages[3].content, /"score" was 2; it must be the number 0 or 1/);
    const v = verdict(set, 'adherence');
    assert.equal(v.state, 'error');
    assert.equal(v.value, null);
    assert.match(v.error ?? '', /no usable verdict after one correction/);
    assert.equal(v.raw_reply, 'I think it is fine.');
    assert.equal(set.total, null);
    assert.equal(set.incomplete, true);
    // An error is not cached: scoring again asks again.
    srv.setHandler(() => ({ text: jsonVerdict(1) }));
    const again = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(verdict(again, 'adherence').state, 'pass');
    assert.equal(again.total, 1);
  });

  test('an endpoint that refuses json_schema gets the tagged form from then on', async (t) => {
    const { srv, judge, cache } = await setup(t);
    srv.setHandler((req) => {
      if (req.json.response_format) return { status: 400, body: { error: { message: "response_format 'json_schema' is not supported by this server", type: 'invalid_request_error' } } };
      return { text: 'Looks right.\n<answer>1</answer>' };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache });
    assert.equal(set.total, 1);
    const tagged = srv.chatRequests().filter((r) => !r.json.response_format);
    assert.equal(tagged.length, 4);
    for (const r of tagged) assert.match(r.json.messages[0].content, /<answer>1<\/answer> for pass/);
    const before = srv.chatRequests().length;
    await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY.replace('Answer "yes" or "no".', 'Answer yes or no.'), judge, runner, cache });
    const later = srv.chatRequests().slice(before);
    assert.ok(later.length > 0 && later.every((r) => !r.json.response_format), 'no more json_schema attempts');
  });
});

describe('judge failures', () => {
  test('429 after retries and a timeout both give the error state with the reason', async (t) => {
    const { srv, judge, cache } = await setup(t, { maxRetries: 1 });
    srv.setHandler((req) => {
      const j = judgeOf(req);
      if (j === 'spatial') return { status: 429, headers: { 'retry-after': '0' } };
      if (j === 'attribute') return { hang: true };
      return { text: jsonVerdict(1) };
    });
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, judgeTimeoutMs: 1500 });
    const sp = verdict(set, 'spatial');
    assert.equal(sp.state, 'error');
    assert.match(sp.error ?? '', /rate_limit 429/);
    assert.equal(srv.chatRequests().filter((r) => judgeOf(r) === 'spatial').length, 2, 'retried once');
    const at = verdict(set, 'attribute');
    assert.equal(at.state, 'error');
    assert.match(at.error ?? '', /timeout/);
    assert.equal(set.total, null);
    assert.equal(set.incomplete, true);
    assert.equal(value(set, 'logic'), 1);
  });

  test('a judge with weight 0 may fail without making the total incomplete', async (t) => {
    const { srv, judge, cache } = await setup(t);
    srv.setHandler((req) => (judgeOf(req) === 'attribute' ? { status: 500 } : { text: jsonVerdict(1) }));
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, weights: { attribute: 0, logic: 0.5 } });
    assert.equal(verdict(set, 'attribute').state, 'error');
    assert.equal(set.incomplete, false);
    assert.equal(set.total, 1);
  });
});

describe('rule-based verdicts', () => {
  test('a reply without tags: format 0, total 0, no judge called for the missing plan', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const set = await scoreReply({ query: GOOD_QUERY, reply: 'The mug is on the left, so the answer is yes.', judge, runner, cache });
    assert.equal(value(set, 'format'), 0);
    assert.equal(verdict(set, 'format').judge, 'parser');
    assert.equal(set.total, 0);
    assert.equal(set.incomplete, false);
    assert.equal(srv.chatRequests().length, 0);
    // The format gate is 0: the judges are skipped (not 0, not an error), as VALOR's code skips them.
    for (const r of ['spatial', 'attribute', 'logic', 'adherence']) {
      assert.equal(verdict(set, r).judge, 'gate');
      assert.equal(verdict(set, r).state, 'skipped');
      assert.equal(value(set, r), null);
    }
    assert.equal(value(set, 'syntax'), 0);
    // Asked to judge anyway (an audit): the missing plan is still 0 by rule, without a call.
    const audited = await scoreReply({ query: GOOD_QUERY, reply: 'The mug is on the left, so the answer is yes.', judge, runner, cache, judgeWhenGated: true });
    assert.equal(srv.chatRequests().length, 0);
    for (const r of ['spatial', 'attribute', 'logic', 'adherence']) assert.equal(verdict(audited, r).judge, 'rule');
    assert.equal(audited.total, 0);
  });

  test('format gate: a plan without <answer> makes no judge call by default; --judge-gated judges the plan', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const reply = GOOD_REPLY.slice(0, GOOD_REPLY.indexOf('<answer>'));
    const gated = await scoreReply({ query: GOOD_QUERY, reply, judge, runner, cache });
    assert.equal(value(gated, 'format'), 0);
    assert.equal(srv.chatRequests().length, 0);
    assert.equal(gated.total, 0);
    assert.equal(gated.incomplete, false);
    const judged = await scoreReply({ query: GOOD_QUERY, reply, judge, runner, cache, judgeWhenGated: true });
    const asked = srv.chatRequests().map((r) => judgeOf(r)).sort();
    assert.deepEqual(asked, ['attribute', 'logic', 'spatial']);
    assert.equal(verdict(judged, 'spatial').state, 'pass');
    assert.equal(verdict(judged, 'adherence').judge, 'rule');
    assert.equal(judged.total, 0);
  });

  test("total rule: a repeated <plan> (format 0.5) halves the total by default, and counts as 1 under VALOR's gate rule", async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const plan = GOOD_REPLY.slice(GOOD_REPLY.indexOf('<plan>'), GOOD_REPLY.indexOf('</plan>') + '</plan>'.length);
    const reply = `${plan}\n${GOOD_REPLY}`;
    const product = await scoreReply({ query: GOOD_QUERY, reply, judge, runner, cache });
    assert.equal(value(product, 'format'), 0.5);
    assert.equal(product.total_rule, 'product');
    const gate = await scoreReply({ query: GOOD_QUERY, reply, judge, runner, cache, totalRule: 'gate' });
    assert.equal(gate.total_rule, 'gate');
    assert.ok(gate.total !== null && product.total !== null);
    assert.ok(gate.total > 0);
    assert.equal(product.total, gate.total / 2);
  });

  test('a looping plan is degenerate: 0 by rule; the program still gets its syntax run', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const junk = Array.from({ length: 12 }, () => '1. Detect the mug.').join('\n');
    const reply = `<plan>\n${junk}\n</plan>\n<answer>\nfinal_answer = "yes"\n</answer>`;
    const set = await scoreReply({ query: GOOD_QUERY, reply, judge, runner, cache });
    assert.equal(srv.chatRequests().length, 0);
    assert.match(verdict(set, 'logic').rationale, /repeats one line 12 times/);
    assert.equal(value(set, 'syntax'), 1);
    assert.equal(set.total, 0.1);
  });

  test('syntax: a never-ending program, a reassigned img_pth and an exception each score 0 with the reason', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const wrap = (code: string) => `<plan>\n1. Detect the mug with gd_detect.\n2. Answer.\n</plan>\n<answer>\n${code}\n</answer>`;
    const [loop, reassign, boom] = await Promise.all([
      scoreReply({ query: GOOD_QUERY, reply: wrap('while True:\n    pass'), judge, runner, cache, syntaxTimeoutMs: 1500 }),
      scoreReply({ query: GOOD_QUERY, reply: wrap('img_pth = "other.jpg"\nfinal_answer = "yes"'), judge, runner, cache }),
      scoreReply({ query: GOOD_QUERY, reply: wrap('mugs = gd_detect(img_pth, "mug")\nd = depth(img_pth, mugs)\nfinal_answer = d'), judge, runner, cache }),
    ]);
    assert.equal(verdict(loop, 'syntax').state, 'fail');
    assert.match(verdict(loop, 'syntax').rationale, /Timeout/);
    assert.equal(verdict(reassign, 'syntax').state, 'fail');
    assert.match(verdict(reassign, 'syntax').rationale, /img_pth/);
    assert.equal(verdict(reassign, 'syntax').line, 1);
    const b = verdict(boom, 'syntax');
    assert.equal(b.state, 'fail');
    assert.equal(b.line, 2);
    assert.match(b.rationale, /line 2/);
    assert.match(b.rationale, /bbox must be a list of 4 numbers/);
  });
});

describe('overrides, vision judge, batches', () => {
  test('the latest human override replaces the verdict and the total is recomputed', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv, { logic: 0 });
    const subject = rewardSubject(GOOD_QUERY, GOOD_REPLY);
    const mk = (value: number, note: string): Override => ({ kind: 'reward', subject, target: 'logic', value, machine_value: 0, note, at: new Date().toISOString() });
    const other: Override = { ...mk(0, 'someone else'), subject: 'elsewhere' };
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, overrides: [mk(0, 'first look'), other, mk(1, 'the fallback is in step 2')] });
    assert.equal(value(set, 'logic'), 1);
    assert.equal(verdict(set, 'logic').state, 'pass');
    assert.equal(set.overridden?.logic?.note, 'the fallback is in step 2');
    assert.equal(set.total, 1);
    assert.deepEqual(Object.keys(set.overridden ?? {}), ['logic']);
  });

  test('the optional vision judge also sends the image and says so', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv);
    const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, visionJudge: true, imagePath: 'test/fixtures/images/scene-320x240.png' });
    for (const r of srv.chatRequests()) {
      const content = r.json.messages[1].content as Array<{ type: string; image_url?: { url: string } }>;
      assert.ok(Array.isArray(content));
      assert.match(content[1]?.image_url?.url ?? '', /^data:image\/jpeg;base64,\/9j\//);
    }
    for (const r of ['spatial', 'attribute', 'logic', 'adherence']) assert.equal(verdict(set, r).saw_image, true);
  });

  test('a vision verdict for one image is not reused for another image', async (t) => {
    const { srv, judge, cache } = await setup(t);
    // The judges pass the reply on the 320×240 scene (the image of the first round) and fail it on any other.
    const smallUrls = new Set<string>();
    let round = 'small';
    srv.setHandler((req) => {
      const content = req.json.messages[1].content as Array<{ type: string; image_url?: { url: string } }>;
      const url = content[1]?.image_url?.url ?? '';
      if (round === 'small') smallUrls.add(url);
      return { text: jsonVerdict(smallUrls.has(url) ? 1 : 0, 'per image') };
    });
    const small = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, visionJudge: true, imagePath: 'test/fixtures/images/scene-320x240.png' });
    assert.equal(srv.chatRequests().length, 4);
    assert.equal(smallUrls.size, 1, 'one image, one data URL');
    round = 'big';
    const big = 'test/fixtures/images/scene-640x480.jpg';
    const other = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, visionJudge: true, imagePath: big });
    assert.equal(srv.chatRequests().length, 8, 'the second image is judged afresh');
    for (const r of ['spatial', 'attribute', 'logic', 'adherence']) {
      assert.equal(value(small, r), 1, r);
      assert.equal(value(other, r), 0, `${r} on the other image`);
    }
    const again = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache, visionJudge: true, imagePath: big });
    assert.equal(srv.chatRequests().length, 8, 'the same image again comes from the cache');
    assert.equal(value(again, 'logic'), 0);
  });

  test('a batch keeps input order and judges identical replies once', async (t) => {
    const { srv, judge, cache } = await setup(t);
    byJudge(srv, {}, 20);
    const items = [
      { query: GOOD_QUERY, reply: GOOD_REPLY },
      { query: GOOD_QUERY, reply: 'no tags' },
      { query: GOOD_QUERY, reply: GOOD_REPLY },
    ];
    const got: number[] = [];
    const res = await scoreBatch(items, { judge, runner, cache, concurrency: 2, onResult: (i) => got.push(i) });
    assert.deepEqual(res.map((r) => r.total), [1, 0, 1]);
    assert.deepEqual(got.sort(), [0, 1, 2]);
    assert.equal(srv.chatRequests().length, 4);
  });
});
