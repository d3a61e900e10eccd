// The reward service over real HTTP: auth, validation, batch scoring with the six rewards,
// bounded concurrency, caching, and overrides from the audit log.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { appendOverride, rewardSubject } from '../../src/core/audit.js';
import { RewardResponse, parseRewardReadyLine, rewardReadyLine } from '../../src/protocol/reward.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { postReward, startRewardService } from '../helpers/rewardService.js';

describe('reward service', () => {
  test('bearer token required; unknown routes and bad bodies are named', async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    assert.equal((await postReward(f.service, { items: [] }, null)).status, 401);
    assert.equal((await postReward(f.service, { items: [] }, 'wrong')).status, 401);
    const empty = await postReward(f.service, { items: [] });
    assert.equal(empty.status, 400);
    assert.match(empty.json.error.message, /items/);
    const noQuery = await postReward(f.service, { items: [{ reply: 'x' }] });
    assert.equal(noQuery.status, 400);
    assert.match(noQuery.json.error.message, /items\.0\.query/);
    const badJson = await postReward(f.service, '{not json');
    assert.equal(badJson.json.error.code, 'invalid_json');
    const badWeights = await postReward(f.service, { items: [{ query: 'q', reply: 'r' }], weights: { logic: 0.9 } });
    assert.equal(badWeights.status, 400);
    assert.match(badWeights.json.error.message, /sum to 1/);
    const res = await fetch(`${f.service.url}/v1/nope`, { headers: { authorization: `Bearer ${f.service.token}` } });
    assert.equal(res.status, 404);
    const health = await (await fetch(`${f.service.url}/v1/health`, { headers: { authorization: `Bearer ${f.service.token}` } })).json();
    assert.equal(health.status, 'ok');
    assert.equal(health.judge.model, 'judge-m');
    assert.equal(f.judgeServer.chatRequests().length, 0);
  });

  test('scores a batch with the six rewards; a failed judge is reported, not zeroed; results keep order and ids', async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    const failing = GOOD_REPLY.replace('Answer "yes" or "no".', 'Answer with yes or no only.');
    f.judgeServer.setHandler((req) => {
      const text = JSON.stringify(req.json.messages);
      if (judgeOf(req) === 'spatial' && text.includes('yes or no only')) return { status: 400, body: { error: { message: 'context too long' } } };
      return { text: jsonVerdict(judgeOf(req) === 'attribute' ? 0 : 1) };
    });
    const r = await postReward(f.service, {
      items: [
        { query: GOOD_QUERY, reply: GOOD_REPLY, id: 'a' },
        { query: GOOD_QUERY, reply: 'no tags at all', id: 7 },
        { query: GOOD_QUERY, reply: failing, id: 'c' },
      ],
    });
    assert.equal(r.status, 200);
    const body = RewardResponse.parse(r.json);
    assert.equal(body.judge_model, 'judge-m');
    const [a, b, c] = body.results;
    assert.equal(a!.id, 'a');
    assert.deepEqual(a!.rewards, { format: 1, syntax: 1, spatial: 1, attribute: 0, logic: 1, adherence: 1 });
    assert.equal(a!.total, 0.8);
    assert.equal(a!.incomplete, false);
    assert.equal(a!.subject, rewardSubject(GOOD_QUERY, GOOD_REPLY));
    assert.equal(a!.verdicts, undefined, 'verdicts only when verbose');
    assert.equal(b!.id, 7);
    assert.equal(b!.total, 0);
    assert.equal(b!.rewards.format, 0);
    assert.equal(c!.total, null);
    assert.equal(c!.incomplete, true);
    assert.equal(c!.rewards.spatial, null);
    assert.match(c!.errors.spatial ?? '', /context too long/);
    const verbose = await postReward(f.service, { items: [{ query: GOOD_QUERY, reply: GOOD_REPLY }], verbose: true });
    assert.equal(verbose.json.results[0].verdicts.length, 6);
    assert.ok(verbose.json.results[0].verdicts.find((v: { reward: string }) => v.reward === 'logic').prompt);
  });

  test('identical rollouts are judged once (cache across requests)', async (t) => {
    const f = await startRewardService();
    t.after(() => f.close());
    f.judgeServer.setHandler(() => ({ text: jsonVerdict(1) }));
    const items = Array.from({ length: 5 }, () => ({ query: GOOD_QUERY, reply: GOOD_REPLY }));
    const first = await postReward(f.service, { items });
    assert.deepEqual(first.json.results.map((x: { total: number }) => x.total), [1, 1, 1, 1, 1]);
    assert.equal(f.judgeServer.chatRequests().length, 4);
    await postReward(f.service, { items });
    assert.equal(f.judgeServer.chatRequests().length, 4);
  });

  test('at most `concurrency` replies are scored at once', async (t) => {
    const f = await startRewardService({ concurrency: 2 });
    t.after(() => f.close());
    let inFlight = 0;
    let peak = 0;
    f.judgeServer.setHandler(async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 40));
      inFlight--;
      return { text: jsonVerdict(1) };
    });
    // Distinct programs too: adherence sees plan + program only, so equal programs would share a verdict.
    const items = Array.from({ length: 6 }, (_, i) => ({ query: `${GOOD_QUERY} (${i})`, reply: GOOD_REPLY.replace('dets = gd_detect', `# variant ${i}\ndets = gd_detect`) }));
    const r = await postReward(f.service, { items });
    assert.equal(r.status, 200);
    assert.equal(f.judgeServer.chatRequests().length, 24);
    assert.ok(peak <= 8, `at most 2 replies x 4 judges in flight, saw ${peak}`);
    assert.ok(peak >= 4, `the four judges of a reply run together, saw ${peak}`);
  });

  test('overrides in the audit log apply, and a new override is picked up without a restart', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'valor-reward-audit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const auditPath = join(dir, 'audits.jsonl');
    const f = await startRewardService({ auditPath });
    t.after(() => f.close());
    f.judgeServer.setHandler((req) => ({ text: jsonVerdict(judgeOf(req) === 'logic' ? 0 : 1) }));
    const before = await postReward(f.service, { items: [{ query: GOOD_QUERY, reply: GOOD_REPLY }] });
    assert.equal(before.json.results[0].total, 0.7);
    await appendOverride(auditPath, { kind: 'reward', subject: rewardSubject(GOOD_QUERY, GOOD_REPLY), target: 'logic', value: 1, machine_value: 0, note: 'fallback present', at: new Date().toISOString() });
    const afterOverride = await postReward(f.service, { items: [{ query: GOOD_QUERY, reply: GOOD_REPLY }] });
    assert.equal(afterOverride.json.results[0].total, 1);
    assert.deepEqual(afterOverride.json.results[0].overridden, ['logic']);
  });

  test('the ready line round-trips', () => {
    assert.deepEqual(parseRewardReadyLine(rewardReadyLine('http://127.0.0.1:5', 'tok', 'm')), { url: 'http://127.0.0.1:5', token: 'tok', judge: 'm' });
  });
});
