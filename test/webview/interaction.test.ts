// What a person does in the run view, in a real Chromium: choosing calls (mouse and keyboard)
// reveals their lines; overriding verdicts and flipping grounding decisions posts the intents;
// the grounding list filters by stage; comparing runs shows what differs; a reload restores the
// view state through setState.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openRunView } from '../helpers/browser.js';
import type { ViewFixture } from './fixture.js';
import { startViewFixture } from './fixture.js';
import { groundingResult, makeRun } from './runData.js';

let fx: ViewFixture;
before(async () => {
  fx = await startViewFixture();
});
after(async () => {
  await fx?.close();
});

test('clicking a call highlights it and posts revealLine with its line; j/k walk the calls', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const second = run.trace[1]!;
  await view.page.locator(`li.call[data-index="${second.index}"] .call-code`).click();
  const msg = await view.waitForPosted('revealLine');
  assert.deepEqual(msg, { type: 'revealLine', runId: run.id, line: second.line, callIndex: second.index });
  assert.equal(await view.page.locator(`li.call[data-index="${second.index}"]`).getAttribute('aria-selected'), 'true');
  assert.equal(await view.page.locator('li.call[aria-selected="true"]').count(), 1);

  await view.page.keyboard.press('j');
  const next = await view.waitForPosted('revealLine', 2);
  assert.equal(next['line'], run.trace[2]!.line);
  assert.equal(next['callIndex'], run.trace[2]!.index);
  await view.page.keyboard.press('ArrowDown');
  assert.equal((await view.waitForPosted('revealLine', 3))['callIndex'], run.trace[3]!.index);
  await view.page.keyboard.press('j'); // already at the last call: stays there
  await view.page.keyboard.press('k');
  await view.page.keyboard.press('ArrowUp');
  const reveals = (await view.posted()).filter((m) => m.type === 'revealLine').map((m) => m['callIndex']);
  assert.deepEqual(reveals.slice(-3), [run.trace[3]!.index, run.trace[2]!.index, run.trace[1]!.index]);
  assert.equal(await view.page.locator(`li.call[data-index="${run.trace[1]!.index}"]`).getAttribute('aria-selected'), 'true');

  // Layer toggles by key: b hides the boxes (none drawn), b again shows them.
  const drawn = (): Promise<string | null> => view.page.locator('canvas.stage-canvas').first().getAttribute('data-drawn');
  const before = await drawn();
  await view.page.keyboard.press('b');
  await view.settle();
  assert.equal(await drawn(), '0');
  assert.equal(await view.page.locator('button.toggle[data-layer="boxes"]').getAttribute('aria-pressed'), 'false');
  await view.page.keyboard.press('b');
  await view.settle();
  assert.equal(await drawn(), before);
});

test('override buttons post override with the reward name, the chosen verdict and the judge value', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const spatial = run.rewards!.verdicts.find((v) => v.reward === 'spatial')!;
  assert.equal(spatial.value, 1);
  await view.page.locator('.reward[data-reward="spatial"] button.override').click();
  assert.deepEqual(await view.waitForPosted('override'), { type: 'override', runId: run.id, reward: 'spatial', value: 0, machineValue: 1 });

  // A failed judge offers both verdicts; its machine value is null.
  const buttons = view.page.locator('.reward[data-reward="adherence"] button.override');
  assert.equal(await buttons.count(), 2);
  await view.page.locator('.reward[data-reward="adherence"] button.override[data-value="1"]').click();
  assert.deepEqual(await view.waitForPosted('override', 2), { type: 'override', runId: run.id, reward: 'adherence', value: 1, machineValue: null });

  // The host records it and sends the new reward set: the view shows the human verdict.
  const rewards = {
    ...run.rewards!,
    overridden: { spatial: { kind: 'reward', subject: run.id, target: 'spatial', value: 0, machine_value: 1, note: 'relation pushed into the prompt', at: '2026-01-02T00:00:00Z' } },
  };
  await view.send({ type: 'update', rewards });
  await view.page.locator('.reward[data-reward="spatial"].overridden').waitFor();
  assert.match((await view.page.locator('.reward[data-reward="spatial"]').textContent()) ?? '', /fail.*human/);
  assert.equal(await view.page.locator('.reward[data-reward="spatial"] button.override').getAttribute('data-value'), '1');
});

