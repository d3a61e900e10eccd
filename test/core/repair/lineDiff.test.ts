// The line diff shown for a proposed repair: known cases, and on random inputs that it rebuilds
// both sides and is as short as the longest common subsequence allows (an independent DP).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffStats, formatLineDiff, lineDiff, newSide, oldSide } from '../../../src/core/repair/lineDiff.js';
import { rng } from '../../helpers/rng.js';

function lcsLength(a: string[], b: string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) dp[i]![j] = a[i - 1] === b[j - 1] ? dp[i - 1]![j - 1]! + 1 : Math.max(dp[i - 1]![j]!, dp[i]![j - 1]!);
  return dp[a.length]![b.length]!;
}

describe('lineDiff', () => {
  test('a one-line fix: the rest is kept, with old and new line numbers', () => {
    const old = 'mugs = gd_detect(img_pth, "mug")\nn = len(mug)\nfinal_answer = n';
    const fix = 'mugs = gd_detect(img_pth, "mug")\nn = len(mugs)\nfinal_answer = n\n';
    const d = lineDiff(old, fix);
    assert.deepEqual(d, [
      { op: 'equal', text: 'mugs = gd_detect(img_pth, "mug")', oldLine: 1, newLine: 1 },
      { op: 'delete', text: 'n = len(mug)', oldLine: 2 },
      { op: 'insert', text: 'n = len(mugs)', newLine: 2 },
      { op: 'equal', text: 'final_answer = n', oldLine: 3, newLine: 3 },
    ]);
    assert.deepEqual(diffStats(d), { equal: 2, deleted: 1, inserted: 1 });
    assert.equal(formatLineDiff(d), '  mugs = gd_detect(img_pth, "mug")\n- n = len(mug)\n+ n = len(mugs)\n  final_answer = n');
  });

  test('empty sides, identical texts, CRLF', () => {
    assert.deepEqual(lineDiff('', ''), []);
    assert.deepEqual(lineDiff('', 'a\nb').map((x) => x.op), ['insert', 'insert']);
    assert.deepEqual(lineDiff('a\nb', '').map((x) => x.op), ['delete', 'delete']);
    assert.deepEqual(lineDiff('a\r\nb\r\n', 'a\nb').map((x) => x.op), ['equal', 'equal']);
  });

  test('an insertion in the middle of repeated lines is found as one insertion', () => {
    const d = lineDiff('x\nx\nx\ny', 'x\nx\nz\nx\ny');
    assert.deepEqual(diffStats(d), { equal: 4, deleted: 0, inserted: 1 });
  });

  test('random texts: both sides rebuilt, and the edit script is as short as the LCS allows', () => {
    const r = rng(1234);
    const words = ['a', 'b', 'c', 'd', 'e'];
    for (let n = 0; n < 300; n++) {
      const a = Array.from({ length: Math.floor(r() * 14) }, () => words[Math.floor(r() * words.length)]!);
      const b = Array.from({ length: Math.floor(r() * 14) }, () => words[Math.floor(r() * words.length)]!);
      const d = lineDiff(a.join('\n'), b.join('\n'));
      assert.equal(oldSide(d), a.join('\n'));
      assert.equal(newSide(d), b.join('\n'));
      const s = diffStats(d);
      const l = lcsLength(a, b);
      assert.equal(s.equal, l, `${JSON.stringify(a)} → ${JSON.stringify(b)}`);
      assert.equal(s.deleted + s.inserted, a.length + b.length - 2 * l);
    }
  });

  test('a large rewrite still gives a correct diff', () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 3000 }, (_, i) => `b${i}`).join('\n');
    const d = lineDiff(a, b);
    assert.equal(oldSide(d), a);
    assert.equal(newSide(d), b);
    assert.deepEqual(diffStats(d), { equal: 0, deleted: 3000, inserted: 3000 });
  });
});
