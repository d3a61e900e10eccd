// Reading a model reply (src/core/reply.ts) in detail: each diagnostic's wording, line and column,
// the caps on repeated problems and their summary lines, fence and indentation handling with the
// positions that map program lines back to the reply, and the line-mapping helpers' edges.
// reply.test.ts holds the main cases; these were added for mutants that survived it
// (docs/testing.md). Positions are counted by hand: lines and columns are 1-based.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseReply } from '../../src/core/reply.js';
import { programLineOffset, programLineToReplyLine, programPositionToReply, replyLineToProgramLine } from '../../src/core/replyLines.js';

type Diag = [severity: string, code: string, line: number | undefined, column: number | undefined, message: string];
const diags = (s: string): Diag[] => parseReply(s).format.diagnostics.map((d) => [d.severity, d.code ?? '', d.line, d.column, d.message]);

describe('diagnostic wording and positions', () => {
  test('missing blocks: errors without a position, naming what belongs in each', () => {
    assert.deepEqual(diags('stray text only'), [
      ['error', 'missing-plan', undefined, undefined, 'the reply has no <plan> block: a VALOR reply holds the numbered plan inside <plan>...</plan>, before the program'],
      ['error', 'missing-answer', undefined, undefined, 'the reply has no <answer> block: a VALOR reply holds the Python program inside <answer>...</answer>, after the plan'],
    ]);
  });

  test('an unclosed plan says where it opened; only an unclosed answer mentions the token limit', () => {
    assert.deepEqual(diags('<plan>x'), [
      ['error', 'unclosed-plan', 1, 1, '<plan> at line 1, column 1 is never closed: add </plan> after the plan'],
      ['error', 'missing-answer', undefined, undefined, 'the reply has no <answer> block: a VALOR reply holds the Python program inside <answer>...</answer>, after the plan'],
    ]);
    const cut = diags('<plan>a</plan>\n\n  <answer>x = 1');
    assert.deepEqual(cut, [
      ['error', 'unclosed-answer', 3, 3, '<answer> at line 3, column 3 is never closed: add </answer> after the program (a reply cut off by the token limit ends like this)'],
      ['warning', 'outside-text', 3, 3, 'text outside the <plan> and <answer> blocks at line 3, column 3 is ignored ("<answer>x = 1"): keep everything inside the two blocks'],
    ]);
  });

  test('answer before plan, and blocks that overlap, name both places', () => {
    assert.deepEqual(diags('<answer>x</answer>\n<plan>a</plan>'), [
      ['warning', 'order', 1, 1, 'the <answer> block (line 1, column 1) comes before the <plan> block (line 2, column 1): write the plan first, then the program that follows it'],
    ]);
    const overlap = 'the <plan> and <answer> blocks overlap (one opens inside the other): close </plan> before <answer>';
    // The overlap is reported where the later block opens.
    assert.deepEqual(diags('<plan>a <answer>x</plan> y</answer>'), [['warning', 'overlap', 1, 9, overlap]]);
    assert.deepEqual(diags('<answer>x <plan>a</answer> y</plan>').map((d) => d.slice(1, 4)), [
      ['order', 1, 1],
      ['overlap', 1, 11],
    ]);
    // Blocks that only touch do not overlap.
    assert.deepEqual(diags('<plan>a</plan><answer>x</answer>'), []);
  });

  test('a repeated block: the count and where the second one starts', () => {
    const r = parseReply('<plan>a</plan><plan>b</plan><plan>c</plan>\n<answer>x</answer>');
    assert.equal(r.format.score, 0.5);
    assert.equal(r.plan, 'a');
    assert.deepEqual(diags('<plan>a</plan><plan>b</plan><plan>c</plan>\n<answer>x</answer>'), [
      ['warning', 'repeated-plan', 1, 15, 'the reply has 3 <plan> blocks (the next one at line 1, column 15); VALOR expects exactly one, so the format score is 0.5. The first one is used'],
    ]);
  });

  test('empty plan and empty program name their block', () => {
    assert.deepEqual(diags('<plan>\n\n</plan>\n<answer>x</answer>'), [
      ['warning', 'empty-plan', 1, 1, 'the <plan> block at line 1, column 1 is empty: write numbered steps that say how the tools answer the question'],
    ]);
    const r = parseReply('<plan>a</plan>\n<answer>\n\n   \n</answer>');
    assert.equal(r.program, '');
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programLineCount], [null, null, 0]);
    assert.deepEqual(diags('<plan>a</plan>\n<answer>\n\n   \n</answer>'), [
      ['error', 'empty-program', 2, 1, 'the <answer> block at line 2, column 1 holds no program: put the Python code that sets final_answer inside it'],
    ]);
  });

  test('a look-alike tag is named with its spelling and the exact one to write', () => {
    assert.deepEqual(diags('<plan>a</plan>\n<answer>x</ Answer >'), [
      ['warning', 'tag-spelling', 2, 10, '"</ Answer >" at line 2, column 10 is not counted as a VALOR tag: write it exactly as </answer> (lower case, no spaces)'],
      ['error', 'unclosed-answer', 2, 1, '<answer> at line 2, column 1 is never closed: add </answer> after the program (a reply cut off by the token limit ends like this)'],
      ['warning', 'outside-text', 2, 1, 'text outside the <plan> and <answer> blocks at line 2, column 1 is ignored ("<answer>x</ Answer >"): keep everything inside the two blocks'],
    ]);
  });
});

