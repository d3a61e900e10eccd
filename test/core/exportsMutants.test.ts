// Tests written for the `exports` mutation group (docs/testing.md): the ODVG export and its
// validator, the verl records, the verl config lines, and reading grounding results for export.
// Expected values are worked out by hand from the ODVG format (docs/valor.md §5), verl's record
// layout (docs/training.md) and Hydra's quoting rules, never from our own output. In-process, so
// Stryker sees their coverage.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { groundingFromRuns, loadGroundingFiles } from '../../src/core/exports/groundingInputs.js';
import { exportOdvg, promptCategories, validateOdvg } from '../../src/core/exports/odvg.js';
import { questionsFromRuns, readQuestionsJsonl, toVerlRecords, writeVerlRecords } from '../../src/core/exports/verl.js';
import { hydraQuote, rewardFunctionPath, systemPromptFiles, verlOverrides, verlSnippet } from '../../src/core/exports/verlConfig.js';
import { writeRunRecord } from '../../src/core/runStore.js';
import { blankRunRecord } from '../helpers/runRecords.js';
import type { BoxFate, GroundingResult, RunRecord } from '../../src/protocol/run.js';

const dir = mkdtempSync(join(tmpdir(), 'valor-exports-mut-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `case-${++n}`);

const box = (index: number, bbox: BoxFate['bbox'], label: string, kept = true): BoxFate => ({ index, bbox, label, score: 0.4, kept, ...(kept ? {} : { dropped_at: 'coarse' as const, reason: 'wrong' }) });
const result = (path: string, prompt: string, boxes: BoxFate[], width = 100, height = 80): GroundingResult => ({
  image: { path, sha256: path.replace(/\W/g, '').padEnd(64, '0').slice(0, 64), width, height },
  prompt,
  boxes,
  verifier_model: 'vlm',
  ms: 1,
});
const readRecords = (o: string) =>
  readFileSync(join(o, 'odvg.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { filename: string; width: number; height: number; detection: { instances: Array<{ bbox: number[]; label: number; category: string }> } });

describe('ODVG export details', () => {
  test("a prompt's phrases are categories: split at commas, normalised, empty ones dropped", () => {
    assert.deepEqual(promptCategories(' Red-Mug , ,laptop  stand,'), ['red mug', 'laptop stand']);
    assert.deepEqual(promptCategories(''), []);
  });

  test('boxes are clipped to the image, rounded to hundredths, and instances sorted by category then x1, y1, x2, y2', async () => {
    const o = fresh();
    const s = await exportOdvg({
      outDir: o,
      results: [
        result('/i/a.jpg', 'mug, cup', [
          box(0, [50, 10, 60, 20], 'mug'),
          box(1, [10, 30, 20, 40], 'mug'),
          box(2, [10, 5, 20, 40], 'mug'),
          box(3, [10, 5, 15, 40], 'mug'),
          box(6, [10, 5, 15, 30], 'mug'),
          box(4, [-3, -2, 12.3456, 7.891], 'cup'),
          box(5, [90, 70, 130, 95], 'cup'),
        ]),
      ],
    });
    assert.equal(s.instances, 7);
    assert.deepEqual(s.labelsAdded, ['cup', 'mug'], 'ids are given in sorted order of the instances');
    const [r] = readRecords(o);
    assert.deepEqual(r!.detection.instances, [
      { bbox: [0, 0, 12.35, 7.89], label: 0, category: 'cup' },
      { bbox: [90, 70, 100, 80], label: 0, category: 'cup' },
      { bbox: [10, 5, 15, 30], label: 1, category: 'mug' },
      { bbox: [10, 5, 15, 40], label: 1, category: 'mug' },
      { bbox: [10, 5, 20, 40], label: 1, category: 'mug' },
      { bbox: [10, 30, 20, 40], label: 1, category: 'mug' },
      { bbox: [50, 10, 60, 20], label: 1, category: 'mug' },
    ]);
    assert.deepEqual(JSON.parse(readFileSync(join(o, 'label_map.json'), 'utf8')), { 0: 'cup', 1: 'mug' });
    assert.equal(readFileSync(join(o, 'label_map.json'), 'utf8'), '{\n  "0": "cup",\n  "1": "mug"\n}\n');
  });

  test('boxes that differ are two instances, even when their numbers run together', async () => {
    const o = fresh();
    // [1, 12, 30, 40] and [11, 2, 30, 40]: the same digits in the same order.
    const s = await exportOdvg({ outDir: o, results: [result('/i/k.jpg', 'cat', [box(0, [1, 12, 30, 40], 'cat'), box(1, [11, 2, 30, 40], 'cat'), box(2, [11, 2, 30, 40], 'Cat')])] });
    assert.equal(s.instances, 2, 'the repeated box is written once, the other two are kept');
    assert.deepEqual(readRecords(o)[0]!.detection.instances.map((i) => i.bbox), [
      [1, 12, 30, 40],
      [11, 2, 30, 40],
    ]);
  });

  test('two results for one image in one export add up (two prompts), and images not in the export stay as they were', async () => {
    const o = fresh();
    await exportOdvg({ outDir: o, results: [result('/i/old.jpg', 'vase', [box(0, [1, 1, 9, 9], 'vase')])] });
    const s = await exportOdvg({ outDir: o, results: [result('/i/m.jpg', 'cat', [box(0, [1, 1, 9, 9], 'cat')]), result('/i/m.jpg', 'dog', [box(0, [20, 20, 30, 30], 'dog')])] });
    assert.deepEqual([s.added, s.updated, s.unchanged], [1, 0, 0]);
    assert.deepEqual(
      readRecords(o).map((r) => [r.filename, r.detection.instances.map((i) => i.category)]),
      [
        ['/i/old.jpg', ['vase']],
        ['/i/m.jpg', ['cat', 'dog']],
      ],
    );
  });

  test('a deleted label map is written again on the next export, with the same ids', async () => {
    const o = fresh();
    const r = [result('/i/n.jpg', 'cat, dog', [box(0, [1, 1, 9, 9], 'cat'), box(1, [20, 20, 30, 30], 'dog')])];
    await exportOdvg({ outDir: o, results: r });
    rmSync(join(o, 'label_map.json'));
    const s = await exportOdvg({ outDir: o, results: r });
    assert.deepEqual([s.added, s.updated, s.unchanged, s.wrote], [0, 0, 1, true]);
    assert.deepEqual(s.labelsAdded, ['cat', 'dog']);
    assert.deepEqual(JSON.parse(readFileSync(join(o, 'label_map.json'), 'utf8')), { 0: 'cat', 1: 'dog' });
    assert.deepEqual((await validateOdvg(o)).problems, []);
  });

  test('blank lines and a hand-edited record without detection in the records file do not stop the export', async () => {
    const o = fresh();
    mkdirSync(o, { recursive: true });
    writeFileSync(join(o, 'odvg.jsonl'), `  \n${JSON.stringify({ filename: '/i/p.jpg', height: 80, width: 100 })}\n\t\n`);
    const s = await exportOdvg({ outDir: o, results: [result('/i/p.jpg', 'cat', [box(0, [1, 1, 9, 9], 'cat')])] });
    assert.equal(s.updated, 1);
    assert.deepEqual(readRecords(o), [{ filename: '/i/p.jpg', height: 80, width: 100, detection: { instances: [{ bbox: [1, 1, 9, 9], label: 0, category: 'cat' }] } }]);
  });

  test('a box with no area inside the image is skipped with a warning; a label that normalises to nothing is ignored', async () => {
    const o = fresh();
    const s = await exportOdvg({
      outDir: o,
      results: [
        result('/i/b.jpg', 'cat', [
          box(3, [120, 10, 150, 20], 'cat'), // right of the image
          box(4, [10, 90, 20, 99], 'cat'), // below it
          box(5, [30, 30, 30, 50], 'cat'), // zero width
          box(6, [30, 30, 50, 30], 'cat'), // zero height
          box(7, [1, 1, 9, 9], ' - '),
          box(8, [5, 5, 25, 25], 'cat'),
        ]),
      ],
    });
    assert.deepEqual(s.warnings, [
      'box 3 (cat) of /i/b.jpg has no area inside the image; skipped',
      'box 4 (cat) of /i/b.jpg has no area inside the image; skipped',
      'box 5 (cat) of /i/b.jpg has no area inside the image; skipped',
      'box 6 (cat) of /i/b.jpg has no area inside the image; skipped',
    ]);
    assert.deepEqual(readRecords(o)[0]!.detection.instances, [{ bbox: [5, 5, 25, 25], label: 0, category: 'cat' }]);
    assert.deepEqual(s.labelsAdded, ['cat']);
  });

  test('an image with no kept box is not added; a known image whose boxes are all dropped now is removed', async () => {
    const o = fresh();
    const first = await exportOdvg({ outDir: o, results: [result('/i/c.jpg', 'dog', [box(0, [1, 1, 9, 9], 'dog')]), result('/i/d.jpg', 'dog', [box(0, [1, 1, 9, 9], 'dog', false)])] });
    assert.deepEqual([first.added, first.updated, first.removed, first.unchanged, first.instances, first.wrote], [1, 0, 0, 0, 1, true]);
    assert.deepEqual(readRecords(o).map((r) => r.filename), ['/i/c.jpg']);
    const second = await exportOdvg({ outDir: o, results: [result('/i/c.jpg', 'dog', [box(0, [1, 1, 9, 9], 'dog', false)])] });
    assert.deepEqual([second.added, second.updated, second.removed, second.unchanged, second.instances, second.wrote], [0, 0, 1, 0, 0, true]);
    assert.equal(readFileSync(join(o, 'odvg.jsonl'), 'utf8'), '');
    // The label stays in the map: ids are never reused.
    assert.deepEqual(JSON.parse(readFileSync(join(o, 'label_map.json'), 'utf8')), { 0: 'dog' });
    // Nothing known and nothing kept: nothing to write, not even the folder.
    const none = fresh();
    const empty = await exportOdvg({ outDir: none, results: [result('/i/e.jpg', 'dog', [box(0, [1, 1, 9, 9], 'dog', false)])] });
    assert.equal(empty.wrote, false);
    assert.throws(() => readFileSync(join(none, 'label_map.json')), /ENOENT/);
  });

  test('a box whose label is not in the prompt still covers its category; other categories of the image stay', async () => {
    const o = fresh();
    await exportOdvg({ outDir: o, results: [result('/i/f.jpg', 'chair, table', [box(0, [1, 1, 9, 9], 'chair'), box(1, [20, 20, 40, 40], 'table'), box(2, [50, 50, 60, 60], 'lamp')])] });
    // A later result for the prompt 'chair' with a box labelled 'lamp' (the detector's phrase): chair and lamp are replaced, table stays.
    const s = await exportOdvg({ outDir: o, results: [result('/i/f.jpg', 'chair', [box(0, [2, 2, 8, 8], 'chair'), box(1, [51, 51, 59, 59], 'Lamp', false)])] });
    assert.equal(s.updated, 1);
    assert.deepEqual(readRecords(o)[0]!.detection.instances.map((i) => `${i.category}@${i.bbox.join(',')}`), ['table@20,20,40,40', 'chair@2,2,8,8']);
  });

  test('new ids continue after the highest id in the label map, which may have gaps', async () => {
    const o = fresh();
    mkdirSync(o, { recursive: true });
    writeFileSync(join(o, 'label_map.json'), JSON.stringify({ 0: 'cat', 12: 'dog' }));
    const s = await exportOdvg({ outDir: o, results: [result('/i/g.jpg', 'dog, bird', [box(0, [1, 1, 9, 9], 'bird'), box(1, [10, 10, 20, 20], 'dog')])] });
    assert.deepEqual(s.labelsAdded, ['bird']);
    assert.deepEqual(JSON.parse(readFileSync(join(o, 'label_map.json'), 'utf8')), { 0: 'cat', 12: 'dog', 13: 'bird' });
    assert.deepEqual(readRecords(o)[0]!.detection.instances, [
      { bbox: [1, 1, 9, 9], label: 13, category: 'bird' },
      { bbox: [10, 10, 20, 20], label: 12, category: 'dog' },
    ]);
    // An empty label map starts at 0.
    const e = fresh();
    mkdirSync(e, { recursive: true });
    writeFileSync(join(e, 'label_map.json'), '{}');
    await exportOdvg({ outDir: e, results: [result('/i/g.jpg', 'bird', [box(0, [1, 1, 9, 9], 'bird')])] });
    assert.deepEqual(JSON.parse(readFileSync(join(e, 'label_map.json'), 'utf8')), { 0: 'bird' });
  });

  test('with an image root, filenames are relative to it; an image outside it keeps its absolute path with a warning', async () => {
    const o = fresh();
    const s = await exportOdvg({
      outDir: o,
      imageRoot: '/data/imgs',
      results: [
        result('/data/imgs/sub/a.jpg', 'cat', [box(0, [1, 1, 9, 9], 'cat')]),
        result('/data/imgs-other/b.jpg', 'cat', [box(0, [1, 1, 9, 9], 'cat')]),
        result('/elsewhere/c.jpg', 'cat', [box(0, [1, 1, 9, 9], 'cat')]),
      ],
    });
    assert.deepEqual(readRecords(o).map((r) => r.filename), ['sub/a.jpg', '/data/imgs-other/b.jpg', '/elsewhere/c.jpg']);
    assert.deepEqual(s.warnings, [
      '/data/imgs-other/b.jpg is outside the image root /data/imgs; its absolute path was written',
      '/elsewhere/c.jpg is outside the image root /data/imgs; its absolute path was written',
    ]);
  });

  test('a records file with a line that is not JSON, or a label map that is not one, stops the export with the file and line', async () => {
    const o = fresh();
    mkdirSync(o, { recursive: true });
    writeFileSync(join(o, 'odvg.jsonl'), `${JSON.stringify({ filename: 'x.jpg', height: 5, width: 5, detection: { instances: [] } })}\n\n{broken\n`);
    const r = [result('/i/h.jpg', 'cat', [box(0, [1, 1, 4, 4], 'cat')])];
    await assert.rejects(exportOdvg({ outDir: o, results: r }), (e: Error) => e.message === `${join(o, 'odvg.jsonl')} line 3 is not JSON: fix or remove that line (or export into a fresh folder)`);
    const m = fresh();
    mkdirSync(m, { recursive: true });
    for (const [text, message] of [
      ['[]', `${join(m, 'label_map.json')} is not a JSON object mapping label ids to category names`],
      ['null', `${join(m, 'label_map.json')} is not a JSON object mapping label ids to category names`],
      ['"cat"', `${join(m, 'label_map.json')} is not a JSON object mapping label ids to category names`],
      ['{"a": "cat"}', `${join(m, 'label_map.json')}: entry "a": "cat" is not "<integer id>": "<category>"`],
      ['{"1x": "cat"}', `${join(m, 'label_map.json')}: entry "1x": "cat" is not "<integer id>": "<category>"`],
      ['{"x1": "cat"}', `${join(m, 'label_map.json')}: entry "x1": "cat" is not "<integer id>": "<category>"`],
      ['{"1": 5}', `${join(m, 'label_map.json')}: entry "1": 5 is not "<integer id>": "<category>"`],
    ] as const) {
      writeFileSync(join(m, 'label_map.json'), text);
      await assert.rejects(exportOdvg({ outDir: m, results: r }), (e: Error) => e.message === message, text);
    }
    // A records path that cannot be read (a folder) is an error, not an empty export.
    const d = fresh();
    mkdirSync(join(d, 'odvg.jsonl'), { recursive: true });
    await assert.rejects(exportOdvg({ outDir: d, results: r }), /EISDIR/);
    const d2 = fresh();
    mkdirSync(join(d2, 'label_map.json'), { recursive: true });
    await assert.rejects(exportOdvg({ outDir: d2, results: r }), /EISDIR/);
  });
});

describe('ODVG validator', () => {
  const write = (records: string, labelMap: string | null = '{"0": "cat", "1": "dog"}') => {
    const o = fresh();
    mkdirSync(o, { recursive: true });
    writeFileSync(join(o, 'odvg.jsonl'), records);
    if (labelMap !== null) writeFileSync(join(o, 'label_map.json'), labelMap);
    return o;
  };
  const line = (r: unknown) => `${JSON.stringify(r)}\n`;
  const inst = (bbox: unknown, label: unknown = 0, category: unknown = 'cat') => ({ bbox, label, category });
  const rec = (filename: unknown, instances: unknown, width: unknown = 10, height: unknown = 8) => ({ filename, height, width, detection: { instances } });

  test('a clean export has no problems and is read back', async () => {
    const o = write(`  \n${line(rec('a.jpg', [inst([0, 0, 10, 8]), inst([1, 1, 2, 2], 1, 'dog')]))}\t\n`);
    const v = await validateOdvg(o);
    assert.deepEqual(v.problems, []);
    assert.equal(v.records.length, 1);
    assert.deepEqual(v.labelMap, { 0: 'cat', 1: 'dog' });
  });

  test('each problem the loader would trip on is named with its file, line and instance', async () => {
    const o = write(
      [
        line(rec('', [])),
        line(rec('a.jpg', [])),
        line(rec('a.jpg', [])),
        line(rec('b.jpg', [], 0, 8)),
        line(rec('c.jpg', [], 10, 2.5)),
        line({ filename: 'd.jpg', height: 8, width: 10, detection: {} }),
        line(rec('e.jpg', [inst([0, 0, 5]), inst([0, 0, 5, 'x']), inst([0, 0, 5, Infinity]), inst('0,0,5,5')])),
        line(rec('f.jpg', [inst([-1, 0, 5, 5]), inst([0, -1, 5, 5]), inst([0, 0, 11, 5]), inst([0, 0, 5, 9]), inst([5, 0, 5, 5]), inst([0, 5, 5, 5])])),
        line(rec('g.jpg', [inst([0, 0, 5, 5], 2), inst([0, 0, 5, 6], 0.5), inst([0, 0, 5, 7], '0'), inst([0, 0, 5, 8], 1, 'cat')])),
        line(rec('h.jpg', [inst([0, 0, 5, 5], 0, 'Cat'), inst([1, 1, 5, 5]), inst([1, 1, 5, 5])])),
        line(rec(5, [])),
        line({ height: 8, width: 10, detection: { instances: [] } }),
        line(rec('i.jpg', [], 2.5, 8)),
        line(rec('j.jpg', [], 10, 0)),
        line({ filename: 'k.jpg', height: 8, width: 10 }),
      ].join(''),
    );
    const { problems } = await validateOdvg(o);
    const p = join(o, 'odvg.jsonl');
    assert.deepEqual(problems, [
      `${p} line 1: no filename`,
      `${p} line 3: a.jpg appears twice`,
      `${p} line 4: width/height must be positive integers`,
      `${p} line 5: width/height must be positive integers`,
      `${p} line 6: detection.instances is not a list`,
      `${p} line 7 instance 0: bbox must be four numbers`,
      `${p} line 7 instance 1: bbox must be four numbers`,
      `${p} line 7 instance 2: bbox must be four numbers`,
      `${p} line 7 instance 3: bbox must be four numbers`,
      `${p} line 8 instance 0: bbox [-1,0,5,5] is not inside the 10x8 image with positive area`,
      `${p} line 8 instance 1: bbox [0,-1,5,5] is not inside the 10x8 image with positive area`,
      `${p} line 8 instance 2: bbox [0,0,11,5] is not inside the 10x8 image with positive area`,
      `${p} line 8 instance 3: bbox [0,0,5,9] is not inside the 10x8 image with positive area`,
      `${p} line 8 instance 4: bbox [5,0,5,5] is not inside the 10x8 image with positive area`,
      `${p} line 8 instance 5: bbox [0,5,5,5] is not inside the 10x8 image with positive area`,
      `${p} line 9 instance 0: label 2 is not in label_map.json`,
      `${p} line 9 instance 1: label 0.5 is not in label_map.json`,
      `${p} line 9 instance 2: label "0" is not in label_map.json`,
      `${p} line 9 instance 3: category "cat" differs from the label map's "dog" for id 1`,
      `${p} line 10 instance 0: category "Cat" differs from the label map's "cat" for id 0`,
      `${p} line 10 instance 0: category "Cat" is not normalised`,
      `${p} line 10 instance 2: duplicate of an earlier instance`,
      `${p} line 11: no filename`,
      `${p} line 12: no filename`,
      `${p} line 13: width/height must be positive integers`,
      `${p} line 14: width/height must be positive integers`,
      `${p} line 15: detection.instances is not a list`,
    ]);
  });

  test('the files themselves: a missing records file, an unterminated last line, a bad or ambiguous label map', async () => {
    const noRecords = fresh();
    mkdirSync(noRecords, { recursive: true });
    writeFileSync(join(noRecords, 'label_map.json'), '{}');
    const a = await validateOdvg(noRecords);
    assert.equal(a.problems.length, 1);
    assert.ok(a.problems[0]!.startsWith(`${join(noRecords, 'odvg.jsonl')}: ENOENT`), a.problems[0]);

    const unterminated = write(JSON.stringify(rec('a.jpg', [])));
    assert.deepEqual((await validateOdvg(unterminated)).problems, [`${join(unterminated, 'odvg.jsonl')}: the last line is not terminated`]);
    // An empty records file is terminated (nothing to terminate).
    assert.deepEqual((await validateOdvg(write(''))).problems, []);

    const twice = write('', '{"0": "cat", "1": "cat"}');
    assert.deepEqual((await validateOdvg(twice)).problems, [`${join(twice, 'label_map.json')}: a category has more than one id`]);

    const bad = write('', '[1]');
    const v = await validateOdvg(bad);
    assert.deepEqual(v.problems, [`${join(bad, 'label_map.json')}: ${join(bad, 'label_map.json')} is not a JSON object mapping label ids to category names`]);
    assert.deepEqual(v.labelMap, {});

    // No label map at all: every label is unknown.
    const noMap = write(line(rec('a.jpg', [inst([0, 0, 5, 5])])), null);
    assert.deepEqual((await validateOdvg(noMap)).problems, [`${join(noMap, 'odvg.jsonl')} line 1 instance 0: label 0 is not in label_map.json`]);
  });
});

const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');

describe('verl questions file', () => {
  test('field names are tried in order, blank values skipped; answers and ids of any scalar kind become text', async () => {
    const d = fresh();
    mkdirSync(join(d, 'imgs'), { recursive: true });
    writeFileSync(join(d, 'imgs', 'a.jpg'), 'x');
    writeFileSync(join(d, 'abs.jpg'), 'x');
    const q = join(d, 'q.jsonl');
    writeFileSync(
      q,
      jsonl([
        { problem: 'from problem', question: '  from question  ', image: 'imgs/a.jpg', answer: false, id: 0 },
        '',
        { question: '   ', query: 'from query', image: '  ', img: 'imgs/a.jpg', answer: '', gt: 'yes', id: '', qid: 'q-7' },
        { prompt: 'from prompt', image_path: join(d, 'abs.jpg'), answer: 0, idx: 3 },
        '   ',
        { problem: 'no extras', answer: null, id: null, image: null },
      ]),
    );
    assert.deepEqual(await readQuestionsJsonl(q), [
      { query: 'from question', image: join(d, 'imgs', 'a.jpg'), answer: 'false', id: '0' },
      { query: 'from query', image: join(d, 'imgs', 'a.jpg'), answer: 'yes', id: 'q-7' },
      { query: 'from prompt', image: join(d, 'abs.jpg'), answer: '0', id: '3' },
      { query: 'no extras' },
    ]);
    // --images: relative paths resolve against that folder instead of the file's.
    const elsewhere = fresh();
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, 'b.jpg'), 'x');
    writeFileSync(join(d, 'q2.jsonl'), jsonl([{ problem: 'p', image: 'b.jpg' }]));
    assert.deepEqual(await readQuestionsJsonl(join(d, 'q2.jsonl'), { imagesDir: elsewhere }), [{ query: 'p', image: join(elsewhere, 'b.jpg') }]);
  });

  test('a line that is not a JSON object, or has no question, fails naming the line and the accepted fields', async () => {
    const d = fresh();
    mkdirSync(d, { recursive: true });
    const cases: Array<[string, string]> = [
      ['{"problem": "ok"}\n{oops', 'line 2 is not JSON'],
      ['[1, 2]', 'line 1 is not a JSON object'],
      ['null', 'line 1 is not a JSON object'],
      ['"a question"', 'line 1 is not a JSON object'],
      ['{"problem": 5}', 'line 1 has no question: expected a string field "question", "query", "problem", "prompt"'],
    ];
    for (const [text, message] of cases) {
      const f = join(d, `c${++n}.jsonl`);
      writeFileSync(f, text);
      await assert.rejects(readQuestionsJsonl(f), (e: Error) => e.message === `${f} ${message}`, text);
    }
  });

  test('missing images are listed together, one line each, at most 20, with the folder they were looked for in', async () => {
    const d = fresh();
    mkdirSync(d, { recursive: true });
    const one = join(d, 'one.jsonl');
    writeFileSync(one, jsonl([{ problem: 'p', image: 'gone.jpg' }]));
    await assert.rejects(readQuestionsJsonl(one), (e: Error) => {
      assert.equal(e.message, `1 image named in ${one} does not exist (paths are relative to ${d}; pass --images DIR for the folder they are in):\n  line 1: ${join(d, 'gone.jpg')}`);
      return true;
    });
    const many = join(d, 'many.jsonl');
    writeFileSync(many, jsonl(Array.from({ length: 22 }, (_, i) => ({ problem: `p${i}`, image: `g${i}.jpg` }))));
    await assert.rejects(readQuestionsJsonl(many), (e: Error) => {
      const lines = e.message.split('\n');
      assert.equal(lines[0], `22 images named in ${many} do not exist (paths are relative to ${d}; pass --images DIR for the folder they are in):`);
      assert.equal(lines.length, 22, 'the heading, 20 paths and the rest counted');
      assert.equal(lines[1], `  line 1: ${join(d, 'g0.jpg')}`);
      assert.equal(lines[20], `  line 20: ${join(d, 'g19.jpg')}`);
      assert.equal(lines[21], '  ... and 2 more');
      return true;
    });
    const twenty = join(d, 'twenty.jsonl');
    writeFileSync(twenty, jsonl(Array.from({ length: 20 }, (_, i) => ({ problem: `p${i}`, image: `g${i}.jpg` }))));
    await assert.rejects(readQuestionsJsonl(twenty), (e: Error) => e.message.split('\n').length === 21 && !e.message.includes('more'));
  });
});

describe('verl records', () => {
  test('options set the data source, split, ability and system prompt; a record holds exactly what verl reads', () => {
    const records = toVerlRecords(
      [
        { query: 'Q1', image: '/i/a.jpg', image_sha256: 'ab'.repeat(32), answer: '3', id: 'x1' },
        { query: 'Q1' },
        { query: 'Q1', image: '/i/a.jpg' },
        { query: 'Q1' },
        { query: 'Q2', id: '' },
      ],
      { dataSource: 'omni3d', split: 'val', ability: 'counting', prompt: { text: 'SYSTEM TEXT' } },
    );
    assert.deepEqual(records, [
      {
        data_source: 'omni3d',
        problem: 'Q1',
        prompt: [{ role: 'user', content: 'SYSTEM TEXT\n\nQuestion: Q1' }],
        ability: 'counting',
        reward_model: { style: 'model', ground_truth: '3' },
        extra_info: { index: 0, split: 'val', query: 'Q1', image: '/i/a.jpg', image_sha256: 'ab'.repeat(32), id: 'x1' },
      },
      {
        data_source: 'omni3d',
        problem: 'Q1',
        prompt: [{ role: 'user', content: 'SYSTEM TEXT\n\nQuestion: Q1' }],
        ability: 'counting',
        reward_model: { style: 'model', ground_truth: '' },
        extra_info: { index: 1, split: 'val', query: 'Q1' },
      },
      {
        data_source: 'omni3d',
        problem: 'Q2',
        prompt: [{ role: 'user', content: 'SYSTEM TEXT\n\nQuestion: Q2' }],
        ability: 'counting',
        reward_model: { style: 'model', ground_truth: '' },
        extra_info: { index: 2, split: 'val', query: 'Q2' },
      },
    ]);
    const [d] = toVerlRecords([{ query: 'Q' }]);
    assert.equal(d!.ability, 'spatial_reasoning');
    assert.equal(d!.extra_info.split, 'train');
  });

  test('JSONL is written into a new folder, one record a line; parquet goes through python3, and its failures say so', async (t) => {
    const d = fresh();
    const records = toVerlRecords([{ query: 'Q1' }, { query: 'Q2' }], { prompt: { text: 'S' } });
    const path = join(d, 'deep', 'er', 'train.jsonl');
    await writeVerlRecords(path, records);
    assert.equal(
      readFileSync(path, 'utf8'),
      '{"data_source":"valor","problem":"Q1","prompt":[{"role":"user","content":"S\\n\\nQuestion: Q1"}],"ability":"spatial_reasoning","reward_model":{"style":"model","ground_truth":""},"extra_info":{"index":0,"split":"train","query":"Q1"}}\n' +
        '{"data_source":"valor","problem":"Q2","prompt":[{"role":"user","content":"S\\n\\nQuestion: Q2"}],"ability":"spatial_reasoning","reward_model":{"style":"model","ground_truth":""},"extra_info":{"index":1,"split":"train","query":"Q2"}}\n',
    );
    // The extension decides, in any case.
    const pq = join(d, 'pq', 'TRAIN.PARQUET');
    await assert.rejects(writeVerlRecords(pq, records, { python: join(d, 'no-such-python') }), (e: Error) => e.message.startsWith('could not start python3 to write parquet: ') && /ENOENT/.test(e.message));
    await assert.rejects(writeVerlRecords(pq, records, { python: '/bin/false' }), (e: Error) => e.message === 'writing parquet failed: python3 exited with 1');
    assert.equal(existsSync(pq), false);
    // More than a pipe holds (64 KiB) to an interpreter that exits at once: the write fails with
    // EPIPE, which must not crash the process; the exit code is the error.
    const big = toVerlRecords([{ query: 'Q' }], { prompt: { text: 'x'.repeat(200_000) } });
    await assert.rejects(writeVerlRecords(pq, big, { python: '/bin/false' }), (e: Error) => e.message === 'writing parquet failed: python3 exited with 1');
    // VALOR_PYTHON names the interpreter when no option does.
    const saved = process.env.VALOR_PYTHON;
    t.after(() => (saved === undefined ? delete process.env.VALOR_PYTHON : (process.env.VALOR_PYTHON = saved)));
    process.env.VALOR_PYTHON = '/bin/false';
    await assert.rejects(writeVerlRecords(pq, records), (e: Error) => e.message === 'writing parquet failed: python3 exited with 1');
    // A python3 that says why it failed: its message is the error.
    process.env.VALOR_PYTHON = 'python3';
    const hasPyarrow = (await import('node:child_process')).spawnSync('python3', ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0;
    if (!hasPyarrow) {
      await assert.rejects(
        writeVerlRecords(pq, records),
        (e: Error) => e.message === 'writing parquet failed: pyarrow is not installed for this python3: pip install pyarrow, or write .jsonl and convert it where pyarrow is installed',
      );
    }
  });

  test('parquet: the interpreter writes a temporary file that then takes the name; a cancelled write stops it', async () => {
    // A stand-in for python3 with pyarrow (not installed here): it takes the same arguments
    // (-c SCRIPT OUT) and writes what it reads to OUT, so our side of the exchange is what is tested.
    const d = fresh();
    mkdirSync(d, { recursive: true });
    const fake = join(d, 'fake-python');
    writeFileSync(fake, '#!/bin/sh\n[ "$1" = "-c" ] || exit 9\ncat > "$3"\n', { mode: 0o755 });
    const records = toVerlRecords([{ query: 'Q1' }], { prompt: { text: 'S' } });
    const pq = join(d, 'out', 'train.parquet');
    await writeVerlRecords(pq, records, { python: fake });
    assert.equal(readFileSync(pq, 'utf8'), `${JSON.stringify(records[0])}\n`);
    assert.deepEqual(readdirSync(join(d, 'out')), ['train.parquet'], 'no temporary file is left');
    const slow = join(d, 'slow-python');
    writeFileSync(slow, '#!/bin/sh\nexec sleep 20\n', { mode: 0o755 });
    const ac = new AbortController();
    const pending = writeVerlRecords(join(d, 'out', 'late.parquet'), records, { python: slow, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(pending, /aborted/);
    assert.equal(existsSync(join(d, 'out', 'late.parquet')), false);
  });

  test('questions from run records: oldest first, unreadable records reported, not dropped silently', async () => {
    const runs = fresh();
    const rec = (id: string, query: string, sha: string): RunRecord => blankRunRecord(id, { query, image: { path: `/imgs/${sha}.jpg`, sha256: sha.repeat(64) } });
    await writeRunRecord(runs, rec('20260101T000002Z-000003', 'third', 'c'));
    await writeRunRecord(runs, rec('20260101T000000Z-000001', 'first', 'a'));
    writeFileSync(join(runs, '20260101T000001Z-000002.json'), '{not json');
    const { questions, problems } = await questionsFromRuns(runs);
    assert.deepEqual(questions, [
      { query: 'first', image: '/imgs/a.jpg', image_sha256: 'a'.repeat(64) },
      { query: 'third', image: '/imgs/c.jpg', image_sha256: 'c'.repeat(64) },
    ]);
    assert.equal(problems.length, 1);
    assert.ok(problems[0]!.startsWith(`${join(runs, '20260101T000001Z-000002.json')}: `), problems[0]);
  });
});

describe('verl config lines', () => {
  test("Hydra quoting: ' escaped, backslashes doubled only before a quote, the end or ${, and ${ escaped", () => {
    assert.equal(hydraQuote('plain text'), "'plain text'");
    assert.equal(hydraQuote("it's"), "'it\\'s'");
    assert.equal(hydraQuote('a\\b'), "'a\\b'", 'a backslash before an ordinary character stays single');
    assert.equal(hydraQuote('a\\\\b'), "'a\\\\b'", 'two stay two');
    assert.equal(hydraQuote('end\\'), "'end\\\\'", 'before the closing quote: doubled');
    assert.equal(hydraQuote("x\\'y"), "'x\\\\\\'y'", 'before a quote: the backslash doubled, then the quote escaped');
    assert.equal(hydraQuote('\\\\${v}'), "'\\\\\\\\\\${v}'", 'two before ${ become four, then \\${');
    assert.equal(hydraQuote('cost $5 and ${x} and $'), "'cost $5 and \\${x} and $'");
    assert.equal(hydraQuote('a\\$5'), "'a\\$5'", 'a backslash before a $ that starts no ${ stays single');
    assert.equal(hydraQuote('a\\x{y}'), "'a\\x{y}'", 'a { after another character does not count');
    assert.equal(hydraQuote('{x} $ {'), "'{x} $ {'");
    assert.equal(hydraQuote(''), "''");
  });

  test('file names next to the export, the reward function path, and the valor-fork overrides', () => {
    assert.deepEqual(systemPromptFiles('/o/train.jsonl'), { text: '/o/train.system_prompt.txt', hydra: '/o/train.system_prompt.hydra' });
    assert.deepEqual(systemPromptFiles('/o/T.PARQUET'), { text: '/o/T.system_prompt.txt', hydra: '/o/T.system_prompt.hydra' });
    assert.deepEqual(systemPromptFiles('/o/t.json'), { text: '/o/t.json.system_prompt.txt', hydra: '/o/t.json.system_prompt.hydra' });
    assert.deepEqual(systemPromptFiles('/o.jsonl/t'), { text: '/o.jsonl/t.system_prompt.txt', hydra: '/o.jsonl/t.system_prompt.hydra' });
    const reward = rewardFunctionPath();
    assert.equal(reward, join(process.cwd(), 'python', 'valor_reward.py'));
    assert.ok(existsSync(reward));

    const fork = verlOverrides({ layout: 'valor-fork', dataPath: '/d/t.jsonl', hydraPromptPath: '/d/t.system_prompt.hydra', rewardPath: '/r.py', rollouts: 8 });
    assert.deepEqual(fork, [
      'algorithm.adv_estimator=grpo',
      'data.train_files=/d/t.jsonl',
      'data.prompt_key=problem',
      '"+data.system_prompt=$(cat /d/t.system_prompt.hydra)"',
      'reward_model.reward_manager=batch',
      'custom_reward_function.path=/r.py',
      'custom_reward_function.name=compute_score_batch',
      'actor_rollout_ref.rollout.n=8',
    ]);
    assert.equal(
      verlSnippet({ layout: 'release', dataPath: '/d/t.parquet', hydraPromptPath: '/d/h', rewardPath: '/r.py' }),
      [
        'python3 -m verl.trainer.main_ppo \\',
        '  algorithm.adv_estimator=grpo \\',
        '  data.train_files=/d/t.parquet \\',
        '  data.prompt_key=prompt \\',
        '  reward_model.reward_manager=batch \\',
        '  custom_reward_function.path=/r.py \\',
        '  custom_reward_function.name=compute_score_batch \\',
        '  actor_rollout_ref.rollout.n=5',
      ].join('\n'),
    );
  });
});

describe('grounding results for export', () => {
  const g = (path: string, label = 'cat'): GroundingResult => result(path, label, [box(0, [1, 1, 9, 9], label)]);
  const runRecord = (id: string, grounding?: GroundingResult[]): RunRecord => blankRunRecord(id, grounding ? { grounding } : {});

  test('one result, an array of them, JSONL with one a line, and run records, in file order', async () => {
    const d = fresh();
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'one.json'), JSON.stringify(g('/i/1.jpg')));
    writeFileSync(join(d, 'many.json'), JSON.stringify([g('/i/2.jpg'), [g('/i/3.jpg')], runRecord('r1', [g('/i/4.jpg'), g('/i/5.jpg')]), runRecord('r2')]));
    writeFileSync(join(d, 'lines.JSONL'), `${JSON.stringify(g('/i/6.jpg'))}\n\n  \n${JSON.stringify(runRecord('r3', [g('/i/7.jpg')]))}\n`);
    const got = await loadGroundingFiles([join(d, 'one.json'), join(d, 'many.json'), join(d, 'lines.JSONL')]);
    assert.deepEqual(got.map((r) => r.image.path), ['/i/1.jpg', '/i/2.jpg', '/i/3.jpg', '/i/4.jpg', '/i/5.jpg', '/i/6.jpg', '/i/7.jpg']);
    assert.deepEqual(got[0], g('/i/1.jpg'));
    assert.deepEqual(await loadGroundingFiles([]), []);
  });

  test('a bad file or record is an error naming the file, the line or the array index, and the first problem', async () => {
    const d = fresh();
    mkdirSync(d, { recursive: true });
    const f = (name: string, text: string) => {
      writeFileSync(join(d, name), text);
      return join(d, name);
    };
    const notJson = f('bad.json', '{nope');
    await assert.rejects(loadGroundingFiles([notJson]), (e: Error) => e.message.startsWith(`${notJson} is not JSON (`) && e.message.endsWith(')'));
    const badLine = f('bad.jsonl', `${JSON.stringify(g('/i/1.jpg'))}\n{nope\n`);
    await assert.rejects(loadGroundingFiles([badLine]), (e: Error) => e.message === `${badLine} line 2 is not JSON`);
    const wrongLine = f('wrong.jsonl', `\n${JSON.stringify({ image: { path: 'x' } })}\n`);
    await assert.rejects(loadGroundingFiles([wrongLine]), (e: Error) => new RegExp(`^${escape(wrongLine)} line 2 is neither a grounding result nor a run record \\(image\\.sha256: .+\\)$`).test(e.message), 'names the first field wrong');
    const wrongItem = f('wrong.json', JSON.stringify([g('/i/1.jpg'), [g('/i/2.jpg'), 7]]));
    await assert.rejects(loadGroundingFiles([wrongItem]), (e: Error) => new RegExp(`^${escape(wrongItem)}\\[1\\]\\[1\\] is neither a grounding result nor a run record \\(record: .+\\)$`).test(e.message), 'a value with no field names the record');
  });

  test('from run records: oldest first, records without grounding add nothing, unreadable ones are reported', async () => {
    const runs = fresh();
    await writeRunRecord(runs, runRecord('20260101T000002Z-000003', [g('/i/c.jpg')]));
    await writeRunRecord(runs, runRecord('20260101T000000Z-000001', [g('/i/a.jpg'), g('/i/b.jpg')]));
    await writeRunRecord(runs, runRecord('20260101T000001Z-000002'));
    writeFileSync(join(runs, '20260101T000003Z-000004.json'), '[]');
    const { results, problems } = await groundingFromRuns(runs);
    assert.deepEqual(results.map((r) => r.image.path), ['/i/a.jpg', '/i/b.jpg', '/i/c.jpg']);
    assert.equal(problems.length, 1);
    assert.ok(problems[0]!.startsWith(`${join(runs, '20260101T000003Z-000004.json')}: `), problems[0]);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
