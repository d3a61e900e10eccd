/**
 * The console lines at the end of `valor eval`: incomplete runs and incomplete reward totals are
 * said to be incomplete, never shown as a plain number or 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { notEvaluated, summaryLines } from '../../src/core/eval/summary.js';
import { evalResult as result, summaryOf } from '../helpers/evalResults.js';

describe('eval summary lines', () => {
  it('outages are not evaluated: left out of the accuracy, which says what it is over', () => {
    const rs = [
      result('q1'),
      result('q2', { prediction: 'no', correct: false, score: 0 }),
      result('q3', { prediction: null, correct: false, score: 0, error_kind: 'endpoint_outage', error_type: 'ChatError:server' }),
      result('q4', { prediction: null, correct: false, score: 0, error_kind: 'tool_outage' }),
    ];
    assert.deepEqual(rs.map(notEvaluated), [false, false, true, true]);
    const s = summaryOf(rs, { resume_command: 'valor eval b.jsonl --out o --resume' });
    assert.equal(s.counts.evaluated, 2);
    assert.equal(s.metrics.overall.n, 2);
    assert.equal(s.metrics.overall.score, 0.5, 'accuracy over the evaluated questions, not 1 of 4');
    const lines = summaryLines(s);
    assert.equal(lines[0], 'incomplete: 2 questions not evaluated (tool_outage 1, endpoint_outage 1); run them with: valor eval b.jsonl --out o --resume');
    assert.ok(lines.includes('overall over the 2 evaluated questions: 50.0% (macro over types 50.0%)'), lines.join('\n'));
  });

  it('a program error is evaluated (it is the model\'s failure) and keeps the run complete', () => {
    const s = summaryOf([result('q1'), result('q2', { prediction: null, correct: false, score: 0, error_kind: 'program', error_type: 'ZeroDivisionError' })]);
    assert.equal(s.counts.not_evaluated, 0);
    assert.equal(s.metrics.overall.score, 0.5);
    const lines = summaryLines(s);
    assert.ok(!lines.some((l) => /incomplete/.test(l)));
    assert.ok(lines.includes('overall: 50.0% (macro over types 50.0%)'));
  });

  it('--score totals with a failed judge are shown as incomplete, not as a plain mean or 0.000', () => {
    const withTotal = (id: string, total: number | null) => result(id, { rewards: { total, values: { logic: total === null ? null : 1 } } });
    const partial = summaryLines(summaryOf([withTotal('q1', 0), withTotal('q2', null)])).find((l) => l.startsWith('rewards'));
    assert.match(partial ?? '', /^rewards \(n=2\): total 0\.000 over 1 questions, incomplete for 1 \(a judge failed\);/);
    const none = summaryLines(summaryOf([withTotal('q1', null), withTotal('q2', null)])).find((l) => l.startsWith('rewards'));
    assert.match(none ?? '', /^rewards \(n=2\): total incomplete \(no question has a complete total; 2 with a failed judge\);/);
    assert.doesNotMatch(none ?? '', /0\.000/);
  });
});
