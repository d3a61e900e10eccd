import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  documentLineToProgramLine,
  headerLine,
  parseVprog,
  programLineToDocumentLine,
  replaceVprogReply,
  replyLineToDocumentLine,
  resolveImagePath,
  serializeVprog,
} from '../../src/core/vprog.js';

const REPLY = `<plan>
1. Detect mugs and laptops.
2. Compare box centres.
</plan>
<answer>
mugs = gd_detect(img_pth, "mug")
laptops = gd_detect(img_pth, "laptop")
final_answer = "yes"
</answer>`;

const DOC = `# image: images/kitchen.jpg
# query: Is the red mug to the left of the laptop?
# model: Qwen3-8B

${REPLY}
`;

test('parses the header, the reply and where things are in document lines', () => {
  const d = parseVprog(DOC);
  assert.equal(d.image, 'images/kitchen.jpg');
  assert.equal(d.query, 'Is the red mug to the left of the laptop?');
  assert.deepEqual(d.headers, { image: 'images/kitchen.jpg', query: 'Is the red mug to the left of the laptop?', model: 'Qwen3-8B' });
  assert.deepEqual(d.problems, []);
  assert.equal(d.reply, REPLY);
  assert.equal(d.replyStartLine, 5);
  assert.equal(d.planLine, 5);
  assert.equal(d.answerLine, 9);
  assert.equal(d.parsed.format.score, 1);
  // program line 1 = mugs = ... on document line 10
  assert.equal(programLineToDocumentLine(d, 1), 10);
  assert.equal(programLineToDocumentLine(d, 3), 12);
  assert.equal(programLineToDocumentLine(d, 4), null);
  assert.equal(documentLineToProgramLine(d, 11), 2);
  assert.equal(documentLineToProgramLine(d, 9), null);
  assert.equal(replyLineToDocumentLine(d, 1), 5);
  const q = headerLine(d, 'QUERY');
  assert.equal(q?.line, 2);
  assert.equal(q?.valueColumn, 10);
  assert.equal(DOC.split('\n')[1]!.slice(q!.valueColumn - 1), d.query);
});

test('CRLF, BOM and lone CR give the same result, with line numbers intact', () => {
  const crlf = '\ufeff' + DOC.replace(/\n/g, '\r\n');
  const d = parseVprog(crlf);
  assert.equal(d.bom, true);
  assert.equal(d.eol, '\r\n');
  assert.equal(d.image, 'images/kitchen.jpg');
  assert.equal(d.reply, REPLY);
  assert.equal(programLineToDocumentLine(d, 1), 10);
  const cr = parseVprog(DOC.replace(/\n/g, '\r'));
  assert.equal(cr.reply, REPLY);
  assert.equal(cr.answerLine, 9);
});

