/**
 * The run view's "Fix with the model…" button in the error area (docs/debugger.md "Repair"), in
 * Chromium: shown for the program's own failure and posting `fixWithModel` with the run id;
 * absent when the tool server failed (the runner's mark), for a runner failure (Cancelled) and
 * when the run answered.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openRunView } from '../helpers/browser.js';
import type { ViewFixture } from './fixture.js';
import { startViewFixture } from './fixture.js';
import { makeRun } from './runData.js';

let fx: ViewFixture;
before(async () => {
  fx = await startViewFixture();
});
after(async () => {
  await fx?.close();
});

test("the error area's Fix with the model… posts fixWithModel only for the program's own failure", async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const button = view.page.locator('.answer-error button.fix-with-model');

  const failed = { ...makeRun({ id: 'failed-run' }), final_answer: null, error: { type: 'NameError', message: "name 'mug' is not defined", line: 2 } };
  await view.init({ type: 'init', run: failed, imageUri: fx.imageUri });
  await button.waitFor();
  assert.equal(await button.innerText(), 'Fix with the model…');
  await button.click();
  assert.deepEqual(await view.waitForPosted('fixWithModel'), { type: 'fixWithModel', runId: 'failed-run' });

  const base = makeRun({ id: 'outage-run' });
  const outage = {
    ...base,
    final_answer: null,
    trace: base.trace.map((e, i) => (i === 0 ? { ...e, error: { type: 'ToolError', message: 'the tool server did not answer', tool_server: true } } : e)),
    error: { type: 'ToolError', message: 'the tool server did not answer', line: 1 },
  };
  for (const run of [outage, { ...makeRun({ id: 'cancelled-run' }), final_answer: null, error: { type: 'Cancelled', message: 'the run was cancelled', line: null } }, makeRun({ id: 'fine-run' })]) {
    await view.init({ type: 'init', run, imageUri: fx.imageUri });
    await view.settle();
    assert.equal(await view.page.locator('.answer .badge-error').count(), run.error ? 1 : 0, `${run.id}: the error shows as before`);
    assert.equal(await button.count(), 0, `${run.id}: no fix offered`);
  }
  assert.equal((await view.posted()).filter((m) => m.type === 'fixWithModel').length, 1);
});
