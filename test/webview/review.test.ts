// The review queue in real headless Chromium, keyboard only: 50 judged items from an eval output
// folder, reviewed through the real page (same CSP as VS Code), a real ReviewSession as the host
// and the real audit log on disk; kappa per reward changes on screen as verdicts are flipped.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { OverrideIndex, readAuditLog } from '../../src/core/audit.js';
import { kappaWithInterval } from '../../src/core/review/agreement.js';
import { ReviewSession } from '../../src/core/review/session.js';
import { openReviewSource } from '../../src/core/review/source.js';
import type { RewardName } from '../../src/protocol/run.js';
import { launchChromium, type StaticServer } from '../helpers/browser.js';
import { openReviewView, startReviewServer } from '../helpers/reviewBrowser.js';
import { REVIEW_REWARDS, writeReviewEval } from '../helpers/reviewFixture.js';
import { SCENE, sceneImage } from './runData.js';

const N = 50;
const ERROR_ITEM = 7;
const UNDO_ITEM = 10;
const NOTE_ITEM = 20;
const flipsSpatial = (i: number): boolean => i % 4 === 1;

describe('review queue view (Chromium, keyboard only)', () => {
  let work: string;
  let browser: Browser;
  let server: StaticServer;
  let values: Awaited<ReturnType<typeof writeReviewEval>>;
  let imagePath: string;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'valor-review-view-'));
    imagePath = join(work, 'scene.png');
    const png = await sceneImage();
    writeFileSync(imagePath, png);
    values = await writeReviewEval(join(work, 'eval'), N, { imagePath, imageSize: { width: SCENE.width, height: SCENE.height }, judgeErrorsAt: [ERROR_ITEM], seed: 11 });
    server = await startReviewServer({ '/img/scene.png': { body: png, type: 'image/png' } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('50 items reviewed with the keyboard alone; kappa changes; the audit log holds every decision', async () => {
    const audit = join(work, '.valor', 'audits.jsonl');
    const source = await openReviewSource(join(work, 'eval'));
    const session = await ReviewSession.open({ source, auditPath: audit, author: 'reviewer', imageUri: (p) => (p === imagePath ? `${server.origin}/img/scene.png` : null) });
    const view = await openReviewView(browser, server, session);
    const { page } = view;
    const kb = page.keyboard;
    await view.waitIdleAt(0);

    // The first item: query, image with both detections, plan, program, six verdicts with rationales.
    assert.match(await page.textContent('.rv-query') ?? '', /Is the mug to the left of the laptop\? \(item 0\)/);
    await page.waitForFunction(() => document.querySelector<HTMLElement>('.rv-stage')?.dataset['boxes'] === '2');
    assert.equal(await page.locator('.rv-box').count(), 2);
    assert.equal(await page.locator('.rv-verdict').count(), 6);
    assert.match(await page.textContent('.rv-plan') ?? '', /Detect the mug and the laptop \(item 0\)/);
    assert.equal(await page.locator('.rv-program li').count(), 2);
    assert.match(await page.textContent('.rv-verdict[data-reward="logic"] .rv-rationale') ?? '', /logic judge on item 0/);

    const kappaOnScreen = async (r: RewardName): Promise<string> => (await page.getAttribute(`.rv-agreement tr[data-reward="${r}"]`, 'data-kappa')) ?? 'missing';
    const seen: string[] = [];
    for (let i = 0; i < N; i++) {
      if (i === ERROR_ITEM) {
        // the adherence judge failed: it is shown as a failure and given a value with 1
        assert.match(await page.textContent('.rv-verdict[data-reward="adherence"] .rv-rationale') ?? '', /judge failed: the adherence judge timed out/);
        for (let k = 0; k < 5; k++) await kb.press('j');
        await kb.press('1');
      } else if (i === UNDO_ITEM) {
        await kb.press('f');
        await kb.press('u');
      } else if (i === NOTE_ITEM) {
        await kb.press('m');
        await page.waitForFunction(() => document.activeElement?.classList.contains('rv-note'));
        await kb.type('boxes look off');
        await kb.press('Enter');
        await page.waitForFunction(() => !document.activeElement?.classList.contains('rv-note'));
      } else if (flipsSpatial(i)) {
        await kb.press('ArrowDown');
        await kb.press('ArrowDown');
        await kb.press('f');
      }
      await kb.press('Enter'); // accept the rest, then the next item
      await view.waitIdleAt(Math.min(i + 1, N - 1));
      seen.push(await kappaOnScreen('spatial'));
    }
    await page.waitForFunction((n) => document.querySelector<HTMLElement>('.rv-progress')?.dataset['done'] === String(n), N);
    assert.match(await page.textContent('.rv-progress') ?? '', /50 of 50 reviewed/);

    // Kappa for spatial took several different values as the person worked.
    assert.ok(new Set(seen).size >= 3, `spatial kappa on screen over time: ${seen.join(' ')}`);

    // What the screen says equals the statistics of what was decided, worked out from the
    // fixture's judge values and the keys pressed (not read back from the log).
    const pairs = (r: RewardName): Array<[number, number]> =>
      values.flatMap((v, i) => {
        const m = v[r];
        if (m === null) return [];
        const person = r === 'spatial' && flipsSpatial(i) && i !== ERROR_ITEM && i !== UNDO_ITEM && i !== NOTE_ITEM ? 1 - m : m;
        return [[m, person] as [number, number]];
      });
    for (const r of REVIEW_REWARDS) {
      const k = kappaWithInterval(pairs(r));
      assert.equal(await kappaOnScreen(r), k.kappa === null ? 'none' : k.kappa.toFixed(4), r);
      assert.equal(await page.getAttribute(`.rv-agreement tr[data-reward="${r}"]`, 'data-n'), String(k.n));
    }
    assert.match(await page.textContent('.rv-agreement tr[data-reward="spatial"] .rv-kappa') ?? '', /^-?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]$/);

    // The audit log: one standing decision per verdict, the undo as a retract, the note kept.
    const log = await readAuditLog(audit);
    assert.equal(log.warnings.length, 0);
    const standing = new OverrideIndex(log.overrides).latest();
    assert.equal(standing.length, N * 6);
    assert.ok(log.overrides.some((o) => o.retracts && o.target === 'format'), 'the undone flip is retracted');
    const errorItem = standing.filter((o) => o.target === 'adherence' && o.machine_value === null);
    assert.equal(errorItem.length, 1);
    assert.equal(errorItem[0]?.value, 1);
    assert.ok(standing.filter((o) => o.note === 'boxes look off').length === 6, 'the note went with every decision of item 20');
    assert.ok(standing.every((o) => o.author === 'reviewer'));
    assert.equal(readFileSync(audit, 'utf8').trim().split('\n').length, log.overrides.length);

    // Back with the keyboard: previous shows item 49's neighbour with its decisions.
    await kb.press('ArrowLeft');
    await view.waitIdleAt(N - 2);
    assert.equal(await page.locator('.rv-verdict[data-decided="yes"]').count(), 6);
    // A picture of the view for people (not compared with anything): test-artifacts/review-view.png.
    mkdirSync(join(__dirname, '..', '..', 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(__dirname, '..', '..', 'test-artifacts', 'review-view.png'), fullPage: true });

    assert.deepEqual(await view.cspViolations(), []);
    assert.deepEqual(view.errors, []);
    await view.close();
  });
});
