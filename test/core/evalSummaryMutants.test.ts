/**
 * What the eval-summary mutation run found untested (docs/testing.md "eval-summary"): the output
 * folder's file names, the order of questions on one line and of program error types, which errors
 * count as program error types, the repair section over the evaluated questions only, and the
 * exact wording of the terminal lines. Every figure is counted by hand.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EVAL_RUNS_SUBDIR, REPORT_FILE, sortResults, SUMMARY_FILE, summarize, summaryLines } from '../../src/core/eval/summary.js';
import { evalResult, summaryOf, wrongResult } from '../helpers/evalResults.js';

describe('eval summary: what the mutation run found untested', () => {
  it('the output folder holds the files docs/eval.md promises its readers', () => {
    assert.deepEqual([SUMMARY_FILE, REPORT_FILE, EVAL_RUNS_SUBDIR], ['summary.json', 'report.html', 'runs']);
    const doc = readFileSync(join(process.cwd(), 'docs', 'eval.md'), 'utf8');
    assert.ok(doc.includes('`runs/`, `summary.json`, `report.html`'), 'docs/eval.md lists the same names');
  });

  it('sortResults: questions on one line given in reverse come out in id order', () => {
    const rs = ['e', 'd', 'c', 'b', 'a'].map((id) => evalResult(id, { line: 5 }));
    assert.deepEqual(sortResults(rs).map((r) => r.id), ['a', 'b', 'c', 'd', 'e']);
    const mixed = [evalResult('z', { line: 1 }), evalResult('y', { line: 2 }), evalResult('b', { line: 2 }), evalResult('a', { line: 3 })];
    assert.deepEqual(sortResults(mixed.reverse()).map((r) => r.id), ['z', 'b', 'y', 'a'], 'line first, then id');
  });

  it('program error types: only program errors, in name order however they arrived', () => {
    const rs = [
      // Neither sorted nor reversed, so a comparator that ignores its arguments cannot pass.
      wrongResult('q1', { prediction: null, error_kind: 'program', error_type: 'NameError' }),
      wrongResult('q2', { prediction: null, error_kind: 'program', error_type: 'ZeroDivisionError' }),
      wrongResult('q3', { prediction: null, error_kind: 'program', error_type: 'AttributeError' }),
      wrongResult('q4', { prediction: null, error_kind: 'program', error_type: 'TypeError' }),
      wrongResult('q5', { prediction: null, error_kind: 'endpoint_outage', error_type: 'ChatError:server' }),
      wrongResult('q6', { prediction: null, error_kind: 'no_program', error_type: 'NoProgram' }),
    ];
    const c = summarize(rs, 6);
    assert.deepEqual(Object.entries(c.errors.program_types), [['AttributeError', 1], ['NameError', 1], ['TypeError', 1], ['ZeroDivisionError', 1]]);
  });

  it('the repair section counts the evaluated questions only', () => {
    const repair = (stopped: 'passed' | 'max_attempts', repairs: number) => ({
      max_repairs: 2,
      repairs,
      stopped,
      original: { prediction: null, score: 0, correct: false, error_kind: 'program' as const, invalid: null },
    });
    const rs = [
      evalResult('q1', { repair: repair('passed', 1) }),
      evalResult('q2'),
      // An outage after two repairs: not evaluated, so not in the repair figures either.
      wrongResult('q3', { prediction: null, error_kind: 'tool_outage', repair: repair('max_attempts', 2) }),
    ];
    const c = summarize(rs, 3);
    assert.ok(c.repair, 'a repair section');
    assert.deepEqual([c.repair.needed, c.repair.repaired, c.repair.attempts, c.repair.repaired_after], [1, 1, 1, { 1: 1 }]);
    assert.equal(c.repair.with.overall.n, 2);
    assert.equal(c.repair.without.overall.score, 0.5, 'q1 failed before repair, q2 was right');
  });

  it('the terminal lines, word for word: --resume when no command is known, no input note without skipped lines, float accuracy named', () => {
    const rs = [
      evalResult('q1'),
      evalResult('q2', { type: 'float', ground_truth: 2, prediction: '1.5', score: 0.75, correct: false }),
      wrongResult('q3', { prediction: null, error_kind: 'tool_outage' }),
    ];
    const lines = summaryLines(summaryOf(rs));
    assert.deepEqual(lines.slice(0, 5), [
      'incomplete: 1 question not evaluated (tool_outage 1); run them with --resume',
      'questions: 3/3 done, 1 correct, 1 failed, 0 unreadable answers',
      'overall over the 2 evaluated questions: 87.5% (macro over types 87.5%)',
      '  yesno  100.0%  n=1 correct=1 failed=0',
      '  float   75.0%  n=1 correct=0 failed=0 (mean relative accuracy)',
    ]);
  });

  it('the errors line lists each kind that occurred, and is left out when none did; a score that cannot be computed is "-"', () => {
    const rs = [
      wrongResult('q1', { prediction: null, error_kind: 'program', error_type: 'NameError' }),
      wrongResult('q2', { prediction: null, error_kind: 'tool_outage' }),
      wrongResult('q3', { prediction: null, error_kind: 'tool_outage' }),
    ];
    assert.ok(summaryLines(summaryOf(rs)).includes('errors: program 1, tool_outage 2'));
    assert.ok(!summaryLines(summaryOf([evalResult('q1')])).some((l) => l.startsWith('errors')), 'no errors line for a clean run');
    // Nothing evaluated: no accuracy to show.
    const none = summaryLines(summaryOf([wrongResult('q1', { prediction: null, error_kind: 'endpoint_outage' })]));
    assert.ok(none.includes('overall over the 0 evaluated questions: - (macro over types -)'), none.join('\n'));
  });
});