test('grounding: the list filters by stage; a/r and the buttons post flipBox for the focused box', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const g = groundingResult();
  const rows = view.page.locator('li.gbox');
  assert.equal(await rows.count(), g.boxes.length);
  // Boxes are numbered from 1, as the grounding verifier numbers them.
  assert.deepEqual(await rows.locator('.gbox-index').allTextContents(), g.boxes.map((b) => `#${b.index + 1}`));
  for (const stage of ['kept', 'coarse', 'crop', 'dedup'] as const) {
    await view.page.locator('select.grounding-filter').selectOption(stage);
    const want = g.boxes.filter((b) => (stage === 'kept' ? b.kept : !b.kept && b.dropped_at === stage)).map((b) => String(b.index));
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-box'))), want, `filter ${stage}`);
  }
  await view.page.locator('select.grounding-filter').selectOption('all');

  // Focus a dropped box and accept it with "a".
  const dropped = g.boxes.find((b) => !b.kept)!;
  await view.page.locator(`li.gbox[data-box="${dropped.index}"] .gbox-label`).click();
  await view.page.keyboard.press('a');
  assert.deepEqual(await view.waitForPosted('flipBox'), { type: 'flipBox', runId: run.id, grounding: 0, box: dropped.index, kept: true, machineKept: false });
  const row = view.page.locator(`li.gbox[data-box="${dropped.index}"]`);
  assert.equal(await row.getAttribute('data-kept'), 'true');
  assert.equal(await row.locator('.badge-human').count(), 1);
  // "a" again changes nothing, so nothing more is posted.
  await view.page.keyboard.press('a');
  // Move down with the arrow key to the next box, and reject it with "r" if it is kept.
  await view.page.keyboard.press('ArrowDown');
  const focused = await view.page.evaluate(() => document.activeElement?.getAttribute('data-box'));
  const next = g.boxes[g.boxes.findIndex((b) => b.index === dropped.index) + 1]!;
  assert.equal(focused, String(next.index));
  await view.page.keyboard.press(next.kept ? 'r' : 'a');
  const flip = await view.waitForPosted('flipBox', 2);
  assert.deepEqual(flip, { type: 'flipBox', runId: run.id, grounding: 0, box: next.index, kept: !next.kept, machineKept: next.kept });
  // The flip button of a kept box drops it.
  const kept = g.boxes.find((b) => b.kept)!;
  await view.page.locator(`li.gbox[data-box="${kept.index}"] button.flip`).click();
  assert.deepEqual(await view.waitForPosted('flipBox', 3), { type: 'flipBox', runId: run.id, grounding: 0, box: kept.index, kept: false, machineKept: true });
  assert.equal((await view.posted()).filter((m) => m.type === 'flipBox').length, 3);
});

test('compare: answers, scores and the calls that differ are shown side by side', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const a = makeRun();
  const b = makeRun({ id: 'run-desk-2', answer: 'no', laptopThreshold: 0.25 });
  await view.init({ type: 'init', run: a, imageUri: fx.imageUri, compare: b });
  const answer = view.page.locator('.compare tr.compare-answer');
  assert.equal(await answer.getAttribute('data-differs'), 'true');
  assert.deepEqual(await answer.locator('td').allTextContents(), [String(a.final_answer), String(b.final_answer)]);
  assert.equal(await view.page.locator('.compare tr.compare-total').getAttribute('data-differs'), 'false');
  const expected = a.trace.map((e, i) => JSON.stringify([e.tool, e.args, e.result]) !== JSON.stringify([b.trace[i]?.tool, b.trace[i]?.args, b.trace[i]?.result]));
  const shown = await view.page.locator('.compare-calls tr').evaluateAll((els) => els.map((e) => e.getAttribute('data-differs') === 'true'));
  assert.deepEqual(shown, expected);
  assert.match((await view.page.locator('.compare-calls-head').textContent()) ?? '', new RegExp(`^${expected.filter(Boolean).length} of ${expected.length} calls differ`));
  // Without a second run the section is hidden.
  await view.send({ type: 'update', compare: null });
  await view.page.locator('.section-compare').waitFor({ state: 'hidden' });
});

test('a reload restores the selected call, layers, zoom, slider and grounding filter (setState)', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  const init = { type: 'init', run, imageUri: fx.imageUri };
  await view.init(init);
  await view.page.locator('li.call[data-index="2"] .call-code').click();
  await view.page.keyboard.press('l');
  await view.page.keyboard.press('+');
  await view.page.keyboard.press('+');
  const slider = view.page.locator('li.call[data-index="0"] input.threshold');
  await slider.focus();
  await view.page.keyboard.press('ArrowLeft');
  await view.page.keyboard.press('ArrowLeft');
  const sliderValue = await slider.inputValue();
  await view.page.locator('select.grounding-filter').selectOption('crop');
  await view.settle();
  const zoom = await view.page.locator('.stage').getAttribute('data-zoom');
  // Two zoom steps of 1.25 each (shown with three decimals).
  assert.ok(Math.abs(Number(zoom) - 1.25 * 1.25) < 0.001, `zoom ${zoom}`);
  // The state reaches the host API (sessionStorage in this test page) shortly after the change.
  await view.page.waitForFunction(() => {
    const s = JSON.parse(sessionStorage.getItem('__vscodeState') ?? 'null') as { groundingFilter?: string } | null;
    return s?.groundingFilter === 'crop';
  });

  await view.reload();
  // The host answers every ready with init, as the extension must.
  await view.init(init);
  assert.equal(await view.page.locator('li.call[data-index="2"]').getAttribute('aria-selected'), 'true');
  assert.equal(await view.page.locator('button.toggle[data-layer="labels"]').getAttribute('aria-pressed'), 'false');
  assert.equal(await view.page.locator('.stage').getAttribute('data-zoom'), zoom);
  assert.equal(await view.page.locator('li.call[data-index="0"] input.threshold').inputValue(), sliderValue);
  assert.equal(await view.page.locator('select.grounding-filter').inputValue(), 'crop');
  assert.equal((await view.posted()).filter((m) => m.type === 'revealLine').length, 0, 'restoring does not move the editor');

  // A different run starts from a clean view.
  await view.init({ type: 'init', run: makeRun({ id: 'other-run' }), imageUri: fx.imageUri });
  assert.equal(await view.page.locator('li.call[aria-selected="true"]').count(), 0);
  assert.equal(await view.page.locator('button.toggle[data-layer="labels"]').getAttribute('aria-pressed'), 'true');
  assert.equal(Number(await view.page.locator('.stage').getAttribute('data-zoom')), 1);
});
