/**
 * Seeing a run without VS Code: `valor run --html FILE` writes the run view as one file that a
 * real Chromium opens from disk (file://) with no server, no network request and no CSP
 * violation, showing every call and the answer; `--annotated FILE.png` writes the image with
 * the boxes in their call colours, the depth region and the VQA crop.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Browser } from 'playwright-core';
import { runOverlay } from '../../src/core/runAnnotation.js';
import { callColor, OVERLAY } from '../../src/protocol/callColors.js';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { colorDistance, launchChromium } from '../helpers/browser.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

const DOC = `# image: scene.png
# query: Is the mug left of the laptop?

<plan>
1. Detect the mug and the laptop.
2. Read the mug's depth; ask vqa about the mug's colour.
3. Compare the x centres.
</plan>
<answer>
mugs = gd_detect(img_pth, "mug")
laptops = gd_detect(img_pth, "laptop")
d = depth(img_pth, mugs[0]["bbox"])
colour = vqa(img_pth, mugs[0]["bbox"], "What colour is the mug?")
final_answer = "yes" if mugs[0]["bbox"][0] < laptops[0]["bbox"][0] else "no"
</answer>
`;

const MUG = [20, 100, 60, 140] as const;
const LAPTOP = [150, 80, 300, 200] as const;

function hex(c: string): [number, number, number] {
  return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
}

describe('a run seen without VS Code', () => {
  let tools: ProtocolToolServer;
  let work: string;
  let browser: Browser;
  let json: { final_answer: unknown; trace: unknown[]; html: string; annotated: string };
  before(async () => {
    tools = await startProtocolToolServer({
      objects: [
        { label: 'mug', bbox: [...MUG], score: 0.8, depth: 1.5 },
        { label: 'laptop', bbox: [...LAPTOP], score: 0.9, depth: 2 },
      ],
      vqa: () => 'red',
    });
    work = mkdtempSync(join(tmpdir(), 'valor-standalone-'));
    copyFileSync(join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png'), join(work, 'scene.png'));
    writeFileSync(join(work, 'doc.vprog'), DOC);
    const r = await runCli(['run', 'doc.vprog', '--no-record', '--json', '--html', 'views/run.html', '--annotated', 'views/run.png'], {
      cwd: work,
      env: cleanEnv({ VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token }),
    });
    assert.equal(r.code, 0, r.stderr);
    json = JSON.parse(r.stdout);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await tools.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('--json names both files', () => {
    assert.equal(json.final_answer, 'yes');
    assert.equal(json.html, join(work, 'views', 'run.html'));
    assert.equal(json.annotated, join(work, 'views', 'run.png'));
  });

  it('the HTML file opens from disk: every call and the answer, no network, no CSP violation', async () => {
    const html = readFileSync(json.html, 'utf8');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'no script or stylesheet is loaded from elsewhere');
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe/);
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(json.html).href);
    await page.locator('li.call').nth(3).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('li.call').count(), 4, 'gd_detect, gd_detect, depth, vqa');
    await page.locator('.answer').getByText('yes').first().waitFor({ timeout: 10_000 });
    assert.deepEqual(problems, []);
    assert.deepEqual(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:')), []);
    await page.close();
  });

  it('the annotated image: boxes in call colours, the depth region and the VQA crop, labelled', async () => {
    const overlay = runOverlay(json as unknown as { trace: Parameters<typeof runOverlay>[0]['trace'] });
    assert.deepEqual(
      overlay.map((b) => b.text),
      ['L1 mug 0.80', 'L2 laptop 0.90', 'L3 depth 1.5 m', 'L4 vqa "red"'],
    );
    assert.equal(overlay[0]?.colour, callColor(0));
    assert.equal(overlay[1]?.colour, callColor(1));
    assert.equal(overlay[2]?.colour, OVERLAY.depth);
    assert.equal(overlay[3]?.colour, OVERLAY.crop);
    const { data, info } = await sharp(json.annotated).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [320, 240]);
    const at = (x: number, y: number): number[] => {
      const i = (y * info.width + x) * info.channels;
      return [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0];
    };
    // The laptop box's right edge, mid-height, is drawn in the second call's colour.
    const y = (LAPTOP[1] + LAPTOP[3]) / 2;
    const edge = [-1, 0, 1].some((dx) => colorDistance(at(LAPTOP[2] + dx, y), hex(callColor(1))) < 40);
    assert.ok(edge, `laptop edge pixel ${at(LAPTOP[2], y)} is not ${callColor(1)}`);
  });
});
