// Re-judging one reward (src/core/workflows/rejudgeReward.ts): the real language-model client
// against the local OpenAI-compatible test server (real HTTP), the real program runner (python3)
// for syntax. The set to start from is scored the ordinary way first.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rewardSubject } from '../../src/core/audit.js';
import { createChatClient } from '../../src/core/llmClient.js';
import { createVerdictCache } from '../../src/core/rewards/judge.js';
import { scoreReply } from '../../src/core/rewards/score.js';
import { storedRewardSet } from '../../src/core/rewards/storedRewardSet.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { parseVprog } from '../../src/core/vprog.js';
import { RejudgeError, rejudgeReward } from '../../src/core/workflows/rejudgeReward.js';
import type { Override } from '../../src/protocol/run.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict, type JudgeName } from '../helpers/judgeReplies.js';
import { startOpenAIServer } from '../helpers/openaiServer.js';

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

async function scored(t: { after: (fn: () => unknown) => void }, scores: Partial<Record<JudgeName, number>>) {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  const judge = createChatClient({ baseUrl: srv.url, model: 'judge-m', cacheDir: false, maxRetries: 1, retryBaseMs: 5, retryMaxMs: 20 });
  let current = { ...scores };
  srv.setHandler((req) => {
    const j = judgeOf(req);
    return { text: jsonVerdict(j ? (current[j] ?? 1) : 1, `${j} verdict`) };
  });
  const set = await scoreReply({ query: GOOD_QUERY, reply: GOOD_REPLY, judge, runner, cache: createVerdictCache() });
  const parsed = parseVprog(GOOD_REPLY).parsed;
  return {
    srv,
    judge,
    set,
    parsed,
    answerWith: (next: Partial<Record<JudgeName, number>>) => {
      current = { ...current, ...next };
    },
  };
}

const value = (set: { verdicts: Array<{ reward: string; value: number | null }> }, r: string) => set.verdicts.find((v) => v.reward === r)?.value;

describe('rejudgeReward', () => {
  test('asks only that judge again, puts its verdict in place and recomputes the total', async (t) => {
    const s = await scored(t, { spatial: 0 });
    assert.equal(value(s.set, 'spatial'), 0);
    const before = s.set.total;
    assert.ok(before !== null);
    s.answerWith({ spatial: 1 });
    const asked = s.srv.chatRequests().length;
    const next = await rejudgeReward({
      set: storedRewardSet(s.set),
      subject: s.set.subject,
      reward: 'spatial',
      query: GOOD_QUERY,
      plan: s.parsed.plan,
      program: s.parsed.program,
      judge: async () => s.judge,
      runner: async () => runner,
      overrides: [],
    });
    const reqs = s.srv.chatRequests().slice(asked);
    assert.deepEqual(reqs.map(judgeOf), ['spatial'], 'one request, to the spatial judge');
    assert.equal(value(next, 'spatial'), 1);
    // Every other verdict is the one it had.
    for (const v of s.set.verdicts.filter((x) => x.reward !== 'spatial')) assert.deepEqual(next.verdicts.find((x) => x.reward === v.reward), v);
    // spatial weighs 0.2 under VALOR's weights: the total rises by exactly that.
    assert.equal(Math.round((next.total! - before) * 1000) / 1000, 0.2);
    assert.equal(next.incomplete, false);
  });

  test("re-applies the person's override of the same subject over the new verdict", async (t) => {
    const s = await scored(t, {});
    const subject = rewardSubject(GOOD_QUERY, GOOD_REPLY);
    const mine: Override = { kind: 'reward', subject, target: 'logic', value: 0, machine_value: 1, note: 'step 3 is wrong', at: '2026-01-01T00:00:00Z' };
    const other: Override = { ...mine, subject: 'another-subject', target: 'attribute' };
    const next = await rejudgeReward({
      set: storedRewardSet(s.set),
      subject,
      reward: 'logic',
      query: GOOD_QUERY,
      plan: s.parsed.plan,
      program: s.parsed.program,
      judge: async () => s.judge,
      runner: async () => runner,
      overrides: [mine, other],
    });
    assert.equal(value(next, 'logic'), 0, 'the override wins over the judge, which said 1');
    assert.equal(value(next, 'attribute'), 1, "another subject's override does not apply");
    assert.deepEqual(Object.keys(next.overridden ?? {}), ['logic']);
    // logic weighs 0.3: the total is 1 - 0.3.
    assert.equal(Math.round(next.total! * 1000) / 1000, 0.7);
  });

  test('syntax runs the program again (no judge asked); format is refused with a reason', async (t) => {
    const s = await scored(t, {});
    const asked = s.srv.chatRequests().length;
    let judgeAsked = false;
    const base = {
      set: storedRewardSet(s.set),
      subject: s.set.subject,
      query: GOOD_QUERY,
      plan: s.parsed.plan,
      judge: async () => {
        judgeAsked = true;
        return s.judge;
      },
      runner: async () => runner,
      overrides: [],
    };
    const broken = await rejudgeReward({ ...base, reward: 'syntax', program: 'x = (' });
    assert.equal(value(broken, 'syntax'), 0, 'a program that does not parse fails syntax');
    assert.equal(broken.verdicts.find((v) => v.reward === 'syntax')?.judge, 'runner');
    assert.equal(judgeAsked, false);
    assert.equal(s.srv.chatRequests().length, asked);
    await assert.rejects(rejudgeReward({ ...base, reward: 'format', program: s.parsed.program }), (e: unknown) => e instanceof RejudgeError && /comes from the parser/.test(e.message));
  });
});
