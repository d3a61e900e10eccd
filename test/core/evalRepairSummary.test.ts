/**
 * The repair section of an eval summary (`repairSummary`, `repairLines`) on results written by
 * hand, with every figure counted by hand: which questions needed a repair, which were repaired
 * after how many, the metrics without and with repair, per benchmark, and the terminal lines.
 * (test/core/evalRepair.test.ts makes the same section from real runs.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { repairLines, repairSummary } from '../../src/core/eval/repairSummary.js';
import type { EvalResult, ResultRepair } from '../../src/core/eval/result.js';
import { evalResult } from '../helpers/evalResults.js';

const failedFirst: ResultRepair['original'] = { prediction: null, score: 0, correct: false, error_kind: 'program', invalid: null };

/** Question `id`: right, or failed with a ZeroDivisionError; in `benchmark`; with its repair block. */
function result(id: string, correct: boolean, benchmark: string | undefined, repair?: Omit<ResultRepair, 'original'> & { original?: ResultRepair['original'] }): EvalResult {
  const failed = { prediction: null, score: 0, correct: false, error_kind: 'program', error_type: 'ZeroDivisionError' } as const;
  return evalResult(id, {
    ...(correct ? {} : failed),
    ...(benchmark ? { benchmark } : {}),
    ...(repair ? { repair: { original: failedFirst, ...repair } } : {}),
  });
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

describe('the repair section of an eval summary', () => {
  // q1, q2: failed, repaired after 1 and after 2 repairs (alpha). q3: failed, two repairs in vain
  // (beta). q4: right the first time (beta). q5: failed, the repair request refused (no
  // benchmark), run with --repair 3. q6: no repair block (no benchmark), counted as it stands.
  const results = [
    result('q1', true, 'alpha', { max_repairs: 2, repairs: 1, stopped: 'passed' }),
    result('q2', true, 'alpha', { max_repairs: 2, repairs: 2, stopped: 'passed' }),
    result('q3', false, 'beta', { max_repairs: 2, repairs: 2, stopped: 'max_attempts' }),
    result('q4', true, 'beta', { max_repairs: 2, repairs: 0, stopped: 'not_needed', original: { prediction: 'yes', score: 1, correct: true, error_kind: null, invalid: null } }),
    result('q5', false, undefined, { max_repairs: 3, repairs: 0, stopped: 'refused' }),
    result('q6', true, undefined),
  ];

  it('counts what needed a repair, what a repair fixed and after how many, and the repairs asked', () => {
    const s = repairSummary(results)!;
    assert.deepEqual(
      { max_repairs: s.max_repairs, needed: s.needed, repaired: s.repaired, attempts: s.attempts, repaired_after: s.repaired_after },
      { max_repairs: 3, needed: 4, repaired: 2, attempts: 5, repaired_after: { 1: 1, 2: 1 } },
    );
    // Without repair: q4 and q6 right (2 of 6); with repair: q1, q2, q4, q6 (4 of 6).
    assert.deepEqual([s.without.overall.n, s.without.overall.correct, s.without.overall.score], [6, 2, 0.333333333333]);
    assert.deepEqual([s.with.overall.n, s.with.overall.correct, s.with.overall.score], [6, 4, 0.666666666667]);
    assert.deepEqual(s.by_benchmark, {
      '(none)': { n: 2, without: 0.5, with: 0.5, repaired: 0 },
      alpha: { n: 2, without: 0, with: 1, repaired: 2 },
      beta: { n: 2, without: 0.5, with: 0.5, repaired: 0 },
    });
    assert.deepEqual(Object.keys(s.by_benchmark), ['(none)', 'alpha', 'beta'], 'benchmarks in sorted order');
  });

  it('has no section when no result was made with --repair', () => {
    assert.equal(repairSummary([result('q1', true, 'alpha'), result('q2', false, undefined)]), undefined);
    assert.equal(repairSummary([]), undefined);
  });

  it('says it in lines: the counts, both figures, one line per benchmark', () => {
    assert.deepEqual(repairLines(repairSummary(results)!, pct), [
      'repair (--repair 3): 2 of 4 failed questions repaired (1 after 1, 1 after 2); 5 repairs asked',
      '  without repair 33.3% (2 correct)  with repair 66.7% (4 correct)',
      '  (none)       n=2 without 50.0%  with 50.0%  repaired 0',
      '  alpha        n=2 without 0.0%  with 100.0%  repaired 2',
      '  beta         n=2 without 50.0%  with 50.0%  repaired 0',
    ]);
  });

  it('one failed question, one repair, nothing repaired; no benchmark lines without benchmarks, one line for a single named one', () => {
    const one = [result('q1', false, undefined, { max_repairs: 1, repairs: 1, stopped: 'max_attempts' }), result('q2', true, undefined, { max_repairs: 1, repairs: 0, stopped: 'not_needed', original: { prediction: 'yes', score: 1, correct: true, error_kind: null, invalid: null } })];
    assert.deepEqual(repairLines(repairSummary(one)!, pct), [
      'repair (--repair 1): 0 of 1 failed question repaired; 1 repair asked',
      '  without repair 50.0% (1 correct)  with repair 50.0% (1 correct)',
    ]);
    const named = one.map((r) => ({ ...r, benchmark: 'gamma' }));
    assert.deepEqual(repairLines(repairSummary(named)!, pct).slice(2), ['  gamma        n=2 without 50.0%  with 50.0%  repaired 0']);
  });
});
