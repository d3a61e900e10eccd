// Tests written for the `audit` mutation group (docs/testing.md, "audit"): where the log lives by
// default, that an append is written, flushed to disk and its file closed, the agreement report's
// notes, an undo bringing back the override before it, and a box value checked as a box's.
// Every expected value is worked out by hand in the comments.
import assert from 'node:assert/strict';
import fs, { mkdtempSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, describe, test } from 'node:test';
import { agreementStats, appendOverride, cohensKappa, DEFAULT_AUDIT_PATH, OverrideIndex, readAuditLog, validateOverride } from '../../src/core/audit.js';
import { ov } from '../helpers/overrides.js';

const dir = mkdtempSync(join(tmpdir(), 'valor-audit-mutants-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the default log is .valor/audits.jsonl, the place every --audit help text names', () => {
  assert.deepEqual(DEFAULT_AUDIT_PATH.split(sep), ['.valor', 'audits.jsonl']);
});

describe('appendOverride', () => {
  test('the line is written, then fsynced, then the file is closed, all on the one descriptor it opened', async () => {
    // A crash cannot be staged in a test, so this watches the system calls instead: node's own fs
    // functions, wrapped so that each call is recorded and then made for real.
    const path = join(dir, 'durable', 'audits.jsonl');
    const calls: string[] = [];
    const fdsOfLog = new Set<number>();
    const real = { openSync: fs.openSync, writeSync: fs.writeSync, fsyncSync: fs.fsyncSync, closeSync: fs.closeSync };
    const spy = fs as unknown as Record<keyof typeof real, (...a: unknown[]) => unknown>;
    spy.openSync = (...a) => {
      const fd = (real.openSync as (...x: unknown[]) => number)(...a);
      if (a[0] === path) fdsOfLog.add(fd);
      return fd;
    };
    for (const name of ['writeSync', 'fsyncSync', 'closeSync'] as const) {
      spy[name] = (...a) => {
        if (fdsOfLog.has(a[0] as number)) calls.push(name);
        return (real[name] as (...x: unknown[]) => unknown)(...a);
      };
    }
    syncBuiltinESMExports();
    try {
      await appendOverride(path, ov({ note: 'one' }));
      await appendOverride(path, ov({ note: 'two' }));
    } finally {
      Object.assign(fs, real);
      syncBuiltinESMExports();
    }
    assert.ok(fdsOfLog.size > 0, 'the log was opened');
    // Two appends, each: one write of the whole line, the flush, the close.
    assert.deepEqual(calls, ['writeSync', 'fsyncSync', 'closeSync', 'writeSync', 'fsyncSync', 'closeSync']);
    assert.deepEqual((await readAuditLog(path)).overrides.map((o) => o.note), ['one', 'two']);
  });
});

describe('validateOverride', () => {
  test('a box is kept or dropped, 0 or 1, even when its target reads like a reward name', () => {
    assert.throws(() => validateOverride(ov({ kind: 'box', target: 'format', value: 0.5 })), /^RangeError: override value 0\.5 is not allowed for box format: use 0 or 1$/);
    assert.equal(validateOverride(ov({ kind: 'box', target: 'format', value: 0 })).value, 0);
  });
});

describe("Cohen's kappa and the agreement report say why a kappa is missing", () => {
  test('nothing compared, one value everywhere, and a kappa that exists carries no note', () => {
    assert.deepEqual(cohensKappa([]), { kappa: null, note: 'nothing to compare' });
    // Three items, both raters 0.5 each time: the only category is 0.5, chance agreement 1.
    assert.deepEqual(cohensKappa([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]), {
      kappa: null,
      note: 'undefined: judge and person both gave one value (0.5) to every item, so chance agreement is 100%',
    });
    // machine 1,0 person 0,1: po 0, pe = (1/2)(1/2) + (1/2)(1/2) = 1/2, kappa = (0 - 1/2)/(1/2) = -1.
    assert.deepEqual(cohensKappa([[1, 0], [0, 1]]), { kappa: -1 });
  });

  test('every figure of every stat, with the note exactly where kappa is null', () => {
    const report = agreementStats([
      // logic: machine 1,0 person 1,1. po 1/2; pe = P(m=1)P(p=1) + P(m=0)P(p=0) = (1/2)(1) + (1/2)(0) = 1/2; kappa 0.
      ov({ subject: 'a', target: 'logic', machine_value: 1, value: 1 }),
      ov({ subject: 'b', target: 'logic', machine_value: 0, value: 1 }),
      // spatial: both 0 on both items: one value everywhere.
      ov({ subject: 'a', target: 'spatial', machine_value: 0, value: 0 }),
      ov({ subject: 'b', target: 'spatial', machine_value: 0, value: 0 }),
      // format: audited, but with no machine value to compare with.
      ov({ subject: 'a', target: 'format', machine_value: null, value: 0.5 }),
    ]);
    assert.deepEqual(report, {
      rewards: {
        format: { audited: 1, compared: 0, agree: 0, agreement: null, kappa: null, kappa_note: 'nothing to compare' },
        spatial: {
          audited: 2,
          compared: 2,
          agree: 2,
          agreement: 1,
          kappa: null,
          kappa_note: 'undefined: judge and person both gave one value (0) to every item, so chance agreement is 100%',
        },
        logic: { audited: 2, compared: 2, agree: 1, agreement: 0.5, kappa: 0 },
      },
      boxes: { audited: 0, compared: 0, agree: 0, agreement: null, kappa: null, kappa_note: 'nothing to compare' },
    });
    assert.ok(!('kappa_note' in report.rewards.logic!), 'a kappa that exists has no note, not even an undefined one');
  });

  test("VALOR's last reward, adherence, still comes before an unknown name that sorts before it", () => {
    // 'accuracy' < 'adherence' alphabetically, but only unknown names are sorted that way.
    const report = agreementStats([ov({ target: 'accuracy' }), ov({ target: 'adherence' }), ov({ target: 'logic' })]);
    assert.deepEqual(Object.keys(report.rewards), ['logic', 'adherence', 'accuracy']);
  });

  test('a box override whose target is also a reward name counts for boxes only', () => {
    // Box targets are candidate indices; a reward named "0" (any name is allowed) must not pick up box 0.
    const report = agreementStats([
      ov({ kind: 'reward', subject: 'a', target: '0', machine_value: 1, value: 1 }),
      ov({ kind: 'box', subject: 'img|cup', target: '0', machine_value: 1, value: 0 }),
    ]);
    assert.deepEqual(Object.keys(report.rewards), ['0']);
    assert.deepEqual([report.rewards['0']!.audited, report.rewards['0']!.agree], [1, 1]);
    assert.deepEqual([report.boxes.audited, report.boxes.agree], [1, 0]);
  });
});

describe('OverrideIndex: undo', () => {
  test('undoing the latest override of a key brings back the one before it; undoing that leaves none', () => {
    const idx = new OverrideIndex([
      ov({ value: 1, note: 'first' }),
      ov({ target: 'spatial', value: 0, note: 'other key' }),
      ov({ value: 0, note: 'second' }),
      ov({ value: 0, note: 'undo second', retracts: true }),
    ]);
    assert.equal(idx.get('reward', 's1', 'logic')?.note, 'first');
    assert.equal(idx.forSubject('reward', 's1').get('logic')?.note, 'first');
    // In the order the keys first appeared: logic, then spatial.
    assert.deepEqual(idx.latest().map((o) => o.note), ['first', 'other key']);
    idx.add(ov({ value: 1, note: 'undo first', retracts: true }));
    assert.equal(idx.get('reward', 's1', 'logic'), undefined);
    assert.deepEqual([...idx.forSubject('reward', 's1').keys()], ['spatial']);
    assert.deepEqual(idx.latest().map((o) => o.note), ['other key']);
  });
});
