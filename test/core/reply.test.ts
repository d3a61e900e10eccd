import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScore, parseReply } from '../../src/core/reply.js';
import { programLineOffset, programLineToReplyLine, programPositionToReply, replyLineToProgramLine } from '../../src/core/replyLines.js';
import { FormatResult } from '../../src/protocol/run.js';
import { rng } from '../helpers/rng.js';

const codes = (r: ReturnType<typeof parseReply>): string[] => r.format.diagnostics.map((d) => d.code ?? '');

test('a well-formed reply: score 1, plan and program, no diagnostics', () => {
  const reply = '<plan>\n1. Find the mug.\n2. Compare x.\n</plan>\n<answer>\nmugs = gd_detect(img_pth, "mug")\nfinal_answer = "yes"\n</answer>';
  const r = parseReply(reply);
  assert.equal(r.format.score, 1);
  assert.deepEqual(r.format.diagnostics, []);
  assert.equal(r.plan, '1. Find the mug.\n2. Compare x.');
  assert.equal(r.program, 'mugs = gd_detect(img_pth, "mug")\nfinal_answer = "yes"');
  assert.equal(r.programStartLine, 6);
  assert.equal(programLineToReplyLine(r, 2), 7);
  assert.equal(replyLineToProgramLine(r, 7), 2);
  assert.equal(replyLineToProgramLine(r, 5), null);
  assert.equal(programLineToReplyLine(r, 3), null);
  assert.equal(programLineOffset(r), 5);
  assert.ok(FormatResult.safeParse(r.format).success);
  assert.deepEqual(r.counts, { plan: 1, answer: 1 });
});

test('VALOR rule: missing -> 0, repeated -> 0.5, missing wins over repeated', () => {
  assert.equal(parseReply('<plan>a</plan>').format.score, 0);
  assert.equal(parseReply('<answer>x=1</answer>').format.score, 0);
  assert.equal(parseReply('').format.score, 0);
  assert.equal(parseReply('<plan>a</plan><plan>b</plan><answer>x=1</answer>').format.score, 0.5);
  assert.equal(parseReply('<plan>a</plan><answer>x=1</answer><answer>x=2</answer>').format.score, 0.5);
  assert.equal(parseReply('<plan>a</plan><plan>b</plan>').format.score, 0);
  assert.equal(formatScore({ plan: 2, answer: 0 }), 0);
  assert.equal(formatScore({ plan: 1, answer: 3 }), 0.5);
  const rep = parseReply('<plan>a</plan>\n<answer>x=1</answer>\n<answer>x=2</answer>');
  assert.equal(rep.program, 'x=1', 'the first block is used');
  const d = rep.format.diagnostics.find((x) => x.code === 'repeated-answer');
  assert.ok(d);
  assert.equal(d.line, 3);
  assert.equal(d.column, 1);
  assert.match(d.message, /2 <answer> blocks/);
});

test('missing and unclosed tags say which tag and where', () => {
  const none = parseReply('The answer is yes.');
  assert.deepEqual(codes(none).sort(), ['missing-answer', 'missing-plan']);
  assert.ok(none.format.diagnostics.every((d) => d.severity === 'error'));
  assert.equal(none.plan, null);
  assert.equal(none.program, null);

  const cut = parseReply('<plan>\n1. a\n</plan>\n<answer>\nx = gd_detect(img_pth, "cup")\n');
  assert.equal(cut.format.score, 0);
  const u = cut.format.diagnostics.find((d) => d.code === 'unclosed-answer');
  assert.ok(u);
  assert.equal(u.line, 4);
  assert.equal(u.column, 1);
  assert.match(u.message, /never closed.*<\/answer>/);
  assert.ok(!codes(cut).includes('missing-answer'), 'unclosed says it better than missing');
  assert.equal(cut.program, null);

  const stray = parseReply('<plan>a</plan></plan><answer>x=1</answer>');
  assert.equal(stray.format.score, 1);
  const s = stray.format.diagnostics.find((d) => d.code === 'stray-close-plan');
  assert.ok(s);
  assert.equal(s.column, 15);
});

