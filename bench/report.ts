/**
 * `report.html` of `valor eval` at 5,000 questions, against 500 in the same run (issue #13: one
 * self-contained file that stays fast at 5,000 questions):
 *   - writing the report (records read, one thumbnail per distinct image, JSON), per question;
 *   - the file's size per question;
 *   - opening it from disk in headless Chromium until the first question rows are on screen
 *     (rows are built a page at a time, so this should not grow with the number of questions);
 *   - one filter change over all questions.
 * Every question has its own image path (links to one fixture photo), the worst case for
 * thumbnails.
 *
 * Run alone: `npx tsx bench/report.ts`.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderReport } from '../src/core/eval/report.js';
import { type EvalResult, type EvalSummary, summarize } from '../src/core/eval/summary.js';
import type { RunRecord } from '../src/protocol/run.js';
import { launchChromium } from '../test/helpers/browser.js';
import type { BenchResult } from './types.js';

const PHOTO = resolve(__dirname, '..', 'test', 'fixtures', 'images', 'scene-640x480.jpg');

function build(n: number, dir: string): { summary: EvalSummary; records: Map<string, RunRecord> } {
  const results: EvalResult[] = [];
  const records = new Map<string, RunRecord>();
  for (let i = 0; i < n; i++) {
    const img = join(dir, `img${i}.jpg`);
    symlinkSync(PHOTO, img);
    const failed = i % 7 === 3;
    results.push({
      id: `q-${i}`, line: i + 1, type: 'yesno', benchmark: i % 2 ? 'VSR' : 'BLINK', question: `Is the mug left of the laptop? [q-${i}]`, image: `img${i}.jpg`,
      ground_truth: 'yes', prediction: failed ? null : i % 3 ? 'yes' : 'no', score: failed || i % 3 === 0 ? 0 : 1, correct: !failed && i % 3 !== 0, invalid: null,
      error_kind: failed ? 'program' : null, error_type: failed ? 'ZeroDivisionError' : null, error_message: failed ? 'division by zero' : null,
      record: `runs/q-${i}.json`, ms: { total: 1 },
    });
    records.set(`runs/q-${i}.json`, {
      version: 1, id: `q-${i}`, created: '', query: 'q', image: { path: img, sha256: 'x', width: 640, height: 480 }, generator: null, document: null, tools: { url: 't' }, reply: '',
      plan: '1. Detect the mug and the laptop.\n2. Compare the x centres of their boxes.\n3. Answer yes or no.',
      program: 'mugs = gd_detect(img_pth, "mug")\nlaptops = gd_detect(img_pth, "laptop")\nm = mugs[0]["bbox"]\nl = laptops[0]["bbox"]\nfinal_answer = "yes" if m[0] < l[0] else "no"',
      format: { score: 1, diagnostics: [] },
      trace: [
        { index: 0, tool: 'gd_detect', line: 1, args: { prompt: 'mug' }, result: [{ bbox: [20, 100, 60, 140], label: 'mug', score: 0.8 }], ms: 1 },
        { index: 1, tool: 'gd_detect', line: 2, args: { prompt: 'laptop' }, result: [{ bbox: [150, 80, 300, 200], label: 'laptop', score: 0.9 }], ms: 1 },
      ],
      final_answer: failed ? null : 'yes', error: failed ? { type: 'ZeroDivisionError', message: 'division by zero', line: 5 } : null, stdout: '', timings: { total_ms: 1 },
    } as RunRecord);
  }
  const summary = {
    version: 1, kind: 'valor-eval-summary', created: '', complete: true, interrupted: false,
    input: { path: 'bench.jsonl', sha256: 'x', format: 'jsonl', entries: n, questions: n, problems: [] }, images: dir, shard: null,
    settings: { concurrency: 4, limit: null, timeout_ms: 1, memory_mb: null, score: false, tool_retries: 3, regenerate: false, sampling: {} },
    models: { generator: { base_url: 'u', model: 'm', reported: [] }, tools: { url: 't' }, judges: null },
    ...summarize(results, n), timings: { wall_ms: 1, session_done: n, questions_per_s: null, memory: null }, results,
  } as EvalSummary;
  return { summary, records };
}

interface Measured { renderMs: number; bytes: number; firstRowsMs: number; filterMs: number }

async function measure(n: number, browser: Awaited<ReturnType<typeof launchChromium>>): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'valor-bench-report-'));
  try {
    const { summary, records } = build(n, dir);
    const t0 = performance.now();
    const html = await renderReport(summary, async (rel) => records.get(rel));
    const renderMs = performance.now() - t0;
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const times: number[] = [];
    let filterMs = 0;
    for (let k = 0; k < 3; k++) {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const t1 = performance.now();
      await page.goto(pathToFileURL(file).href);
      await page.locator('li.qrow').first().waitFor({ timeout: 60_000 });
      times.push(performance.now() - t1);
      if (k === 0) {
        const t2 = performance.now();
        await page.selectOption('.filters select >> nth=1', 'failed');
        await page.waitForFunction(() => document.querySelector('li.qrow .badge.failed') !== null);
        filterMs = performance.now() - t2;
      }
      await page.close();
    }
    times.sort((a, b) => a - b);
    return { renderMs, bytes: Buffer.byteLength(html), firstRowsMs: times[1] as number, filterMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function bench(): Promise<BenchResult[]> {
  const browser = await launchChromium();
  try {
    const small = await measure(500, browser);
    const big = await measure(5000, browser);
    const per = (m: Measured, n: number) => ({ render: m.renderMs / n, kib: m.bytes / 1024 / n });
    const s = per(small, 500);
    const b = per(big, 5000);
    return [
      { name: 'report.html, writing, per question, 5,000 vs 500 questions', value: b.render, unit: 'ms', baseline: { name: '500 questions', value: s.render }, ratio: b.render / s.render, notes: `total ${(big.renderMs / 1000).toFixed(1)} s; one thumbnail per distinct image` },
      { name: 'report.html, size per question, 5,000 questions', value: b.kib, unit: 'KiB', baseline: { name: '500 questions', value: s.kib }, ratio: b.kib / s.kib, notes: `total ${(big.bytes / 2 ** 20).toFixed(1)} MiB` },
      { name: 'report.html, open from disk to first rows, 5,000 vs 500 questions', value: big.firstRowsMs, unit: 'ms', baseline: { name: '500 questions', value: small.firstRowsMs }, ratio: big.firstRowsMs / small.firstRowsMs, target: '<= 3 (rows built a page at a time)' },
      { name: 'report.html, one filter change, 5,000 questions', value: big.filterMs, unit: 'ms', baseline: { name: '500 questions', value: small.filterMs }, ratio: big.filterMs / small.filterMs },
    ];
  } finally {
    await browser.close();
  }
}

if (require.main === module) {
  void bench().then((r) => console.log(JSON.stringify(r, null, 2)));
}
