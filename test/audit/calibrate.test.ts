// `valor judges calibrate`: a judge's verdicts against people's decisions in the audit log, and a
// second judge's, per reward; numbers checked against a hand computation.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { judgesCalibrateCommand } from '../../src/cli/commands/judgesCalibrate.js';
import { appendOverride, rewardSubject } from '../../src/core/audit.js';
import type { CalibrationReport } from '../../src/core/audit/calibration.js';
import { ReviewSession } from '../../src/core/review/session.js';
import { openReviewSource } from '../../src/core/review/source.js';
import { cliIO } from '../helpers/cliIO.js';

const A = [1, 1, 0, 1, 0, 1];
const B = [1, 0, 0, 1, 1, 1];
const HUMAN = [1, 0, 0, 1, 0]; // people decided items 0..4 on logic
const reply = (i: number): string => `<plan>1. look ${i}</plan><answer>final_answer = ${i}</answer>`;

describe('judge calibration against people', () => {
  let work: string;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'valor-calibrate-'));
    const lines = A.map((a, i) => JSON.stringify({ id: `i${i}`, query: `q${i}`, reply: reply(i), rewards: { logic: a, spatial: i === 5 ? null : 1 }, compare: { logic: B[i], spatial: 1 } }));
    writeFileSync(join(work, 'items.jsonl'), `${lines.join('\n')}\n`);
    for (const [i, h] of HUMAN.entries()) {
      await appendOverride(join(work, '.valor', 'audits.jsonl'), { kind: 'reward', subject: rewardSubject(`q${i}`, reply(i)), target: 'logic', value: h, machine_value: A[i]!, note: 'review', at: '2026-01-01T00:00:00Z' });
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('per reward: judge vs people, second judge vs people, judge vs judge', async () => {
    const io = cliIO({}, work);
    assert.equal(await judgesCalibrateCommand.run(['items.jsonl', '--json'], io), 0, io.err.text);
    const r = JSON.parse(io.out.text) as CalibrationReport;
    assert.equal(r.items, 6);
    assert.equal(r.compared, true);
    const logic = r.rewards.find((x) => x.reward === 'logic')!;
    assert.equal(logic.reviewed, 5);
    // judge A vs people: (1,1) x2, (1,0), (0,0) x2 -> po 0.8, pe 0.6*0.4 + 0.4*0.6 = 0.48, kappa 0.32/0.52
    assert.equal(logic.first_vs_human.n, 5);
    assert.equal(logic.first_vs_human.agree, 4);
    assert.ok(Math.abs((logic.first_vs_human.kappa ?? NaN) - 0.32 / 0.52) < 1e-12);
    // judge B vs people: (1,1), (0,0) x2, (1,1), (1,0) -> also 4 of 5
    assert.equal(logic.second_vs_human?.agree, 4);
    // A vs B over all six: disagree on items 1 and 4
    assert.equal(logic.first_vs_second?.n, 6);
    assert.equal(logic.first_vs_second?.agree, 4);
    // a failed verdict is left out and counted
    const spatial = r.rewards.find((x) => x.reward === 'spatial')!;
    assert.equal(spatial.failed.first, 1);
    assert.equal(spatial.first_vs_second?.n, 5);
  });

  test('the text table, and the review queue shows the second judge against your decisions', async () => {
    const io = cliIO({}, work);
    assert.equal(await judgesCalibrateCommand.run(['items.jsonl'], io), 0);
    assert.match(io.out.text, /^ {2}logic +5 +0\/0 +n=5 80% kappa 0\.62 \[/m);
    await assert.rejects(judgesCalibrateCommand.run(['missing.jsonl'], cliIO({}, work)), /does not exist/);

    const source = await openReviewSource(join(work, 'items.jsonl'));
    const s = await ReviewSession.open({ source, sample: { reward: 'logic' }, auditPath: join(work, '.valor', 'audits.jsonl') });
    for (let i = 0; i < 5; i++) await s.item(i);
    const logic = s.stats().agreement.find((a) => a.reward === 'logic')!;
    assert.equal(logic.n, 5);
    assert.equal(logic.second?.n, 5);
    assert.equal(logic.second?.agreement, 4 / 5);
  });
});