describe('repeated problems are capped at three, then summarised', () => {
  test('stray closing tags', () => {
    const d = diags('</plan></plan></plan></plan></plan><plan>a</plan><answer>x</answer>');
    assert.deepEqual(d.filter((x) => x[1] === 'stray-close-plan'), [
      ['warning', 'stray-close-plan', 1, 1, '</plan> at line 1, column 1 closes nothing: there is no <plan> open before it'],
      ['warning', 'stray-close-plan', 1, 8, '</plan> at line 1, column 8 closes nothing: there is no <plan> open before it'],
      ['warning', 'stray-close-plan', 1, 15, '</plan> at line 1, column 15 closes nothing: there is no <plan> open before it'],
      ['warning', 'stray-close-plan', undefined, undefined, '2 more </plan> tags close nothing'],
    ]);
    // Exactly three: no summary line.
    assert.equal(diags('</answer></answer></answer><plan>a</plan><answer>x</answer>').filter((x) => x[1] === 'stray-close-answer').length, 3);
  });

  test('nested opening tags', () => {
    const r = parseReply('<plan>a<plan><plan><plan><plan><plan></plan><answer>x</answer>');
    assert.equal(r.plan, 'a<plan><plan><plan><plan><plan>');
    assert.deepEqual(r.format.diagnostics.map((x) => [x.code, x.line, x.column, x.message]), [
      ['nested-plan', 1, 8, '<plan> at line 1, column 8 opens while the <plan> at line 1, column 1 is still open: close the first block with </plan> before starting another'],
      ['nested-plan', 1, 14, '<plan> at line 1, column 14 opens while the <plan> at line 1, column 1 is still open: close the first block with </plan> before starting another'],
      ['nested-plan', 1, 20, '<plan> at line 1, column 20 opens while the <plan> at line 1, column 1 is still open: close the first block with </plan> before starting another'],
      ['nested-plan', undefined, undefined, '2 more <plan> tags open inside an unclosed <plan>'],
    ]);
    assert.deepEqual(
      diags('<plan>a</plan><answer>x<answer><answer><answer></answer>').map((x) => x[1]),
      ['nested-answer', 'nested-answer', 'nested-answer'],
    );
  });

  test('look-alike tags: three warnings, the rest silently not counted', () => {
    const d = diags('<Plan><PLAN>< plan><plan ></plan><plan>a</plan><answer>x</answer>');
    assert.deepEqual(d.filter((x) => x[1] === 'tag-spelling').map((x) => [x[2], x[3], x[4].slice(0, 9)]), [
      [1, 1, '"<Plan>" '],
      [1, 7, '"<PLAN>" '],
      [1, 13, '"< plan>"'],
    ]);
  });

  test('text outside the blocks: three warnings with a snippet, then a count', () => {
    const text = 'one\n<plan>a</plan>\ntwo\n<answer>x</answer>\nthree\n<plan>b</plan>\nfour\n<plan>c</plan> five';
    const out = parseReply(text).format.diagnostics.filter((x) => x.code === 'outside-text');
    assert.deepEqual(out.map((x) => [x.line, x.column, x.message]), [
      [1, 1, 'text outside the <plan> and <answer> blocks at line 1, column 1 is ignored ("one"): keep everything inside the two blocks'],
      [3, 1, 'text outside the <plan> and <answer> blocks at line 3, column 1 is ignored ("two"): keep everything inside the two blocks'],
      [5, 1, 'text outside the <plan> and <answer> blocks at line 5, column 1 is ignored ("three"): keep everything inside the two blocks'],
      [undefined, undefined, '2 more stretches of text outside the blocks are ignored'],
    ]);
  });
});

