// The run view says how the program was confined, from the record's `isolation`: the OS sandbox
// quietly, process isolation as a warning (its own colour and a note role), nothing for older
// records that do not say. Real Chromium, the real bundle and stylesheet.
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

async function labelOf(isolation: 'sandbox' | 'process' | undefined): Promise<{ count: number; text: string; color: string; role: string | null; answerColor: string }> {
  const view = await openRunView(fx.browser, fx.server);
  try {
    await view.load();
    const run = { ...makeRun(), isolation };
    if (isolation === undefined) delete run.isolation;
    await view.init({ type: 'init', run, imageUri: fx.imageUri });
    const page = view.page;
    await page.waitForSelector('.run-header h1.query');
    const label = page.locator('.run-header .isolation');
    const count = await label.count();
    const answerColor = await page.$eval('.run-header .meta', (e) => getComputedStyle(e).color);
    if (count === 0) return { count, text: '', color: '', role: null, answerColor };
    const text = (await label.textContent()) ?? '';
    const color = await label.evaluate((e) => getComputedStyle(e).color);
    const role = await label.getAttribute('role');
    return { count, text, color, role, answerColor };
  } finally {
    await view.close();
  }
}

test('sandboxed run: the header says the OS sandbox was in force, in the muted meta colour', async () => {
  const l = await labelOf('sandbox');
  assert.equal(l.count, 1);
  assert.equal(l.text, 'sandbox: OS (Landlock + seccomp)');
  assert.equal(l.color, l.answerColor, 'the sandbox label is quiet, like the other run facts');
  assert.equal(l.role, null);
});

test('process-isolated run: the header warns that there was no OS sandbox, in the warning colour', async () => {
  const l = await labelOf('process');
  assert.equal(l.count, 1);
  assert.match(l.text, /no OS sandbox \(isolation: process\)/);
  assert.equal(l.role, 'note');
  assert.notEqual(l.color, l.answerColor, 'the warning stands out from the muted run facts');
});

test('a record made before isolation was recorded shows no label (it does not guess)', async () => {
  const l = await labelOf(undefined);
  assert.equal(l.count, 0);
});
