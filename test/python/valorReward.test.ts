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
    const child = spawn('python3', ['-c', `import sys, json\nsys.path.insert(0, ${JSON.stringify(PYTHON_DIR)})\nimport valor_reward\n${code}`], {
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
print(json.dumps({"one": one, "batch": batch}))`,
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { one: Record<string, number>; batch: Array<Record<string, number>> };
    assert.deepEqual(out.one, { format: 1, syntax: 1, spatial: 0, attribute: 1, logic: 1, adherence: 1, score: 0.8, incomplete: 0 });
    assert.deepEqual(out.batch.map((b) => b.score), [0.8, 0, 0.8]);
    assert.equal(out.batch[1]!.format, 0);
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
    const call = `print(json.dumps(valor_reward.compute_score("valor", ${JSON.stringify(GOOD_REPLY)}, "", {"query": ${JSON.stringify(GOOD_QUERY)}})))`;
    const raised = await python(call, env);
    assert.notEqual(raised.code, 0);
    assert.match(raised.stderr, /ValorRewardError: the total reward is incomplete because a judge failed \(logic: .*model overloaded for logic/);
    const zero = await python(call, { ...env, VALOR_REWARD_ON_ERROR: 'zero' });
    assert.equal(zero.code, 0, zero.stderr);
    const z = JSON.parse(zero.stdout) as Record<string, number>;
    assert.equal(z.score, 0);
    assert.equal(z.incomplete, 1);
    assert.equal(z.logic, -1);
    assert.equal(z.spatial, 1);
    const noQuery = await python(`valor_reward.compute_score("valor", "x", "", {"index": 3})`, env);
    assert.match(noQuery.stderr, /extra_info has no 'query'/);
    const badToken = await python(call, { ...env, VALOR_REWARD_TOKEN: 'nope' });
    assert.match(badToken.stderr, /answered 401/);
    const noUrl = await python(call, {});
    assert.match(noUrl.stderr, /VALOR_REWARD_URL is not set/);
  });

  test('an unreachable service is retried, then reported', async () => {
    const r = await python(`valor_reward.compute_score("valor", "x", "", {"query": "q"})`, { VALOR_REWARD_URL: 'http://127.0.0.1:9', VALOR_REWARD_TIMEOUT: '5' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /could not reach the reward service at http:\/\/127\.0\.0\.1:9 after 3 attempts/);
  });
});

