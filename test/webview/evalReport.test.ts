/**
 * `report.html` of `valor eval` in a real Chromium, opened from disk: 5,000 questions render a
 * page at a time, each with a thumbnail and its detections; filters by benchmark, outcome and
 * failure kind; a row's program shows the lines that ran and the line that raised; model text
 * stays text. No CSP violation, no network.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { renderReport } from '../../src/core/eval/report.js';
import { type EvalResult, type EvalSummary, summarize } from '../../src/core/eval/summary.js';
import type { RunRecord } from '../../src/protocol/run.js';
import { launchChromium } from '../helpers/browser.js';
import { REPO } from '../helpers/cli.js';

const IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');
const N = 5000;
const HOSTILE = '<img src=x onerror="window.__pwned=1"> <b>bold</b>';

function outcomeOf(i: number): Partial<EvalResult> {
  if (i % 10 === 3) return { correct: false, score: 0, prediction: null, error_kind: 'program', error_type: 'ZeroDivisionError', error_message: 'division by zero' };
  if (i % 10 === 7) return { correct: false, score: 0, prediction: null, error_kind: 'tool_outage', error_type: 'ToolServerError', error_message: 'down' };
  if (i % 10 === 5) return { correct: false, score: 0, prediction: 'no' };
  return { correct: true, score: 1, prediction: 'yes' };
}

function result(i: number): EvalResult {
  return {
    id: `q-${i}`,
    line: i + 1,
    type: 'yesno',
    benchmark: i % 2 ? 'VSR' : 'BLINK',
    question: i === 0 ? HOSTILE : `Is the mug left of the laptop? [q-${i}]`,
    image: 'scene.png',
    ground_truth: 'yes',
    invalid: null,
    error_kind: null,
    error_type: null,
    error_message: null,
    record: `runs/q-${i}.json`,
    ms: { total: 1 },
    prediction: 'yes',
    score: 1,
    correct: true,
    ...outcomeOf(i),
  };
}

function record(i: number): RunRecord {
  const raised = i % 10 === 3;
  return {
    version: 1,
    id: `q-${i}`,
    created: '2026-01-01T00:00:00Z',
    query: 'q',
    image: { path: IMAGE, sha256: 'x', width: 320, height: 240 },
    generator: null,
    document: null,
    tools: { url: 'http://t' },
    reply: '',
    plan: i === 0 ? HOSTILE : '1. Detect.\n2. Compare.',
    program: 'mugs = gd_detect(img_pth, "mug")\nlaptops = gd_detect(img_pth, "laptop")\nfinal_answer = 1 / 0 if False else "yes"',
    format: { score: 1, diagnostics: [] },
    trace: [
      { index: 0, tool: 'gd_detect', line: 1, args: { prompt: 'mug' }, result: [{ bbox: [20, 100, 60, 140], label: 'mug', score: 0.8 }], ms: 1 },
      { index: 1, tool: 'gd_detect', line: 2, args: { prompt: 'laptop' }, result: [{ bbox: [150, 80, 300, 200], label: 'laptop', score: 0.9 }], ms: 1 },
    ],
    final_answer: raised ? null : 'yes',
    error: raised ? { type: 'ZeroDivisionError', message: 'division by zero', line: 3 } : null,
    stdout: '',
    timings: { total_ms: 1 },
  } as RunRecord;
}

describe('eval report.html in a browser', () => {
  let browser: Browser;
  let work: string;
  let file: string;
  let page: Page;
  const problems: string[] = [];
  const requests: string[] = [];
  let dialogs = 0;

  before(async () => {
    const results = Array.from({ length: N }, (_, i) => result(i));
    const records = new Map(results.map((r, i) => [r.record, record(i)]));
    const computed = summarize(results, N);
    const summary = {
      version: 1,
      kind: 'valor-eval-summary',
      created: '2026-01-01T00:00:00Z',
      complete: false,
      interrupted: false,
      input: { path: '/data/mixed.jsonl', sha256: 'x', format: 'jsonl', entries: N, questions: N, problems: [] },
      images: '/data',
      shard: null,
      settings: { concurrency: 4, limit: null, timeout_ms: 1, memory_mb: null, score: false, tool_retries: 3, regenerate: false, sampling: {} },
      models: { generator: { base_url: 'u', model: 'm', reported: [] }, tools: { url: 't' }, judges: null },
      ...computed,
      timings: { wall_ms: 1, session_done: N, questions_per_s: null, memory: null },
      results,
    } as EvalSummary;
    const html = await renderReport(summary, async (rel) => records.get(rel));
    work = mkdtempSync(join(tmpdir(), 'valor-report-'));
    file = join(work, 'report.html');
    writeFileSync(file, html);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href);
    await page.locator('li.qrow').first().waitFor({ timeout: 30_000 });
  });
  after(async () => {
    await browser?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const rows = () => page.locator('li.qrow').count();
  const countText = async () => (await page.locator('.filters .muted').textContent()) ?? '';

  it('renders a page of rows, not all 5,000; each with a thumbnail and its detections', async () => {
    assert.equal(await countText(), `${N} of ${N} questions`);
    const shown = await rows();
    assert.ok(shown > 0 && shown <= 200, `rendered ${shown} rows at first`);
    const first = page.locator('li.qrow').nth(1);
    assert.match((await first.locator('.thumb img').getAttribute('src')) ?? '', /^data:image\/jpeg;base64,/);
    assert.equal(await first.locator('.thumb svg rect').count(), 2);
    const strokes = await first.locator('.thumb svg rect').evaluateAll((els) => els.map((e) => e.getAttribute('stroke')));
    assert.notEqual(strokes[0], strokes[1], 'each gd_detect call has its own colour');
  });

  it('scrolling renders more rows', async () => {
    const before = await rows();
    await page.locator('p.more').scrollIntoViewIfNeeded();
    await page.waitForFunction((n) => document.querySelectorAll('li.qrow').length > n, before, { timeout: 10_000 });
  });

  it('filters by outcome, failure kind and benchmark', async () => {
    await page.selectOption('.filters select >> nth=1', 'failed');
    assert.equal(await countText(), `${N / 10} of ${N} questions`);
    await page.selectOption('.filters select >> nth=1', 'not_evaluated');
    assert.equal(await countText(), `${N / 10} of ${N} questions`);
    await page.selectOption('.filters select >> nth=1', '');
    await page.selectOption('.filters select >> nth=2', 'program');
    assert.equal(await countText(), `${N / 10} of ${N} questions`);
    await page.selectOption('.filters select >> nth=0', 'VSR');
    assert.equal(await countText(), `${N / 10} of ${N} questions`, 'i % 10 === 3 is odd: every program failure is a VSR question');
    await page.selectOption('.filters select >> nth=0', 'BLINK');
    assert.equal(await countText(), `0 of ${N} questions`);
    await page.selectOption('.filters select >> nth=0', '');
    await page.selectOption('.filters select >> nth=2', '');
    assert.equal(await countText(), `${N} of ${N} questions`);
  });

  it('a failed row opens to its program with the lines that ran and the line that raised', async () => {
    await page.selectOption('.filters select >> nth=2', 'program');
    const row = page.locator('li.qrow').first();
    await row.locator('details > summary').click();
    await row.locator('pre.prog').waitFor();
    assert.deepEqual(await row.locator('pre.prog .ln.ran .no').allTextContents(), ['1', '2']);
    assert.deepEqual(await row.locator('pre.prog .ln.raised .no').allTextContents(), ['3']);
    assert.match((await row.locator('details pre').first().textContent()) ?? '', /ZeroDivisionError \(program line 3\): division by zero/);
    await page.selectOption('.filters select >> nth=2', '');
  });

  it('model text stays text; nothing loads from elsewhere; no console error', async () => {
    const first = page.locator('li.qrow').first();
    assert.equal(await first.locator('.qtext').textContent(), HOSTILE);
    assert.equal(await first.locator('.qtext img, .qtext b').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? 0), 0);
    assert.equal(dialogs, 0);
    assert.deepEqual(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')), []);
    assert.deepEqual(problems, []);
  });
});
