// The run view's line-by-line trace in a real Chromium: the fixture run replayed through a real
// python3 child (src/core/replay.ts) gives a real line trace; the view lists the program lines
// with their values, dims the line that never ran, and selecting a line selects the call whose
// boxes it used (and posts revealLine for it).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { replayRecord } from '../../src/core/replay.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { openRunView } from '../helpers/browser.js';
import type { ViewFixture } from './fixture.js';
import { startViewFixture } from './fixture.js';
import { makeRun } from './runData.js';
import { summariseLines } from '../../src/core/lineTrace.js';
import { callForLine } from '../../webview/lineView.js';

let fx: ViewFixture;
let runner: ProgramRunner;
before(async () => {
  fx = await startViewFixture();
  runner = new ProgramRunner();
});
after(async () => {
  await fx?.close();
  await runner?.dispose();
});

test('program lines show their values, the line that never ran is dimmed, a line selects the call whose boxes it used', async (t) => {
  const base = makeRun();
  const { record } = await replayRecord(base, { runner });
  assert.ok(record.line_trace);
  const run = { ...record, id: base.id };
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const page = view.page;
  assert.equal(await page.locator('.section-lines').isVisible(), true);
  assert.equal(await page.locator('li.line').count(), run.program!.split('\n').length);
  assert.match((await page.locator('li.line[data-line="1"] .line-values').textContent()) ?? '', /^mugs = \d+ detections?: mug /);
  assert.equal(await page.locator('li.line[data-line="4"]').getAttribute('class'), 'line never', 'the early return never ran');
  assert.equal(await page.locator('li.line[data-line="4"] .line-never').textContent(), 'never ran');
  assert.equal(await page.locator('li.line[data-line="8"] .line-values').textContent(), "final_answer = 'yes'");

  // Line 2 made call #1: selecting it selects that call and reveals the line.
  await page.locator('li.line[data-line="2"] .line-code').click();
  const msg = await view.waitForPosted('revealLine');
  assert.deepEqual(msg, { type: 'revealLine', runId: run.id, line: 2, callIndex: 1 });
  assert.equal(await page.locator('li.line[data-line="2"]').getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('li.call[data-index="1"]').getAttribute('aria-selected'), 'true');
  // Line 5 made the depth call #2.
  await page.locator('li.line[data-line="5"] .line-code').click();
  assert.equal((await view.waitForPosted('revealLine', 2))['callIndex'], 2);
  assert.equal(await page.locator('li.call[data-index="2"]').getAttribute('aria-selected'), 'true');
});

test('a line with no call of its own selects the detection call whose boxes its values hold', async () => {
  const base = makeRun();
  const program = `${base.program}\nfirst = mugs[0]\nbest = laptops[0]`;
  const { record } = await replayRecord({ ...base, program }, { runner });
  const sums = summariseLines(record.line_trace!);
  assert.equal(callForLine(sums.get(9), record.trace), 0, 'first holds a box of call #0 (mugs)');
  assert.equal(callForLine(sums.get(10), record.trace), 1, 'best holds a box of call #1 (laptops)');
  assert.equal(callForLine(sums.get(6), record.trace), null, 'left is a bool: no boxes');
});
