/**
 * Benchmark metrics (src/core/eval/metrics.ts) at their edges, with values worked out by hand from
 * the rules in that file's comments: what each reader accepts and refuses (and the text it
 * reports), what a prediction is recorded as, the zero-ground-truth epsilon, and the rounding that
 * keeps merged shards equal to one run. evalMetrics.test.ts holds the main cases; these were added
 * for mutants that survived it (docs/testing.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aggregate,
  answerText,
  groundTruthProblem,
  meanRelativeAccuracy,
  normalizeText,
  optionIndex,
  parseCount,
  parseFloatAnswer,
  round,
  scoreAnswer,
  scoreFloat,
  scoreOption,
  scoreText,
  scoreYesNo,
} from '../../src/core/eval/metrics.js';

describe('normalizeText, details', () => {
  it('drops single and double quotes, nested with punctuation, and folds tabs and newlines', () => {
    assert.equal(normalizeText("'Left'"), 'left');
    assert.equal(normalizeText('"\'Yes\'."'), 'yes');
    assert.equal(normalizeText('" red mug "!'), 'red mug');
    assert.equal(normalizeText('a\t\n  b'), 'a b');
  });
  it('keeps a lone quote and quotes that do not pair', () => {
    assert.equal(normalizeText('"'), '"');
    assert.equal(normalizeText('"a'), '"a');
    assert.equal(normalizeText('\'a"'), '\'a"');
  });
});

describe('answerText', () => {
  it('turns every kind of final_answer into text, or null for none', () => {
    assert.equal(answerText(null), null);
    assert.equal(answerText(undefined), null);
    assert.equal(answerText(' As is '), ' As is ');
    assert.equal(answerText(true), 'yes');
    assert.equal(answerText(false), 'no');
    assert.equal(answerText(2.5), '2.5');
    assert.equal(answerText(10n), '10');
    assert.equal(answerText([1, 'a']), '[1,"a"]');
    assert.equal(answerText({ a: 1 }), '{"a":1}');
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    assert.equal(answerText(loop), '[object Object]');
  });
});

describe('yes/no, what is recorded', () => {
  it('records the normalised word, the boolean as a word, and a non-answer as read', () => {
    assert.deepEqual(scoreYesNo('YES.', 'yes'), { score: 1, correct: true, prediction: 'yes' });
    assert.deepEqual(scoreYesNo(false, 'yes'), { score: 0, correct: false, prediction: 'no' });
    assert.deepEqual(scoreYesNo(true, true), { score: 1, correct: true, prediction: 'yes' });
    assert.deepEqual(scoreYesNo('Maybe?', 'no'), { score: 0, correct: false, prediction: 'maybe', invalid: 'not_yes_no' });
    assert.deepEqual(scoreYesNo(1, 'yes'), { score: 0, correct: false, prediction: '1', invalid: 'not_yes_no' });
    assert.deepEqual(scoreYesNo(' ', 'yes'), { score: 0, correct: false, prediction: '', invalid: 'empty' });
  });
  it('refuses a missing or numeric ground truth', () => {
    assert.throws(() => scoreYesNo('yes', null), /ground truth null is not yes or no/);
    assert.throws(() => scoreYesNo('yes', 1), /ground truth 1 is not yes or no/);
  });
});

describe('options, details', () => {
  const opts = ['Red mug', 'blue mug', 'green mug'];
  it('reads every letter marker before a text', () => {
    assert.equal(optionIndex('a.', opts), 0);
    assert.equal(optionIndex('b:', opts), 1);
    assert.equal(optionIndex('c. green mug', opts), 2);
    assert.equal(optionIndex('B) blue mug', opts), 1);
    assert.equal(optionIndex('b: blue mug', opts), 1);
    assert.equal(optionIndex('', opts), null);
    assert.equal(optionIndex('  .', opts), null);
  });
  it('a letter past the last option falls back to the text', () => {
    // 'e' is the fifth letter but there are two options; as text it is the first one.
    assert.equal(optionIndex('e', ['e', 'f']), 0);
    assert.equal(optionIndex('f', ['e', 'f']), 1);
    // In parentheses it is a marker, not the option's text.
    assert.equal(optionIndex('(f)', ['e', 'f']), null);
    assert.equal(optionIndex('g', ['e', 'f']), null);
    // A marker past the last option: the text after it decides.
    assert.equal(optionIndex('(e) blue mug', opts), 1);
    assert.equal(optionIndex('(e) purple mug', opts), null);
  });
  it('records the option letter, or the normalised text without options', () => {
    assert.deepEqual(scoreOption('Blue mug!', 'b', opts), { score: 1, correct: true, prediction: 'b' });
    assert.deepEqual(scoreOption('(C)', 'a', opts), { score: 0, correct: false, prediction: 'c' });
    assert.deepEqual(scoreOption('(B)', 'b'), { score: 1, correct: true, prediction: 'b' });
    assert.deepEqual(scoreOption('Left.', 'left'), { score: 1, correct: true, prediction: 'left' });
    assert.deepEqual(scoreOption('(a)', 'left'), { score: 0, correct: false, prediction: '(a)' });
    assert.deepEqual(scoreOption('purple', 'b', opts), { score: 0, correct: false, prediction: 'purple', invalid: 'not_an_option' });
    assert.deepEqual(scoreOption(undefined, 'b', opts), { score: 0, correct: false, prediction: null, invalid: 'missing' });
  });
  it('an empty option list counts as no options', () => {
    assert.equal(scoreOption('b', '(b)', []).score, 1);
    assert.equal(scoreOption('blue', 'blue', []).score, 1);
  });
  it('refuses an empty ground truth', () => {
    assert.throws(() => scoreOption('a', '  ', opts), /ground truth is empty/);
    assert.throws(() => scoreOption('a', null), /ground truth is empty/);
  });
});

describe('counts, details', () => {
  it('accepts a plus sign, a bare decimal point, trailing zeros and every number word', () => {
    assert.deepEqual(parseCount('+3'), { value: 3 });
    assert.deepEqual(parseCount('3.'), { value: 3 });
    assert.deepEqual(parseCount('3.00'), { value: 3 });
    assert.deepEqual(parseCount(0), { value: 0 });
    assert.deepEqual(parseCount('Zero'), { value: 0 });
    assert.deepEqual(parseCount('twenty!'), { value: 20 });
    assert.deepEqual(parseCount('eleven'), { value: 11 });
  });
  it('names why a value is not a count, with the text it read', () => {
    assert.deepEqual(parseCount(undefined), { invalid: 'missing', text: null });
    assert.deepEqual(parseCount(false), { invalid: 'not_a_number', text: 'false' });
    assert.deepEqual(parseCount(Number.NaN), { invalid: 'not_finite', text: 'NaN' });
    assert.deepEqual(parseCount(2.5), { invalid: 'not_an_integer', text: '2.5' });
    assert.deepEqual(parseCount(-3), { invalid: 'not_an_integer', text: '-3' });
    assert.deepEqual(parseCount('-2'), { invalid: 'not_an_integer', text: '-2' });
    assert.deepEqual(parseCount('1e3'), { invalid: 'not_an_integer', text: '1e3' });
    assert.deepEqual(parseCount('.5'), { invalid: 'not_an_integer', text: '.5' });
    assert.deepEqual(parseCount('3 Chairs.'), { invalid: 'not_a_number', text: '3 chairs' });
    assert.deepEqual(parseCount('twenty-one'), { invalid: 'not_a_number', text: 'twenty-one' });
    assert.deepEqual(parseCount('  '), { invalid: 'empty', text: '' });
  });
  it('records the count read, and refuses a ground truth that is not one', () => {
    assert.deepEqual(scoreAnswer('count', 'Three.', 3), { score: 1, correct: true, prediction: '3' });
    assert.deepEqual(scoreAnswer('count', '4', 'three'), { score: 0, correct: false, prediction: '4' });
    assert.deepEqual(scoreAnswer('count', 'some', 3), { score: 0, correct: false, prediction: 'some', invalid: 'not_a_number' });
    assert.throws(() => scoreAnswer('count', 3, 'a few'), /ground truth "a few" is not a count/);
  });
});

describe('floats, details', () => {
  it('reads signed numbers, bare decimals and exponents; refuses words and infinities', () => {
    assert.deepEqual(parseFloatAnswer('+2.5'), { value: 2.5 });
    assert.deepEqual(parseFloatAnswer('-.5'), { value: -0.5 });
    assert.deepEqual(parseFloatAnswer('2.'), { value: 2 });
    assert.deepEqual(parseFloatAnswer('1.5E2'), { value: 150 });
    assert.deepEqual(parseFloatAnswer(-3), { value: -3 });
    assert.deepEqual(parseFloatAnswer('1e400'), { invalid: 'not_finite', text: '1e400' });
    assert.deepEqual(parseFloatAnswer('-Infinity'), { invalid: 'not_finite', text: '-infinity' });
    assert.deepEqual(parseFloatAnswer('+NaN'), { invalid: 'not_finite', text: '+nan' });
    assert.deepEqual(parseFloatAnswer(Number.NEGATIVE_INFINITY), { invalid: 'not_finite', text: '-Infinity' });
    assert.deepEqual(parseFloatAnswer(true), { invalid: 'not_a_number', text: 'true' });
    assert.deepEqual(parseFloatAnswer('about 2'), { invalid: 'not_a_number', text: 'about 2' });
    assert.deepEqual(parseFloatAnswer('2.5.1'), { invalid: 'not_a_number', text: '2.5.1' });
    assert.deepEqual(parseFloatAnswer('infinite'), { invalid: 'not_a_number', text: 'infinite' });
    assert.deepEqual(parseFloatAnswer(undefined), { invalid: 'missing', text: null });
    assert.deepEqual(parseFloatAnswer(''), { invalid: 'empty', text: '' });
  });
  it('the zero-ground-truth epsilon is strict, on both signs', () => {
    assert.equal(meanRelativeAccuracy(1e-6, 0), 0);
    assert.equal(meanRelativeAccuracy(9e-7, 0), 1);
    assert.equal(meanRelativeAccuracy(-9e-7, 0), 1);
    assert.equal(meanRelativeAccuracy(-1e-6, 0), 0);
  });
  it('scores 0 for a non-finite number on either side', () => {
    assert.equal(meanRelativeAccuracy(Number.NaN, 1), 0);
    assert.equal(meanRelativeAccuracy(1, Number.POSITIVE_INFINITY), 0);
    assert.equal(meanRelativeAccuracy(Number.POSITIVE_INFINITY, 0), 0);
  });
  it('a relative error under every threshold scores 1; one exactly on 0.25 scores 0.5', () => {
    assert.equal(meanRelativeAccuracy(10.49, 10), 1);
    // rel 0.25: the five thresholds 0.50..0.30 are above it.
    assert.equal(meanRelativeAccuracy(12.5, 10), 0.5);
  });
  it('records the number read and calls only a full score correct', () => {
    assert.deepEqual(scoreFloat('10.5', 10), { score: 0.9, correct: false, prediction: '10.5' });
    assert.deepEqual(scoreFloat('1e1', 10), { score: 1, correct: true, prediction: '10' });
    assert.deepEqual(scoreFloat('ten', 10), { score: 0, correct: false, prediction: 'ten', invalid: 'not_a_number' });
    assert.throws(() => scoreFloat(1, 'far'), /ground truth "far" is not a finite number/);
  });
});

describe('text, dispatch and ground-truth checks', () => {
  it('records the normalised text', () => {
    assert.deepEqual(scoreText(' Dark  Red. ', 'dark red'), { score: 1, correct: true, prediction: 'dark red' });
    assert.deepEqual(scoreText(null, 'red'), { score: 0, correct: false, prediction: null, invalid: 'missing' });
    assert.throws(() => scoreText('red', '...'), /ground truth is empty/);
    assert.throws(() => scoreText('red', undefined), /ground truth is empty/);
  });
  it('scoreAnswer dispatches the option and text types', () => {
    assert.equal(scoreAnswer('option', 'b', 'blue', ['red', 'blue']).score, 1);
    assert.equal(scoreAnswer('option', 'blue', 'a', ['red', 'blue']).score, 0);
    assert.equal(scoreAnswer('text', 'Red', 'red').score, 1);
    assert.equal(scoreAnswer('text', '(b)', 'b').score, 0);
  });
  it('groundTruthProblem names a bad ground truth and passes a good one', () => {
    assert.equal(groundTruthProblem('yesno', 'Yes'), null);
    assert.equal(groundTruthProblem('count', 'three'), null);
    assert.equal(groundTruthProblem('float', '0'), null);
    assert.equal(groundTruthProblem('option', 'B', ['left', 'right']), null);
    assert.equal(groundTruthProblem('text', 'a mug'), null);
    assert.equal(groundTruthProblem('yesno', 'maybe'), 'ground truth "maybe" is not yes or no');
    assert.equal(groundTruthProblem('count', 2.5), 'ground truth 2.5 is not a count');
    assert.equal(groundTruthProblem('float', 'x'), 'ground truth "x" is not a finite number');
    assert.equal(groundTruthProblem('option', 'up', ['left', 'right']), 'ground truth "up" is none of the options ["left","right"]');
    assert.equal(groundTruthProblem('text', ''), 'ground truth is empty');
  });
});

describe('aggregate and round, details', () => {
  it('rounds means so that the order of summing cannot show', () => {
    assert.equal(round(0.1 + 0.2), 0.3);
    assert.equal(round(2 / 3), 0.666666666667);
    const m = aggregate([
      { type: 'float', score: 0.1, correct: false, error_kind: null },
      { type: 'float', score: 0.2, correct: false, error_kind: null },
      { type: 'float', score: 0.3, correct: false, error_kind: null },
    ]);
    // 0.1 + 0.2 + 0.3 is 0.6000000000000001 in binary; / 3 unrounded is 0.20000000000000004.
    assert.equal(m.by_type.float?.score, 0.2);
    assert.equal(m.overall.score, 0.2);
    assert.equal(m.macro, 0.2);
  });
  it('a failed question counts as failed even when it also carries an invalid reason', () => {
    const m = aggregate([
      { type: 'text', score: 0, correct: false, error_kind: 'program', invalid: 'empty' },
      { type: 'text', score: 0, correct: false, error_kind: null, invalid: null },
      { type: 'text', score: 0, correct: false, error_kind: null, invalid: 'empty' },
    ]);
    assert.deepEqual(m.overall, { n: 3, correct: 0, score: 0, answered: 2, failed: 1, invalid: 1 });
  });
  it('counts correct by the flag, and the macro mean over the types present only', () => {
    const m = aggregate([
      { type: 'option', score: 1, correct: true, error_kind: null },
      { type: 'text', score: 0, correct: false, error_kind: null },
      { type: 'text', score: 0, correct: false, error_kind: null },
      { type: 'text', score: 1, correct: true, error_kind: null },
      { type: 'text', score: 0, correct: false, error_kind: null },
    ]);
    assert.deepEqual(Object.keys(m.by_type), ['option', 'text']);
    assert.equal(m.overall.correct, 2);
    assert.equal(m.overall.score, 0.4);
    // (1 + 0.25) / 2
    assert.equal(m.macro, 0.625);
  });
});
