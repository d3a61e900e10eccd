// The audit log on disk: one line per override, torn lines tolerated and reported, the next
// append on a fresh line, latest override wins; agreement statistics with Cohen's kappa.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  agreementStats,
  appendOverride,
  applyBoxOverrides,
  boxSubject,
  cohensKappa,
  OverrideIndex,
  readAuditLog,
  rewardSubject,
} from '../../src/core/audit.js';
import type { GroundingResult } from '../../src/protocol/run.js';
import { ov } from '../helpers/overrides.js';

const dir = mkdtempSync(join(tmpdir(), 'valor-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `log-${++n}`, 'audits.jsonl');


describe('audit log', () => {
  test('appends one JSON line per override and reads them back in order', async () => {
    const path = fresh();
    await appendOverride(path, ov({ note: 'first' }));
    await appendOverride(path, ov({ note: 'second', value: 0 }));
    const text = readFileSync(path, 'utf8');
    assert.equal(text.split('\n').length, 3);
    assert.ok(text.endsWith('\n'));
    const log = await readAuditLog(path);
    assert.deepEqual(log.warnings, []);
    assert.deepEqual(log.overrides.map((o) => o.note), ['first', 'second']);
  });

  test('a half-written last line is reported with its number, and the next append starts on a fresh line', async () => {
    const path = fresh();
    await appendOverride(path, ov({ note: 'whole' }));
    appendFileSync(path, JSON.stringify(ov({ note: 'torn' })).slice(0, 40));
    const before = await readAuditLog(path);
    assert.equal(before.overrides.length, 1);
    assert.equal(before.warnings.length, 1);
    assert.equal(before.warnings[0]!.line, 2);
    assert.match(before.warnings[0]!.message, /incomplete/);
    await appendOverride(path, ov({ note: 'after crash' }));
    const afterCrash = await readAuditLog(path);
    assert.deepEqual(afterCrash.overrides.map((o) => o.note), ['whole', 'after crash']);
    assert.equal(afterCrash.warnings.length, 1);
    assert.equal(afterCrash.warnings[0]!.line, 2);
    assert.match(afterCrash.warnings[0]!.message, /not JSON/);
    // The old bytes are never rewritten.
    assert.ok(readFileSync(path, 'utf8').startsWith(`${JSON.stringify(ov({ note: 'whole' }))}\n`));
  });

  test('a missing log is empty; records that are not overrides are skipped with a warning; bad values refused', async () => {
    assert.deepEqual(await readAuditLog(join(dir, 'nope.jsonl')), { overrides: [], warnings: [] });
    const path = fresh();
    await appendOverride(path, ov({}));
    appendFileSync(path, '{"kind": "reward"}\n');
    const log = await readAuditLog(path);
    assert.equal(log.overrides.length, 1);
    assert.match(log.warnings[0]!.message, /line 2 .* not an override record/);
    await assert.rejects(appendOverride(path, ov({ value: 2 })), /not allowed/);
    await assert.rejects(appendOverride(path, ov({ kind: 'box', value: 0.5 })), /not allowed/);
    await appendOverride(path, ov({ target: 'format', value: 0.5 }));
  });

  test('many concurrent appends from one process stay whole lines', async () => {
    const path = fresh();
    await Promise.all(Array.from({ length: 50 }, (_, i) => appendOverride(path, ov({ note: `n${i}`, target: `t${i}` }))));
    const log = await readAuditLog(path);
    assert.equal(log.overrides.length, 50);
    assert.deepEqual(log.warnings, []);
  });
});

describe('overrides', () => {
  test('the latest override per (kind, subject, target) wins, by file order', () => {
    const idx = new OverrideIndex([ov({ value: 0, at: '2030-01-01T00:00:00Z' }), ov({ value: 1, at: '2020-01-01T00:00:00Z' }), ov({ target: 'spatial', value: 0 })]);
    assert.equal(idx.get('reward', 's1', 'logic')?.value, 1);
    assert.equal(idx.latest().length, 2);
    assert.equal(idx.forSubject('reward', 's1').size, 2);
    assert.equal(idx.forSubject('box', 's1').size, 0);
  });

  test('subject keys: content-derived and distinct', () => {
    assert.match(rewardSubject('q', 'r'), /^[0-9a-f]{64}$/);
    // Pinned: overrides files name their subject by this hash, so a change would orphan them.
    // sha256 of the sorted-key JSON {"kind":"reward","query":"q","reply":"r"} (worked out with python's hashlib).
    assert.equal(rewardSubject('q', 'r'), '6b6c6386a0920bf660ae81dd45f79e3309c1fe304690ef08f26077a3a97591c5');
    assert.equal(rewardSubject('Is the mug left?', '<plan>é</plan>'), '03ae450bc282cf509799ff0164d13095bb75c012d0216bd21bda850627086fa6');
    assert.notEqual(rewardSubject('q', 'r'), rewardSubject('qr', ''));
    assert.equal(boxSubject('ab', '  sofa,   table '), 'ab|sofa, table');
  });

  test('box overrides keep or drop a box and say so', () => {
    const g: GroundingResult = {
      image: { path: '/x.jpg', sha256: 'f'.repeat(64), width: 100, height: 100 },
      prompt: 'cup',
      boxes: [
        { index: 0, bbox: [0, 0, 10, 10], label: 'cup', score: 0.3, kept: true },
        { index: 1, bbox: [20, 20, 40, 40], label: 'cup', score: 0.2, kept: false, dropped_at: 'crop', reason: 'truncated' },
      ],
      verifier_model: 'v',
      ms: 1,
    };
    const subject = boxSubject(g.image.sha256, g.prompt);
    const out = applyBoxOverrides(g, [
      ov({ kind: 'box', subject, target: '0', value: 0, machine_value: 1, note: 'a bowl' }),
      ov({ kind: 'box', subject, target: '1', value: 1, machine_value: 0, note: 'whole cup' }),
    ]);
    assert.equal(out.boxes[0]!.kept, false);
    assert.equal(out.boxes[0]!.overridden, true);
    assert.match(out.boxes[0]!.reason ?? '', /dropped by a person: a bowl/);
    assert.equal(out.boxes[1]!.kept, true);
    assert.equal(out.boxes[1]!.dropped_at, undefined);
    assert.match(out.boxes[1]!.reason ?? '', /kept by a person: whole cup \(the verifier had dropped it at crop: truncated\)/);
    assert.equal(g.boxes[0]!.kept, true, 'the input is not modified');
  });
});

describe('agreement statistics', () => {
  test("Cohen's kappa: textbook values and the degenerate case", () => {
    // 20 items: both yes 7, machine yes/person no 3, machine no/person yes 2, both no 8.
    const pairs: Array<[number, number]> = [
      ...Array(7).fill([1, 1]),
      ...Array(3).fill([1, 0]),
      ...Array(2).fill([0, 1]),
      ...Array(8).fill([0, 0]),
    ];
    // po = 0.75, pe = 0.5*0.45 + 0.5*0.55 = 0.5, kappa = 0.5
    assert.equal(cohensKappa(pairs).kappa, 0.5);
    assert.equal(cohensKappa([[1, 0], [0, 1]]).kappa, -1);
    const allOnes = cohensKappa([[1, 1], [1, 1]]);
    assert.equal(allOnes.kappa, null);
    assert.match(allOnes.note ?? '', /undefined/);
    assert.equal(cohensKappa([]).kappa, null);
  });

  test('per reward and for boxes, from the latest override of each key', () => {
    const stats = agreementStats([
      ov({ subject: 'a', target: 'logic', machine_value: 1, value: 0 }),
      ov({ subject: 'a', target: 'logic', machine_value: 1, value: 1 }), // replaces the line above
      ov({ subject: 'b', target: 'logic', machine_value: 0, value: 0 }),
      ov({ subject: 'c', target: 'logic', machine_value: 1, value: 0 }),
      ov({ subject: 'd', target: 'logic', machine_value: null, value: 1 }),
      ov({ subject: 'a', target: 'spatial', machine_value: 1, value: 1 }),
      ov({ kind: 'box', subject: 'img|cup', target: '0', machine_value: 1, value: 1 }),
      ov({ kind: 'box', subject: 'img|cup', target: '1', machine_value: 0, value: 1 }),
    ]);
    assert.deepEqual(Object.keys(stats.rewards), ['spatial', 'logic']);
    const logic = stats.rewards.logic!;
    assert.equal(logic.audited, 4);
    assert.equal(logic.compared, 3);
    assert.equal(logic.agree, 2);
    assert.equal(logic.agreement, 2 / 3);
    // machine 1,0,1 person 1,0,0: po 2/3, pe = (2/3)(1/3) + (1/3)(2/3) = 4/9, kappa = (2/9)/(5/9) = 0.4
    assert.ok(Math.abs((logic.kappa ?? NaN) - 0.4) < 1e-12);
    assert.equal(stats.rewards.spatial!.kappa, null);
    assert.equal(stats.boxes.audited, 2);
    assert.equal(stats.boxes.agreement, 0.5);
    assert.equal(stats.boxes.kappa, 0);
  });
});

test('a log written by hand with CRLF line ends still reads', async () => {
  const path = join(dir, 'crlf.jsonl');
  writeFileSync(path, `${JSON.stringify(ov({}))}\r\n${JSON.stringify(ov({ value: 0 }))}\r\n`);
  const log = await readAuditLog(path);
  assert.equal(log.overrides.length, 2);
  assert.deepEqual(log.warnings, []);
});
