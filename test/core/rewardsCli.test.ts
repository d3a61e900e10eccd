// `valor score`, `valor audit override` and `valor audit stats` as commands (in process), with the
// judges behind the OpenAI-compatible test server and the real runner for syntax.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { auditOverrideCommand, auditStatsCommand } from '../../src/cli/commands/audit.js';
import { scoreCommand } from '../../src/cli/commands/score.js';
import { printHuman } from '../../src/cli/commands/run.js';
import type { RunRecord } from '../../src/protocol/run.js';
import { cliIO } from '../helpers/cliIO.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';

describe('valor score / audit', () => {
  let srv: OpenAIServer;
  let work: string;
  let env: Record<string, string>;
  before(async () => {
    srv = await startOpenAIServer();
    work = mkdtempSync(join(tmpdir(), 'valor-score-cli-'));
    env = { VALOR_JUDGE_BASE_URL: srv.url, VALOR_JUDGE_MODEL: 'judge-m', VALOR_NO_CACHE: '1' };
    writeFileSync(join(work, 'mug.vprog'), `# image: scene.jpg\n# query: ${GOOD_QUERY}\n\n${GOOD_REPLY}\n`);
  });
  after(async () => {
    await srv.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('prints each verdict with its rationale and the total; --json has the full verdicts', async () => {
    srv.setHandler((req) => ({ text: jsonVerdict(judgeOf(req) === 'attribute' ? 0 : 1, `${judgeOf(req)}: decisive point`) }));
    const io = cliIO(env, work);
    assert.equal(await scoreCommand.run(['mug.vprog'], io), 0, io.err.text);
    for (const r of ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence']) assert.match(io.out.text, new RegExp(`^  ${r} `, 'm'));
    assert.match(io.out.text, /attribute +0 +\[judge-m, [\d.]+ s\] attribute: decisive point/);
    assert.match(io.out.text, /^total: 0\.8 {2}format x \(0\.3 logic \+ 0\.1 syntax/m);
    const j = cliIO(env, work);
    assert.equal(await scoreCommand.run(['mug.vprog', '--json'], j), 0);
    const body = JSON.parse(j.out.text);
    assert.equal(body.total, 0.8);
    assert.equal(body.verdicts.length, 6);
    assert.equal(body.verdicts.find((v: { reward: string }) => v.reward === 'logic').prompt[0].role, 'system');
    assert.equal(body.image, join(work, 'scene.jpg'));
  });

  test('a failing verdict prints what it cites, program lines with their document lines', async () => {
    srv.setHandler((req) => {
      const j = judgeOf(req);
      if (j === 'adherence') return { text: JSON.stringify({ rationale: 'Line 8 reads the wrong box.', score: 0, cites: { plan_steps: [3], program_lines: [8, 99] } }) };
      // A passing verdict's cites are not printed.
      return { text: JSON.stringify({ rationale: `${j} fine`, score: 1, cites: { plan_steps: [1] } }) };
    });
    // Another plan wording (same lines), so no verdict of the earlier tests is cached for it.
    writeFileSync(join(work, 'cites.vprog'), `# image: scene.jpg\n# query: ${GOOD_QUERY} (cites)\n\n${GOOD_REPLY.replace('Answer "yes" or "no".', 'Answer yes or no, as asked.')}\n`);
    const io = cliIO(env, work);
    assert.equal(await scoreCommand.run(['cites.vprog'], io), 0, io.err.text);
    // The reply starts on document line 4; program line 1 is reply line 9, so program line 8 is document line 19.
    assert.match(io.out.text, /adherence +0 +\[judge-m[^\n]*Line 8 reads the wrong box\.\n +cites plan step 3; program line 8 \(document line 19\)\n/);
    assert.equal(io.out.text.match(/cites /g)?.length, 1, io.out.text);
    // valor run's printing of a scored record says the same, in program lines when there is no document.
    const out = { text: '', write(c: string) { this.text += c; return true; } };
    const verdicts = [{ reward: 'adherence', state: 'fail', value: 0, rationale: 'r', judge: 'j', cites: { plan_steps: [], program_lines: [2] } }];
    const record = { query: 'q', image: { path: 'i.png', sha256: 'x' }, format: { score: 1, diagnostics: [] }, plan: null, trace: [], error: null, final_answer: 1, rewards: { verdicts, total: 0.8, incomplete: false, weights: {} } };
    printHuman(record as unknown as RunRecord, null, out as unknown as NodeJS.WritableStream);
    assert.match(out.text, /^adherence judge: fail, cites program line 2$/m);
    printHuman({ ...record, program_document_line: 12 } as unknown as RunRecord, null, (out.text = '', out) as unknown as NodeJS.WritableStream);
    assert.match(out.text, /^adherence judge: fail, cites program line 2 \(document line 13\)$/m);
  });

  test('a failing judge: shown as ERROR, total incomplete, exit 1; no endpoint: exit 2', async () => {
    srv.setHandler((req) => (judgeOf(req) === 'logic' ? { status: 400, body: { error: { message: 'bad model for logic' } } } : { text: jsonVerdict(1) }));
    const io = cliIO(env, work);
    writeFileSync(join(work, 'other.vprog'), `# query: ${GOOD_QUERY} Really?\n\n${GOOD_REPLY}\n`);
    assert.equal(await scoreCommand.run(['other.vprog'], io), 1);
    assert.match(io.out.text, /logic +ERROR .*bad model for logic/);
    assert.match(io.out.text, /total: incomplete/);
    await assert.rejects(scoreCommand.run(['other.vprog'], cliIO({}, work)), /VALOR_JUDGE_BASE_URL/);
  });

  test('overrides appended from the command change the score and show up in the statistics', async () => {
    srv.setHandler((req) => ({ text: jsonVerdict(judgeOf(req) === 'spatial' ? 0 : 1) }));
    // A reply no earlier test scored (verdicts are cached in this process).
    writeFileSync(join(work, 'third.vprog'), `# query: ${GOOD_QUERY} Answer yes or no.\n\n${GOOD_REPLY}\n`);
    const audit = join(work, '.valor', 'audits.jsonl');
    const add = async (args: string[]) => {
      const io = cliIO({ USER: 'tester' }, work);
      assert.equal(await auditOverrideCommand.run(args, io), 0, io.err.text);
    };
    await add(['--kind', 'reward', '--vprog', 'third.vprog', '--target', 'spatial', '--value', '1', '--machine', '0', '--note', 'step 3 compares x centres']);
    await add(['--kind', 'reward', '--subject', 's2', '--target', 'spatial', '--value', '1', '--machine', '1', '--note', 'agree']);
    await add(['--kind', 'reward', '--subject', 's3', '--target', 'logic', '--value', '1', '--machine', '1', '--note', 'agree']);
    const io = cliIO(env, work);
    assert.equal(await scoreCommand.run(['third.vprog'], io), 0, io.err.text);
    assert.match(io.out.text, /spatial +1 .*\n +overridden by tester \(machine said 0\): step 3 compares x centres/);
    assert.match(io.out.text, /^total: 1 /m);
    const noAudit = cliIO(env, work);
    await scoreCommand.run(['third.vprog', '--no-audit'], noAudit);
    assert.match(noAudit.out.text, /^total: 0\.8 /m);

    const stats = cliIO({}, work);
    assert.equal(await auditStatsCommand.run([], stats), 0);
    assert.match(stats.out.text, new RegExp(`audit log: ${audit.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(3 records\\)`));
    assert.match(stats.out.text, /spatial +2 +2 +50\.0% +0\.000/);
    assert.match(stats.out.text, /logic +1 +1 +100\.0% +undefined +\(undefined: judge and person both gave one value/);
    assert.match(stats.out.text, /boxes +0 +0 +- +-/);
    const json = cliIO({}, work);
    await auditStatsCommand.run(['--json'], json);
    assert.equal(JSON.parse(json.out.text).rewards.spatial.agreement, 0.5);
    await assert.rejects(auditOverrideCommand.run(['--kind', 'reward', '--subject', 'x', '--target', 'nonsense', '--value', '1'], cliIO({}, work)), /--target must be one of/);
    await assert.rejects(auditOverrideCommand.run(['--kind', 'reward', '--subject', 'x', '--target', 'logic', '--value', '2'], cliIO({}, work)), /not allowed/);
  });
});
