/**
 * The packaged VSIX in a real VS Code workbench (code-server 4.139.1 = VS Code 1.139.1) driven in
 * headless Chromium: the user flows of issue #10, each asserting what a person sees and saving a
 * screenshot under test-artifacts/workbench/. Generator, judges and vision model are the
 * project's scripted OpenAI-compatible server; the tool server is the extension's embedded one
 * on the fixture models; programs run in the real python3 runner.
 *
 * Needs `scripts/workbench/setup.sh` (code-server into .vscode-test/code-server). Without it the
 * suite skips with that reason, except under CI=true, where it fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { RunRecord } from '../../src/protocol/run.js';
import { colorDistance, type Pixels } from '../helpers/browser.js';
import { judgeOf } from '../helpers/judgeReplies.js';
import { writeReviewEval } from '../helpers/reviewFixture.js';
import { kappaWithInterval } from '../../src/core/review/agreement.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { BROKEN_LINE, CITED_PLAN_LINE_TEXT, COUNT_DOC, CITED_PROGRAM_LINE_TEXT, GENERATED_REPLY, RATIONALE, answer, isVqa, makeWorkspace, userSettings } from './helpers/scene.js';
import { REVIEW, VIEW, WB } from './helpers/selectors.js';
import {
  MUST_RUN,
  ROOT,
  findCodeServer,
  installVsix,
  openWorkbench,
  packageVsix,
  removeScratch,
  scratchDir,
  startWorkbench,
  type CodeServerInstall,
  type Workbench,
  type WorkbenchUi,
} from './helpers/workbench.js';

/**
 * VALOR_WB_ONLY=4,12 runs only those scenarios (plus 1, which waits for the extension to
 * activate), for iterating on one flow; every scenario runs when it is unset.
 */
