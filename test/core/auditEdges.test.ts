// The audit log's edges, pinned with hand-worked values (docs/testing.md, mutation group `audit`):
// reading a log with torn and foreign lines, what an override may say, the order and the figures
// of the agreement report, and a reward set with overrides applied.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { agreementStats, applyBoxOverrides, boxSubject, readAuditLog, validateOverride } from '../../src/core/audit.js';
import { applyRewardOverrides } from '../../src/core/rewards/overrides.js';
import type { GroundingResult, RewardSet, Verdict } from '../../src/protocol/run.js';
import { ov } from '../helpers/overrides.js';

const dir = mkdtempSync(join(tmpdir(), 'valor-audit-edges-'));
after(() => rmSync(dir, { recursive: true, force: true }));


describe('readAuditLog', () => {
  test('no file is an empty log; any other read failure is an error', async () => {
    assert.deepEqual(await readAuditLog(join(dir, 'absent.jsonl')), { overrides: [], warnings: [] });
    await assert.rejects(readAuditLog(dir), /EISDIR/);
  });

  test('blank lines are skipped; a torn last line, a foreign line and a wrong record each get their own warning', async () => {
    const good = JSON.stringify(ov({}));
    const path = join(dir, 'mixed.jsonl');
    // line 2 blank (spaces), 3 not JSON, 4 JSON but no subject, 5 JSON but not an object, 6 torn (no newline at the end)
    writeFileSync(path, `${good}\n   \nnot json\n${JSON.stringify({ ...ov({}), subject: undefined })}\n42\n{"kind":"rew`);
    const log = await readAuditLog(path);
    assert.equal(log.overrides.length, 1);
    assert.deepEqual(log.overrides[0], ov({}));
    assert.deepEqual(
      log.warnings.map((w) => [w.line, w.message]),
      [
        [3, `line 3 of ${path} is not JSON; it was ignored`],
        [4, `line 4 of ${path} is not an override record (subject: Invalid input: expected string, received undefined); it was ignored`],
        [5, `line 5 of ${path} is not an override record (record: Invalid input: expected object, received number); it was ignored`],
        [6, `line 6 of ${path} is incomplete (a write was cut short, e.g. by a crash); it was ignored`],
      ],
    );
  });

  test('a bad last line of a log that ends with a newline is foreign, not torn; an empty file is clean', async () => {
    const path = join(dir, 'ends.jsonl');
    writeFileSync(path, `${JSON.stringify(ov({}))}\n{"kind":"rew\n`);
    assert.deepEqual((await readAuditLog(path)).warnings.map((w) => w.message), [`line 2 of ${path} is not JSON; it was ignored`]);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    assert.deepEqual(await readAuditLog(empty), { overrides: [], warnings: [] });
  });
});

describe('validateOverride', () => {
  test('a subject and a target are needed, blank is not one', () => {
    assert.throws(() => validateOverride(ov({ subject: '  ' })), /^RangeError: an override needs a subject and a target$/);
    assert.throws(() => validateOverride(ov({ target: ' ' })), /^RangeError: an override needs a subject and a target$/);
  });

  test('the values a person can give: 0 or 1; format also 0.5; boxes 0 or 1', () => {
    assert.equal(validateOverride(ov({ value: 0 })).value, 0);
    assert.equal(validateOverride(ov({ target: 'format', value: 0.5 })).value, 0.5);
    assert.throws(() => validateOverride(ov({ target: 'spatial', value: 0.5 })), /^RangeError: override value 0\.5 is not allowed for reward spatial: use 0 or 1$/);
    assert.throws(() => validateOverride(ov({ target: 'format', value: 2 })), /use 0 or 0\.5 or 1$/);
    assert.equal(validateOverride(ov({ kind: 'box', target: '3', value: 1 })).value, 1);
    assert.throws(() => validateOverride(ov({ kind: 'box', target: '3', value: 0.5 })), /^RangeError: override value 0\.5 is not allowed for box 3: use 0 or 1$/);
  });
});

describe('agreementStats', () => {
  test('every reward of VALOR in its order, whatever order they were audited in', () => {
    const names = ['adherence', 'logic', 'attribute', 'spatial', 'syntax', 'format'];
    assert.deepEqual(Object.keys(agreementStats(names.map((target) => ov({ target }))).rewards), [...names].reverse());
  });

  test('rewards in VALOR order, then unknown names alphabetically; figures per reward by hand', () => {
    const log = [
      ov({ subject: 'a', target: 'zeta', value: 1, machine_value: 1 }),
      ov({ subject: 'a', target: 'adherence', value: 1, machine_value: 1 }),
      ov({ subject: 'a', target: 'alpha', value: 0, machine_value: 1 }),
      ov({ subject: 'a', target: 'format', value: 1, machine_value: 1 }),
      ov({ subject: 'b', target: 'format', value: 0, machine_value: 1 }),
      ov({ subject: 'a', target: 'spatial', value: 1, machine_value: null }),
    ];
    const r = agreementStats(log);
    assert.deepEqual(Object.keys(r.rewards), ['format', 'spatial', 'adherence', 'alpha', 'zeta']);
    assert.deepEqual([r.rewards.format!.audited, r.rewards.format!.compared, r.rewards.format!.agree, r.rewards.format!.agreement], [2, 2, 1, 0.5]);
    // spatial: audited but carries no machine value, so nothing is compared.
    assert.deepEqual([r.rewards.spatial!.audited, r.rewards.spatial!.compared, r.rewards.spatial!.agreement, r.rewards.spatial!.kappa], [1, 0, null, null]);
    assert.deepEqual([r.boxes.audited, r.boxes.compared, r.boxes.agreement], [0, 0, null]);
  });
});

