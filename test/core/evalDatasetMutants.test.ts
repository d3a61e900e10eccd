// Tests written for the `eval-dataset` mutation group (docs/testing.md): reading a benchmark file
// (JSONL or one JSON array; every accepted field spelling, answer types given or inferred, every
// refusal word for word with its line, blank lines, BOM and CRLF, the 26-option limit at and one
// past) and splitting it into shards. Expected values are worked out by hand from docs/eval.md
// "Input" and the messages as written in dataset.ts and metrics.ts; the shard buckets and the
// file's sha256 were worked out with python's hashlib, never with our own code. Benchmark files
// are written to a temp folder and read with loadDataset, the way `valor eval` reads them.
// In-process, so Stryker sees their coverage.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { answerTypeFromWord, type Dataset, type EvalQuestion, loadDataset, parseDataset, parseEntry } from '../../src/core/eval/dataset.js';
import { inShard, parseShard, shardOf } from '../../src/core/eval/shard.js';

const dir = mkdtempSync(join(tmpdir(), 'valor-dataset-mut-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Writes `text` as a benchmark file and reads it back as `valor eval` does. */
async function load(text: string | Buffer, name = `b${++n}.jsonl`): Promise<Dataset> {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadDataset(file);
}
const line = (o: unknown): string => JSON.stringify(o);
const lines = (...rows: unknown[]): string => rows.map((r) => (typeof r === 'string' ? r : line(r))).join('\n');

/** The one question of a one-line file, failing loudly when the line was refused. */
async function only(o: unknown): Promise<EvalQuestion> {
  const d = await load(line(o));
  assert.deepEqual(d.problems, []);
  assert.equal(d.questions.length, 1);
  return d.questions[0] as EvalQuestion;
}
/** The refusal of a one-line file. */
async function refusal(o: unknown): Promise<string> {
  const d = await load(line(o));
  assert.deepEqual(d.questions, []);
  assert.equal(d.problems.length, 1);
  assert.equal(d.problems[0]?.line, 1);
  return d.problems[0]?.message ?? '';
}

const NO_QUESTION = 'no question: expected a non-empty string in one of "question", "query", "problem", "prompt"';
const NO_IMAGE = 'no image: expected a path in one of "image", "image_path", "img", "img_path", "image_file", "file_name", "filename"';
const NO_ANSWER = 'no ground-truth answer: expected one of "answer", "gt", "ground_truth", "gt_answer", "label"';
const NOT_OBJECT = 'expected a JSON object with a question, an image and an answer';
const OPTIONS_SHAPE = (key: string, got: string): string => `"${key}" must be a list of option texts (or an object of letter -> text), got ${got}`;
const UNKNOWN_TYPE = (w: string): string =>
  `unknown answer_type "${w}": expected one of yes/no, option, count, float, text (or a synonym such as int, str, multiple choice)`;

describe('eval-dataset: a whole question as read', () => {
  test('every field of a full line lands where it should, nothing added', async () => {
    const q = await only({ id: 'o3d-17', question: ' How many chairs? ', image: 'imgs/17.jpg', answer: 4, answer_type: 'int', benchmark: 'Omni3D' });
    assert.deepEqual(q, { id: 'o3d-17', line: 1, question: ' How many chairs? ', image: 'imgs/17.jpg', answer: 4, type: 'count', typeSource: 'given', benchmark: 'Omni3D' });
  });

  test('a minimal line: id line-N from its line, the type inferred, no options, category or benchmark keys', async () => {
    const d = await load(lines('', { question: 'a?', image: 'x.png', answer: 'yes' }));
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.questions, [{ id: 'line-2', line: 2, question: 'a?', image: 'x.png', answer: 'yes', type: 'yesno', typeSource: 'inferred' }]);
  });

  test('options and a benchmark category are kept with the question', async () => {
    const q = await only({ id: 'blink-3', question: 'Which point is closer?', image: 'b3.png', answer: '(B)', options: ['point A', 'point B'], category: 'Relative_Depth' });
    assert.deepEqual(q, {
      id: 'blink-3',
      line: 1,
      question: 'Which point is closer?',
      image: 'b3.png',
      answer: '(B)',
      type: 'option',
      typeSource: 'inferred',
      options: ['point A', 'point B'],
      category: 'Relative_Depth',
    });
  });
});

describe('eval-dataset: accepted field spellings, each on its own', () => {
  const base = { question: 'q?', image: 'x.png', answer: 'yes' };
  const without = (k: keyof typeof base): Record<string, unknown> => {
    const o: Record<string, unknown> = { ...base };
    delete o[k];
    return o;
  };

  for (const key of ['question', 'query', 'problem', 'prompt']) {
    test(`question from "${key}"`, async () => {
      const q = await only({ ...without('question'), [key]: `asked via ${key}` });
      assert.equal(q.question, `asked via ${key}`);
    });
  }
  for (const key of ['image', 'image_path', 'img', 'img_path', 'image_file', 'file_name', 'filename']) {
    test(`image from "${key}"`, async () => {
      const q = await only({ ...without('image'), [key]: `${key}.png` });
      assert.equal(q.image, `${key}.png`);
    });
  }
  for (const key of ['answer', 'gt', 'ground_truth', 'gt_answer', 'label']) {
    test(`ground truth from "${key}"`, async () => {
      const q = await only({ ...without('answer'), [key]: 'no' });
      assert.equal(q.answer, 'no');
      assert.equal(q.type, 'yesno');
    });
  }
  for (const key of ['id', 'question_id', 'qid', 'idx', 'index']) {
    test(`id from "${key}"`, async () => {
      const q = await only({ ...base, [key]: `${key}-1` });
      assert.equal(q.id, `${key}-1`);
    });
  }
  for (const key of ['answer_type', 'type', 'question_type', 'category']) {
    test(`answer type from "${key}"`, async () => {
      const q = await only({ ...base, answer: '2', [key]: 'float' });
      assert.equal(q.type, 'float');
      assert.equal(q.typeSource, 'given');
      assert.equal(q.category, undefined);
    });
  }
  for (const key of ['options', 'choices']) {
    test(`options from "${key}"`, async () => {
      const q = await only({ ...base, answer: 'b', [key]: ['red', 'blue'] });
      assert.deepEqual(q.options, ['red', 'blue']);
      assert.equal(q.type, 'option');
    });
  }
  for (const key of ['benchmark', 'dataset', 'source']) {
    test(`benchmark from "${key}", trimmed`, async () => {
      const q = await only({ ...base, [key]: '  VSR ' });
      assert.equal(q.benchmark, 'VSR');
    });
  }

  test('the first spelling present wins, and a null one counts as absent', async () => {
    const q = await only({ question: 'first', query: 'second', image: 'a.png', img: 'b.png', answer: 'yes', gt: 'no', id: 'one', qid: 'two', benchmark: 'B1', source: 'B2' });
    assert.deepEqual([q.question, q.image, q.answer, q.id, q.benchmark], ['first', 'a.png', 'yes', 'one', 'B1']);
    const r = await only({ question: null, query: 'from query', image: null, img: 'i.png', answer: null, label: 'no', id: null, idx: 7, benchmark: null, dataset: 'D' });
    assert.deepEqual([r.question, r.image, r.answer, r.id, r.benchmark], ['from query', 'i.png', 'no', '7', 'D']);
    const t = await only({ question: 'q', image: 'i', answer: '3', answer_type: null, type: 'text' });
    assert.deepEqual([t.type, t.typeSource], ['text', 'given']);
    const o = await only({ question: 'q', image: 'i', answer: 'a', options: null, choices: ['x', 'y'] });
    assert.deepEqual(o.options, ['x', 'y']);
  });

  test('a benchmark that is blank or not a string is left out', async () => {
    assert.equal('benchmark' in (await only({ ...base, benchmark: '   ' })), false);
    assert.equal('benchmark' in (await only({ ...base, benchmark: 5 })), false);
    assert.equal('benchmark' in (await only({ ...base, benchmark: '' })), false);
  });

  test('ids: a number becomes its text (0 included), otherwise line-N', async () => {
    assert.equal((await only({ ...base, id: 0 })).id, '0');
    assert.equal((await only({ ...base, id: 12 })).id, '12');
    assert.equal((await only({ ...base, id: ' x ' })).id, ' x ');
    const d = await load(lines(base, '', base, '   ', base));
    assert.deepEqual(d.questions.map((q) => q.id), ['line-1', 'line-3', 'line-5']);
  });
});

describe('eval-dataset: answer types', () => {
  const cases: Array<[string, string]> = [
    ['yes/no', 'yesno'], ['yesno', 'yesno'], ['yes_no', 'yesno'], ['yes-no', 'yesno'], ['binary', 'yesno'], ['bool', 'yesno'], ['boolean', 'yesno'],
    ['option', 'option'], ['options', 'option'], ['multiple choice', 'option'], ['multiple_choice', 'option'], ['multiple-choice', 'option'],
    ['mc', 'option'], ['mcq', 'option'], ['choice', 'option'], ['choices', 'option'],
    ['count', 'count'], ['counting', 'count'], ['int', 'count'], ['integer', 'count'], ['number', 'count'],
    ['float', 'float'], ['metric', 'float'], ['regression', 'float'], ['real', 'float'], ['continuous', 'float'],
    ['text', 'text'], ['str', 'text'], ['string', 'text'], ['open', 'text'], ['open_ended', 'text'], ['open-ended', 'text'], ['free_form', 'text'], ['free-form', 'text'],
  ];
  test('every answer-type word maps to its type, whatever its case and surrounding spaces', () => {
    for (const [word, type] of cases) {
      assert.equal(answerTypeFromWord(word), type, word);
      assert.equal(answerTypeFromWord(`  ${word.toUpperCase()} `), type, word);
    }
    for (const word of ['', 'banana', 'yes', 'multiple', 'ints', 'yes/no/maybe', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(answerTypeFromWord(word), undefined, word);
  });

  test('a given type word is used as given, in a file', async () => {
    const d = await load(
      lines(
        { question: 'q', image: 'i', answer: 'yes', answer_type: 'Yes/No' },
        { question: 'q', image: 'i', answer: 'B', answer_type: 'MCQ', options: ['a', 'b'] },
        { question: 'q', image: 'i', answer: '3', answer_type: 'Counting' },
        { question: 'q', image: 'i', answer: 2, answer_type: 'metric' },
        { question: 'q', image: 'i', answer: '4', answer_type: 'free-form' },
      ),
    );
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.questions.map((q) => [q.type, q.typeSource]), [['yesno', 'given'], ['option', 'given'], ['count', 'given'], ['float', 'given'], ['text', 'given']]);
  });

  test('a word that names a property of every JS object is no answer type either', async () => {
    // Found by this file: the words were looked up in a plain object, so "constructor" passed for a
    // type (Object itself), the line was accepted and its type was a function.
    assert.equal(await refusal({ question: 'q', image: 'i', answer: 'yes', answer_type: 'constructor' }), UNKNOWN_TYPE('constructor'));
    assert.equal(await refusal({ question: 'q', image: 'i', answer: 'yes', answer_type: '__proto__' }), UNKNOWN_TYPE('__proto__'));
    const q = await only({ question: 'q', image: 'i', answer: 'yes', category: 'toString' });
    assert.deepEqual([q.type, q.typeSource, q.category], ['yesno', 'inferred', 'toString']);
  });

  test('an unknown word in type, question_type or category is the benchmark category; the type is then inferred', async () => {
    for (const key of ['type', 'question_type', 'category']) {
      const q = await only({ question: 'q', image: 'i', answer: 'no', [key]: 'Spatial_Relation' });
      assert.deepEqual([q.type, q.typeSource, q.category], ['yesno', 'inferred', 'Spatial_Relation'], key);
    }
  });

  test('inferred from the answer: options, booleans, numbers, and the shape of a string', async () => {
    const infer = async (answer: unknown, extra: Record<string, unknown> = {}): Promise<string> => {
      const q = await only({ question: 'q', image: 'i', answer, ...extra });
      assert.equal(q.typeSource, 'inferred');
      return q.type;
    };
    const want: Array<[unknown, string]> = [
      [true, 'yesno'], [false, 'yesno'],
      [0, 'count'], [3, 'count'], [2.5, 'float'], [-0.5, 'float'],
      ['yes', 'yesno'], ['No', 'yesno'], [' yes ', 'yesno'], ['yes.', 'yesno'], ['no!', 'yesno'],
      ['yes?', 'text'], ['yesx', 'text'], ['not yes', 'text'], ['yes sir', 'text'], ['no..', 'text'], ['y', 'text'],
      ['7', 'count'], ['12', 'count'], ['+3', 'count'], [' 42 ', 'count'], ['0', 'count'],
      ['3.0', 'float'], ['-3', 'float'], ['0.5', 'float'], ['+0.5', 'float'], ['-.5', 'float'], ['.5', 'float'], ['5.', 'float'],
      ['1e3', 'float'], ['1E3', 'float'], ['2.5e-3', 'float'], ['1e+2', 'float'], ['12.5', 'float'], ['.25', 'float'], ['1e10', 'float'], ['-12.75', 'float'],
      ['3a', 'text'], ['a3', 'text'], ['1.2.3', 'text'], ['1e', 'text'], ['e5', 'text'], ['3 chairs', 'text'], ['sofa', 'text'],
    ];
    for (const [answer, type] of want) assert.equal(await infer(answer), type, JSON.stringify(answer));
    // Options present win over the answer's shape; an empty list is no options.
    assert.equal(await infer('yes', { options: ['yes', 'no'] }), 'option');
    assert.equal(await infer(2, { options: ['1', '2'] }), 'option');
    const q = await only({ question: 'q', image: 'i', answer: 'yes', options: [] });
    assert.deepEqual([q.type, q.options], ['yesno', []]);
  });
});

describe('eval-dataset: options', () => {
  test('a list, numbers as text, or an object of letter -> text', async () => {
    assert.deepEqual((await only({ question: 'q', image: 'i', answer: 'A', options: [1, 2.5, 'three'] })).options, ['1', '2.5', 'three']);
    assert.deepEqual((await only({ question: 'q', image: 'i', answer: 'B', choices: { A: 'cat', B: 'dog', C: 3 } })).options, ['cat', 'dog', '3']);
  });

  test('26 options are accepted, 27 refused', async () => {
    const letters = Array.from({ length: 27 }, (_, i) => `option ${i + 1}`);
    assert.equal((await only({ question: 'q', image: 'i', answer: 'Z', options: letters.slice(0, 26) })).options?.length, 26);
    assert.equal(await refusal({ question: 'q', image: 'i', answer: 'A', choices: letters }), '"choices" has 27 options; at most 26 (one letter each) are supported');
    assert.equal(await refusal({ question: 'q', image: 'i', answer: 'A', options: letters }), '"options" has 27 options; at most 26 (one letter each) are supported');
  });

  test('options that are not a list of texts are refused, naming the field and what it held', async () => {
    const q = { question: 'q', image: 'i', answer: 'a' };
    assert.equal(await refusal({ ...q, options: 'a,b' }), OPTIONS_SHAPE('options', '"a,b"'));
    assert.equal(await refusal({ ...q, choices: 5 }), OPTIONS_SHAPE('choices', '5'));
    assert.equal(await refusal({ ...q, options: true }), OPTIONS_SHAPE('options', 'true'));
    assert.equal(await refusal({ ...q, options: ['a', true] }), OPTIONS_SHAPE('options', '["a",true]'));
    assert.equal(await refusal({ ...q, options: ['a', null] }), OPTIONS_SHAPE('options', '["a",null]'));
    assert.equal(await refusal({ ...q, options: [['a']] }), OPTIONS_SHAPE('options', '[["a"]]'));
    assert.equal(await refusal({ ...q, options: { A: 'x', B: { t: 'y' } } }), OPTIONS_SHAPE('options', '{"A":"x","B":{"t":"y"}}'));
  });
});

describe('eval-dataset: refusals, word for word', () => {
  const ok = { question: 'q?', image: 'x.png', answer: 'yes' };

  test('a line that is not an object', async () => {
    const d = await load(lines('null', '5', '"text"', '[1, 2]', 'true'));
    assert.deepEqual(d.questions, []);
    assert.deepEqual(d.problems, [1, 2, 3, 4, 5].map((l) => ({ line: l, message: NOT_OBJECT })));
    assert.equal(d.entries, 5);
  });

  test('no question, no image, no answer: missing, null, blank or not a string', async () => {
    assert.equal(await refusal({ image: 'x', answer: 'yes' }), NO_QUESTION);
    assert.equal(await refusal({ question: null, image: 'x', answer: 'yes' }), NO_QUESTION);
    assert.equal(await refusal({ question: '   ', image: 'x', answer: 'yes' }), NO_QUESTION);
    assert.equal(await refusal({ question: 5, image: 'x', answer: 'yes' }), NO_QUESTION);
    assert.equal(await refusal({ query: ['a?'], image: 'x', answer: 'yes' }), NO_QUESTION);
    assert.equal(await refusal({ question: 'q', answer: 'yes' }), NO_IMAGE);
    assert.equal(await refusal({ question: 'q', image: '  ', answer: 'yes' }), NO_IMAGE);
    assert.equal(await refusal({ question: 'q', image: 3, answer: 'yes' }), NO_IMAGE);
    assert.equal(await refusal({ question: 'q', img: null, answer: 'yes' }), NO_IMAGE);
    assert.equal(await refusal({ question: 'q', image: 'x' }), NO_ANSWER);
    assert.equal(await refusal({ question: 'q', image: 'x', answer: null, gt: null }), NO_ANSWER);
  });

  test('a ground truth of the wrong shape, or empty', async () => {
    assert.equal(await refusal({ question: 'q', image: 'x', answer: { a: 1 } }), 'ground truth "answer" must be a string, number or boolean, got {"a":1}');
    assert.equal(await refusal({ question: 'q', image: 'x', gt: [1, 2] }), 'ground truth "gt" must be a string, number or boolean, got [1,2]');
    assert.equal(await refusal({ question: 'q', image: 'x', answer: '' }), 'ground truth "answer" is empty');
    assert.equal(await refusal({ question: 'q', image: 'x', label: '  ' }), 'ground truth "label" is empty');
  });

  test('a type field that is not a string; an unknown answer_type', async () => {
    assert.equal(await refusal({ ...ok, answer_type: 3 }), '"answer_type" must be a string, got 3');
    assert.equal(await refusal({ ...ok, category: ['x'] }), '"category" must be a string, got ["x"]');
    assert.equal(await refusal({ ...ok, answer_type: 'banana' }), UNKNOWN_TYPE('banana'));
    assert.equal(await refusal({ ...ok, answer_type: '' }), UNKNOWN_TYPE(''));
  });

  test('a ground truth that does not fit its type says the type and whether it was inferred', async () => {
    assert.equal(await refusal({ question: 'q', image: 'x', answer: 'many', answer_type: 'count' }), 'ground truth "many" is not a count (answer type count)');
    assert.equal(await refusal({ question: 'q', image: 'x', answer: 'maybe', answer_type: 'yes/no' }), 'ground truth "maybe" is not yes or no (answer type yesno)');
    assert.equal(await refusal({ question: 'q', image: 'x', answer: 'far', type: 'float' }), 'ground truth "far" is not a finite number (answer type float)');
    assert.equal(await refusal({ question: 'q', image: 'x', answer: 'C', options: ['a', 'b'] }), 'ground truth "C" is none of the options ["a","b"] (answer type option, inferred)');
    // A negative whole number is inferred as a count, which cannot be negative: give answer_type float.
    assert.equal(await refusal({ question: 'q', image: 'x', answer: -2 }), 'ground truth -2 is not a count (answer type count, inferred)');
    assert.equal(await refusal({ question: 'q', image: 'x', answer: '.', answer_type: 'text' }), 'ground truth is empty (answer type text)');
  });

  test('a bad id', async () => {
    assert.equal(await refusal({ ...ok, id: true }), 'id "id" must be a string or number, got true');
    assert.equal(await refusal({ ...ok, qid: { n: 1 } }), 'id "qid" must be a string or number, got {"n":1}');
    assert.equal(await refusal({ ...ok, id: '' }), 'id "id" is empty');
    assert.equal(await refusal({ ...ok, index: '   ' }), 'id "index" is empty');
  });

  test('parseEntry refuses a value that is not an object, and numbers the question by the line it is given', () => {
    assert.equal(parseEntry(null, 1), NOT_OBJECT);
    assert.equal(parseEntry(undefined, 1), NOT_OBJECT);
    assert.equal(parseEntry('q', 1), NOT_OBJECT);
    assert.equal(parseEntry([ok], 1), NOT_OBJECT);
    const q = parseEntry(ok, 9);
    assert.equal(typeof q === 'string' ? q : [q.id, q.line].join(' '), 'line-9 9');
  });
});

describe('eval-dataset: the file', () => {
  const ok = (id: string): Record<string, unknown> => ({ id, question: 'q?', image: 'x.png', answer: 'yes' });

  test('duplicate ids: each later use refused with the first line; a refused line does not claim its id', async () => {
    const d = await load(
      lines(
        { id: 'dup', question: 'q', image: 'x' }, // refused (no answer): does not claim "dup"
        ok('dup'),
        '',
        ok('dup'),
        ok('other'),
        ok('dup'),
        { question: 'q', image: 'x', answer: 'no' }, // line-7
        ok('line-7'),
        ok('7'),
      ),
    );
    assert.deepEqual(d.questions.map((q) => [q.id, q.line]), [['dup', 2], ['other', 5], ['line-7', 7], ['7', 9]]);
    const dup = (id: string, first: number): string => `duplicate id "${id}" (first used on line ${first}); ids must be unique so each question has its own run record`;
    assert.deepEqual(d.problems, [
      { line: 1, message: NO_ANSWER },
      { line: 4, message: dup('dup', 2) },
      { line: 6, message: dup('dup', 2) },
      { line: 8, message: dup('line-7', 7) },
    ]);
    assert.equal(d.entries, 8);
    assert.equal(d.format, 'jsonl');
  });

  test('lines that are not JSON are numbered, counted and skipped; blank and whitespace-only lines are not entries', async () => {
    const d = await load(['', '   ', line(ok('a')), '{not json', '\t', line(ok('b')), "{'single': 1}", '', ''].join('\n'));
    assert.deepEqual(d.questions.map((q) => [q.id, q.line]), [['a', 3], ['b', 6]]);
    assert.deepEqual(d.problems.map((p) => p.line), [4, 7]);
    for (const p of d.problems) assert.match(p.message, /^not valid JSON \(.+\)$/);
    assert.equal(d.entries, 4);
  });

  test('the first and the last line are read, with or without a final newline', async () => {
    const withEnd = await load(`${lines(ok('first'), ok('mid'), ok('last'))}\n`);
    assert.deepEqual(withEnd.questions.map((q) => [q.id, q.line]), [['first', 1], ['mid', 2], ['last', 3]]);
    assert.equal(withEnd.entries, 3);
    const noEnd = await load(lines(ok('first'), ok('last')));
    assert.deepEqual(noEnd.questions.map((q) => [q.id, q.line]), [['first', 1], ['last', 2]]);
    assert.deepEqual(noEnd.problems, []);
  });

  test('CRLF line ends and a UTF-8 byte-order mark', async () => {
    const crlf = await load(`${[line(ok('a')), '', line({ question: 'q', image: 'x' }), line(ok('b'))].join('\r\n')}\r\n`);
    assert.deepEqual(crlf.questions.map((q) => [q.id, q.line]), [['a', 1], ['b', 4]]);
    assert.deepEqual(crlf.problems, [{ line: 3, message: NO_ANSWER }]);
    const bom = await load(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines(ok('a'), ok('b')))]));
    assert.deepEqual(bom.problems, []);
    assert.deepEqual(bom.questions.map((q) => [q.id, q.line]), [['a', 1], ['b', 2]]);
    // Only a leading mark is dropped: one inside a question stays.
    const inner = await load(lines(ok('a'), { id: 'b', question: 'x\uFEFFy', image: 'i', answer: 'no' }));
    assert.equal(inner.questions[1]?.question, 'x\uFEFFy');
    const bomArray = await load(`\uFEFF${JSON.stringify([ok('a')])}`);
    assert.deepEqual([bomArray.format, bomArray.questions.length], ['json', 1]);
  });

  test('non-ASCII text is read as UTF-8', async () => {
    const q = (await load(line({ id: 'é-1', question: 'Combien de chaises ? 椅子', image: 'café.png', answer: 'oui', answer_type: 'text' }))).questions[0];
    assert.deepEqual([q?.id, q?.question, q?.image], ['é-1', 'Combien de chaises ? 椅子', 'café.png']);
  });

  test('a JSON array: items numbered from 1, refusals by item, leading whitespace allowed', async () => {
    const d = await load(`\n  \t${JSON.stringify([ok('a'), { nope: 1 }, ok('a'), 7, ok('b')], null, 2)}\n`, 'b.json');
    assert.equal(d.format, 'json');
    assert.deepEqual(d.questions.map((q) => [q.id, q.line]), [['a', 1], ['b', 5]]);
    assert.deepEqual(d.problems, [
      { line: 2, message: NO_QUESTION },
      { line: 3, message: 'duplicate id "a" (first used on line 1); ids must be unique so each question has its own run record' },
      { line: 4, message: NOT_OBJECT },
    ]);
    assert.equal(d.entries, 5);
    const empty = await load('[]');
    assert.deepEqual([empty.format, empty.entries, empty.questions, empty.problems], ['json', 0, [], []]);
  });

  test('a file that starts with [ but is not JSON is refused as a whole, saying what to use', async () => {
    await assert.rejects(load('[{"question": "q", "image": "x", "answer": "yes"},\n'), (err: Error) => {
      assert.match(err.message, /^the file starts with '\[' but is not valid JSON \(.+\); use one JSON object per line \(JSONL\) or one JSON array$/);
      return true;
    });
    assert.throws(() => parseDataset('  [1, 2'), /^Error: the file starts with '\['/);
  });

  test('an empty file, and one of blank lines, hold nothing', async () => {
    for (const text of ['', '\n\n', '\r\n  \r\n']) {
      const d = await load(text);
      assert.deepEqual([d.format, d.entries, d.questions, d.problems], ['jsonl', 0, [], []], JSON.stringify(text));
    }
  });

  test('loadDataset gives the path and the sha256 of the bytes as written', async () => {
    const file = join(dir, 'sha.jsonl');
    writeFileSync(file, '{"question":"a?","image":"x.png","answer":"yes"}\n');
    const d = await loadDataset(file);
    // python3: hashlib.sha256(b'{"question":"a?","image":"x.png","answer":"yes"}\n').hexdigest()
    assert.equal(d.sha256, '4c4b09d34ce61796c0b75685547e5db7aa87c1405d1e14239f00cd513a70797d');
    assert.equal(d.path, file);
    assert.equal(d.questions.length, 1);
  });

  test('a file that cannot be read is named with the reason', async () => {
    const missing = join(dir, 'nope.jsonl');
    await assert.rejects(loadDataset(missing), (err: Error) => {
      assert.equal(err.message, `cannot read the benchmark file ${missing}: ENOENT. Check the path.`);
      return true;
    });
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    await assert.rejects(loadDataset(folder), (err: Error) => {
      assert.equal(err.message, `cannot read the benchmark file ${folder}: EISDIR. Check the path.`);
      return true;
    });
  });
});