describe('text outside the blocks', () => {
  test('the snippet is the first 40 characters with spaces folded, then an ellipsis', () => {
    const d = diags('\n  Here is a long preamble\n\n that goes on and on, well past forty characters.\n<plan>a</plan><answer>x</answer>');
    assert.deepEqual(d, [
      ['warning', 'outside-text', 2, 3, 'text outside the <plan> and <answer> blocks at line 2, column 3 is ignored ("Here is a long preamble that goes on and…"): keep everything inside the two blocks'],
    ]);
    // Exactly 40 characters: no ellipsis.
    const forty = 'x'.repeat(40);
    assert.match(diags(`${forty}<plan>a</plan><answer>x</answer>`)[0]?.[4] ?? '', new RegExp(`\\("${forty}"\\)`));
  });

  test('a think block alone is info at its first character; with other text it is outside text', () => {
    assert.deepEqual(diags('\n\n  <think>hmm</think>\n<plan>a</plan><answer>x</answer>'), [['info', 'think-block', 3, 3, 'a <think> block at line 3, column 3 is outside the tags and ignored']]);
    assert.deepEqual(diags('<plan>a</plan><answer>x</answer><think>a</think>\n<think>b</think>').map((x) => x[1]), ['think-block']);
    assert.deepEqual(diags('<think>a</think> tail\n<plan>a</plan><answer>x</answer>').map((x) => [x[1], x[2], x[3]]), [['outside-text', 1, 1]]);
    // An unclosed think block is text.
    assert.deepEqual(diags('<think>a\n<plan>a</plan><answer>x</answer>').map((x) => x[1]), ['outside-text']);
    // Text between two think blocks is text.
    assert.deepEqual(diags('<think>a</think>b<think>c</think><plan>a</plan><answer>x</answer>').map((x) => x[1]), ['outside-text']);
  });

  test('text after the last block is reported, and blank text anywhere is not', () => {
    assert.deepEqual(diags('<plan>a</plan> \n\t\n<answer>x</answer>\n\n'), []);
    assert.deepEqual(diags('<plan>a</plan><answer>x</answer>!').map((x) => [x[1], x[2], x[3]]), [['outside-text', 1, 33]]);
  });
});

describe('blocks and positions', () => {
  test('each block records where its tags start and its content offsets', () => {
    const r = parseReply('x\n<plan>ab</plan>\n  <answer>\nq = 1\n</answer>');
    assert.deepEqual(r.planBlocks, [{ open: { offset: 2, line: 2, column: 1 }, close: { offset: 10, line: 2, column: 9 }, contentStart: 8, contentEnd: 10 }]);
    assert.deepEqual(r.answerBlocks, [{ open: { offset: 20, line: 3, column: 3 }, close: { offset: 35, line: 5, column: 1 }, contentStart: 28, contentEnd: 35 }]);
    assert.deepEqual(r.counts, { plan: 1, answer: 1 });
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programLineCount], [4, 1, 1]);
  });

  test('positions on later lines of a long reply', () => {
    const lines = Array.from({ length: 9 }, (_, i) => `line ${i + 1}`);
    const r = parseReply(`${lines.join('\n')}\n<plan>a</plan>\n<answer>x</answer>`);
    // Nine lines of 6 characters and a newline each: the plan opens at offset 63.
    assert.deepEqual(r.planBlocks[0]?.open, { offset: 63, line: 10, column: 1 });
    assert.deepEqual(r.answerBlocks[0]?.open, { offset: 78, line: 11, column: 1 });
    assert.deepEqual(diags(`${lines.join('\n')}\n<plan>a</plan>\n<answer>x</answer>`)[0]?.slice(1, 4), ['outside-text', 1, 1]);
  });
});