const ONLY = (process.env['VALOR_WB_ONLY'] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
function scenario(n: number): { skip?: string } {
  return ONLY.length === 0 || n === 1 || ONLY.includes(String(n)) ? {} : { skip: `not in VALOR_WB_ONLY=${ONLY.join(',')}` };
}

const found = findCodeServer();
const skip = 'missing' in found && !MUST_RUN ? `${found.missing} (the suite runs, and must pass, under CI=true)` : false;

function runRecords(ws: string): RunRecord[] {
  const dir = join(ws, '.valor', 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => RunRecord.parse(JSON.parse(readFileSync(join(dir, f), 'utf8'))))
    .sort((a, b) => a.created.localeCompare(b.created));
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** RGB pixels of the page (device scale factor 1). */
async function pagePixels(ui: WorkbenchUi): Promise<Pixels> {
  const png = await ui.page.screenshot({ type: 'png' });
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    at(x, y) {
      const o = (Math.round(y) * info.width + Math.round(x)) * info.channels;
      return [data[o] ?? 0, data[o + 1] ?? 0, data[o + 2] ?? 0];
    },
  };
}

describe('VALOR Studio in a real VS Code workbench (code-server 4.139.1)', { skip, timeout: 540_000 }, () => {
  let install: CodeServerInstall;
  let scratch: string;
  let ws: string;
  let llm: OpenAIServer;
  let extensionsDir: string;
  let wb: Workbench;
  let ui: WorkbenchUi;
  let reviewValues: Awaited<ReturnType<typeof writeReviewEval>>;

  before(async () => {
    if ('missing' in found) throw new Error(`CI=true and the workbench cannot start: ${found.missing}`);
    install = found;
    scratch = scratchDir();
    llm = await startOpenAIServer({ handler: answer });
    const vsix = process.env['VALOR_WORKBENCH_VSIX'] ?? (await packageVsix(scratch));
    extensionsDir = await installVsix(install, scratch, vsix);
    ws = makeWorkspace(join(scratch, 'ws'));
    mkdirSync(ws, { recursive: true });
    // Judged items for scenario 10: an eval output folder (the layout `valor eval --score` writes) on the workspace's image.
    reviewValues = await writeReviewEval(join(ws, 'eval-small'), 4, { imagePath: join(ws, 'desk.png'), seed: 5 });
    wb = await startWorkbench({ install, scratch, extensionsDir, workspace: ws, userSettings: userSettings(llm.url) });
    ui = await openWorkbench(wb);
  });

  after(async () => {
    const pids = wb?.tree() ?? [];
    await ui?.close();
    await wb?.close();
    await llm?.close();
    // Nothing of the workbench lives on: not code-server, the extension host, nor our tool server.
    const left = pids.filter((p) => existsSync(`/proc/${p}`));
    if (scratch) removeScratch(scratch);
    assert.deepEqual(left, [], 'every process of the workbench tree has ended');
  });

  // The state each scenario ends in (on failure: what went wrong), next to the scenario's own pictures.
  beforeEach(async () => {
    // Each scenario starts from a workbench with no editors open and no toasts.
    await ui.page.keyboard.press('Escape');
    await ui.command('View: Close All Editors');
    // An untitled document left open asks whether to save it: no.
    const dontSave = ui.page.locator(WB.dialogButton).filter({ hasText: "Don't Save" }).first();
    if (await dontSave.isVisible().catch(() => false)) await dontSave.click();
    await ui.clearToasts();
  });

  afterEach(async (t) => {
    await ui?.screenshot(`end-${t.name.slice(0, 2).replace(/\W/g, '')}`).catch(() => undefined);
  });

  it('1. opening a .vprog: activation, language mode, CodeLens, tool-server status bar; clicking it opens the log', scenario(1), async () => {
    await ui.openFile('desk.vprog');
    await ui.page.locator(WB.statusLanguage).filter({ hasText: 'VALOR Program' }).waitFor();
    const lens = ui.page.locator(WB.codeLens).first();
    await lens.waitFor();
    assert.match((await ui.page.locator(WB.codeLens).allInnerTexts()).join(' '), /Run/);
    const status = ui.page.locator(WB.statusItem).filter({ hasText: 'VALOR tools' }).first();
    await status.waitFor();
    await status.click();
    await ui.page.locator(WB.outputView).filter({ hasText: /VALOR/ }).first().waitFor();
    await ui.screenshot('1-opened-vprog');
  });

  it('3. run: the run view opens beside the document with the detections drawn; a trace entry moves the editor to its document line', scenario(3), async () => {
    await ui.openFile('desk.vprog');
    await ui.command('VALOR: Run Program');
    await ui.toast(/Answer:/, 180_000);
    const rec = await until('the run record', () => runRecords(ws).at(-1));
    assert.equal(rec.error, null, `the example runs without error: ${JSON.stringify(rec.error)}`);
    assert.equal(rec.program_document_line, 12, 'program line 1 stands on document line 12');
    const view = ui.webview();
    await view.locator(VIEW.stageImage).waitFor();
    await until('the image in the view', () => view.locator(VIEW.stageImage).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0));
    const calls = view.locator(VIEW.call);
    await calls.first().waitFor();
    // What a person sees: the document's line (12), not the program's (1).
    assert.equal((await calls.first().locator(VIEW.callLine).innerText()).trim(), 'line 12');

    // Pixels at the box edges, inside the webview's frame, in the call's colour. The last
    // detection call is drawn on top (the fixture detector may give two prompts the same box).
    const detect = [...rec.trace].reverse().find((t) => t.tool === 'gd_detect' && Array.isArray(t.result) && t.result.length > 0);
    assert.ok(detect, 'the fixture detector found boxes');
    const box = (detect.result as Array<{ bbox: [number, number, number, number] }>)[0]!.bbox;
    const img = view.locator(VIEW.stageImage);
    const g = await img.evaluate((el: HTMLImageElement) => ({ w: el.naturalWidth, h: el.naturalHeight }));
    const bb = await img.boundingBox();
    assert.ok(bb);
    const swatch = await view.locator(`${VIEW.call}[data-index="${detect.index}"] .swatch`).evaluate((e) => getComputedStyle(e).backgroundColor);
    const color = (/rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(swatch) ?? []).slice(1).map(Number);
    assert.equal(color.length, 3, `the trace shows the call's colour (${swatch})`);
    const clamp = (v: number, hi: number) => Math.min(hi - 1, Math.max(0, v));
    const toPage = (x: number, y: number) => ({ x: bb.x + (clamp(x, g.w) * bb.width) / g.w, y: bb.y + (clamp(y, g.h) * bb.height) / g.h });
    const [bx0, by0, bx1, by1] = box;
    const edges = [toPage(bx0, (by0 + by1) / 2), toPage(bx1, (by0 + by1) / 2), toPage((bx0 + bx1) / 2, by0), toPage((bx0 + bx1) / 2, by1)];
    await ui.screenshot('3-run-view');
    const px = await pagePixels(ui);
    const near = (p: { x: number; y: number }) => {
      for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) if (colorDistance(px.at(p.x + dx, p.y + dy), color) < 45) return true;
      return false;
    };
    const hits = edges.filter(near).length;
    assert.ok(hits >= 3, `at least three edges of box ${JSON.stringify(box)} (call #${detect.index}) are drawn in its colour ${color}: ${hits} of 4 (image at ${JSON.stringify(bb)})`);

    // Clicking the second trace entry puts the editor's cursor on that call's document line.
    const second = rec.trace[1];
    assert.ok(second && second.line !== null);
    await calls.nth(1).click();
    const docLine = 12 + second.line - 1;
    await ui.page.locator(WB.activeLineNumber).filter({ hasText: new RegExp(`^${docLine}$`) }).first().waitFor();
    await ui.screenshot('3-trace-reveals-line');
  });

  it('4. score: six inline scores on header, <plan>, <answer>; hover with rationale and links; an override is audited and changes the score; agreement statistics', scenario(4), async () => {
    await ui.openFile('desk.vprog');
    await ui.command('VALOR: Score Program (Six Rewards)');
    await ui.toast(/VALOR total 1\.00/, 120_000);
    const badges = async () => (await inlineTexts(ui)).join(' | ');
    await until('six inline scores', () => badgesHaveAll(ui));
    const text = await badges();
    for (const r of ['format', 'spatial', 'attribute', 'logic', 'syntax', 'adherence']) assert.match(text, new RegExp(`✓ ${r}`), `inline badge for ${r} in: ${text}`);
    await ui.screenshot('4-inline-scores');

    // Hover on the <plan> line: the judge's rationale and its links, which work when clicked.
    // Over the text of the line (past its end the editor shows no hover); from outside the
    // editor each time, so each is a new hover with the scores as they are now.
    const planHover = async () => {
      await ui.page.keyboard.press('Escape');
      await ui.page.mouse.move(2, 2);
      await ui.page.locator(`${WB.editorLines} .view-line`).filter({ hasText: '<plan>' }).first().hover({ position: { x: 12, y: 6 } });
      await ui.page.locator(WB.hover).filter({ hasText: RATIONALE }).first().waitFor();
    };
    const hoverLink = (title: string) => ui.page.locator(`${WB.hoverLink}[title="${title}"]`).first();
    await planHover();
    const titles = await ui.page.locator(WB.hoverLink).evaluateAll((as) => as.map((a) => `${a.textContent} ${a.getAttribute('title')}`));
    for (const r of ['spatial', 'attribute', 'logic']) {
      assert.ok(titles.includes(`Override… Record your own verdict for ${r}`), `an Override… link for ${r} in the hover: ${titles.join(', ')}`);
      assert.ok(titles.includes(`Re-judge Ask the judge again for ${r}, bypassing caches`), `a Re-judge link for ${r} in the hover: ${titles.join(', ')}`);
    }
    await ui.screenshot('4-score-hover');

    // Clicking Re-judge in the hover asks the spatial judge again.
    const before = llm.requests.length;
    await hoverLink('Ask the judge again for spatial, bypassing caches').click();
    await ui.toast(/spatial: pass/);
    assert.deepEqual(llm.requests.slice(before).map(judgeOf), ['spatial'], 'clicking Re-judge sent one request, to the spatial judge');

    // Clicking Override… in the hover: the link names the reward, so only the verdict and the note are asked.
    await planHover();
    await hoverLink('Record your own verdict for spatial').click();
    await ui.pick(/Fail/);
    await ui.answer('the boxes overlap, left is not decided');
    await ui.toast(/Recorded your verdict: spatial = fail/);
    const auditFile = join(ws, '.valor', 'audits.jsonl');
    const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; subject: string; target: string; value: number; note: string });
    const override = audit.find((a) => a.kind === 'reward' && a.target === 'spatial' && a.value === 0 && /overlap/.test(a.note));
    assert.ok(override, 'the override is in .valor/audits.jsonl');
    await until('the overridden badge', async () => /✎ spatial/.test(await badges()));
    await ui.screenshot('4-override');

    // The statistics: a read-only Markdown document that follows the audit log and asks nothing when closed.
    await ui.command('VALOR: Show Judge Agreement Statistics');
    await ui.page.locator(WB.tab).filter({ hasText: 'Judge agreement.md' }).first().waitFor();
    await ui.page.locator(WB.editorLines).filter({ hasText: 'Judge agreement' }).first().waitFor();
    assert.match(await ui.editorText(), /\| spatial \| 1 \|/);
    assert.doesNotMatch(await ui.editorText(), /\| attribute \|/);
    await ui.page.locator(WB.statusLanguage).filter({ hasText: 'Markdown' }).waitFor();
    // A decision written by someone else (as `valor audit` would) shows while it is open.
    appendFileSync(auditFile, `${JSON.stringify({ kind: 'reward', subject: 'judged-elsewhere', target: 'attribute', value: 0, machine_value: 1, note: 'from the CLI', at: new Date().toISOString() })}\n`);
    await until('the statistics refreshed from the audit log', async () => /\| attribute \| 1 \| 1 \| 0 \|/.test(await ui.editorText()));
    await ui.screenshot('4-agreement');
    await ui.command('View: Close Editor');
    await ui.page.locator(WB.tab).filter({ hasText: 'Judge agreement.md' }).first().waitFor({ state: 'hidden' });
    assert.equal(await ui.page.locator(WB.dialogButton).count(), 0, 'closing the statistics asks nothing (no save dialog)');
  });

  it('5. verify boxes: grounding fates in the view; flipping a box is audited', scenario(5), async () => {
    await ui.openFile('desk.vprog');
    await ui.command('VALOR: Verify Boxes (Grounding Verifier)');
    await ui.toast(/Grounding verifier: kept \d+ of \d+/, 180_000);
    const view = ui.webview();
    const rows = view.locator(VIEW.gbox);
    await rows.first().waitFor();
    assert.ok((await rows.count()) > 0);
    const first = rows.first();
    const keptBefore = await first.getAttribute('data-kept');
    await ui.screenshot('5-grounding');
    await first.locator(VIEW.flip).click();
    await ui.answer('not a red box, a shadow');
    await until('the flip in the audit log', () =>
      existsSync(join(ws, '.valor', 'audits.jsonl')) && readFileSync(join(ws, '.valor', 'audits.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; note: string }).some((a) => a.kind === 'box' && /shadow/.test(a.note)),
    );
    await until('the flipped box in the view', async () => (await view.locator(VIEW.gbox).first().getAttribute('data-kept')) !== keptBefore);
    await view.locator(`${VIEW.gbox} .badge-human`).first().waitFor();
    await ui.screenshot('5-flipped');
  });

  it('6. a runtime error lands in Problems on the document line; a killed tool server offers restart, and restart works', scenario(6), async () => {
    await ui.openFile('broken.vprog');
    await ui.command('VALOR: Run Program');
    const msg = await ui.toast(/The program failed/);
    assert.match(msg, new RegExp(`on line ${BROKEN_LINE} of broken\\.vprog: ZeroDivisionError`));
    await ui.page.keyboard.press('Control+Shift+M');
    const row = ui.page.locator(WB.problemsRow).filter({ hasText: 'ZeroDivisionError' }).first();
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(`Ln ${BROKEN_LINE}\\b`));
    await ui.screenshot('6-problems');

    // The embedded tool server dies in the middle of a run (while it serves the program's VQA
    // call): the message says so and offers a restart, and the restart works.
    const servers = () => wb.tree().filter((p) => /dist\/server\.js/.test(cmdline(p)));
    const server = servers()[0];
    assert.ok(server, 'the embedded tool server runs under code-server');
    let killed = false;
    llm.setHandler((req) => {
      if (isVqa(req) && !killed) {
        killed = true;
        process.kill(server, 'SIGKILL');
        return { hang: true };
      }
      return answer(req);
    });
    try {
      await ui.openFile('colour.vprog');
      await ui.command('VALOR: Run Program');
      const failed = await ui.toast(/tool server failed during the run/, 120_000);
      assert.ok(killed, 'the server was killed mid-run');
      assert.match(failed, /Restart it and run again/);
      // Advice for the editor, not the CLI's environment variables.
      assert.doesNotMatch(failed, /VALOR_TOOLS_URL|valor serve/);
      await ui.screenshot('6-tool-server-failed');
      await ui.toastButton(/tool server failed during the run/, 'Restart');
    } finally {
      llm.setHandler(answer);
    }
    await until('a new tool server', () => servers().some((p) => p !== server));
    await ui.page.locator(WB.statusItem).filter({ hasText: 'VALOR tools: cpu' }).first().waitFor({ timeout: 120_000 });
    await ui.clearToasts();
    await ui.command('VALOR: Run Program');
    await ui.toast(/Answer: yes/, 120_000);
    await ui.screenshot('6-restarted');
  });

  it('7. Set API Key stores the key in secret storage; it never appears in settings, logs or run records', scenario(7), async () => {
    const key = 'sk-valor-workbench-7f3a91c2e4';
    await ui.command('VALOR: Set API Key…');
    await ui.pick(/Program generator/);
    await ui.answer(key);
    await ui.toast(/Saved the key for Program generator/);
    await ui.screenshot('7-key-saved');
    // Used: the next generation sends it.
    const from = llm.requests.length;
    await newQueryFromExplorer(ui, 'shelf.png', 'Is the red box left of the blue circle?');
    await ui.toast(/Answer:/, 180_000);
    const gen = llm.requests.slice(from).find((r) => r.stream);
    assert.ok(gen, 'a generation request was made');
    assert.equal(gen.headers['authorization'], `Bearer ${key}`);
    // Never written anywhere we can read: settings, logs, run records, the workspace.
    const leaks = grepFiles([wb.userDataDir, ws], key);
    assert.deepEqual(leaks, [], 'the key is in no file of the user data folder or the workspace');
    assert.doesNotMatch(wb.output(), new RegExp(key), 'nor in what code-server printed');
  });

  it('2. New Query from the Explorer context menu: the plan and program stream into the new document, with progress, and it can be cancelled', scenario(2), async () => {
    // The generator streams the first half of its reply slowly, then never finishes: a person sees
    // the plan arrive in the new document, with progress, and cancels.
    const half = GENERATED_REPLY.slice(0, Math.floor(GENERATED_REPLY.length / 2));
    llm.setHandler((req) => (req.stream ? { text: half, chunks: half.match(/[\s\S]{1,16}/g) ?? [half], chunkDelayMs: 80, streamEnd: 'hang' } : answer(req)));
    const runsBefore = runRecords(ws).length;
    try {
      await newQueryFromExplorer(ui, 'desk.png', 'Which is closer, the red box or the blue circle?');
      const progress = ui.page.locator(WB.toast).filter({ hasText: /VALOR: new query/ }).first();
      await progress.waitFor();
      await ui.page.locator(WB.tab).filter({ hasText: 'desk-2.vprog' }).first().waitFor();
      await ui.page.locator(WB.editorLines).filter({ hasText: '1. Detect red boxes' }).first().waitFor();
      assert.match(await progress.innerText(), /generating/);
      await ui.screenshot('2-streaming');
      await progress.hover();
      await progress.locator(WB.toastButton).filter({ hasText: 'Cancel' }).first().click();
      await progress.waitFor({ state: 'hidden' });
    } finally {
      llm.setHandler(answer);
    }
    await ui.screenshot('2-cancelled');
    // Cancelled: nothing ran, and the document keeps the question.
    assert.match(readFileSync(join(ws, 'desk-2.vprog'), 'utf8'), /# query: Which is closer, the red box or the blue circle\?/);
    assert.equal(runRecords(ws).length, runsBefore, 'a cancelled query runs nothing');
    // The query of scenario 7 (same menu, not cancelled) streamed the whole reply into shelf.vprog, and ran it.
    assert.ok(readFileSync(join(ws, 'shelf.vprog'), 'utf8').includes(GENERATED_REPLY), 'the streamed reply is in the new document');
    assert.ok(runRecords(ws).some((r) => r.document === 'shelf.vprog' && r.error === null), 'and the new query ran');
  });

  it('8. restricted mode (a folder nobody trusted): running is refused with the explanation; viewing still works', scenario(8), async () => {
    const untrusted = makeWorkspace(join(scratch, 'untrusted', 'ws'));
    const wb2 = await startWorkbench({ install, scratch, extensionsDir, workspace: untrusted, userSettings: userSettings(llm.url), trust: true });
    const ui2 = await openWorkbench(wb2);
    try {
      await ui2.page.keyboard.press('Escape');
      await ui2.openFile('desk.vprog');
      await ui2.page.locator(WB.statusLanguage).filter({ hasText: 'VALOR Program' }).waitFor();
      await ui2.command('VALOR: Run Program');
      await ui2.toast(/not trusted, so VALOR Studio does not run programs/);
      assert.equal(runRecords(untrusted).length, 0, 'nothing ran');
      // Viewing works: the document keeps its language features.
      await ui2.page.locator(WB.codeLens).first().waitFor();
      await ui2.screenshot('8-restricted');
    } finally {
      await ui2.close();
      await wb2.close();
    }
  });

  it('9. the runs tree opens a past run; light and dark themes render the view legibly', scenario(9), async () => {
    const header = ui.page.locator(WB.paneHeader).filter({ hasText: 'VALOR Runs' }).first();
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
    const row = ui.page.locator(WB.runsViewRow).filter({ hasText: 'Is the red box to the left of the blue circle?' }).first();
    await row.waitFor();
    await row.click();
    await ui.webview().locator(VIEW.stageImage).waitFor();
    for (const theme of ['Light Modern', 'Dark Modern']) {
      await ui.command('Preferences: Color Theme');
      await ui.answer(theme);
      await ui.page.waitForTimeout(1000);
      const c = await ui.webview().locator(VIEW.answerText).first().evaluate((e) => {
        const fg = getComputedStyle(e).color;
        let n: Element | null = e;
        let bg = 'rgba(0, 0, 0, 0)';
        while (n && /rgba\(0, 0, 0, 0\)|transparent/.test(bg)) {
          bg = getComputedStyle(n).backgroundColor;
          n = n.parentElement;
        }
        return { fg, bg };
      });
      const ratio = contrast(rgb(c.fg), rgb(c.bg));
      assert.ok(ratio >= 4.5, `${theme}: the answer text has contrast ${ratio.toFixed(2)} (${c.fg} on ${c.bg})`);
      await ui.screenshot(`9-run-view-${theme.split(' ')[0]!.toLowerCase()}`);
    }
  });

  it('10. Open Review Queue… on an eval output folder: reviewed with the keyboard alone; progress and kappa change on screen; decisions land in .valor/audits.jsonl', scenario(10), async () => {
    // eval-small/ was written with the workspace (before()), so the Explorer lists it from the start.
    const values = reviewValues;
    const auditFile = join(ws, '.valor', 'audits.jsonl');
    const linesBefore = existsSync(auditFile) ? readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length : 0;
    const folder = ui.page.locator(`${WB.explorerRow}[aria-label="eval-small"]`).first();
    await folder.waitFor();
    await folder.click({ button: 'right' });
    const item = ui.page.locator(WB.contextMenuItem).filter({ hasText: 'Open Review Queue…' }).first();
    await item.hover();
    await ui.page.waitForTimeout(300);
    await ui.page.keyboard.press('Enter');
    await ui.pick(/All, in order/);

    const view = ui.webview();
    const progress = view.locator(REVIEW.progress);
    await progress.waitFor();
    const idleAt = (position: number, done: number) =>
      until(`the review view idle at item ${position + 1} with ${done} reviewed`, async () =>
        (await view.locator(`${REVIEW.app}[data-busy="no"] ${REVIEW.progress}[data-position="${position}"][data-done="${done}"]`).count()) === 1,
      );
    await idleAt(0, 0);
    assert.match(await progress.innerText(), /0 of 4 reviewed/);
    assert.equal(await view.locator(REVIEW.verdict).count(), 6);

    // Keyboard only (the panel took focus when it opened): item 1 flips spatial, item 2 accepts all, item 3 flips spatial.
    const flips = (i: number) => i === 0 || i === 2;
    const kb = ui.page.keyboard;
    const shown: string[] = [];
    for (let i = 0; i < 3; i++) {
      if (flips(i)) {
        await kb.press('j'); // format -> syntax
        await kb.press('j'); // -> spatial
        await kb.press('f');
      }
      await kb.press('Enter'); // accept the rest, then the next item
      await idleAt(i + 1, i + 1);
      assert.match(await progress.innerText(), new RegExp(`${i + 1} of 4 reviewed`));
      // The spatial agreement row equals the statistics of what was decided so far (fixture values and keys pressed).
      const pairs = values.slice(0, i + 1).flatMap((v, k) => (v.spatial === null ? [] : [[v.spatial, flips(k) ? 1 - v.spatial : v.spatial] as [number, number]]));
      const k = kappaWithInterval(pairs);
      const row = view.locator(`${REVIEW.agreementRow}[data-reward="spatial"]`);
      assert.equal(await row.getAttribute('data-n'), String(pairs.length));
      const kappa = await row.getAttribute('data-kappa');
      assert.equal(kappa, k.kappa === null ? 'none' : k.kappa.toFixed(4));
      shown.push(`${pairs.length}:${kappa}`);
    }
    assert.equal(new Set(shown).size, 3, `the spatial agreement on screen changed with each item: ${shown.join(' ')}`);
    // The picture shows the agreement table: the panel (Problems, from scenario 6) closed, the table scrolled into view.
    await ui.command('View: Hide Panel');
    await view.locator(REVIEW.agreement).scrollIntoViewIfNeeded();
    await ui.screenshot('10-review-queue');

    // The decisions are in the workspace's audit log: 3 items × 6 verdicts, the two flips as the opposite of the judge.
    const added = await until('the review decisions in the audit log', () => {
      const lines = existsSync(auditFile) ? readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).slice(linesBefore) : [];
      return lines.length >= 18 && lines.map((l) => JSON.parse(l) as { target: string; value: number | null; machine_value?: number | null; retracts?: string });
    });
    assert.equal(added.length, 18, 'one decision per verdict of the three reviewed items');
    const spatial = added.filter((a) => a.target === 'spatial');
    assert.equal(spatial.length, 3);
    assert.deepEqual(
      spatial.map((a) => [a.machine_value, a.value]),
      [0, 1, 2].map((i) => [values[i]!.spatial, flips(i) ? 1 - values[i]!.spatial! : values[i]!.spatial]),
    );
  });

  it('11. cited lines: a failing verdict marks the lines it cites; hovering one names the judge; the score hover lists the cites', scenario(11), async () => {
    await ui.openFile('cited.vprog');
    await ui.command('VALOR: Score Program (Six Rewards)');
    await ui.toast(/VALOR total /, 120_000);
    await until('the failing badges', async () => /✗ spatial/.test((await inlineTexts(ui)).join(' | ')));
    const hoverOn = async (lineText: string, expected: string) => {
      await ui.page.keyboard.press('Escape');
      await ui.page.locator(`${WB.editorLines} .view-line`).filter({ hasText: lineText }).first().hover({ position: { x: 12, y: 6 } });
      await ui.page.locator(WB.hover).filter({ hasText: loose(expected) }).first().waitFor();
    };
    // The cited program line (document line 11) carries the adherence judge's mark and hover.
    await hoverOn(CITED_PROGRAM_LINE_TEXT, 'adherence judge: fail — cites this line (program line 3)');
    await ui.screenshot('11-cited-program-line');
    // Plan step 2 (document line 6) is cited by both failing judges.
    await hoverOn(CITED_PLAN_LINE_TEXT, 'spatial judge: fail — cites this line (plan step 2)');
    assert.match((await ui.page.locator(WB.hover).allInnerTexts()).join('\n'), loose('adherence judge: fail — cites this line (plan step 2)'));
    await ui.screenshot('11-cited-plan-step');
    // The score hover on <answer> lists adherence's cites with the document line.
    await hoverOn('<answer>', 'Cites: plan step 2; program line 3 (document line 11)');
    await ui.page.keyboard.press('Escape');
  });

  it('12. line values: executed lines show their values, the untaken branch is dimmed, the raising line shows the exception, a name hovers its value, an edit clears what no longer applies', scenario(12), async () => {
    await ui.openFile('desk.vprog');
    const runs = runRecords(ws).length;
    await ui.command('VALOR: Run Program');
    await ui.toast(/Answer:/, 180_000);
    const rec = await until('the run record', () => runRecords(ws).length > runs && runRecords(ws).at(-1));
    assert.equal(rec.error, null);
    // What the program computed, worked out here from the detector's results in the record.
    const best = (prompt: string) => {
      const call = rec.trace.find((t) => t.tool === 'gd_detect' && JSON.stringify(t.args).includes(prompt));
      const dets = (call?.result ?? []) as Array<{ bbox: [number, number, number, number]; score: number }>;
      assert.ok(dets.length > 0, `the fixture detector found a ${prompt}`);
      return dets.reduce((a, b) => (b.score > a.score ? b : a));
    };
    const centre = (d: { bbox: number[] }) => (d.bbox[0]! + d.bbox[2]!) / 2;
    const boxX = centre(best('red box'));
    const circleX = centre(best('blue circle'));
    // The editor alone and wide, so the pictures show whole lines.
    await ui.page.locator(WB.tab).filter({ hasText: 'desk.vprog' }).first().click();
    await ui.command('View: Close Editors in Other Groups');
    if (await ui.page.locator(WB.panel).isVisible()) await ui.command('View: Hide Panel');

    // Executed lines: their values at the end of the line, in the editor's decorations.
    // Floats are shown to 4 significant digits ('%.4g').
    const shown = async (lineText: string, name: string) => {
      const after = (await lineLook(ui, lineText)).after.join(' ');
      const m = new RegExp(`^${name} = (-?[\\d.e+-]+)$`).exec(after);
      return m ? Number(m[1]) : undefined;
    };
    const near = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) <= Math.abs(b) * 1e-3;
    await until('the value after the box_x line', async () => near(await shown('box_x = (box', 'box_x'), boxX));
    assert.ok(near(await shown('circle_x = (circle', 'circle_x'), circleX), `circle_x shows ${circleX}: ${(await lineLook(ui, 'circle_x = (circle')).after.join(' ')}`);
    assert.ok((await lineLook(ui, 'final_answer = "yes" if box_x')).after.includes(`final_answer = '${boxX < circleX ? 'yes' : 'no'}'`));
    assert.match((await lineLook(ui, 'boxes = gd_detect(')).after.join(' '), /^boxes = \d+ detections?: /);
    // The untaken branch (both lists are non-empty) is dimmed; executed lines are not.
    for (const l of ['reply = vqa(', 'final_answer = "yes" if "yes" in reply', 'return']) assert.equal((await lineLook(ui, l)).opacity, 0.5, `the untaken line ${l} is dimmed`);
    assert.equal((await lineLook(ui, 'box_x = (box')).opacity, 1, 'an executed line is not dimmed');
    await ui.screenshot('12-line-values');

    // Hovering a name shows its value at that point.
    await ui.page.keyboard.press('Escape');
    await ui.page.locator(`${WB.editorLines} .view-line`).filter({ hasText: 'box_x = (box' }).first().hover({ position: { x: 12, y: 6 } });
    const hover = ui.page.locator(WB.hover).filter({ hasText: loose('box_x after line 10:') }).first();
    await hover.waitFor();
    const hovered = /after\s*line\s*10:\s*(-?[\d.e+-]+)\s*\(float\)/.exec((await hover.innerText()).replace(/\u00a0/g, ' '));
    assert.ok(hovered && near(Number(hovered[1]), boxX), `the hover shows box_x = ${boxX} (float): ${await hover.innerText()}`);
    await ui.screenshot('12-value-hover');
    await ui.page.keyboard.press('Escape');
    await ui.page.mouse.move(2, 2);

    // Editing the program: lines at and below the edit lose their values, dimming goes, the top-level lines above keep theirs.
    await ui.page.locator(`${WB.editorLines} .view-line`).filter({ hasText: 'box_x = (box' }).first().click();
    await ui.page.keyboard.press('End');
    await ui.page.keyboard.type(' + 0');
    await ui.page.keyboard.press('Home');
    await until('the values below the edit cleared', async () => (await lineLook(ui, 'circle_x = (circle')).after.length === 0);
    assert.deepEqual((await lineLook(ui, 'box_x = (box')).after, [], 'the edited line lost its value');
    assert.ok((await lineLook(ui, 'box_depth = depth(')).after.some((t) => t.startsWith('box_depth = ')), 'a top-level line above the edit keeps its value');
    assert.equal((await lineLook(ui, 'reply = vqa(')).opacity, 1, 'dimming went with the edit');
    await ui.screenshot('12-edited');
    await ui.command('File: Revert File');
    await until('the values back after the revert', async () => near(await shown('circle_x = (circle', 'circle_x'), circleX));

    // A program that raises: its line shows the exception, in the theme's error colour.
    await ui.openFile('broken.vprog');
    await ui.command('VALOR: Run Program');
    await ui.toast(/The program failed/);
    await ui.page.locator(WB.tab).filter({ hasText: 'broken.vprog' }).first().click();
    await ui.command('View: Close Editors in Other Groups');
    if (await ui.page.locator(WB.panel).isVisible()) await ui.command('View: Hide Panel');
    const raised = await until('the exception after the raising line', async () => {
      const look = await lineLook(ui, 'final_answer = count / (count - count)');
      return look.after.some((t) => t.includes('⚠ ZeroDivisionError: division by zero')) && look;
    });
    const [r, g, b] = rgbOf(raised.afterColors[raised.after.findIndex((t) => t.includes('ZeroDivisionError'))] ?? '');
    assert.ok(r > g + 40 && r > b + 40, `the exception is drawn in the error colour: ${raised.afterColors.join(', ')}`);
    const detections = (runRecords(ws).at(-1)!.trace.find((t) => t.tool === 'gd_detect')?.result ?? []) as unknown[];
    assert.ok((await lineLook(ui, 'count = len(boxes)')).after.includes(`count = ${detections.length}`), 'the line before it shows its value');
    await ui.screenshot('12-raised');
  });

  it('13. a run made with sensitivity (valor run --sensitivity): opened from the runs tree, the threshold slider shows the answer each position gives', scenario(13), async () => {
    // A colleague's run, made with the CLI in the workspace: the extension itself makes no sensitivity report.
    writeFileSync(join(ws, 'count.vprog'), COUNT_DOC);
    const models = (JSON.parse(readFileSync(join(ws, '.vscode', 'settings.json'), 'utf8')) as Record<string, string>)['valor.toolServer.modelsPath']!;
    const env: NodeJS.ProcessEnv = {};
    for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
    const cli = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'run', 'count.vprog', '--sensitivity', '--models', models, '--json'], { cwd: ws, env, encoding: 'utf8', timeout: 180_000 });
    assert.equal(cli.status, 0, `valor run --sensitivity: ${cli.stderr}`);
    const rec = runRecords(ws).find((r) => r.document?.endsWith('count.vprog') && r.sensitivity);
    assert.ok(rec?.sensitivity, 'the record holds the sensitivity report');
    const d = rec.sensitivity.detect[0]!;
    // The fixture detector keeps one red box at the program's threshold; a lower one keeps the second: the answer flips.
    assert.deepEqual(d.intervals.map((x) => x.outcome), ['answer:"two"', 'answer:"not two"']);
    const flip = d.intervals[0]!.to;

    await ui.command('VALOR: Refresh Runs');
    const header = ui.page.locator(WB.paneHeader).filter({ hasText: 'VALOR Runs' }).first();
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
    await ui.page.locator(WB.runsViewRow).filter({ hasText: 'Are there two red boxes?' }).first().click();
    const view = ui.webview();
    const slider = view.locator(VIEW.thresholdSlider).first();
    await slider.waitFor();
    // One band per interval along the track, with the interval's answer.
    const bands = await view.locator(VIEW.thresholdBand).evaluateAll((els) => els.map((e) => ({ to: Number(e.getAttribute('data-to')), answer: e.getAttribute('data-answer'), kind: e.getAttribute('data-kind') })));
    assert.deepEqual(bands.map((b) => [b.answer, b.kind]), [['"two"', 'changed'], ['"not two"', 'same']], JSON.stringify(bands));
    assert.ok(Math.abs(bands[0]!.to - flip) < 1e-9, 'the first band ends where the answer flips');
    const answerShown = view.locator(VIEW.thresholdAnswer).first();
    const countShown = view.locator(VIEW.thresholdCount).first();
    // At the program's threshold: the recorded answer.
    assert.equal(await answerShown.innerText(), '→ "not two"');
    assert.equal(await answerShown.getAttribute('data-kind'), 'same');
    assert.equal(await countShown.getAttribute('data-visible'), '1');
    await ui.screenshot('13-slider-recorded');
    // With the keyboard: Home goes to the lowest position (below the flip), where both boxes pass and the answer changes.
    await slider.focus();
    await ui.page.keyboard.press('Home');
    assert.ok(Number(await slider.inputValue()) < flip, `the slider's lowest position is below the flip at ${flip}`);
    await until('the answer at the lowest position', async () => (await answerShown.innerText()) === '→ "two"');
    assert.equal(await answerShown.getAttribute('data-kind'), 'changed');
    assert.equal(await countShown.getAttribute('data-visible'), '2');
    await ui.screenshot('13-slider-flipped');
    // One step up, past the flip: the recorded answer again.
    await ui.page.keyboard.press('ArrowRight');
    assert.ok(Number(await slider.inputValue()) >= flip);
    await until('the answer one step up', async () => (await answerShown.innerText()) === '→ "not two"');
  });

  it('14. Fix with the Model: a NameError run offers the fix (lens and message); the diff opens; Accept puts the fix in the document; it runs', scenario(14), async () => {
    // A document of its own, so no other scenario's document changes.
    const program = (name: string) => `boxes = gd_detect(img_pth, "red box")\nfinal_answer = len(${name})`;
    const reply = (name: string) => `<plan>\n1. Detect red boxes.\n2. Count them.\n</plan>\n<answer>\n${program(name)}\n</answer>`;
    const head = '# image: desk.png\n# query: How many red boxes are there?\n\n';
    writeFileSync(join(ws, 'fixme.vprog'), `${head}${reply('boxs')}\n`);
    // The generator answers the repair request (the generation conversation continued) with the fix.
    let repairs = 0;
    llm.setHandler((req) => {
      const msgs = (req.json?.messages ?? []) as Array<{ role: string }>;
      if (msgs.some((m) => m.role === 'assistant')) {
        repairs++;
        return { text: reply('boxes') };
      }
      return answer(req);
    });
    try {
      await until('fixme.vprog in the Explorer', () => ui.page.locator(`${WB.explorerRow}[aria-label="fixme.vprog"]`).first().isVisible());
      await ui.openFile('fixme.vprog');
      await ui.command('VALOR: Run Program');
      await ui.toast(/The program failed .*NameError/);
      await ui.page.locator(WB.codeLens).filter({ hasText: 'Fix with the model' }).first().waitFor();
      // The run view beside it offers the same in its error area.
      await ui.webview().locator(VIEW.fixWithModel).waitFor();
      await ui.toastButton(/The program failed .*NameError/, 'Fix with the Model');
      await ui.toast(/The model proposes a fix for fixme\.vprog/);
      assert.equal(repairs, 1);
      await ui.page.locator(WB.tab).filter({ hasText: "the model's fix" }).first().waitFor();
      await ui.screenshot('14-diff');
      assert.equal(readFileSync(join(ws, 'fixme.vprog'), 'utf8'), `${head}${reply('boxs')}\n`, 'nothing changes before Accept');
      await ui.toastButton(/The model proposes a fix/, 'Accept');
      await until('the fix saved in fixme.vprog', () => readFileSync(join(ws, 'fixme.vprog'), 'utf8') === `${head}${reply('boxes')}\n`);
      await until('the diff tab closed once answered', async () => (await ui.page.locator(WB.tab).filter({ hasText: "the model's fix" }).count()) === 0);
      await ui.command('View: Close All Editors');
      await ui.clearToasts();
      await ui.openFile('fixme.vprog');
      await ui.command('VALOR: Run Program');
      await ui.toast(/Answer: \d+/);
      await ui.screenshot('14-fixed-run');
    } finally {
      llm.setHandler(answer);
    }
  });
});


