/**
 * Benchmark metrics (src/core/eval/metrics.ts): cases for the mutants that survived the metrics
 * group's first Stryker run (docs/testing.md lists them, and the equivalent ones). Each value is
 * worked out by hand from the rules in that file's comments. Kept apart from
 * evalMetricsEdges.test.ts so that an incremental re-run keeps the results that file already gave.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerText, meanRelativeAccuracy, normalizeText, optionIndex, parseCount, parseFloatAnswer, scoreOption, scoreText } from '../../src/core/eval/metrics.js';

describe('normalizeText, quotes and spaces', () => {
  it('trims the space left between a word and its trailing punctuation', () => {
    assert.equal(normalizeText('Yes .'), 'yes');
    assert.equal(normalizeText('left , '), 'left');
  });
  it('an empty quoted answer is empty', () => {
    assert.equal(normalizeText('""'), '');
    assert.equal(normalizeText("''"), '');
    assert.equal(scoreText('""', 'red').invalid, 'empty');
  });
  it('strips single quotes only when they open and close the answer', () => {
    assert.equal(normalizeText("dogs'"), "dogs'");
    assert.equal(normalizeText("'a"), "'a");
    assert.equal(normalizeText("'a'"), 'a');
  });
});

describe('answerText, numbers that JSON cannot hold', () => {
  it('writes NaN and the infinities as JavaScript does, not as null', () => {
    assert.equal(answerText(Number.NaN), 'NaN');
    assert.equal(answerText(Number.POSITIVE_INFINITY), 'Infinity');
    assert.equal(scoreText(Number.NaN, 'red').prediction, 'nan');
  });
});

describe('options: what is and is not a letter marker', () => {
  const opts = ['Red mug', 'blue mug', 'green mug'];
  it('a word of two letters is not a letter', () => {
    assert.equal(optionIndex('be', opts), null);
    assert.deepEqual(scoreOption('an', 'a'), { score: 0, correct: false, prediction: 'an' });
  });
  it('a marker counts only at the start of the answer', () => {
    assert.equal(optionIndex('see (c) above', opts), null);
    assert.equal(optionIndex('the c) one', opts), null);
  });
  it('a marker needs no space before its text, in an answer and in an option', () => {
    assert.equal(optionIndex('(c)green mug', opts), 2);
    const marked = ['(A)left', '(B)right'];
    assert.equal(optionIndex('right', marked), 1);
    assert.equal(optionIndex('left', marked), 0);
  });
  it('a marker with other text is read by its letter, whichever marker it is', () => {
    assert.equal(optionIndex('(b) the second one', opts), 1);
    assert.equal(optionIndex('c. the last', opts), 2);
    assert.equal(optionIndex('a: the first', opts), 0);
  });
  it('a marker one past the last option falls back to the text, the first option included', () => {
    assert.equal(optionIndex('(d) blue mug', opts), 1);
    assert.equal(optionIndex('(d) red mug', opts), 0);
    assert.equal(optionIndex('(d) the fourth', opts), null);
  });
  it('the text of the first option matches it', () => {
    assert.equal(optionIndex('Red mug', opts), 0);
    assert.deepEqual(scoreOption('red mug.', 'a', opts), { score: 1, correct: true, prediction: 'a' });
  });
  it('an empty answer is no option, even beside an option that is empty once normalised', () => {
    assert.equal(optionIndex('', ['...', 'x']), null);
    assert.equal(optionIndex(' ! ', ['...', 'x']), null);
  });
});

describe('counts: a number that is not a count says so', () => {
  it('calls a decimal, a bare fraction or an exponent form not an integer', () => {
    assert.deepEqual(parseCount('12.5'), { invalid: 'not_an_integer', text: '12.5' });
    assert.deepEqual(parseCount('.25'), { invalid: 'not_an_integer', text: '.25' });
    assert.deepEqual(parseCount('1e-3'), { invalid: 'not_an_integer', text: '1e-3' });
    assert.deepEqual(parseCount('1e10'), { invalid: 'not_an_integer', text: '1e10' });
  });
  it('calls text that only ends in a number not a number', () => {
    assert.deepEqual(parseCount('about 2'), { invalid: 'not_a_number', text: 'about 2' });
    assert.deepEqual(parseCount('maybe 2.5'), { invalid: 'not_a_number', text: 'maybe 2.5' });
  });
});

describe('floats: bare fractions, negative exponents, words ending in inf or nan', () => {
  it('reads .25 and 1e-3', () => {
    assert.deepEqual(parseFloatAnswer('.25'), { value: 0.25 });
    assert.deepEqual(parseFloatAnswer('2.5e-1'), { value: 0.25 });
    assert.deepEqual(parseFloatAnswer('1e-3'), { value: 0.001 });
  });
  it('a word that only ends in inf or nan is not a number, not an infinity', () => {
    assert.deepEqual(parseFloatAnswer('almost inf'), { invalid: 'not_a_number', text: 'almost inf' });
    assert.deepEqual(parseFloatAnswer('banan'), { invalid: 'not_a_number', text: 'banan' });
  });
  it('a relative error within the tolerance below a threshold counts as on it', () => {
    // gt 1, pred 0.550000001: the relative error is 0.45 - 1e-9 exactly in binary, so 0.45 does
    // not count (0.50 does); 1.1e-9 below 0.45 it counts.
    assert.equal(Math.abs(0.550000001 - 1), 0.45 - 1e-9);
    assert.equal(meanRelativeAccuracy(0.550000001, 1), 0.1);
    assert.equal(meanRelativeAccuracy(0.5500000011, 1), 0.2);
  });
});