test('missing header lines are problems that say what to add; the reply still parses', () => {
  const d = parseVprog(REPLY);
  assert.equal(d.image, undefined);
  assert.equal(d.query, undefined);
  const codes = d.problems.map((p) => p.code).sort();
  assert.deepEqual(codes, ['missing-image', 'missing-query']);
  assert.match(d.problems.find((p) => p.code === 'missing-image')!.message, /# image: <path>/);
  assert.equal(d.replyStartLine, 1);
  assert.equal(d.parsed.format.score, 1);
  const onlyImage = parseVprog(`# image: a.png\n\n${REPLY}`);
  assert.deepEqual(onlyImage.problems.map((p) => p.code), ['missing-query']);
  const empty = parseVprog('# image:\n# query: q\n\nx');
  assert.deepEqual(empty.problems.map((p) => [p.code, p.line]), [['empty-image', 1]]);
  assert.equal(empty.image, undefined);
  assert.equal(parseVprog('').reply, '');
});

test('duplicates, comments, leading blank lines, no separator, misplaced headers', () => {
  const d = parseVprog('\n\n# image: a.png\n# a note without a key\n# image: b.png\n# query: q?\n<plan>1</plan><answer>x=1</answer>');
  assert.equal(d.image, 'a.png');
  assert.deepEqual(d.problems.map((p) => [p.code, p.line]), [['duplicate-header', 5]]);
  assert.equal(d.replyStartLine, 7);
  assert.equal(d.planLine, 7);
  const late = parseVprog(`\n<plan>1</plan>\n# image: a.png\n# query: q`);
  assert.ok(late.problems.some((p) => p.code === 'misplaced-header' && p.line === 3));
  // a Python comment in the program that looks like a header is not one
  const pyComment = parseVprog(`# image: a.png\n# query: q\n\n<plan>1</plan>\n<answer>\n# image: not a header\nx = 1\n</answer>`);
  assert.equal(pyComment.image, 'a.png');
  assert.equal(pyComment.parsed.program, '# image: not a header\nx = 1');
});

test('serializeVprog round-trips through parseVprog (reply exact, headers kept)', () => {
  for (const reply of [REPLY, `${REPLY}\n`, '', '\n\n<plan>x</plan>', 'no tags at all\r\nsecond']) {
    const text = serializeVprog({ image: 'img/a b.jpg', query: 'Is it\nleft?', reply: reply.replace(/\r\n/g, '\n'), headers: { model: 'm', Image: 'ignored', 'bad key': 'x' } });
    const d = parseVprog(text);
    assert.equal(d.reply, reply.replace(/\r\n/g, '\n'));
    assert.equal(d.image, 'img/a b.jpg');
    assert.equal(d.query, 'Is it left?');
    assert.deepEqual(d.headers, { image: 'img/a b.jpg', query: 'Is it left?', model: 'm' });
    assert.deepEqual(d.problems, []);
  }
  const crlf = serializeVprog({ image: 'a', query: 'q', reply: 'x\ny', eol: '\r\n' });
  assert.equal(crlf, '# image: a\r\n# query: q\r\n\r\nx\r\ny\r\n');
});

test('replaceVprogReply keeps the header, BOM and line endings', () => {
  const text = '\ufeff' + DOC.replace(/\n/g, '\r\n');
  const out = replaceVprogReply(text, '<plan>new</plan>\n<answer>y = 2</answer>');
  assert.ok(out.startsWith('\ufeff# image: images/kitchen.jpg\r\n# query: Is the red mug'));
  const d = parseVprog(out);
  assert.equal(d.reply, '<plan>new</plan>\n<answer>y = 2</answer>');
  assert.equal(d.headers.model, 'Qwen3-8B');
  assert.ok(!/[^\r]\n/.test(out), 'all line endings stay CRLF');
  // a document without a separator line gets one
  const d2 = parseVprog(replaceVprogReply('# image: a\n# query: q\nold', 'new'));
  assert.equal(d2.reply, 'new');
  assert.equal(d2.replyStartLine, 4);
});

test('resolveImagePath: relative to the document folder, absolute, ~ and file://', () => {
  const docPath = join('/work', 'proj', 'docs', 'a.vprog');
  assert.equal(resolveImagePath(docPath, 'images/k.jpg'), resolve('/work/proj/docs/images/k.jpg'));
  assert.equal(resolveImagePath(docPath, '../k.jpg'), resolve('/work/proj/k.jpg'));
  assert.equal(resolveImagePath(docPath, '/data/x.png'), resolve('/data/x.png'));
  assert.equal(resolveImagePath(docPath, '~/pics/x.png'), join(homedir(), 'pics/x.png'));
  assert.equal(resolveImagePath(docPath, pathToFileURL('/data/y z.png').href), resolve('/data/y z.png'));
  assert.equal(resolveImagePath('rel/doc.vprog', 'i.png'), resolve('rel/i.png'));
});

test('a 5 MB document parses (large program, positions still right)', () => {
  const body = Array.from({ length: 360_000 }, (_, i) => `x${i} = ${i}`).join('\n');
  const text = `# image: a.png\n# query: q\n\n<plan>\n1. step\n</plan>\n<answer>\n${body}\n</answer>\n`;
  assert.ok(text.length > 5_000_000);
  const d = parseVprog(text);
  assert.equal(d.parsed.format.score, 1);
  assert.equal(programLineToDocumentLine(d, 1), 8);
  assert.equal(programLineToDocumentLine(d, 360_000), 360_007);
  assert.equal(documentLineToProgramLine(d, 360_007), 360_000);
  assert.equal(programLineToDocumentLine(d, 360_001), null);
});
