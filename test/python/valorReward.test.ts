// python/valor_reward.py end to end: a real python3 child imports the module and calls
// compute_score / compute_score_batch the way verl's reward managers do, against a running
// reward service (which judges through the OpenAI-compatible test server).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { startRewardService } from '../helpers/rewardService.js';

const PYTHON_DIR = resolve(__dirname, '..', '..', 'python');

/** Runs `code` in python3 with valor_reward importable; resolves with stdout, stderr and exit code (async: the service lives in this process). */
function python(code: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const prelude = `import sys, json, math\nsys.path.insert(0, ${JSON.stringify(PYTHON_DIR)})\nimport valor_reward\ndef clean(d):\n    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}\n`;
    const child = spawn('python3', ['-c', `${prelude}${code}`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', rej);
    child.on('close', (c) => {
      clearTimeout(timer);
      res({ code: c, stdout, stderr });
    });
  });
}

describe('valor_reward.py', () => {
  test('compute_score and compute_score_batch return the total and the six components', async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    f.judgeServer.setHandler((req) => ({ text: jsonVerdict(judgeOf(req) === 'spatial' ? 0 : 1) }));
    const env = { VALOR_REWARD_URL: f.service.url, VALOR_REWARD_TOKEN: f.service.token };
    const extra = { index: 0, split: 'train', query: GOOD_QUERY };
    const r = await python(
      `one = valor_reward.compute_score("valor", ${JSON.stringify(GOOD_REPLY)}, "", extra_info=${JSON.stringify(extra)})
batch = valor_reward.compute_score_batch(
    data_sources=["valor", "valor", "valor"],
    solution_strs=[${JSON.stringify(GOOD_REPLY)}, "no tags", ${JSON.stringify(GOOD_REPLY)}],
    ground_truths=["", "", ""],
    extra_infos=[${JSON.stringify(extra)}, {"problem": "How many?"}, ${JSON.stringify(extra)}],
)
print(json.dumps({"one": clean(one), "batch": [clean(b) for b in batch]}))`,
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { one: Record<string, number>; batch: Array<Record<string, number>> };
    assert.deepEqual(out.one, { format: 1, syntax: 1, spatial: 0, attribute: 1, logic: 1, adherence: 1, score: 0.8, judge_failed: 0, format_gated: 0 });
    assert.deepEqual(out.batch.map((b) => b.score), [0.8, 0, 0.8]);
    // No tags: the format gate is 0, no judge is called, the components are 0 and the gate is counted.
    assert.deepEqual(out.batch[1], { format: 0, syntax: 0, spatial: 0, attribute: 0, logic: 0, adherence: 0, score: 0, judge_failed: 0, format_gated: 1 });
    // Each distinct rollout was judged once, whichever entry point asked.
    assert.equal(f.judgeServer.chatRequests().length, 4);
    const sent = f.judgeServer.chatRequests().map((q) => JSON.stringify(q.json.messages));
    assert.ok(sent.some((s) => s.includes(GOOD_QUERY)), 'the query came from extra_info');
  });

  test('a failed judge raises by default, or scores 0 marked incomplete when asked; no query is an error', async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    f.judgeServer.setHandler((req) => (judgeOf(req) === 'logic' ? { status: 400, body: { error: { message: 'model overloaded for logic' } } } : { text: jsonVerdict(1) }));
    const env = { VALOR_REWARD_URL: f.service.url, VALOR_REWARD_TOKEN: f.service.token };
    const call = `print(json.dumps(clean(valor_reward.compute_score("valor", ${JSON.stringify(GOOD_REPLY)}, "", {"query": ${JSON.stringify(GOOD_QUERY)}}))))`;
    const raised = await python(call, env);
    assert.notEqual(raised.code, 0);
    assert.match(raised.stderr, /ValorRewardError: the total reward is incomplete because a judge failed \(logic: .*model overloaded for logic/);
    const zero = await python(call, { ...env, VALOR_REWARD_ON_ERROR: 'zero' });
    assert.equal(zero.code, 0, zero.stderr);
    const z = JSON.parse(zero.stdout) as Record<string, number | null>;
    assert.equal(z.score, 0);
    assert.equal(z.judge_failed, 1);
    // The failed judge is NaN (unknown), never a value that would be averaged as a score.
    assert.equal(z.logic, null);
    assert.equal(z.spatial, 1);
    const drop = await python(call, { ...env, VALOR_REWARD_ON_ERROR: 'drop' });
    assert.match(drop.stderr, /drop needs the whole group of rollouts: use reward_model\.reward_manager=batch/);
    const noQuery = await python(`valor_reward.compute_score("valor", "x", "", {"index": 3})`, env);
    assert.match(noQuery.stderr, /extra_info has no 'query'/);
    const badToken = await python(call, { ...env, VALOR_REWARD_TOKEN: 'nope' });
    assert.match(badToken.stderr, /ValorRewardSetupError: the reward service at .* refused the token \(HTTP 401.*set VALOR_REWARD_TOKEN/);
    const noUrl = await python(call, {});
    assert.match(noUrl.stderr, /VALOR_REWARD_URL is not set/);
  });

  test('an unreachable service is retried, then reported', async () => {
    const r = await python(`valor_reward.compute_score("valor", "x", "", {"query": "q"})`, { VALOR_REWARD_URL: 'http://127.0.0.1:9', VALOR_REWARD_TIMEOUT: '5' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /could not reach the reward service at http:\/\/127\.0\.0\.1:9 after 3 attempts/);
  });

  test("verl's retry after an exception gets the same error at once: one batch attempt, not two", async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    f.judgeServer.setHandler((req) => (judgeOf(req) === 'logic' ? { status: 400, body: { error: { message: 'logic judge down' } } } : { text: jsonVerdict(1) }));
    const env = { VALOR_REWARD_URL: f.service.url, VALOR_REWARD_TOKEN: f.service.token };
    // What verl's compute_reward does: call, print the error, call again with the same batch.
    const verlLike = `
def manager():
    return valor_reward.compute_score_batch(data_sources=["valor"] * 2, solution_strs=[${JSON.stringify(GOOD_REPLY)}] * 2, ground_truths=["", ""], extra_infos=[{"query": ${JSON.stringify(GOOD_QUERY)}, "index": 0}] * 2)
errors = []
for _ in range(2):
    try:
        manager()
    except Exception as e:
        errors.append(type(e).__name__ + ": " + str(e))
print(json.dumps(errors))`;
    const r = await python(verlLike, env);
    assert.equal(r.code, 0, r.stderr);
    const errors = JSON.parse(r.stdout) as string[];
    assert.equal(errors.length, 2);
    assert.equal(errors[0], errors[1]);
    assert.match(errors[0]!, /2 of 2 rollouts have no total reward because a judge failed \(first: logic: .*logic judge down.*VALOR_REWARD_ON_ERROR=drop or zero/);
    // Identical rollouts share verdicts, and the logic judge (errors are not cached) was asked
    // once: the second call sent nothing.
    const logicCalls = f.judgeServer.chatRequests().filter((q) => judgeOf(q) === 'logic').length;
    assert.equal(logicCalls, 1);
  });

  test('a setup error is raised once per identical call too (an unreachable service is not asked twice)', async (t) => {
    const { createServer } = await import('node:http');
    let hits = 0;
    const srv = createServer((_req, res) => {
      hits++;
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'busy' } }));
    });
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    t.after(() => new Promise<void>((ok) => srv.close(() => ok())));
    const port = (srv.address() as { port: number }).port;
    const code = `
errors = []
for _ in range(2):
    try:
        valor_reward.compute_score("valor", "x", "", {"query": "q"})
    except valor_reward.ValorRewardSetupError as e:
        errors.append(str(e))
print(json.dumps(errors))`;
    const r = await python(code, { VALOR_REWARD_URL: `http://127.0.0.1:${port}` });
    assert.equal(r.code, 0, r.stderr);
    const errors = JSON.parse(r.stdout) as string[];
    assert.equal(errors.length, 2);
    assert.match(errors[0]!, /after 3 attempts \(HTTP 503: busy\): start `valor serve-rewards`/);
    assert.equal(hits, 3);
  });

  test("drop: a rollout whose judge failed scores its group's mean (GRPO advantage 0); the failure rate is in judge_failed", async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    const BAD = GOOD_REPLY.replace('laptop', 'notebook');
    f.judgeServer.setHandler((req) => {
      const j = judgeOf(req);
      const sent = JSON.stringify(req.json.messages);
      if (j === 'logic' && sent.includes('notebook')) return { status: 400, body: { error: { message: 'no' } } };
      if (j === 'spatial' && sent.includes('Is the cup')) return { text: jsonVerdict(0) };
      return { text: jsonVerdict(1) };
    });
    const env = { VALOR_REWARD_URL: f.service.url, VALOR_REWARD_TOKEN: f.service.token, VALOR_REWARD_ON_ERROR: 'drop' };
    const a = { query: GOOD_QUERY, index: 0 };
    const b = { query: 'Is the cup left of the plate?', index: 1 };
    const code = `
out = valor_reward.compute_score_batch(data_sources=["valor"] * 5,
    solution_strs=[${JSON.stringify(GOOD_REPLY)}, ${JSON.stringify(BAD)}, "no tags", ${JSON.stringify(GOOD_REPLY)}, ${JSON.stringify(BAD)}],
    ground_truths=[""] * 5,
    extra_infos=[${JSON.stringify(a)}, ${JSON.stringify(a)}, ${JSON.stringify(a)}, ${JSON.stringify(b)}, ${JSON.stringify(b)}])
print(json.dumps([clean(o) for o in out]))`;
    const r = await python(code, env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Array<Record<string, number | null>>;
    assert.deepEqual(out.map((o) => o.judge_failed), [0, 1, 0, 0, 1]);
    // Group a: 1.0 and 0 (no tags) known, so the failed one gets 0.5; group b: 0.8 known.
    assert.deepEqual(out.map((o) => o.score), [1, 0.5, 0, 0.8, 0.8]);
    assert.equal(out[1]!.logic, null);
  });
});