describe('eval-dataset: shards', () => {
  test('i/n with spaces anywhere, several digits and leading zeros', () => {
    assert.deepEqual(parseShard('0/1'), { index: 0, count: 1 });
    assert.deepEqual(parseShard('3/4'), { index: 3, count: 4 });
    assert.deepEqual(parseShard('12/16'), { index: 12, count: 16 });
    assert.deepEqual(parseShard('  1  /  4  '), { index: 1, count: 4 });
    assert.deepEqual(parseShard('\t2/\t3\n'), { index: 2, count: 3 });
    assert.deepEqual(parseShard('01/04'), { index: 1, count: 4 });
  });

  test('the refusals, word for word', () => {
    const shape = (t: string): string => `--shard must look like i/n (e.g. 0/4 for the first of four shards), got '${t}'`;
    for (const t of ['1-4', '', '/4', '1/', 'a1/4', '1/4b', '-1/4', '1/-4', '1.5/4', '1/4/8', 'x']) assert.equal(parseShard(t), shape(t), t);
    assert.equal(parseShard('0/0'), '--shard 0/0: the number of shards must be at least 1');
    assert.equal(parseShard('4/4'), '--shard 4/4: the index is 0-based, so it must be below 4 (0/4 ... 3/4)');
    assert.equal(parseShard('5/4'), '--shard 5/4: the index is 0-based, so it must be below 4 (0/4 ... 3/4)');
    assert.equal(parseShard('1/1'), '--shard 1/1: the index is 0-based, so it must be below 1 (0/1 ... 0/1)');
  });

  test('shardOf: the first 48 bits of sha256(id) modulo n (worked out with python hashlib)', () => {
    // int.from_bytes(sha256(id.encode()).digest()[:6], 'big') % n for n = 2, 3, 5, 7, 10
    const want: Record<string, number[]> = {
      a: [1, 0, 4, 6, 9],
      b: [1, 0, 3, 2, 3],
      q17: [1, 1, 1, 3, 1],
      'o3d-17': [1, 1, 4, 5, 9],
      'blink-3': [0, 2, 3, 2, 8],
      'line-1': [1, 0, 4, 5, 9],
      '7': [0, 1, 0, 4, 0],
      é: [1, 1, 3, 4, 3],
    };
    for (const [id, buckets] of Object.entries(want)) {
      assert.deepEqual([2, 3, 5, 7, 10].map((count) => shardOf(id, count)), buckets, id);
      assert.equal(shardOf(id, 1), 0);
    }
  });

  test('inShard: no shard or one shard keeps everything; otherwise only the id’s bucket', () => {
    for (const id of ['a', 'b', 'blink-3']) {
      assert.equal(inShard(id, null), true);
      assert.equal(inShard(id, undefined), true);
      assert.equal(inShard(id, { index: 0, count: 1 }), true);
    }
    // 'a' is bucket 0 of 3, 'blink-3' bucket 2 of 3, '7' bucket 1 of 3.
    assert.deepEqual([0, 1, 2].map((index) => inShard('a', { index, count: 3 })), [true, false, false]);
    assert.deepEqual([0, 1, 2].map((index) => inShard('blink-3', { index, count: 3 })), [false, false, true]);
    assert.deepEqual([0, 1, 2].map((index) => inShard('7', { index, count: 3 })), [false, true, false]);
  });
});
