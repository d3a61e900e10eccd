// Exports that feed training: ODVG records + label map (re-read and validated the way
// Open-GroundingDino's loader uses them), and verl prompt records.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { boxSubject } from '../../src/core/audit.js';
import { exportOdvg, normaliseCategory, validateOdvg } from '../../src/core/exports/odvg.js';
import { questionsFromRuns, readQuestionsJsonl, toVerlRecords, writeVerlRecords } from '../../src/core/exports/verl.js';
import { buildGenerationMessages } from '../../src/core/prompt.js';
import { writeRunRecord } from '../../src/core/runStore.js';
import { blankRunRecord } from '../helpers/runRecords.js';
import type { BoxFate, GroundingResult, Override, RunRecord } from '../../src/protocol/run.js';

const dir = mkdtempSync(join(tmpdir(), 'valor-exports-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const out = () => join(dir, `out-${++n}`);

const box = (index: number, bbox: BoxFate['bbox'], label: string, kept: boolean, extra: Partial<BoxFate> = {}): BoxFate => ({
  index,
  bbox,
  label,
  score: 0.3,
  kept,
  ...(kept ? {} : { dropped_at: 'coarse' as const, reason: 'wrong' }),
  ...extra,
});
const result = (path: string, prompt: string, boxes: BoxFate[], size = { width: 640, height: 480 }): GroundingResult => ({
  image: { path, sha256: path.replace(/\W/g, '').padEnd(64, '0').slice(0, 64), ...size },
  prompt,
  boxes,
  verifier_model: 'vlm',
  ms: 1,
});

const kitchen = result('/data/img/kitchen.jpg', 'Coffee-Table, sofa', [
  box(0, [10, 20, 200, 220], 'Coffee-Table', true),
  box(1, [300, 40, 630, 470], 'sofa', true),
  box(2, [5, 5, 20, 20], 'sofa', false),
  box(3, [600, 400, 700, 500], 'sofa', true), // sticks out of the image: clipped
]);
const office = result('/data/img/office.jpg', 'desk lamp', [box(0, [100, 100, 150, 220], 'desk  lamp', true)], { width: 320, height: 240 });

describe('ODVG export', () => {
  test('records and label map validate; categories normalised; boxes clipped; dropped boxes left out', async () => {
    const o = out();
    const s = await exportOdvg({ results: [kitchen, office], outDir: o, imageRoot: '/data/img' });
    assert.equal(s.added, 2);
    assert.deepEqual(s.labelsAdded, ['coffee table', 'sofa', 'desk lamp']);
    const v = await validateOdvg(o);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.labelMap, { 0: 'coffee table', 1: 'sofa', 2: 'desk lamp' });
    assert.equal(v.records.length, 2);
    const k = v.records[0]!;
    assert.equal(k.filename, 'kitchen.jpg');
    assert.equal(k.width, 640);
    assert.equal(k.height, 480);
    assert.deepEqual(k.detection.instances, [
      { bbox: [10, 20, 200, 220], label: 0, category: 'coffee table' },
      { bbox: [300, 40, 630, 470], label: 1, category: 'sofa' },
      { bbox: [600, 400, 640, 480], label: 1, category: 'sofa' },
    ]);
    assert.equal(normaliseCategory('  Red-Mug \t holder '), 'red mug holder');
  });

  test('running twice adds nothing and writes nothing; identical inputs are written once', async () => {
    const o = out();
    await exportOdvg({ results: [kitchen, kitchen], outDir: o });
    const before = readFileSync(join(o, 'odvg.jsonl'), 'utf8');
    const mtime = statSync(join(o, 'odvg.jsonl')).mtimeMs;
    const again = await exportOdvg({ results: [kitchen, kitchen], outDir: o });
    assert.equal(again.wrote, false);
    assert.equal(again.added + again.updated, 0);
    assert.equal(again.unchanged, 1);
    assert.equal(readFileSync(join(o, 'odvg.jsonl'), 'utf8'), before);
    assert.equal(statSync(join(o, 'odvg.jsonl')).mtimeMs, mtime);
    assert.equal(before.trim().split('\n').length, 1);
    assert.deepEqual((await validateOdvg(o)).problems, []);
  });

  test('appending keeps label ids; a new prompt on a known image adds its boxes; an override updates them', async () => {
    const o = out();
    await exportOdvg({ results: [kitchen], outDir: o });
    const lamp = result('/data/img/kitchen.jpg', 'lamp, Sofa', [box(0, [50, 50, 80, 120], 'lamp', true), box(1, [300, 40, 630, 470], 'Sofa', true)]);
    const s = await exportOdvg({ results: [office, lamp], outDir: o });
    assert.equal(s.added, 1);
    assert.equal(s.updated, 1);
    assert.deepEqual(s.labelsAdded, ['desk lamp', 'lamp']);
    let v = await validateOdvg(o);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.labelMap, { 0: 'coffee table', 1: 'sofa', 2: 'desk lamp', 3: 'lamp' });
    const k = v.records.find((r) => r.filename === '/data/img/kitchen.jpg')!;
    // The coffee table stays (not covered by the new prompt); the sofa boxes are those of the new result.
    assert.deepEqual(k.detection.instances.map((i) => `${i.category}@${i.bbox[0]}`), ['coffee table@10', 'lamp@50', 'sofa@300']);

    // A person drops the lamp: the next export removes it, nothing else changes.
    const overrides: Override[] = [
      { kind: 'box', subject: boxSubject(lamp.image.sha256, lamp.prompt), target: '0', value: 0, machine_value: 1, note: 'a vase', at: new Date().toISOString() },
    ];
    const s2 = await exportOdvg({ results: [lamp], outDir: o, overrides });
    assert.equal(s2.updated, 1);
    v = await validateOdvg(o);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.records.find((r) => r.filename === '/data/img/kitchen.jpg')!.detection.instances.map((i) => i.category), ['coffee table', 'sofa']);
    assert.equal(v.labelMap['3'], 'lamp', 'ids are never reused or renumbered');
    assert.equal((await exportOdvg({ results: [lamp], outDir: o, overrides })).wrote, false);
  });

  test('the validator catches what the loader would trip on', async () => {
    const o = out();
    await exportOdvg({ results: [office], outDir: o });
    writeFileSync(
      join(o, 'odvg.jsonl'),
      `${JSON.stringify({ filename: 'a.jpg', height: 10, width: 10, detection: { instances: [{ bbox: [0, 0, 20, 5], label: 0, category: 'desk lamp' }, { bbox: [1, 1, 2, 2], label: 9, category: 'cat' }] } })}\n{oops\n`,
    );
    const v = await validateOdvg(o);
    assert.equal(v.problems.length, 3, v.problems.join('\n'));
    assert.match(v.problems.join('\n'), /not inside the 10x10 image/);
    assert.match(v.problems.join('\n'), /label 9 is not in label_map.json/);
    assert.match(v.problems.join('\n'), /line 2: not JSON/);
  });
});

