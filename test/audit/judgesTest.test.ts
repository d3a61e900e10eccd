// `valor judges test` against the scripted OpenAI-compatible endpoint: scripted to give the
// correct verdict on most cases, a wrong one on two, and to fail on one; the report must count
// exactly that, per reward, and name the failed cases.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { judgesTestCommand } from '../../src/cli/commands/judgesTest.js';
import type { JudgeTestReport } from '../../src/core/audit/judgeTest.js';
import { JUDGE_TEST_SET } from '../../src/core/audit/judgeTestSet.js';
import { programWithLineNumbers } from '../../src/core/rewards/cites.js';
import { cliIO } from '../helpers/cliIO.js';
import { judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { lastUserText, startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';

describe('valor judges test', () => {
  let srv: OpenAIServer;
  let work: string;
  let env: Record<string, string>;
  before(async () => {
    srv = await startOpenAIServer();
    work = mkdtempSync(join(tmpdir(), 'valor-judges-test-'));
    env = { VALOR_JUDGE_BASE_URL: srv.url, VALOR_JUDGE_MODEL: 'small-judge', VALOR_NO_CACHE: '1' };
    srv.setHandler((req) => {
      const reward = judgeOf(req);
      const text = lastUserText(req);
      const c = JUDGE_TEST_SET.find((k) => text.includes(k.plan.trim()) && (reward !== 'adherence' || text.includes(programWithLineNumbers(k.program.trim()))));
      if (!reward || !c) return { status: 400, body: { error: { message: 'test endpoint: unknown material' } } };
      const right = c.expect[reward] ?? 1;
      if (c.id === 'relation-in-detector-prompt' && reward === 'spatial') return { text: jsonVerdict(1, 'the detector finds the lamp left of the sofa') };
      if (c.id === 'hard-coded-answer' && reward === 'adherence') return { text: jsonVerdict(1, 'the program calls the detector as planned') };
      if (c.id === 'asserted-height' && reward === 'attribute') return { status: 400, body: { error: { message: 'context length exceeded' } } };
      return { text: jsonVerdict(right, 'as the rubric says') };
    });
  });
  after(async () => {
    await srv.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('accuracy per reward and the failed cases, in JSON', async () => {
    const io = cliIO(env, work);
    assert.equal(await judgesTestCommand.run(['--json'], io), 1, 'below 100% on some reward: exit 1');
    const r = JSON.parse(io.out.text) as JudgeTestReport;
    assert.equal(r.judge.model, 'small-judge');
    assert.deepEqual(r.rewards.spatial, { cases: 8, correct: 7, wrong: 1, errors: 0, accuracy: 7 / 8 });
    assert.deepEqual(r.rewards.attribute, { cases: 6, correct: 5, wrong: 0, errors: 1, accuracy: 5 / 6 });
    assert.deepEqual(r.rewards.logic, { cases: 8, correct: 8, wrong: 0, errors: 0, accuracy: 1 });
    assert.deepEqual(r.rewards.adherence, { cases: 10, correct: 9, wrong: 1, errors: 0, accuracy: 9 / 10 });
    assert.deepEqual(r.overall, { cases: 32, correct: 29, wrong: 2, errors: 1, accuracy: 29 / 32 });
    assert.deepEqual(
      r.failed.map((f) => `${f.case}/${f.reward}:${f.got}`).sort(),
      ['asserted-height/attribute:null', 'hard-coded-answer/adherence:1', 'relation-in-detector-prompt/spatial:1'],
    );
    assert.match(r.failed.find((f) => f.got === null)?.error ?? '', /context length exceeded/);
  });

  test('the text report names each failed case; --reward and --min-accuracy', async () => {
    const io = cliIO(env, work);
    assert.equal(await judgesTestCommand.run([], io), 1);
    assert.match(io.out.text, /^ {2}spatial +8 +7 +1 +0 +87\.5%$/m);
    assert.match(io.out.text, /^ {2}all +32 +29 +2 +1 +90\.6%$/m);
    assert.match(io.out.text, /relation-in-detector-prompt \/ spatial \(.*\): said 1, correct is 0: the detector finds/);
    assert.match(io.out.text, /asserted-height \/ attribute \(.*\): ERROR: .*context length exceeded/);
    const logic = cliIO(env, work);
    assert.equal(await judgesTestCommand.run(['--reward', 'logic'], logic), 0, 'logic alone is all correct');
    assert.doesNotMatch(logic.out.text, /spatial/);
    const lenient = cliIO(env, work);
    assert.equal(await judgesTestCommand.run(['--min-accuracy', '0.8'], lenient), 0);
    await assert.rejects(judgesTestCommand.run(['--reward', 'format'], cliIO(env, work)), /the judged rewards are/);
    await assert.rejects(judgesTestCommand.run([], cliIO({}, work)), /VALOR_JUDGE_BASE_URL/);
  });

  test('every case of the set has a verdict to test and distinct ids', () => {
    const ids = new Set(JUDGE_TEST_SET.map((c) => c.id));
    assert.equal(ids.size, JUDGE_TEST_SET.length);
    for (const c of JUDGE_TEST_SET) assert.ok(Object.keys(c.expect).length > 0, c.id);
    // both kinds of verdict are tested for every reward
    for (const r of ['spatial', 'attribute', 'logic', 'adherence'] as const) {
      const vals = new Set(JUDGE_TEST_SET.map((c) => c.expect[r]).filter((v) => v !== undefined));
      assert.deepEqual([...vals].sort(), [0, 1], r);
    }
  });
});
