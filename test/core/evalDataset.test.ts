/**
 * Reading benchmark files: field-name variants, answer types given or inferred, and unreadable
 * lines reported with their line numbers (never silently scored). Also the shard split and the
 * record file names that resume relies on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadDataset, parseDataset } from '../../src/core/eval/dataset.js';
import { selectQuestions } from '../../src/core/eval/loop.js';
import { recordName } from '../../src/core/eval/records.js';
import { parseShard, shardOf } from '../../src/core/eval/shard.js';

const jsonl = (...rows: unknown[]): string => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');

describe('parseDataset', () => {
  it('accepts the common field-name variants', () => {
    const d = parseDataset(
      jsonl(
        { id: 1, question: 'a?', image: 'x.png', answer: 'yes' },
        { question_id: 'q2', query: 'b?', image_path: 'y.png', gt: 3 },
        { idx: 'q3', problem: 'c?', img: 'z.png', ground_truth: 1.5, answer_type: 'float' },
        { qid: 'q4', prompt: 'd?', file_name: 'w.png', label: 'B', choices: ['left', 'right'] },
        { index: 'q5', question: 'e?', image_file: 'v.png', gt_answer: 'red', type: 'str' },
      ),
    );
    assert.deepEqual(d.problems, []);
    assert.deepEqual(
      d.questions.map((q) => [q.id, q.line, q.question, q.image, q.answer, q.type, q.typeSource]),
      [
        ['1', 1, 'a?', 'x.png', 'yes', 'yesno', 'inferred'],
        ['q2', 2, 'b?', 'y.png', 3, 'count', 'inferred'],
        ['q3', 3, 'c?', 'z.png', 1.5, 'float', 'given'],
        ['q4', 4, 'd?', 'w.png', 'B', 'option', 'inferred'],
        ['q5', 5, 'e?', 'v.png', 'red', 'text', 'given'],
      ],
    );
    assert.deepEqual(d.questions[3]?.options, ['left', 'right']);
  });

  it('maps answer-type synonyms and keeps a benchmark category that is not one', () => {
    const d = parseDataset(
      jsonl(
        { question: 'a?', image: 'x', answer: 'A', answer_type: 'Multiple Choice', options: { A: 'cat', B: 'dog' } },
        { question: 'b?', image: 'x', answer: '2', answer_type: 'int' },
        { question: 'c?', image: 'x', answer: 'no', category: 'Relative_Depth' },
        { question: 'd?', image: 'x', answer: '2.0', type: 'metric' },
      ),
    );
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.questions.map((q) => q.type), ['option', 'count', 'yesno', 'float']);
    assert.deepEqual(d.questions[0]?.options, ['cat', 'dog']);
    assert.equal(d.questions[2]?.category, 'Relative_Depth');
    assert.equal(d.questions[2]?.id, 'line-3');
  });

  it('infers the type from the answer when none is given', () => {
    const d = parseDataset(
      jsonl(
        { question: 'a?', image: 'x', answer: true },
        { question: 'b?', image: 'x', answer: 4 },
        { question: 'c?', image: 'x', answer: 4.25 },
        { question: 'd?', image: 'x', answer: '7' },
        { question: 'e?', image: 'x', answer: '0.5' },
        { question: 'f?', image: 'x', answer: 'sofa' },
      ),
    );
    assert.deepEqual(d.questions.map((q) => q.type), ['yesno', 'count', 'float', 'count', 'float', 'text']);
  });

  it('reports unreadable lines with their numbers and skips them; blank lines are not errors', () => {
    const d = parseDataset(
      [
        JSON.stringify({ id: 'ok', question: 'a?', image: 'x', answer: 'yes' }),
        '',
        '{not json',
        JSON.stringify({ question: 'no image?', answer: 'yes' }),
        JSON.stringify({ question: 'no answer?', image: 'x' }),
        JSON.stringify({ question: 'bad type?', image: 'x', answer: 'yes', answer_type: 'banana' }),
        JSON.stringify({ question: 'bad count?', image: 'x', answer: 'many', answer_type: 'count' }),
        JSON.stringify({ question: 'bad option?', image: 'x', answer: 'C', options: ['a', 'b'] }),
        JSON.stringify({ id: 'ok', question: 'dup?', image: 'x', answer: 'no' }),
        JSON.stringify(['not', 'an', 'object']),
        JSON.stringify({ question: 'empty answer?', image: 'x', answer: '' }),
        '   ',
      ].join('\r\n'),
    );
    assert.equal(d.questions.length, 1);
    assert.equal(d.entries, 10);
    assert.deepEqual(
      d.problems.map((p) => p.line),
      [3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    const msg = (line: number): string => d.problems.find((p) => p.line === line)?.message ?? '';
    assert.match(msg(3), /not valid JSON/);
    assert.match(msg(4), /no image/);
    assert.match(msg(5), /no ground-truth answer/);
    assert.match(msg(6), /unknown answer_type "banana"/);
    assert.match(msg(7), /not a count/);
    assert.match(msg(8), /none of the options/);
    assert.match(msg(9), /duplicate id "ok" \(first used on line 1\)/);
    assert.match(msg(10), /JSON object/);
    assert.match(msg(11), /empty/);
  });

  it('reads a JSON array file too', () => {
    const d = parseDataset(JSON.stringify([{ question: 'a?', image: 'x', answer: 'yes' }, { nope: 1 }]));
    assert.equal(d.format, 'json');
    assert.equal(d.questions.length, 1);
    assert.deepEqual(d.problems.map((p) => p.line), [2]);
  });

  it('loadDataset hashes the file and names a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'valor-ds-'));
    try {
      const file = join(dir, 'b.jsonl');
      await writeFile(file, jsonl({ question: 'a?', image: 'x', answer: 'yes' }));
      const d = await loadDataset(file);
      assert.match(d.sha256, /^[0-9a-f]{64}$/);
      assert.equal(d.questions.length, 1);
      await assert.rejects(loadDataset(join(dir, 'missing.jsonl')), /cannot read the benchmark file .*missing\.jsonl: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('shards and record names', () => {
  it('parses i/n and rejects the rest', () => {
    assert.deepEqual(parseShard('1/4'), { index: 1, count: 4 });
    assert.match(String(parseShard('4/4')), /0-based/);
    assert.match(String(parseShard('1-4')), /i\/n/);
    assert.match(String(parseShard('0/0')), /at least 1/);
  });

  it('splits ids into disjoint shards that cover every question, the same way every time', () => {
    const d = parseDataset(jsonl(...Array.from({ length: 200 }, (_, i) => ({ id: `q${i}`, question: 'a?', image: 'x', answer: 'yes' }))));
    const parts = [0, 1, 2].map((index) => selectQuestions(d.questions, { index, count: 3 }, null).map((q) => q.id));
    const all = parts.flat();
    assert.equal(all.length, 200);
    assert.equal(new Set(all).size, 200);
    for (const p of parts) assert.ok(p.length > 30, `a shard of 200 ids over 3 should not be tiny, got ${p.length}`);
    // Pinned: the first 48 bits of sha256(id) modulo n (worked out with python's hashlib), so every
    // machine, and every version of valor, splits a benchmark the same way.
    assert.deepEqual(['q0', 'q1', 'q2', 'q3', 'q17'].map((id) => shardOf(id, 3)), [0, 0, 2, 0, 1]);
    assert.deepEqual(['q0', 'q1', 'q2', 'q3', 'q17'].map((id) => shardOf(id, 4)), [3, 3, 0, 1, 1]);
    assert.equal(shardOf('q17', 1), 0);
    // --limit applies after the shard
    assert.deepEqual(selectQuestions(d.questions, { index: 1, count: 3 }, 2).map((q) => q.id), parts[1]?.slice(0, 2));
  });

  it('record names are file-safe, readable and distinct for ids that differ only in unsafe characters', () => {
    assert.match(recordName('yn-1'), /^yn-1-[0-9a-f]{10}$/);
    assert.notEqual(recordName('a/b'), recordName('a_b'));
    assert.match(recordName('../../etc/passwd'), /^etc_passwd-[0-9a-f]{10}$/);
    assert.ok(!recordName('x'.repeat(500)).includes('/'));
    assert.ok(recordName('x'.repeat(500)).length < 100);
  });
});