test('tags in the wrong order, overlapping, look-alike spellings', () => {
  const order = parseReply('<answer>x=1</answer>\n<plan>a</plan>');
  assert.equal(order.format.score, 1);
  assert.ok(codes(order).includes('order'));
  const overlap = parseReply('<plan>a <answer>x=1</plan> y</answer>');
  assert.ok(codes(overlap).includes('overlap'));
  const caps = parseReply('<Plan>a</Plan>\n< answer >x=1</answer>');
  assert.equal(caps.format.score, 0);
  assert.ok(codes(caps).includes('tag-spelling'));
  const sp = caps.format.diagnostics.find((d) => d.code === 'tag-spelling');
  assert.equal(sp?.line, 1);
});

test('text outside the tags is a warning with its position; think blocks are info', () => {
  const r = parseReply('Sure! Here it is.\n<plan>1. a</plan>\n<answer>x = 1</answer>\nHope this helps.');
  assert.equal(r.format.score, 1);
  const out = r.format.diagnostics.filter((d) => d.code === 'outside-text');
  assert.equal(out.length, 2);
  assert.deepEqual([out[0]!.line, out[0]!.column, out[0]!.severity], [1, 1, 'warning']);
  assert.match(out[0]!.message, /Sure! Here it is\./);
  assert.equal(out[1]!.line, 4);
  const think = parseReply('<think>\n\n</think>\n\n<plan>1. a</plan><answer>x=1</answer>');
  assert.deepEqual(codes(think), ['think-block']);
  assert.equal(think.format.diagnostics[0]!.severity, 'info');
});

test('code fences inside <answer> are stripped, with line mapping preserved', () => {
  const reply = [
    '<plan>', // 1
    '1. Detect.', // 2
    '</plan>', // 3
    '<answer>', // 4
    '```python', // 5
    'a = gd_detect(img_pth, "cat")', // 6
    'if not a:', // 7
    '    final_answer = "no"', // 8
    '    return', // 9
    'final_answer = "yes"', // 10
    '```', // 11
    '</answer>', // 12
  ].join('\n');
  const r = parseReply(reply);
  assert.equal(r.format.score, 1);
  assert.deepEqual(r.fence, { language: 'python' });
  assert.equal(r.program, 'a = gd_detect(img_pth, "cat")\nif not a:\n    final_answer = "no"\n    return\nfinal_answer = "yes"');
  assert.equal(r.programStartLine, 6);
  assert.equal(programLineToReplyLine(r, 4), 9);
  assert.deepEqual(r.format.diagnostics, []);
  // bare fence, CRLF line endings
  const crlf = parseReply('<plan>1. a</plan>\r\n<answer>\r\n```\r\nx = 1\r\ny = 2\r\n```\r\n</answer>\r\n');
  assert.equal(crlf.program, 'x = 1\ny = 2');
  assert.equal(crlf.programStartLine, 4);
  assert.deepEqual(crlf.fence, { language: '' });
});

test('fence problems: unclosed, text around, a second block', () => {
  const unclosed = parseReply('<plan>1</plan><answer>\n```python\nx = 1\n</answer>');
  assert.equal(unclosed.program, 'x = 1');
  assert.ok(codes(unclosed).includes('fence-unclosed'));
  const around = parseReply('<plan>1</plan><answer>\nHere is the code:\n```python\nx = 1\n```\n</answer>');
  assert.equal(around.program, 'x = 1');
  const w = around.format.diagnostics.find((d) => d.code === 'fence-text');
  assert.equal(w?.line, 2);
  const two = parseReply('<plan>1</plan><answer>\n```python\nx = 1\n```\n```python\ny = 2\n```\n</answer>');
  assert.equal(two.program, 'x = 1');
  assert.ok(codes(two).includes('fence-multiple'));
  // Closed at the end of the last code line: the backticks are the fence, not program text.
  const tail = parseReply('<plan>1</plan><answer>```js\nx = 1\ny = 2```</answer>');
  assert.equal(tail.program, 'x = 1\ny = 2');
  assert.deepEqual(tail.fence, { language: 'js' });
  assert.ok(!codes(tail).includes('fence-unclosed'));
  const tailSpaced = parseReply('<plan>1</plan><answer>\n```python\nx = 1\ny = 2 ```  \n\n</answer>');
  assert.equal(tailSpaced.program, 'x = 1\ny = 2');
  const inline = parseReply('<plan>1</plan><answer>```python x = 1```</answer>');
  assert.equal(inline.program, 'x = 1');
});