function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Files under the folders whose bytes contain `needle`. */
function grepFiles(dirs: string[], needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && readFileSync(p).includes(needle)) out.push(p);
    }
  };
  for (const d of dirs) if (existsSync(d)) walk(d);
  return out;
}

/** Texts of the editor's inline decorations (rendered as ::before/::after content). */
async function inlineTexts(ui: WorkbenchUi): Promise<string[]> {
  return ui.page.locator(WB.editorLines).first().evaluate((root) => {
    const out: string[] = [];
    for (const el of root.querySelectorAll('span')) {
      for (const pseudo of ['::before', '::after']) {
        const c = getComputedStyle(el, pseudo).content;
        if (c && c !== 'none' && c !== 'normal') out.push(c.replace(/^"|"$/g, ''));
      }
      if (!el.children.length && /[✓✗⚠✎]/.test(el.textContent ?? '')) out.push(el.textContent ?? '');
    }
    return out;
  });
}

async function badgesHaveAll(ui: WorkbenchUi): Promise<boolean> {
  const t = (await inlineTexts(ui)).join(' ');
  return ['format', 'spatial', 'attribute', 'logic', 'syntax', 'adherence'].every((r) => t.includes(`✓ ${r}`));
}

/** Right-click an image in the Explorer, choose New Query from Image…, type the question. */
async function newQueryFromExplorer(ui: WorkbenchUi, image: string, question: string): Promise<void> {
  const row = ui.page.locator(WB.explorerRow).filter({ hasText: image }).first();
  await row.click({ button: 'right' });
  const item = ui.page.locator(WB.contextMenuItem).filter({ hasText: 'New Query from Image…' }).first();
  // The menu ignores a click that comes right after it opened: point at the item, then Enter.
  await item.hover();
  await ui.page.waitForTimeout(300);
  await ui.page.keyboard.press('Enter');
  await ui.answer(question);
}

