/**
 * What `summarize` computes and `summaryLines` prints, on results written by hand with every
 * figure counted by hand: the counts (pending, failed, unreadable, not evaluated), errors by kind
 * and program error types, reward means and totals, the per-question time statistics, the input
 * order, and each line of the terminal summary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { incompleteLine, metricsScope, rewardTotalText, sortResults, stats, summarize, summaryLines } from '../../src/core/eval/summary.js';
import { evalResult, summaryOf, wrongResult } from '../helpers/evalResults.js';

describe('eval summary figures', () => {
  it('stats: n, mean, the nearest-rank median and 95th percentile, max; all null when empty', () => {
    assert.deepEqual(stats([40, 10, 30, 20]), { n: 4, mean: 25, p50: 20, p95: 40, max: 40 });
    assert.deepEqual(stats([7]), { n: 1, mean: 7, p50: 7, p95: 7, max: 7 });
    // 20 values 1..20: rank ceil(0.5 * 20) = 10 and ceil(0.95 * 20) = 19.
    assert.deepEqual(stats(Array.from({ length: 20 }, (_, i) => 20 - i)), { n: 20, mean: 10.5, p50: 10, p95: 19, max: 20 });
    assert.deepEqual(stats([]), { n: 0, mean: null, p50: null, p95: null, max: null });
  });

  it('sortResults: by line, then by id for questions on the same line', () => {
    const rs = [evalResult('b', { line: 2 }), evalResult('c', { line: 1 }), evalResult('a', { line: 2 }), evalResult('a2', { line: 2 })];
    assert.deepEqual(sortResults(rs).map((r) => r.id), ['c', 'a', 'a2', 'b']);
    assert.deepEqual(sortResults([evalResult('x', { line: 3 }), evalResult('x', { line: 3 })]).map((r) => r.line), [3, 3]);
  });

  it('summarize: the counts, errors by kind, program error types in name order, times', () => {
    const rs = [
      evalResult('q1', { ms: { generate: 100, run: 10, total: 120 } }),
      wrongResult('q2', { ms: { generate: 300, total: 310 } }),
      wrongResult('q3', { prediction: null, error_kind: 'program', error_type: 'ZeroDivisionError', ms: { total: 50 } }),
      wrongResult('q4', { prediction: null, error_kind: 'program', error_type: 'NameError', ms: { total: 40 } }),
      wrongResult('q5', { prediction: null, error_kind: 'program', error_type: 'NameError', ms: { total: 30 } }),
      wrongResult('q6', { prediction: null, error_kind: 'program', error_type: null, ms: { total: 20 } }),
      wrongResult('q7', { prediction: 'maybe', invalid: 'not_yes_no', ms: { total: 10 } }),
      wrongResult('q8', { prediction: null, error_kind: 'tool_outage', ms: { total: 5 } }),
      wrongResult('q9', { prediction: null, error_kind: 'no_program', invalid: 'no_answer', ms: { total: 5 } }),
    ];
    const c = summarize(rs, 12);
    assert.deepEqual(c.counts, { selected: 12, done: 9, pending: 3, correct: 1, answered: 3, failed: 6, invalid: 1, evaluated: 8, not_evaluated: 1 });
    assert.deepEqual(c.errors.by_kind, { program: 4, no_program: 1, tool_outage: 1, endpoint_outage: 0, endpoint_error: 0, image: 0, internal: 0 });
    assert.deepEqual(Object.entries(c.errors.program_types), [['NameError', 2], ['ZeroDivisionError', 1]]);
    assert.equal(c.metrics.overall.n, 8, 'the outage is left out of the metrics');
    assert.equal(c.metrics.overall.correct, 1);
    assert.deepEqual(c.per_question_ms.generate, { n: 2, mean: 200, p50: 100, p95: 300, max: 300 });
    assert.deepEqual(c.per_question_ms.run, { n: 1, mean: 10, p50: 10, p95: 10, max: 10 });
    assert.equal(c.per_question_ms.total.n, 9);
    assert.equal(c.per_question_ms.total.max, 310);
    assert.equal(c.rewards, null, 'no question was scored');
    assert.equal(c.repair, undefined);
    assert.equal(summarize([], 2).counts.pending, 2);
    assert.equal(summarize(rs, 5).counts.pending, 0, 'never below 0');
  });

  it('summarize: reward means over the verdicts given, errors per reward, the mean total over complete totals', () => {
    const rs = [
      evalResult('q1', { rewards: { total: 0.5, values: { logic: 1, spatial: 0 } } }),
      evalResult('q2', { rewards: { total: null, values: { logic: null, spatial: 1 } } }),
      evalResult('q3', { rewards: { total: 1, values: { logic: 0, spatial: 1, format: 1 } } }),
      evalResult('q4'),
    ];
    const r = summarize(rs, 4).rewards!;
    assert.deepEqual(r, {
      n: 3,
      means: { format: 1, logic: 0.5, spatial: 0.666666666667 },
      errors: { format: 0, logic: 1, spatial: 0 },
      total_mean: 0.75,
      incomplete: 1,
    });
    assert.deepEqual(Object.keys(r.means), ['format', 'logic', 'spatial'], 'rewards in name order');
    const allFailed = summarize([evalResult('q1', { rewards: { total: null, values: { logic: null } } })], 1).rewards!;
    assert.deepEqual([allFailed.means.logic, allFailed.errors.logic, allFailed.total_mean, allFailed.incomplete], [null, 1, null, 1]);
  });

  it('incompleteLine, metricsScope and rewardTotalText say what is missing', () => {
    const one = summaryOf([evalResult('q1'), wrongResult('q2', { prediction: null, error_kind: 'internal' })]);
    assert.equal(incompleteLine(one), 'incomplete: 1 question not evaluated (internal 1)');
    const two = summaryOf([wrongResult('q1', { error_kind: 'endpoint_outage' }), wrongResult('q2', { error_kind: 'tool_outage' }), wrongResult('q3', { error_kind: 'tool_outage' })]);
    assert.equal(incompleteLine(two), 'incomplete: 3 questions not evaluated (tool_outage 2, endpoint_outage 1)');
    assert.equal(incompleteLine(summaryOf([evalResult('q1'), wrongResult('q2', { error_kind: 'program' })])), undefined, 'a program error is evaluated');
    assert.equal(metricsScope(one), ' over the 1 evaluated questions');
    assert.equal(metricsScope(summaryOf([evalResult('q1')], {}, 3)), ' over the 1 evaluated questions', 'pending questions also qualify the metrics');
    assert.equal(metricsScope(summaryOf([evalResult('q1')])), '');
    assert.equal(rewardTotalText({ n: 2, means: {}, errors: {}, total_mean: 0.25, incomplete: 0 }), 'total 0.250');
    assert.equal(rewardTotalText({ n: 3, means: {}, errors: {}, total_mean: 0.5, incomplete: 1 }), 'total 0.500 over 2 questions, incomplete for 1 (a judge failed)');
    assert.equal(rewardTotalText({ n: 2, means: {}, errors: {}, total_mean: null, incomplete: 2 }), 'total incomplete (no question has a complete total; 2 with a failed judge)');
  });

  it('summaryLines: every line of a run with types, errors, skipped input, rewards and throughput', () => {
    const rs = [
      evalResult('q1', { rewards: { total: 1, values: { logic: 1, spatial: 1 } } }),
      wrongResult('q2', { rewards: { total: 0.5, values: { logic: 0, spatial: null } } }),
      evalResult('q3', { type: 'float', ground_truth: 2, prediction: '2', score: 1 }),
      wrongResult('q4', { type: 'float', ground_truth: 4, prediction: null, error_kind: 'program', error_type: 'NameError' }),
    ];
    const s = summaryOf(rs, {
      input: { path: 'b.jsonl', sha256: 'x', format: 'jsonl', entries: 6, questions: 4, problems: [{ line: 5, message: 'not JSON' }, { line: 6, message: 'no question' }] },
      timings: { wall_ms: 2500, session_done: 4, questions_per_s: 1.6, memory: null },
    });
    assert.deepEqual(summaryLines(s), [
      'questions: 4/4 done, 2 correct, 1 failed, 0 unreadable answers, 2 input lines skipped',
      'overall: 50.0% (macro over types 50.0%)',
      '  yesno   50.0%  n=2 correct=1 failed=0',
      '  float   50.0%  n=2 correct=1 failed=1 (mean relative accuracy)',
      'errors: program 1',
      'rewards (n=2): total 0.750; logic 0.500, spatial 1.000',
      'throughput: 1.60 questions/s over 2.5 s',
    ]);
  });

  it('summaryLines: an incomplete run says how to resume it, with the command when it is known', () => {
    const rs = [evalResult('q1'), wrongResult('q2', { prediction: null, error_kind: 'tool_outage' })];
    assert.equal(summaryLines(summaryOf(rs))[0], 'incomplete: 1 question not evaluated (tool_outage 1); run them with --resume');
    assert.equal(summaryLines(summaryOf(rs, { resume_command: 'valor eval b.jsonl --resume' }))[0], 'incomplete: 1 question not evaluated (tool_outage 1); run them with: valor eval b.jsonl --resume');
    const lines = summaryLines(summaryOf(rs));
    assert.equal(lines[2], 'overall over the 1 evaluated questions: 100.0% (macro over types 100.0%)');
    assert.equal(lines.at(-1), 'errors: tool_outage 1', 'no throughput line without a rate');
    assert.equal(summaryLines(summaryOf([evalResult('q1', { rewards: { total: 1, values: { logic: null } } })])).find((l) => l.startsWith('rewards')), 'rewards (n=1): total 1.000; logic -');
  });
});
