/**
 * Benchmark metrics checked against hand-computed values, including the cases the reference
 * harness gets wrong (docs/valor.md §7): an empty yes/no answer, a missing count, a zero ground truth,
 * and relative errors that sit exactly on a threshold.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aggregate,
  meanRelativeAccuracy,
  normalizeText,
  optionIndex,
  parseCount,
  scoreAnswer,
  scoreCount,
  scoreFloat,
  scoreOption,
  scoreText,
  scoreYesNo,
} from '../../src/core/eval/metrics.js';

describe('normalizeText', () => {
  it('trims, lowercases, collapses spaces and strips trailing punctuation and quotes', () => {
    assert.equal(normalizeText('  Yes. '), 'yes');
    assert.equal(normalizeText('"No!"'), 'no');
    assert.equal(normalizeText('Blue   Mug,'), 'blue mug');
    assert.equal(normalizeText('...'), '');
  });
});

describe('yes/no', () => {
  it('matches exactly after normalisation', () => {
    assert.equal(scoreYesNo('Yes.', 'yes').score, 1);
    assert.equal(scoreYesNo('no', 'Yes').score, 0);
    assert.equal(scoreYesNo(true, 'yes').score, 1);
    assert.equal(scoreYesNo(false, false).score, 1);
  });
  it('an empty answer is wrong (a substring test would call it correct)', () => {
    const s = scoreYesNo('', 'yes');
    assert.equal(s.score, 0);
    assert.equal(s.invalid, 'empty');
    assert.equal(scoreYesNo('   ', 'no').invalid, 'empty');
  });
  it('a missing answer is wrong', () => {
    assert.deepEqual(scoreYesNo(null, 'no'), { score: 0, correct: false, prediction: null, invalid: 'missing' });
    assert.equal(scoreYesNo(undefined, 'yes').invalid, 'missing');
  });
  it('words that merely contain yes/no are not answers', () => {
    assert.equal(scoreYesNo('yes and no', 'yes').score, 0);
    assert.equal(scoreYesNo('not sure', 'no').invalid, 'not_yes_no');
    assert.equal(scoreYesNo('eyes', 'yes').score, 0);
  });
  it('rejects a ground truth that is not yes or no', () => {
    assert.throws(() => scoreYesNo('yes', 'maybe'), /not yes or no/);
  });
});

describe('options', () => {
  const opts = ['Red mug', 'blue mug', 'green mug'];
  it('resolves letters and texts to options', () => {
    assert.equal(optionIndex('(a)', opts), 0);
    assert.equal(optionIndex('b)', opts), 1);
    assert.equal(optionIndex('C', opts), 2);
    assert.equal(optionIndex('Blue Mug.', opts), 1);
    assert.equal(optionIndex('(c) green mug', opts), 2);
    assert.equal(optionIndex('purple mug', opts), null);
    assert.equal(optionIndex('(d)', opts), null);
  });
  it('scores a letter against an option text and back', () => {
    assert.equal(scoreOption('(b)', 'blue mug', opts).score, 1);
    assert.equal(scoreOption('blue mug', 'B', opts).score, 1);
    assert.equal(scoreOption('A', 'blue mug', opts).score, 0);
    assert.equal(scoreOption('blue', 'blue mug', opts).invalid, 'not_an_option');
    assert.equal(scoreOption('', 'B', opts).invalid, 'empty');
    assert.equal(scoreOption(null, 'B', opts).invalid, 'missing');
  });
  it('compares letters, or normalised text, when the options are unknown', () => {
    assert.equal(scoreOption('(B)', 'b', undefined).score, 1);
    assert.equal(scoreOption('b.', '(a)', undefined).score, 0);
    assert.equal(scoreOption('Left.', 'left', undefined).score, 1);
    assert.equal(scoreOption('left side', 'left', undefined).score, 0);
  });
  it('option texts that carry their own letter marker still match', () => {
    const marked = ['(A) left', '(B) right'];
    assert.equal(scoreOption('right', 'B', marked).score, 1);
    assert.equal(scoreOption('(a)', '(A) left', marked).score, 1);
  });
  it('rejects a ground truth that is none of the options', () => {
    assert.throws(() => scoreOption('a', 'purple', opts), /none of the options/);
  });
});

describe('counts', () => {
  it('accepts integers, integer-valued floats and number words', () => {
    assert.deepEqual(parseCount(3), { value: 3 });
    assert.deepEqual(parseCount('3.0'), { value: 3 });
    assert.deepEqual(parseCount(' Three. '), { value: 3 });
    assert.deepEqual(parseCount('none'), { value: 0 });
    assert.equal(scoreCount(3.0, 3).score, 1);
    assert.equal(scoreCount('three', '3').score, 1);
  });
  it('a missing count is wrong, never 0', () => {
    const s = scoreCount(null, 0);
    assert.equal(s.score, 0);
    assert.equal(s.invalid, 'missing');
    assert.equal(scoreCount('', 0).invalid, 'empty');
  });
  it('non-integers and text with units are not counts', () => {
    assert.equal(scoreCount(2.5, 2).invalid, 'not_an_integer');
    assert.equal(scoreCount('2.5', 2).invalid, 'not_an_integer');
    assert.equal(scoreCount('3 chairs', 3).invalid, 'not_a_number');
    assert.equal(scoreCount(-1, 1).invalid, 'not_an_integer');
    assert.equal(scoreCount(Number.POSITIVE_INFINITY, 1).invalid, 'not_finite');
    assert.equal(scoreCount(true, 1).invalid, 'not_a_number');
  });
  it('exact integer match', () => {
    assert.equal(scoreCount(4, 3).score, 0);
    assert.equal(scoreCount('12', 12).score, 1);
  });
});

describe('floats: mean relative accuracy', () => {
  it('counts the thresholds t in {0.50..0.05} with |pred-gt|/|gt| < t', () => {
    assert.equal(meanRelativeAccuracy(10, 10), 1);
    // rel 0.05: every threshold above 0.05 (9 of 10)
    assert.equal(meanRelativeAccuracy(10.5, 10), 0.9);
    // rel 0.12: thresholds 0.15..0.50 (8 of 10)
    assert.equal(meanRelativeAccuracy(11.2, 10), 0.8);
    // rel 0.3 (below): 0.35..0.50 (4 of 10)
    assert.equal(meanRelativeAccuracy(7, 10), 0.4);
    // rel 1.0
    assert.equal(meanRelativeAccuracy(20, 10), 0);
  });
  it('a relative error exactly on a threshold does not count that threshold', () => {
    // rel exactly 0.5: no threshold is strictly above it... except none: 0 of 10
    assert.equal(meanRelativeAccuracy(6, 4), 0);
    // rel 0.45 (decimal; 0.4499999... in binary): only 0.50 counts
    assert.equal(meanRelativeAccuracy(5.8, 4), 0.1);
    // rel 0.1 (1.1 vs 1 is 0.10000000000000009 in binary): 0.15..0.50 count, not 0.10
    assert.equal(meanRelativeAccuracy(1.1, 1), 0.8);
    // rel 0.05 from below the ground truth
    assert.equal(meanRelativeAccuracy(0.95, 1), 0.9);
  });
  it('uses |gt| for a negative ground truth', () => {
    assert.equal(meanRelativeAccuracy(-10.5, -10), 0.9);
    assert.equal(meanRelativeAccuracy(10, -10), 0);
  });
  it('a zero ground truth is handled explicitly, not divided by', () => {
    assert.equal(meanRelativeAccuracy(0, 0), 1);
    assert.equal(meanRelativeAccuracy(5e-7, 0), 1);
    assert.equal(meanRelativeAccuracy(0.001, 0), 0);
    assert.equal(scoreFloat('0.0', 0).score, 1);
    assert.equal(scoreFloat(0.5, 0).score, 0);
  });
  it('NaN, infinities and text are wrong, with the reason', () => {
    assert.equal(scoreFloat('nan', 2).invalid, 'not_finite');
    assert.equal(scoreFloat('inf', 2).invalid, 'not_finite');
    assert.equal(scoreFloat(Number.NaN, 2).invalid, 'not_finite');
    assert.equal(scoreFloat('2 m', 2).invalid, 'not_a_number');
    assert.equal(scoreFloat(null, 2).invalid, 'missing');
    assert.equal(scoreFloat('', 2).invalid, 'empty');
    assert.equal(scoreFloat('1e1', 10).score, 1);
  });
});

describe('text and dispatch', () => {
  it('free text matches exactly after normalisation', () => {
    assert.equal(scoreText('Red.', 'red').score, 1);
    assert.equal(scoreText('dark red', 'red').score, 0);
    assert.equal(scoreText('', 'red').invalid, 'empty');
  });
  it('scoreAnswer dispatches by type', () => {
    assert.equal(scoreAnswer('count', '2', 2).score, 1);
    assert.equal(scoreAnswer('float', 11.2, 10).score, 0.8);
    assert.equal(scoreAnswer('yesno', 'YES', 'yes').score, 1);
  });
});

describe('aggregate', () => {
  it('per type and overall (micro), plus the macro mean of the types', () => {
    const m = aggregate([
      { type: 'yesno', score: 1, correct: true, error_kind: null },
      { type: 'yesno', score: 0, correct: false, error_kind: null, invalid: 'empty' },
      { type: 'float', score: 0.9, correct: false, error_kind: null },
      { type: 'float', score: 0, correct: false, error_kind: 'program' },
      { type: 'count', score: 1, correct: true, error_kind: null },
    ]);
    assert.deepEqual(m.by_type.yesno, { n: 2, correct: 1, score: 0.5, answered: 2, failed: 0, invalid: 1 });
    assert.deepEqual(m.by_type.float, { n: 2, correct: 0, score: 0.45, answered: 1, failed: 1, invalid: 0 });
    assert.deepEqual(m.by_type.count, { n: 1, correct: 1, score: 1, answered: 1, failed: 0, invalid: 0 });
    assert.equal(m.by_type.option, undefined);
    // (1 + 0 + 0.9 + 0 + 1) / 5
    assert.equal(m.overall.score, 0.58);
    assert.equal(m.overall.correct, 2);
    // (0.5 + 0.45 + 1) / 3
    assert.equal(m.macro, 0.65);
  });
  it('an empty set has no score (not 0)', () => {
    const m = aggregate([]);
    assert.equal(m.overall.score, null);
    assert.equal(m.macro, null);
  });
});
