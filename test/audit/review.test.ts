// The review queue's core: sources (eval folder, run records, JSONL with a second judge), the
// sampler, the session writing the real audit log (accept, flip, set, note, undo), and kappa with
// its interval checked against statsmodels' cohens_kappa (0.15, computed separately).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { agreementStats, OverrideIndex, readAuditLog } from '../../src/core/audit.js';
import { kappaWithInterval } from '../../src/core/review/agreement.js';
import { handleReviewMessage } from '../../src/core/review/host.js';
import { sampleQueue } from '../../src/core/review/sampler.js';
import { ReviewSession } from '../../src/core/review/session.js';
import { openReviewSource } from '../../src/core/review/source.js';
import { writeReviewEval } from '../helpers/reviewFixture.js';

const table = (cells: Array<[number, number, number]>): Array<[number, number]> => cells.flatMap(([a, b, n]) => Array.from({ length: n }, () => [a, b] as [number, number]));

describe('kappa with a 95% interval', () => {
  test('matches statsmodels cohens_kappa on a 2x2 and a 3x3 table', () => {
    // statsmodels: cohens_kappa([[12,3],[5,20]]) -> kappa 0.584416, std 0.130206, [0.329217, 0.839614]
    const a = kappaWithInterval(table([[0, 0, 12], [0, 1, 3], [1, 0, 5], [1, 1, 20]]));
    assert.ok(Math.abs((a.kappa ?? NaN) - 0.5844155844155845) < 1e-12);
    assert.ok(Math.abs((a.lo ?? NaN) - 0.3292170879708228) < 1e-9);
    assert.ok(Math.abs((a.hi ?? NaN) - 0.8396140808603463) < 1e-9);
    // cohens_kappa([[7,1,0],[2,9,1],[0,1,4]]) -> kappa 0.684343, [0.434103, 0.934583] (format's 0 / 0.5 / 1)
    const b = kappaWithInterval(table([[0, 0, 7], [0, 0.5, 1], [0.5, 0, 2], [0.5, 0.5, 9], [0.5, 1, 1], [1, 0.5, 1], [1, 1, 4]]));
    assert.ok(Math.abs((b.kappa ?? NaN) - 0.6843434343434344) < 1e-12);
    assert.ok(Math.abs((b.lo ?? NaN) - 0.43410340129362124) < 1e-9);
    assert.ok(Math.abs((b.hi ?? NaN) - 0.9345834673932475) < 1e-9);
  });
  test('undefined when both sides gave one value; nothing compared; perfect agreement says so', () => {
    assert.equal(kappaWithInterval(table([[1, 1, 5]])).kappa, null);
    assert.equal(kappaWithInterval([]).note, 'nothing compared yet');
    const p = kappaWithInterval(table([[1, 1, 5], [0, 0, 3]]));
    assert.equal(p.kappa, 1);
    assert.match(p.note ?? '', /not certainty/);
  });
});

