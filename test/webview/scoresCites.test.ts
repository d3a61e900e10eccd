// A verdict's cites (the plan steps and program lines a judge's verdict rests on) under its
// reward in the run view: the text from the record's numbers, with the document's lines when the
// program came from a .vprog document; nothing for verdicts without cites.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { citesText, numberList } from '../../webview/panels/scores.js';
import { openRunView } from '../helpers/browser.js';
import { startViewFixture, type ViewFixture } from './fixture.js';
import { makeRun } from './runData.js';

test('cited numbers read as a list, runs of three or more as a range', () => {
  assert.equal(numberList([3, 2]), '2, 3');
  assert.equal(numberList([7, 5, 6]), '5–7');
  assert.equal(numberList([1, 2, 3, 5, 9, 10, 11, 12, 5]), '1–3, 5, 9–12');
  assert.equal(citesText({ plan_steps: [2, 3], program_lines: [5, 6, 7] }), 'cites plan steps 2, 3 · program lines 5–7');
  assert.equal(citesText({ plan_steps: [1], program_lines: [] }), 'cites plan step 1');
  assert.equal(citesText({ plan_steps: [], program_lines: [4] }, 9), 'cites program line 4 (document line 12)');
  assert.equal(citesText({ plan_steps: [], program_lines: [1, 2, 3] }, 1), 'cites program lines 1–3', 'no document lines when they are the same');
});

let fx: ViewFixture;
before(async () => {
  fx = await startViewFixture();
});
after(async () => {
  await fx?.close();
});

test('the scores panel shows what each verdict cites', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const base = makeRun();
  const verdicts = base.rewards!.verdicts.map((v) => (v.reward === 'spatial' ? { ...v, cites: { plan_steps: [2, 3], program_lines: [5, 6, 7] } } : v.reward === 'logic' ? { ...v, cites: { plan_steps: [], program_lines: [] } } : v));
  const run = { ...base, program_document_line: 8, rewards: { ...base.rewards!, verdicts } };
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  assert.equal(await view.page.locator('.reward[data-reward="spatial"] .reward-cites').textContent(), 'cites plan steps 2, 3 · program lines 5–7 (document lines 12–14)');
  assert.equal(await view.page.locator('.reward-cites').count(), 1, 'no line for verdicts without cites, or with empty ones');
});
