// The run view under hostile or incomplete input, in a real Chromium with the page's real CSP:
// injected inline code and network access are blocked; malformed host messages are reported and
// ignored without breaking the view; partial records, failed runs and a missing image still show.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openRunView, startStaticServer } from '../helpers/browser.js';
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

test('the CSP lets the bundle run cleanly and blocks injected inline scripts, handlers, styles and network access', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  const other = await startStaticServer({ '/x.png': { body: Buffer.from(''), type: 'image/png' } });
  t.after(() => other.close());
  await view.load();
  await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri });
  assert.deepEqual(await view.cspViolations(), [], 'the view itself needs nothing the policy forbids (no eval, no inline style)');

  const result = await view.page.evaluate(async (otherOrigin) => {
    const w = window as unknown as Record<string, unknown>;
    // An inline <script> (as an XSS through unescaped record text would add).
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.body.append(s);
    // An inline event handler and a style attribute arriving as HTML.
    const div = document.createElement('div');
    div.innerHTML = `<img src="/missing.png" onerror="window.__handlerRan = true"><p id="styled" style="width: 123px">x</p>`;
    document.body.append(div);
    // Network: fetch and an image from another origin.
    let fetchFailed = false;
    try {
      await fetch('/main.js');
    } catch {
      fetchFailed = true;
    }
    const img = new Image();
    const imgLoaded = await new Promise<boolean>((ok) => {
      img.onload = () => ok(true);
      img.onerror = () => ok(false);
      img.src = `${otherOrigin}/x.png`;
      document.body.append(img);
    });
    await new Promise((ok) => setTimeout(ok, 200));
    const styled = document.getElementById('styled');
    return {
      inlineRan: w['__inlineRan'] === true,
      handlerRan: w['__handlerRan'] === true,
      styledWidth: styled ? getComputedStyle(styled).width : null,
      fetchFailed,
      imgLoaded,
    };
  }, other.origin);
  assert.equal(result.inlineRan, false, 'inline script ran');
  assert.equal(result.handlerRan, false, 'inline handler ran');
  assert.notEqual(result.styledWidth, '123px', 'style attribute applied');
  assert.equal(result.fetchFailed, true, 'fetch went through');
  assert.equal(result.imgLoaded, false, 'image from another origin loaded');
  assert.equal(other.requests.length, 0, 'the other origin was contacted');
  const directives = (await view.cspViolations()).map((v) => v.directive);
  for (const d of ['script-src-elem', 'script-src-attr', 'style-src-attr', 'connect-src', 'img-src']) assert.ok(directives.includes(d), `no ${d} violation in ${directives.join(', ')}`);
  // The view still works after all that.
  await view.page.locator('li.call[data-index="1"] .call-code').click();
  await view.waitForPosted('revealLine');
});

test('malformed host messages are reported back and ignored; the view keeps working', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  const calls = await view.page.locator('li.call').count();
  const bad: unknown[] = [
    { type: 'init', run: 42, imageUri: fx.imageUri },
    'not an object',
    null,
    { type: 'nope' },
    { type: 'update', rewards: { verdicts: 'all good' } },
    { type: 'init', run: { ...run, trace: [{ index: 0, tool: 'rm -rf', line: 1, args: {}, result: null, ms: 0 }] }, imageUri: fx.imageUri },
  ];
  for (const [i, m] of bad.entries()) {
    await view.send(m);
    const err = await view.waitForPosted('error', i + 1);
    assert.match(String(err['message']), /did not validate/);
    assert.match(String(err['detail']), /not valid/);
  }
  const banners = view.page.locator('.banner-error');
  assert.ok((await banners.count()) >= 1 && (await banners.count()) <= 3, 'a few banners, not one per message forever');
  assert.match((await banners.last().textContent()) ?? '', /malformed/);
  // Nothing of the bad messages was applied.
  assert.equal(await view.page.locator('li.call').count(), calls);
  assert.equal(await view.page.locator('.run-header h1').textContent(), run.query);
  // A valid message afterwards is applied.
  await view.send({ type: 'update', pending: ['rewards'], rewards: null });
  await view.page.getByText('Scoring…').first().waitFor();
  // A banner can be dismissed.
  const n = await banners.count();
  await banners.first().locator('.banner-close').click();
  assert.equal(await banners.count(), n - 1);
});

test('an update before init is refused with a message, and init afterwards works', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  await view.send({ type: 'update', pending: ['rewards'] });
  const err = await view.waitForPosted('error');
  assert.match(String(err['detail']), /before init/);
  await view.init({ type: 'init', run: makeRun(), imageUri: fx.imageUri });
  assert.equal(await view.page.locator('li.call').count(), makeRun().trace.length);
});

test('partial records: only an id, no image', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  await view.init({ type: 'init', run: { id: 'bare' }, imageUri: null });
  assert.equal((await view.posted()).filter((m) => m.type === 'error').length, 0);
  await view.page.getByText('No tool calls.').waitFor();
  await view.page.getByText('Not scored yet.').waitFor();
  await view.page.locator('.stage-status').getByText(/not available/).waitFor();
  assert.equal(await view.page.locator('.section-grounding').isHidden(), true);
});

test('a failed run: the error and its line, a detection without candidates or scores, a failed tool call', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const full = makeRun();
  const run = {
    id: 'failed-run',
    query: full.query,
    image: full.image,
    trace: [
      { index: 0, tool: 'gd_detect', line: 1, variable: 'mugs', args: { img_pth: 'x', prompt: 'mug' }, result: [{ bbox: [100, 100, 220, 260], label: 'mug' }], ms: 10 },
      { index: 1, tool: 'depth', line: 3, args: { img_pth: 'x', bbox: [1, 2] }, result: null, error: { type: 'ValueError', message: 'bbox needs 4 numbers' }, ms: 1 },
    ],
    final_answer: null,
    error: { type: 'ValueError', message: 'bbox needs 4 numbers', line: 3, traceback: 'Traceback:\n  line 3' },
  };
  await view.init({ type: 'init', run, imageUri: fx.imageUri });
  assert.equal((await view.posted()).filter((m) => m.type === 'error').length, 0);
  assert.match((await view.page.locator('.answer-error').textContent()) ?? '', /ValueError: bbox needs 4 numbers/);
  await view.page.locator('.answer-error button.error-line').click();
  assert.deepEqual(await view.waitForPosted('revealLine'), { type: 'revealLine', runId: 'failed-run', line: 3 });
  // The box without a score is drawn (it cannot be filtered, so there is no slider).
  assert.equal(await view.page.locator('canvas.stage-canvas').first().getAttribute('data-drawn'), '1');
  assert.equal(await view.page.locator('li.call[data-index="0"] input.threshold').count(), 0);
  assert.match((await view.page.locator('li.call[data-index="1"] .call-error').textContent()) ?? '', /ValueError/);
});

test('an image that cannot be loaded: boxes are still drawn on the recorded size, with a note', async (t) => {
  const view = await openRunView(fx.browser, fx.server);
  t.after(() => view.close());
  await view.load();
  const run = makeRun();
  await view.init({ type: 'init', run, imageUri: `${fx.server.origin}/gone.png` });
  await view.page.locator('.stage-status').getByText(/could not be loaded/).waitFor();
  await view.settle();
  const want = run.trace.flatMap((e) => (e.tool === 'gd_detect' && Array.isArray(e.result) ? e.result : [])).length;
  assert.equal(await view.page.locator('canvas.stage-canvas').first().getAttribute('data-drawn'), String(want));
});