test('indentation inside <answer> is removed uniformly; program on the tag line keeps columns mapped', () => {
  const r = parseReply('<plan>1</plan>\n<answer>\n    x = 1\n    if x:\n        y = 2\n</answer>');
  assert.equal(r.program, 'x = 1\nif x:\n    y = 2');
  assert.equal(r.programIndent, 4);
  assert.deepEqual(programPositionToReply(r, 3, 5), { line: 5, column: 9 });
  const same = parseReply('<plan>1</plan><answer>  x = 1\ny = 2</answer>');
  assert.equal(same.program, 'x = 1\ny = 2');
  assert.equal(same.programStartLine, 1);
  assert.deepEqual(programPositionToReply(same, 1, 1), { line: 1, column: 25 });
  assert.deepEqual(programPositionToReply(same, 2, 3), { line: 2, column: 3 });
});

test('empty plan and empty program are reported; the score still follows the tags', () => {
  const r = parseReply('<plan> </plan><answer>\n```python\n```\n</answer>');
  assert.equal(r.format.score, 1);
  assert.equal(r.plan, '');
  assert.equal(r.program, '');
  assert.ok(codes(r).includes('empty-plan'));
  const e = r.format.diagnostics.find((d) => d.code === 'empty-program');
  assert.equal(e?.severity, 'error');
  assert.equal(r.programStartLine, null);
});

test('nested opening of the same tag pairs like a non-greedy search', () => {
  const r = parseReply('<plan>a<plan>b</plan><answer>x</answer>');
  assert.equal(r.counts.plan, 1);
  assert.equal(r.plan, 'a<plan>b');
  assert.ok(codes(r).includes('nested-plan'));
});


test('never throws: random strings built from tag fragments, fences, CR/LF and odd code points', () => {
  const pieces = ['<plan>', '</plan>', '<answer>', '</answer>', '<Plan>', '< answer >', '```', '```python\n', '\n', '\r\n', '\r', ' ', '\t', 'x = 1', '<think>', '</think>', '<', '>', '/', '\u0000', '\ud800', '😀', 'é', 'return', '"', "'"];
  const rand = rng(12345);
  for (let i = 0; i < 3000; i++) {
    const n = Math.floor(rand() * 40);
    let s = '';
    for (let k = 0; k < n; k++) s += pieces[Math.floor(rand() * pieces.length)];
    const r = parseReply(s);
    assert.ok([0, 0.5, 1].includes(r.format.score), s);
    assert.ok(FormatResult.safeParse(r.format).success, s);
    for (const d of r.format.diagnostics) {
      if (d.line !== undefined) assert.ok(d.line >= 1 && d.column !== undefined && d.column >= 1, JSON.stringify(s));
    }
    if (r.program !== null && r.programStartLine !== null) {
      // every program line maps into the reply
      const count = r.program.split('\n').length;
      const lines = s.split('\n').length;
      const last = programLineToReplyLine(r, count);
      assert.ok(last !== null && last <= lines, JSON.stringify(s));
    }
  }
  // Non-string input from untyped callers
  assert.equal(parseReply(undefined as unknown as string).format.score, 0);
});

test('never throws and stays fast-enough on huge and adversarial inputs', () => {
  const big = `<plan>${'1. step\n'.repeat(200_000)}</plan>\n<answer>\n${'x = 1\n'.repeat(300_000)}</answer>`;
  const r = parseReply(big);
  assert.equal(r.format.score, 1);
  assert.equal(r.program?.split('\n').length, 300_000);
  const manyTags = '<plan>'.repeat(200_000) + '<think>'.repeat(100_000) + '</answer>'.repeat(100_000);
  const r2 = parseReply(manyTags);
  assert.equal(r2.format.score, 0);
  assert.ok(r2.format.diagnostics.length < 20, 'diagnostics are capped, not one per tag');
  const noNewlines = parseReply('a'.repeat(5_000_000));
  assert.equal(noNewlines.format.score, 0);
});