describe('code fences', () => {
  test('text after the closing fence is named where its words start; blank lines after it are fine', () => {
    const r = parseReply('<plan>a</plan>\n<answer>\n  ```py\n  x = 1\n  ```\n  trailing words\n</answer>');
    assert.equal(r.program, 'x = 1');
    assert.deepEqual(r.fence, { language: 'py' });
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programIndent], [4, 3, 2]);
    assert.deepEqual(r.format.diagnostics.map((x) => [x.code, x.line, x.column, x.message]), [
      ['fence-text', 6, 3, 'text after the code fence inside <answer> (line 6, column 3) is ignored: put only the program inside <answer>'],
    ]);
    assert.deepEqual(diags('<plan>a</plan>\n<answer>\n```\nx = 1\n```\n\n  \n</answer>'), []);
  });

  test('text before the fence is named at its first non-blank line', () => {
    assert.deepEqual(diags('<plan>a</plan><answer>\n\nHere:\n```python\nx = 1\n```\n</answer>'), [
      ['warning', 'fence-text', 3, 1, 'text before the code fence inside <answer> (line 3, column 1) is ignored: put only the program inside <answer>'],
    ]);
  });

  test('a second code block is named where it opens', () => {
    assert.deepEqual(diags('<plan>a</plan>\n<answer>\n```python\nx = 1\n```\n\n```\ny\n```\n</answer>'), [
      ['warning', 'fence-multiple', 7, 1, 'a second code block inside <answer> (line 7, column 1) is ignored: put the whole program in one block'],
    ]);
  });

  test('an unclosed fence is named where it opens, and the rest is the program', () => {
    const r = parseReply('<plan>a</plan><answer>\n```python\nx = 1\n</answer>');
    assert.deepEqual([r.program, r.programStartLine, r.programStartColumn], ['x = 1', 3, 1]);
    assert.deepEqual(r.format.diagnostics.map((x) => [x.code, x.line, x.column, x.message]), [
      ['fence-unclosed', 2, 1, 'the code fence opened at line 2, column 1 is never closed with ```: the rest of <answer> is taken as the program'],
    ]);
  });

  test('an unclosed fence with nothing after it; one code line closed at its end; a last line that is itself a fence', () => {
    const shape = (s: string) => {
      const r = parseReply(s);
      return [r.program, r.format.diagnostics.map((d) => d.code)];
    };
    // Nothing, or only blank lines, after the opener: no line to look at for a closing ```.
    assert.deepEqual(shape('<plan>a</plan><answer>\n```python</answer>'), ['', ['fence-unclosed', 'empty-program']]);
    assert.deepEqual(shape('<plan>a</plan><answer>\n```python\n\n\n</answer>'), ['', ['fence-unclosed', 'empty-program']]);
    // The only code line ends with the fence, with no space before it: that closes the block.
    assert.deepEqual(shape('<plan>a</plan><answer>\n```python\ny=2```\n</answer>'), ['y=2', []]);
    // A last line that starts with ``` (indented or not) is another fence, not the end of code.
    assert.deepEqual(shape('<plan>a</plan><answer>\n```python\nx = 1\n```foo```\n</answer>'), ['x = 1\n```foo```', ['fence-unclosed']]);
    assert.deepEqual(shape('<plan>a</plan><answer>\n```python\nx = 1\n  ```foo```\n</answer>'), ['x = 1\n  ```foo```', ['fence-unclosed']]);
  });

  test('the fence language may hold + . # -, and a fence may be indented', () => {
    assert.deepEqual(parseReply('<plan>a</plan><answer>\n```c++\nx\n```\n</answer>').fence, { language: 'c++' });
    assert.deepEqual(parseReply('<plan>a</plan><answer>\n ``` objective-c \nx\n ```\n</answer>').fence, { language: 'objective-c' });
    assert.equal(parseReply('<plan>a</plan><answer>\n```\r\nx\r\n```\r\n</answer>').program, 'x');
  });

  test('a fence on the tag line: the program starts after it', () => {
    const r = parseReply('<plan>a</plan><answer>  ```python x = 1```  </answer>');
    assert.equal(r.program, 'x = 1');
    assert.deepEqual(r.fence, { language: 'python' });
    // 22 characters of tags, then "  ```python " (12): the program starts at offset 34, column 35.
    assert.deepEqual([r.programStartLine, r.programStartColumn], [1, 35]);
    const twoLines = parseReply('<plan>a</plan><answer>``` x = 1\ny = 2```</answer>');
    assert.equal(twoLines.program, 'x = 1\ny = 2');
    assert.deepEqual(twoLines.fence, { language: '' });
  });
});

