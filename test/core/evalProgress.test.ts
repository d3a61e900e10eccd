/**
 * Progress output of `valor eval`: a redrawn bar on a terminal, a few plain lines otherwise.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { EvalEvent } from '../../src/core/eval/loop.js';
import { createProgress } from '../../src/core/eval/progress.js';
import type { EvalResult } from '../../src/core/eval/summary.js';

function capture(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { out, text: () => text };
}

const result = { id: 'x' } as EvalResult;
function feed(p: ReturnType<typeof createProgress>, total: number, reused = 0): void {
  const events: EvalEvent[] = [{ kind: 'start', selected: total, reused, todo: total - reused, retrying: 0 }];
  for (let done = reused + 1; done <= total; done++) events.push({ kind: 'result', result, done, selected: total, correct: done, failed: 0 });
  for (const e of events) p.onEvent(e);
  p.finish();
}

describe('eval progress', () => {
  it('plain mode: a start line and about one line per 10%, no carriage returns', () => {
    let t = 0;
    const c = capture();
    const p = createProgress({ out: c.out, tty: false, intervalMs: 1e9, now: () => (t += 10) });
    feed(p, 100, 20);
    const lines = c.text().trim().split('\n');
    assert.equal(lines[0], 'eval: 100 questions, 20 already done, 80 to run');
    // 30%, 40%, ..., 100%: one line each, the last one at 100/100
    assert.equal(lines.length, 1 + 8);
    assert.match(lines.at(-1) ?? '', /^eval: 100\/100 done, 100 correct, 0 failed, [\d.]+ q\/s, eta 0s$/);
    assert.ok(!c.text().includes('\r'));
  });

  it('terminal mode: redraws one line and ends it on finish', () => {
    let t = 0;
    const c = capture();
    const p = createProgress({ out: c.out, tty: true, now: () => (t += 200) });
    feed(p, 5);
    const text = c.text();
    assert.ok(text.includes('\r\x1b[2K[#'));
    assert.match(text, /\[#{28}\] 100% 5\/5 done/);
    assert.ok(text.endsWith('\n'));
  });

  it('warnings go on their own line', () => {
    const c = capture();
    const p = createProgress({ out: c.out, tty: false });
    p.onEvent({ kind: 'warn', message: 'tool server did not answer' });
    assert.equal(c.text(), 'eval: warning: tool server did not answer\n');
  });
});