describe('applyRewardOverrides', () => {
  const v = (reward: Verdict['reward'], value: number): Verdict => ({ reward, state: value >= 1 ? 'pass' : 'fail', value, rationale: `judge on ${reward}`, judge: 'j' });
  const set = (): RewardSet => ({
    verdicts: [v('format', 1), v('syntax', 1), v('spatial', 1), v('attribute', 1), v('logic', 1), v('adherence', 1)],
    total: 1,
    incomplete: false,
    weights: { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 },
  });

  test('no override of this subject: the same set, untouched', () => {
    const s = set();
    assert.equal(applyRewardOverrides(s, 'subject-1', [ov({ subject: 'other', target: 'spatial', value: 0 })]), s);
  });

  test('the person’s value replaces the verdict’s (pass at 1, fail at 0), the total is recomputed, earlier overrides are kept', () => {
    const earlier = ov({ subject: 'subject-1', target: 'syntax', value: 1, note: 'earlier' });
    const s = { ...set(), overridden: { syntax: earlier } };
    const out = applyRewardOverrides(s, 'subject-1', [ov({ subject: 'subject-1', target: 'spatial', value: 0, note: 'left is wrong' }), ov({ subject: 'subject-1', target: 'logic', value: 1 })]);
    const spatial = out.verdicts.find((x) => x.reward === 'spatial')!;
    assert.deepEqual([spatial.value, spatial.state, spatial.rationale], [0, 'fail', 'judge on spatial']);
    assert.deepEqual(out.verdicts.find((x) => x.reward === 'logic')!.state, 'pass');
    // 1 × (0.3 + 0.1 + 0.2 + 0 + 0.2) = 0.8
    assert.ok(Math.abs(out.total! - 0.8) < 1e-12, String(out.total));
    assert.equal(out.incomplete, false);
    assert.deepEqual(Object.keys(out.overridden!).sort(), ['logic', 'spatial', 'syntax']);
    assert.equal(out.overridden!.syntax, earlier);
    assert.equal(out.overridden!.spatial!.note, 'left is wrong');
    assert.equal(s.verdicts.find((x) => x.reward === 'spatial')!.value, 1, 'the input set is not changed');
  });
});

describe('applyBoxOverrides', () => {
  const g = (boxes: GroundingResult['boxes']): GroundingResult => ({ image: { path: '/x.jpg', sha256: 'e'.repeat(64), width: 100, height: 100 }, prompt: 'cup', boxes, verifier_model: 'v', ms: 1 });
  const subject = boxSubject('e'.repeat(64), 'cup');

  test('the reasons say who decided and what the verifier had said, with and without a note or a verifier reason', () => {
    const out = applyBoxOverrides(
      g([
        { index: 0, bbox: [0, 0, 10, 10], label: 'cup', score: 0.3, kept: true },
        { index: 1, bbox: [20, 20, 40, 40], label: 'cup', score: 0.2, kept: false },
        { index: 2, bbox: [50, 50, 60, 60], label: 'cup', score: 0.2, kept: true, reason: 'looks whole' },
        { index: 3, bbox: [70, 70, 80, 80], label: 'cup', score: 0.2, kept: true },
      ]),
      [
        ov({ kind: 'box', subject, target: '0', value: 0, note: '' }),
        ov({ kind: 'box', subject, target: '1', value: 1, note: '' }),
        ov({ kind: 'box', subject, target: '2', value: 0, note: 'a bowl' }),
        ov({ kind: 'box', subject, target: '3', value: 1, note: 'sure' }),
      ],
    );
    assert.deepEqual(
      out.boxes.map((b) => [b.kept, b.overridden, b.reason]),
      [
        [false, true, 'dropped by a person'],
        [true, true, 'kept by a person (the verifier had dropped it at an unknown stage)'],
        [false, true, 'dropped by a person: a bowl (verifier: looks whole)'],
        [true, true, 'kept by a person: sure'],
      ],
    );
    assert.ok(!('dropped_at' in out.boxes[1]!));
  });

  test('no override of this image and prompt: the same result, untouched', () => {
    const r = g([{ index: 0, bbox: [0, 0, 10, 10], label: 'cup', score: 0.3, kept: true }]);
    assert.equal(applyBoxOverrides(r, [ov({ kind: 'box', subject: boxSubject('e'.repeat(64), 'mug'), target: '0', value: 0 })]), r);
  });
});