describe('indentation and line endings', () => {
  test('a common indentation of tabs is removed and mapped', () => {
    const r = parseReply('<plan>a</plan>\n<answer>\n\tx = 1\n\tif x:\n\t\ty = 2\n</answer>');
    assert.equal(r.program, 'x = 1\nif x:\n\ty = 2');
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programIndent, r.programLineCount], [3, 2, 1, 3]);
    assert.deepEqual(programPositionToReply(r, 3, 2), { line: 5, column: 3 });
  });

  test('only the indentation all lines share is removed', () => {
    const r = parseReply('<plan>a</plan>\n<answer>\n    x = 1\n  y = 2\n</answer>');
    assert.equal(r.program, '  x = 1\ny = 2');
    assert.deepEqual([r.programStartColumn, r.programIndent], [3, 2]);
    // Tabs and spaces share nothing.
    assert.equal(parseReply('<plan>a</plan>\n<answer>\n  x = 1\n\ty = 2\n</answer>').program, '  x = 1\n\ty = 2');
  });

  test('blank lines inside the program stay, shorter than the indentation or not; trailing spaces go', () => {
    const r = parseReply('<plan>a</plan>\n<answer>\n    x = 1\n  \n\n    y = 2   \n</answer>');
    assert.equal(r.program, 'x = 1\n\n\ny = 2');
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programIndent, r.programLineCount], [3, 5, 4, 4]);
  });

  test('CRLF line endings are removed from every line', () => {
    const r = parseReply('<plan>a</plan>\r\n<answer>\r\n  x = 1\r\n  y = 2\r\n</answer>');
    assert.equal(r.program, 'x = 1\ny = 2');
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programIndent], [3, 3, 2]);
  });

  test('blank lines after the tag: the program starts on its first real line', () => {
    const r = parseReply('<plan>a</plan><answer>   \n  x = 1\n  y = 2</answer>');
    assert.equal(r.program, 'x = 1\ny = 2');
    assert.deepEqual([r.programStartLine, r.programStartColumn, r.programIndent], [2, 3, 2]);
  });
});