describe('verl export', () => {
  test('question files: problem/query/question keys, dedup, the generation prompt, query in extra_info', async () => {
    const q = join(dir, 'questions.jsonl');
    writeFileSync(
      q,
      [
        { problem: 'Is the cup left of the plate?', image: 'imgs/a.jpg', answer: 'yes' },
        { query: 'How many chairs are there?' },
        { question: 'Is the cup left of the plate?', image: 'imgs/a.jpg' },
        { problem: 'Is the cup left of the plate?', image: 'imgs/b.jpg', id: 7 },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n'),
    );
    mkdirSync(join(dir, 'imgs'), { recursive: true });
    for (const f of ['a.jpg', 'b.jpg']) writeFileSync(join(dir, 'imgs', f), 'x');
    const records = toVerlRecords(await readQuestionsJsonl(q));
    assert.equal(records.length, 3);
    const [a, b, c] = records;
    assert.equal(a!.problem, 'Is the cup left of the plate?');
    assert.equal(a!.data_source, 'valor');
    assert.deepEqual(a!.prompt, buildGenerationMessages('Is the cup left of the plate?'));
    assert.deepEqual(a!.reward_model, { style: 'model', ground_truth: 'yes' });
    assert.deepEqual(a!.extra_info, { index: 0, split: 'train', query: 'Is the cup left of the plate?', image: join(dir, 'imgs/a.jpg') });
    assert.equal(b!.reward_model.ground_truth, '');
    assert.equal(b!.extra_info.image, undefined);
    assert.equal(c!.extra_info.id, '7');
    assert.equal(c!.extra_info.index, 2);
    const path = join(dir, 'verl', 'train.jsonl');
    await writeVerlRecords(path, records);
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, JSON.parse(JSON.stringify(records)));
    await assert.rejects(readQuestionsJsonl(join(dir, 'nope.jsonl')));
    writeFileSync(join(dir, 'bad.jsonl'), '{"image": "x.jpg"}\n');
    await assert.rejects(readQuestionsJsonl(join(dir, 'bad.jsonl')), /line 1 has no question/);
  });

  test('questions from run records; parquet through python3 + pyarrow when present, a clear message when not', async () => {
    const runs = join(dir, 'runs');
    const rec = (id: string, query: string): RunRecord => blankRunRecord(id, { query });
    await writeRunRecord(runs, rec('20260101T000000Z-000001', 'first?'));
    await writeRunRecord(runs, rec('20260101T000001Z-000002', 'second?'));
    await writeRunRecord(runs, rec('20260101T000002Z-000003', 'first?'));
    const { questions, problems } = await questionsFromRuns(runs);
    assert.deepEqual(problems, []);
    const records = toVerlRecords(questions, { dataSource: 'valor_spatial' });
    assert.deepEqual(records.map((r) => [r.problem, r.extra_info.image_sha256, r.data_source]), [
      ['first?', 'a'.repeat(64), 'valor_spatial'],
      ['second?', 'a'.repeat(64), 'valor_spatial'],
    ]);
    const hasPyarrow = spawnSync('python3', ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0;
    const pq = join(dir, 'verl', 'train.parquet');
    if (hasPyarrow) {
      await writeVerlRecords(pq, records);
      assert.ok(statSync(pq).size > 0);
    } else {
      await assert.rejects(writeVerlRecords(pq, records), /pyarrow is not installed/);
    }
  });
});
