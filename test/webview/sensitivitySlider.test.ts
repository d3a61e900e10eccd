// The answer per threshold-slider position (issue #15), in a real Chromium: a run whose answer
// flips at known box thresholds is recorded with a real python3 child, its sensitivity report is
// computed by replay (src/core/sensitivity.ts) and stored in the record as `valor run
// --sensitivity` does; the run view draws one band per interval along the slider and shows,
// beside it, the answer the slider's position gives: and that answer changes exactly where the
// recorded intervals say.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runQuery } from '../../src/core/pipeline.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { sensitivity } from '../../src/core/sensitivity.js';
import { RunRecord } from '../../src/protocol/run.js';
import type { Detection } from '../../src/protocol/tools.js';
import { openRunView } from '../helpers/browser.js';
import { REPO } from '../helpers/cli.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';
import { answerAt, intervalAt, sliderBands } from '../../webview/sensitivityBands.js';
import { startViewFixture, type ViewFixture } from './fixture.js';

const IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');
// Kept at threshold t: score > t. Two mugs are kept exactly for 0.31 ≤ t < 0.45.
const CANDIDATES: Detection[] = [
  { bbox: [10, 10, 50, 50], label: 'mug', score: 0.9 },
  { bbox: [60, 10, 100, 50], label: 'mug', score: 0.45 },
  { bbox: [110, 10, 150, 50], label: 'mug', score: 0.31 },
  { bbox: [160, 10, 200, 50], label: 'mug', score: 0.2 },
];

let fx: ViewFixture;
let runner: ProgramRunner;
let run: RunRecord;
before(async () => {
  fx = await startViewFixture();
  runner = new ProgramRunner({ timeoutMs: 30_000 });
  const tools = new ScriptedTools({
    gd_detect: () => ({ value: CANDIDATES.filter((c) => c.score > 0.35), detail: { candidates: CANDIDATES, box_threshold: 0.35, text_threshold: 0.25 } }),
  });
  const program = 'mugs = gd_detect(img_pth, "mug")\nfinal_answer = "two" if len(mugs) == 2 else "not two"';
  const reply = `<plan>\n1. Count the mugs.\n</plan>\n<answer>\n\`\`\`python\n${program}\n\`\`\`\n</answer>`;
  const ran = RunRecord.parse(JSON.parse(JSON.stringify(await runQuery({ query: 'Are there two mugs?', imagePath: IMAGE, reply, tools, toolsUrl: 'scripted', runner }))));
  run = RunRecord.parse({ ...ran, sensitivity: await sensitivity(ran, { runner }) });
});
after(async () => {
  await runner?.dispose();
  await fx?.close();
});

test('the recorded intervals are the hand-computed ones, and the bands and answers follow them', () => {
  assert.equal(run.final_answer, 'two');
  const d = run.sensitivity!.detect[0]!;
  assert.deepEqual(d.intervals.map((i) => [i.from, i.to, i.outcome]), [
    [0, 0.31, 'answer:"not two"'],
    [0.31, 0.45, 'answer:"two"'],
    [0.45, 1, 'answer:"not two"'],
  ]);
  const recorded = run.sensitivity!.outcome;
  // The slider starts at the lowest candidate score (0.20): the first band is clipped there.
  assert.deepEqual(sliderBands(d, recorded, 0.2).map((b) => [b.from, b.to, b.label, b.kind]), [
    [0.2, 0.31, '"not two"', 'changed'],
    [0.31, 0.45, '"two"', 'same'],
    [0.45, 1, '"not two"', 'changed'],
  ]);
  assert.equal(intervalAt(d, 0.45)?.from, 0.45, 'an interval holds its lower end');
  assert.equal(intervalAt(d, 1)?.to, 1, 'the top of the slider falls in the last interval');
  assert.deepEqual(answerAt(d, recorded, 0.3), { label: '"not two"', kind: 'changed' });
  assert.deepEqual(answerAt({ ...d, intervals: d.intervals.slice(1, 2), partial: true }, recorded, 0.6), { label: 'not analysed here', kind: 'unexplored' });
});

test('the slider shows a band per interval and the answer at its position', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  await view.init({ type: 'init', run, imageUri: null });
  const row = view.page.locator('li.call[data-index="0"]');
  const bands = row.locator('.threshold-bands .band');
  assert.deepEqual(
    await bands.evaluateAll((els) => els.map((e) => [e.getAttribute('data-from'), e.getAttribute('data-to'), e.getAttribute('data-kind'), e.textContent])),
    [
      ['0.2', '0.31', 'changed', '"not two"'],
      ['0.31', '0.45', 'same', '"two"'],
      ['0.45', '1', 'changed', '"not two"'],
    ],
  );
  // Along the track: each band starts where the slider's value is its `from`.
  const slider = row.locator('input.threshold');
  const track = (await slider.boundingBox())!;
  const boxes = await bands.evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.left, r.width]));
  const at = (v: number) => track.x + ((v - 0.2) / 0.8) * track.width;
  for (const [i, [from, to]] of [[0.2, 0.31], [0.31, 0.45], [0.45, 1]].entries()) {
    assert.ok(Math.abs(boxes[i]![0]! - at(from!)) < 2, `band ${i} starts at ${from}`);
    assert.ok(Math.abs(boxes[i]![0]! + boxes[i]![1]! - at(to!)) < 2, `band ${i} ends at ${to}`);
  }
  // A changed answer is drawn in another colour than the recorded one.
  const bg = await bands.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.notEqual(bg[0], bg[1]);
  assert.equal(bg[0], bg[2]);

  const answer = row.locator('.threshold-answer');
  const expectAt = async (value: string, text: string, kind: string) => {
    await slider.fill(value);
    assert.equal(await answer.textContent(), text, `at ${value}`);
    assert.equal(await answer.getAttribute('data-kind'), kind, `at ${value}`);
  };
  assert.equal(await answer.textContent(), '→ "two"', 'at the program\u2019s threshold, 0.35');
  assert.equal(await answer.getAttribute('data-kind'), 'same');
  await expectAt('0.3', '→ "not two"', 'changed');
  await expectAt('0.31', '→ "two"', 'same');
  await expectAt('0.44', '→ "two"', 'same');
  await expectAt('0.45', '→ "not two"', 'changed');
  await expectAt('1', '→ "not two"', 'changed');
  await row.locator('button.threshold-reset').click();
  assert.equal(await answer.textContent(), '→ "two"');
});

test('without a sensitivity report the slider has no bands and no answer', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const { sensitivity: _none, ...plain } = run;
  await view.init({ type: 'init', run: plain, imageUri: null });
  assert.equal(await view.page.locator('li.call[data-index="0"] input.threshold').count(), 1);
  assert.equal(await view.page.locator('.threshold-bands, .threshold-answer').count(), 0);
});