describe('line mapping helpers at their edges', () => {
  const r = parseReply('<plan>a</plan>\n<answer>\n  x = 1\n  y = 2\n  z = 3\n</answer>');
  test('program line to reply line: in range only, integers only', () => {
    assert.deepEqual([r.programStartLine, r.programLineCount], [3, 3]);
    assert.equal(programLineToReplyLine(r, 1), 3);
    assert.equal(programLineToReplyLine(r, 3), 5);
    assert.equal(programLineToReplyLine(r, 0), null);
    assert.equal(programLineToReplyLine(r, 4), null);
    assert.equal(programLineToReplyLine(r, 1.5), null);
    assert.equal(programLineToReplyLine({ programStartLine: null, programLineCount: 3 }, 1), null);
  });
  test('reply line to program line: in range only, integers only', () => {
    assert.equal(replyLineToProgramLine(r, 3), 1);
    assert.equal(replyLineToProgramLine(r, 5), 3);
    assert.equal(replyLineToProgramLine(r, 2), null);
    assert.equal(replyLineToProgramLine(r, 6), null);
    assert.equal(replyLineToProgramLine(r, 3.5), null);
    assert.equal(replyLineToProgramLine({ programStartLine: null, programLineCount: 3 }, 3), null);
  });
  test('program position to reply position: the indentation is added back after line 1', () => {
    assert.deepEqual(programPositionToReply(r, 1, 1), { line: 3, column: 3 });
    assert.deepEqual(programPositionToReply(r, 2, 4), { line: 4, column: 6 });
    assert.equal(programPositionToReply(r, 4, 1), null);
    assert.equal(programPositionToReply({ programStartLine: 3, programLineCount: 3, programStartColumn: null, programIndent: 2 }, 1, 1), null);
  });
  test('program line offset', () => {
    assert.equal(programLineOffset(r), 2);
    assert.equal(programLineOffset({ programStartLine: null }), null);
  });
});

describe('untyped input', () => {
  test('a number is read as its text, null as empty', () => {
    assert.deepEqual(diags(42 as unknown as string).map((x) => x[1]), ['missing-plan', 'missing-answer']);
    const n = parseReply(null as unknown as string);
    assert.deepEqual([n.format.score, n.plan, n.program], [0, null, null]);
    assert.deepEqual(n.format.diagnostics.map((x) => x.code), ['missing-plan', 'missing-answer']);
  });
});

describe('details found by the second mutation run', () => {
  test('a plan without an answer reports only the missing answer', () => {
    assert.deepEqual(diags('<plan>a</plan>').map((x) => x[1]), ['missing-answer']);
    assert.deepEqual(diags('<answer>x</answer>').map((x) => x[1]), ['missing-plan']);
  });

  test('only a line that is just ``` closes a fence; spaces after it are fine', () => {
    // A Python comment that ends in backticks is program text.
    const r = parseReply('<plan>a</plan><answer>\n```python\n# as in ```\nx = 1\n```\n</answer>');
    assert.equal(r.program, '# as in ```\nx = 1');
    assert.deepEqual(r.format.diagnostics, []);
    const spaced = parseReply('<plan>a</plan><answer>\n```python\nx = 1\n```   \n</answer>');
    assert.equal(spaced.program, 'x = 1');
    assert.deepEqual(spaced.format.diagnostics, []);
  });

  test('backticks inside the first program line are not a fence', () => {
    const r = parseReply('<plan>a</plan><answer>print("```")</answer>');
    assert.equal(r.program, 'print("```")');
    assert.equal(r.fence, null);
    assert.deepEqual([r.programStartLine, r.programStartColumn], [1, 23]);
  });

  test('a fence on the tag line that is never closed keeps the whole last line', () => {
    const r = parseReply('<plan>a</plan><answer>```python x = 1\ny = 2</answer>');
    assert.equal(r.program, 'x = 1\ny = 2');
    assert.deepEqual(r.fence, { language: 'python' });
    assert.equal(parseReply('<plan>a</plan><answer>```python x = 1\ny</answer>').program, 'x = 1\ny');
    // Backticks on the last line followed by more text are program text, not the closing fence.
    assert.equal(parseReply('<plan>a</plan><answer>```python x = 1\nprint("```") </answer>').program, 'x = 1\nprint("```")');
  });

  test('exactly three stretches of outside text: three warnings and no summary', () => {
    assert.deepEqual(diags('one\n<plan>a</plan>\ntwo\n<answer>x</answer>\nthree').map((x) => [x[1], x[2]]), [
      ['outside-text', 1],
      ['outside-text', 3],
      ['outside-text', 5],
    ]);
  });
});