function rgb(css: string): [number, number, number] {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css);
  if (!m) throw new Error(`not an rgb() colour: ${css}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** WCAG contrast ratio of two sRGB colours. */
function contrast(a: readonly number[], b: readonly number[]): number {
  const lum = (c: readonly number[]) => {
    const [r, g, bl] = c.map((v) => {
      const x = v / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}


/** Plain-text hovers: VS Code renders their spaces as no-break spaces and their lines as paragraphs, hence \s*. */
function loose(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ +/g, '\\s*'));
}

function rgbOf(css: string): [number, number, number] {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

/**
 * What a person sees of one editor line (the first whose text contains `text`): the texts
 * decorations draw after it (::after content), their colours, and the lowest opacity of its text.
 */
async function lineLook(ui: WorkbenchUi, text: string): Promise<{ after: string[]; afterColors: string[]; opacity: number }> {
  const line = ui.page.locator(`${WB.editorLines} .view-line`).filter({ hasText: text }).first();
  return line.evaluate((el) => {
    const after: string[] = [];
    const afterColors: string[] = [];
    let opacity = 1;
    for (const span of el.querySelectorAll('span')) {
      const a = getComputedStyle(span, '::after');
      if (a.content && a.content !== 'none' && a.content !== 'normal' && a.content !== '""') {
        after.push(a.content.replace(/^"|"$/g, '').replace(/\\"/g, '"'));
        afterColors.push(a.color);
      }
      if (!span.children.length && (span.textContent ?? '').trim()) opacity = Math.min(opacity, Number(getComputedStyle(span).opacity));
    }
    return { after, afterColors, opacity };
  });
}