describe('review queue core', () => {
  let work: string;
  let evalDir: string;
  let values: Awaited<ReturnType<typeof writeReviewEval>>;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'valor-review-core-'));
    evalDir = join(work, 'eval');
    values = await writeReviewEval(evalDir, 12, { imagePath: join(work, 'scene.png'), judgeErrorsAt: [3] });
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('an eval folder opens from summary.json; items load with detections and verdicts', async () => {
    const src = await openReviewSource(evalDir);
    assert.equal(src.kind, 'eval');
    assert.equal(src.entries.length, 12);
    assert.deepEqual(src.entries[3]?.values, values[3]);
    const item = await src.load(src.entries[0]!);
    assert.equal(item.detections.length, 2);
    assert.equal(item.verdicts.length, 6);
    assert.equal(item.imagePath, join(work, 'scene.png'));
    // the runs folder alone opens too
    const runs = await openReviewSource(join(evalDir, 'runs'));
    assert.equal(runs.kind, 'runs');
    assert.equal(runs.entries.length, 12);
  });

  test('sampler: seeded random order is stable, filters by failures and one reward', async () => {
    const src = await openReviewSource(evalDir);
    const a = sampleQueue(src.entries, { order: 'random', seed: 5 });
    assert.deepEqual(a, sampleQueue(src.entries, { order: 'random', seed: 5 }));
    assert.notDeepEqual(a, sampleQueue(src.entries, { order: 'random', seed: 6 }));
    assert.deepEqual([...a].sort((x, y) => x - y), [...Array(12).keys()]);
    const failed = sampleQueue(src.entries, { only: 'failures', reward: 'adherence' });
    assert.deepEqual(failed, values.map((v, i) => (v.adherence === null || v.adherence === 0 ? i : -1)).filter((i) => i >= 0));
    assert.ok(failed.includes(3), 'the judge error counts as a failure');
    assert.equal(sampleQueue(src.entries, { limit: 4 }).length, 4);
  });

  test('JSONL with a second judge: only disagreements, second values shown; bad lines are warnings', async () => {
    const file = join(work, 'replies.jsonl');
    const line = (id: string, a: Record<string, number | null>, b: Record<string, number | null>) =>
      JSON.stringify({ id, query: `q ${id}`, reply: `<plan>1. look ${id}</plan><answer>final_answer = 1</answer>`, rewards: a, compare: b });
    writeFileSync(
      file,
      [line('x', { spatial: 1, logic: 1 }, { spatial: 1, logic: 1 }), line('y', { spatial: 1, logic: 0 }, { spatial: 1, logic: 1 }), 'not json', line('z', { spatial: null, logic: 1 }, { spatial: 0, logic: 1 })].join('\n'),
    );
    const src = await openReviewSource(file);
    assert.equal(src.entries.length, 3);
    assert.match(src.warnings[0] ?? '', /line 3 is not JSON/);
    assert.deepEqual(sampleQueue(src.entries, { only: 'disagreements' }).map((i) => src.entries[i]?.label), ['y', 'z']);
    assert.deepEqual(sampleQueue(src.entries, { only: 'disagreements', reward: 'logic' }).map((i) => src.entries[i]?.label), ['y']);
    const s = await ReviewSession.open({ source: src, sample: { only: 'disagreements' }, auditPath: join(work, 'jsonl-audit.jsonl') });
    const first = await s.item(0);
    assert.equal(first.item.verdicts.find((v) => v.reward === 'logic')?.second, 1);
  });

  test('decisions go to the audit log at once; undo retracts; notes re-record; stats follow', async () => {
    const audit = join(work, 'audit.jsonl');
    const src = await openReviewSource(evalDir);
    const s = await ReviewSession.open({ source: src, auditPath: audit, author: 'rev' });
    const m0 = await s.item(0);
    assert.equal(m0.stats.progress.total, 12);
    for (const r of ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'] as const) await s.decide(0, r, 'accept');
    const flipped = await s.decide(1, 'spatial', 'flip');
    assert.equal(flipped.decisions.find((d) => d.reward === 'spatial')?.value, values[1]!.spatial === 1 ? 0 : 1);
    // a failed judge cannot be accepted, only given a value
    await assert.rejects(s.decide(3, 'adherence', 'accept'), /judge failed on this item/);
    await s.decide(3, 'adherence', 'set', 1);
    let log = await readAuditLog(audit);
    assert.equal(log.overrides.length, 8);
    assert.equal(log.overrides[7]?.machine_value, null);
    // the note re-records item 1's decision with it, and undo still undoes exactly one decision
    const noted = await s.setNote(1, 'left edge is hidden');
    assert.equal(noted.decisions.find((d) => d.reward === 'spatial')?.note, 'left edge is hidden');
    const undone = await s.undo(); // the adherence set on item 3
    assert.equal(undone.position, 3);
    assert.equal(undone.decisions.length, 0);
    const undone2 = await s.undo(); // the spatial flip on item 1
    assert.equal(undone2.decisions.length, 0);
    log = await readAuditLog(audit);
    assert.ok(log.overrides.some((o) => o.retracts), 'undo appends retract records');
    const idx = new OverrideIndex(log.overrides);
    assert.equal(idx.latest().length, 6, 'only item 0 is still decided');
    const st = s.stats();
    assert.equal(st.progress.done, 1);
    assert.equal(st.agreement.find((a) => a.reward === 'logic')?.n, 1);
    // the log is append-only: every line is still there, in order
    assert.equal(readFileSync(audit, 'utf8').trim().split('\n').length, log.overrides.length);
    // audit stats over the same log agree with the session
    assert.equal(agreementStats(log.overrides).rewards.logic?.compared, 1);
  });

  test('the host answers bad messages and out-of-range positions with an error, never a throw', async () => {
    const src = await openReviewSource(evalDir);
    const s = await ReviewSession.open({ source: src, auditPath: join(work, 'audit2.jsonl') });
    assert.equal((await handleReviewMessage(s, { type: 'decide', position: 0 }))[0]?.type, 'error');
    const r = await handleReviewMessage(s, { type: 'decide', position: 99, reward: 'logic', action: 'accept' });
    assert.equal(r[0]?.type, 'error');
    assert.match((r[0] as { message: string }).message, /no item at position 100/);
    assert.equal((await handleReviewMessage(s, { type: 'undo' }))[0]?.type, 'error');
    assert.equal((await handleReviewMessage(s, { type: 'ready' }))[0]?.type, 'item');
  });
});

describe('retracting overrides (undo)', () => {
  test('a retract withdraws the latest standing override; the one before stands again', async () => {
    const { OverrideIndex: Index } = await import('../../src/core/audit.js');
    const base = { kind: 'reward' as const, subject: 's', target: 'logic', machine_value: 1, note: '', at: '2026-01-01T00:00:00Z' };
    const idx = new Index([
      { ...base, value: 1 },
      { ...base, value: 0 },
      { ...base, value: 0, retracts: true },
    ]);
    assert.equal(idx.get('reward', 's', 'logic')?.value, 1);
    idx.add({ ...base, value: 1, retracts: true });
    assert.equal(idx.get('reward', 's', 'logic'), undefined);
    assert.equal(idx.forSubject('reward', 's').size, 0);
    assert.deepEqual(idx.latest(), []);
    idx.add({ ...base, value: 1, retracts: true }); // nothing standing: harmless
    assert.equal(idx.get('reward', 's', 'logic'), undefined);
  });

  test('an empty queue and a vanished record are messages for the view, not crashes', async () => {
    const work = mkdtempSync(join(tmpdir(), 'valor-review-edge-'));
    try {
      const dir = join(work, 'eval');
      await writeReviewEval(dir, 3, { imagePath: join(work, 'x.png') });
      const src = await openReviewSource(dir);
      const none = await ReviewSession.open({ source: src, sample: { only: 'disagreements' }, auditPath: join(work, 'a.jsonl') });
      assert.equal((await handleReviewMessage(none, { type: 'ready' }))[0]?.type, 'empty');
      rmSync(src.entries[1]!.key);
      const s = await ReviewSession.open({ source: src, auditPath: join(work, 'a.jsonl') });
      const r = await handleReviewMessage(s, { type: 'open', position: 1 });
      assert.equal(r[0]?.type, 'error');
      assert.match((r[0] as { message: string }).message, /cannot read run record/);
      await assert.rejects(openReviewSource(join(work, 'nope')), /does not exist: give an eval output folder/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
