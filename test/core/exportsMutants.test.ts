// Tests written for the `exports` mutation group (docs/testing.md): the ODVG export and its
// validator, the verl records, the verl config lines, and reading grounding results for export.
// Expected values are worked out by hand from the ODVG format (docs/valor.md §5), verl's record
// layout (docs/training.md) and Hydra's quoting rules, never from our own output. In-process, so
// Stryker sees their coverage.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exportOdvg, promptCategories, validateOdvg } from '../../src/core/exports/odvg.js';
import type { BoxFate, GroundingResult } from '../../src/protocol/run.js';

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
          box(4, [-3, -2, 12.3456, 7.891], 'cup'),
          box(5, [90, 70, 130, 95], 'cup'),
        ]),
      ],
    });
    assert.equal(s.instances, 6);
    assert.deepEqual(s.labelsAdded, ['cup', 'mug'], 'ids are given in sorted order of the instances');
    const [r] = readRecords(o);
    assert.deepEqual(r!.detection.instances, [
      { bbox: [0, 0, 12.35, 7.89], label: 0, category: 'cup' },
      { bbox: [90, 70, 100, 80], label: 0, category: 'cup' },
      { bbox: [10, 5, 15, 40], label: 1, category: 'mug' },
      { bbox: [10, 5, 20, 40], label: 1, category: 'mug' },
      { bbox: [10, 30, 20, 40], label: 1, category: 'mug' },
      { bbox: [50, 10, 60, 20], label: 1, category: 'mug' },
    ]);
    assert.deepEqual(JSON.parse(readFileSync(join(o, 'label_map.json'), 'utf8')), { 0: 'cup', 1: 'mug' });
    assert.equal(readFileSync(join(o, 'label_map.json'), 'utf8'), '{\n  "0": "cup",\n  "1": "mug"\n}\n');
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
    writeFileSync(join(o, 'label_map.json'), JSON.stringify({ 0: 'cat', 7: 'dog' }));
    const s = await exportOdvg({ outDir: o, results: [result('/i/g.jpg', 'dog, bird', [box(0, [1, 1, 9, 9], 'bird'), box(1, [10, 10, 20, 20], 'dog')])] });
    assert.deepEqual(s.labelsAdded, ['bird']);
    assert.deepEqual(JSON.parse(readFileSync(join(o, 'label_map.json'), 'utf8')), { 0: 'cat', 7: 'dog', 8: 'bird' });
    assert.deepEqual(readRecords(o)[0]!.detection.instances, [
      { bbox: [1, 1, 9, 9], label: 8, category: 'bird' },
      { bbox: [10, 10, 20, 20], label: 7, category: 'dog' },
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
    const o = write(line(rec('a.jpg', [inst([0, 0, 10, 8]), inst([1, 1, 2, 2], 1, 'dog')])));
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
