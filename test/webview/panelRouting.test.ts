// The run view re-renders only the panels whose data changed, in a real Chromium: each panel's
// element counts its renders (`data-renders`), and the DOM nodes of the panels a message did not
// touch stay the very same nodes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunRecord } from '../../src/protocol/run.js';
import { openRunView, type RunView } from '../helpers/browser.js';
import { startViewFixture, type ViewFixture } from './fixture.js';
import { groundingResult, makeRun } from './runData.js';

const PANELS = {
  header: '.run-header',
  answer: '.answer',
  trace: 'ol.trace',
  lines: '.lines-box',
  scores: '.scores',
  plan: '.plan',
  grounding: '.grounding',
  compare: '.compare',
  legend: '.legend',
} as const;
type PanelName = keyof typeof PANELS;

let fx: ViewFixture;
before(async () => {
  fx = await startViewFixture();
});
after(async () => {
  await fx?.close();
});

async function renders(view: RunView): Promise<Record<PanelName, number>> {
  return view.page.evaluate((sel) => Object.fromEntries(Object.entries(sel).map(([k, s]) => [k, Number(document.querySelector(s)?.getAttribute('data-renders') ?? 0)])), PANELS) as Promise<Record<PanelName, number>>;
}

/** Sends `msg`, waits until `until` holds, and returns which panels rendered (by how many). */
async function rendered(view: RunView, msg: unknown, until: string): Promise<Partial<Record<PanelName, number>>> {
  const before = await renders(view);
  await view.send(msg);
  await view.page.waitForFunction(until);
  await view.settle();
  const after = await renders(view);
  const out: Partial<Record<PanelName, number>> = {};
  for (const k of Object.keys(PANELS) as PanelName[]) if (after[k] !== before[k]) out[k] = after[k] - before[k];
  return out;
}

test('a message that changes one panel\u2019s data re-renders that panel only', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const first = await renders(view);
  for (const k of ['answer', 'trace', 'scores', 'plan', 'grounding', 'compare', 'legend'] as const) assert.ok(first[k] >= 1, `${k} rendered on init`);
  // Keep handles on nodes of panels that must not be rebuilt.
  await view.page.evaluate(() => {
    const w = window as unknown as Record<string, Element | null>;
    w['__row'] = document.querySelector('li.call');
    w['__plan'] = document.querySelector('.plan-text');
    w['__gbox'] = document.querySelector('li.gbox');
  });
  const same = (name: string, sel: string) => view.page.evaluate(([n, s]) => (window as unknown as Record<string, Element | null>)[n!] === document.querySelector(s!), [name, sel]);

  // A run to compare with: only the compare panel.
  const other: RunRecord = { ...makeRun(), id: 'run-other', final_answer: 'no' };
  assert.deepEqual(await rendered(view, { type: 'update', compare: other }, `!document.querySelector('.section-compare').hidden`), { compare: 1 });

  // New grounding results: only the grounding panel.
  const g = groundingResult();
  const flipped = { ...g, boxes: g.boxes.map((b, i) => (i === 0 ? { ...b, kept: !b.kept, overridden: true } : b)) };
  assert.deepEqual(await rendered(view, { type: 'update', grounding: [flipped] }, `document.querySelector('li.gbox .badge-human') !== null`), { grounding: 1 });
  assert.equal(await same('__row', 'li.call'), true, 'the trace rows are the same nodes');

  // New rewards: the scores, the answer (it shows the total) and the comparison (it compares totals).
  const rewards = { ...run.rewards!, total: 0.12 };
  assert.deepEqual(await rendered(view, { type: 'update', rewards }, `document.querySelector('.total-value').textContent === '0.12'`), { answer: 1, scores: 1, compare: 1 });
  assert.equal(await same('__row', 'li.call'), true);
  assert.equal(await same('__plan', '.plan-text'), true, 'the plan is the same node');

  // The whole record sent again, unchanged but for the pending flag: nothing but what shows it.
  const whole = { ...run, rewards, grounding: [flipped] };
  assert.deepEqual(await rendered(view, { type: 'update', run: whole, pending: ['rewards'] }, `document.querySelector('.scores .working') !== null`), { scores: 1 });
  assert.equal(await same('__row', 'li.call'), true);
  assert.equal(await same('__plan', '.plan-text'), true);
});
