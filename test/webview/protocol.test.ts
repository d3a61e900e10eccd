// The run view's contract without a browser: message schemas, the page's HTML and CSP, and the
// data the view derives from a run record (boxes per threshold, partial records, diffs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeNonce, webviewCsp, webviewHtml } from '../../src/host/webviewHtml.js';
import { shownLine } from '../../src/protocol/run.js';
import { parseHostMessage, parseViewMessage, ViewRunRecord } from '../../src/protocol/webview.js';
import { buildCalls, diffCalls, effectiveThreshold, groundingMatches, visibleCount } from '../../webview/model.js';
import { LAPTOP_CANDIDATES, MUG_CANDIDATES, depthMap, groundingResult, makeRun } from './runData.js';

test('host messages: a full init, an update and a depth map validate; a full RunRecord fits ViewRunRecord', () => {
  const run = makeRun();
  const init = parseHostMessage({ type: 'init', run, imageUri: 'https://file+.vscode-resource.vscode-cdn.net/x.png', depthMap: depthMap() });
  assert.equal(init.ok, true);
  assert.ok(init.ok && init.message.type === 'init' && init.message.run.trace?.length === run.trace.length);
  assert.equal(parseHostMessage({ type: 'update', rewards: run.rewards, pending: ['grounding'] }).ok, true);
  assert.equal(parseHostMessage({ type: 'depthMap', runId: run.id, map: depthMap() }).ok, true);
  assert.equal(parseHostMessage({ type: 'error', message: 'no depth model', request: 'requestDepthMap' }).ok, true);
  // Partial records are accepted: only the id is required.
  assert.equal(ViewRunRecord.safeParse({ id: 'r' }).success, true);
  assert.equal(parseHostMessage({ type: 'init', run: { id: 'r' }, imageUri: null }).ok, true);
});

test('host messages: malformed ones are rejected with the path of the problem', () => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /not valid/],
    ['init', /not valid/],
    [{ type: 'nope' }, /"nope"/],
    [{ type: 'init', run: 42, imageUri: null }, /run/],
    [{ type: 'init', run: { id: 'r' } }, /imageUri/],
    [{ type: 'init', run: { id: 'r', trace: [{ index: 'zero' }] }, imageUri: null }, /run\.trace\.0/],
    [{ type: 'depthMap', runId: 'r', map: { width: -1, height: 2, min: 0, max: 1, data: '' } }, /map\.width/],
  ];
  for (const [msg, re] of bad) {
    const r = parseHostMessage(msg);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(msg)}`);
    assert.match(r.ok ? '' : r.error, re);
  }
});

test('view messages: intents validate, wrong payloads do not', () => {
  assert.equal(parseViewMessage({ type: 'ready', protocol: 1 }).ok, true);
  assert.equal(parseViewMessage({ type: 'revealLine', runId: 'r', line: 3, callIndex: 0 }).ok, true);
  assert.equal(parseViewMessage({ type: 'override', runId: 'r', reward: 'spatial', value: 0, machineValue: 1 }).ok, true);
  assert.equal(parseViewMessage({ type: 'flipBox', runId: 'r', grounding: 0, box: 2, kept: true, machineKept: false }).ok, true);
  assert.equal(parseViewMessage({ type: 'requestDepthMap', runId: 'r' }).ok, true);
  assert.equal(parseViewMessage({ type: 'revealLine', runId: 'r', line: 0 }).ok, false);
  assert.equal(parseViewMessage({ type: 'override', runId: 'r', reward: 'beauty', value: 1, machineValue: 0 }).ok, false);
  assert.equal(parseViewMessage({ type: 'override', runId: 'r', reward: 'logic', value: 0.5, machineValue: 0 }).ok, false);
});

test('webviewHtml: strict CSP with the nonce, the given URIs, no inline code', () => {
  const nonce = makeNonce();
  const html = webviewHtml({ cspSource: 'https://*.vscode-cdn.net', scriptUri: 'https://a/dist/webview/main.js?x=1&y=2', styleUri: 'https://a/media/webview.css', nonce });
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
  assert.equal(csp, webviewCsp('https://*.vscode-cdn.net', nonce));
  assert.equal(
    csp,
    `default-src 'none'; img-src https://*.vscode-cdn.net data: blob:; style-src https://*.vscode-cdn.net; script-src 'nonce-${nonce}'; font-src https://*.vscode-cdn.net`,
  );
  assert.doesNotMatch(csp ?? '', /unsafe/);
  assert.match(html, new RegExp(`<script nonce="${nonce}" src="https://a/dist/webview/main.js\\?x=1&amp;y=2"></script>`));
  assert.match(html, /<link rel="stylesheet" href="https:\/\/a\/media\/webview.css">/);
  // Every script tag carries the nonce and a src; there is no inline script or style.
  const scripts = html.match(/<script[^>]*>/g) ?? [];
  assert.equal(scripts.length, 1);
  assert.doesNotMatch(html, /<style|\sstyle="|\son[a-z]+="/);
});

test('webviewHtml: fresh nonces, and values that would widen the policy are refused', () => {
  const a = makeNonce();
  const b = makeNonce();
  assert.notEqual(a, b);
  assert.match(a, /^[A-Za-z0-9_-]{22}$/);
  const n1 = /nonce-([^']+)'/.exec(webviewHtml({ cspSource: 'x:', scriptUri: 's', styleUri: 'c' }))?.[1];
  const n2 = /nonce-([^']+)'/.exec(webviewHtml({ cspSource: 'x:', scriptUri: 's', styleUri: 'c' }))?.[1];
  assert.ok(n1 && n2 && n1 !== n2);
  assert.throws(() => webviewCsp("https://a; script-src 'unsafe-inline'", a), /cspSource/);
  assert.throws(() => webviewCsp('', a), /cspSource/);
  assert.throws(() => webviewCsp('https://a', "abc' 'unsafe-inline"), /nonce/);
});

test('model: boxes per call follow the scores, the threshold slider is a prefix of the sorted candidates', () => {
  const calls = buildCalls(makeRun());
  const [mugs, laptops, depth, vqa] = calls;
  assert.ok(mugs && laptops && depth && vqa);
  assert.notEqual(mugs.color, laptops.color);
  assert.equal(mugs.hasCandidates, true);
  for (const t of [0, 0.1, 0.14, 0.2, 0.35, 0.61, 0.62, 0.9, 1]) {
    assert.equal(visibleCount(mugs, t), MUG_CANDIDATES.filter((c) => c.score > t).length, `mug boxes at ${t}`);
    assert.equal(visibleCount(laptops, t), LAPTOP_CANDIDATES.filter((c) => c.score > t).length, `laptop boxes at ${t}`);
  }
  assert.equal(effectiveThreshold(mugs, {}), 0.35);
  assert.equal(effectiveThreshold(mugs, { '0': 0.2 }), 0.2);
  // Boxes the program received know their index in its list; lower candidates do not.
  const received = mugs.boxes.filter((b) => b.resultIndex !== null).map((b) => b.score);
  assert.deepEqual(received, MUG_CANDIDATES.filter((c) => c.score >= 0.35).map((c) => c.score));
  assert.deepEqual(depth.region, [130, 140, 190, 220]);
  assert.equal(depth.depth, 1.84);
  assert.deepEqual(vqa.crop, [415, 245, 800, 575]);
  assert.equal(vqa.answer, 'gray');
});

test('model: partial and odd records do not throw', () => {
  assert.deepEqual(buildCalls({ id: 'x' }), []);
  const calls = buildCalls({
    id: 'x',
    trace: [
      { index: 1, tool: 'gd_detect', line: null, args: {}, result: [{ bbox: [1, 2, 3, 4], label: 'a' }, { nonsense: true }], ms: 1 },
      { index: 0, tool: 'gd_detect', line: 3, args: {}, result: null, error: { type: 'ToolError', message: 'down' }, ms: 1 },
      { index: 2, tool: 'vqa', line: 4, args: { bbox: null, prompt: 'q' }, result: 'a', ms: 1 },
      { index: 3, tool: 'depth', line: 5, args: { bbox: 'nope' }, result: 'x', ms: 1 },
    ],
  });
  assert.deepEqual(calls.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(calls[0]?.boxes.length, 0);
  assert.equal(calls[1]?.boxes.length, 1);
  assert.equal(calls[1]?.hasCandidates, false);
  assert.equal(visibleCount(calls[1]!, 0.9), 1, 'boxes without scores are always shown');
  assert.equal(calls[2]?.wholeImage, true);
  assert.equal(calls[3]?.region, null);
  assert.equal(calls[3]?.depth, null);
});

test('model: grounding filters and call diffs', () => {
  const g = groundingResult();
  const count = (f: Parameters<typeof groundingMatches>[1]): number => g.boxes.filter((b) => groundingMatches(b, f)).length;
  assert.equal(count('all'), g.boxes.length);
  assert.equal(count('kept'), g.boxes.filter((b) => b.kept).length);
  assert.equal(count('crop'), g.boxes.filter((b) => !b.kept && b.dropped_at === 'crop').length);
  const a = buildCalls(makeRun());
  const b = buildCalls(makeRun({ laptopThreshold: 0.25 }));
  const d = diffCalls(a, b);
  assert.deepEqual(
    d.filter((x) => x.differs).map((x) => x.index),
    [1],
  );
  assert.deepEqual(diffCalls(a, a.slice(0, 2)).filter((x) => x.differs).map((x) => x.what.join()), ['missing', 'missing']);
});

test("webviewCsp: VS Code's real cspSource (with 'self') and other valid source lists are accepted as given", () => {
  const nonce = makeNonce();
  // The value VS Code 1.139 (desktop and code-server) gives as webview.cspSource.
  const real = "'self' https://*.vscode-cdn.net";
  assert.equal(
    webviewCsp(real, nonce),
    `default-src 'none'; img-src 'self' https://*.vscode-cdn.net data: blob:; style-src 'self' https://*.vscode-cdn.net; script-src 'nonce-${nonce}'; font-src 'self' https://*.vscode-cdn.net`,
  );
  for (const ok of [
    'http://127.0.0.1:4711',
    'https:',
    'vscode-resource:',
    "'SELF'",
    'https://example.com:*/media/',
    'https://a.example.com/path%20x/y.css',
    '*.example.com',
    "  'self'   https://*.vscode-cdn.net  ",
  ]) {
    assert.doesNotThrow(() => webviewCsp(ok, nonce), ok);
  }
  // Extra spaces are not carried into the policy.
  assert.match(webviewCsp("  'self'   https://a.b  ", nonce), /img-src 'self' https:\/\/a\.b data:/);
});

test('webviewCsp: nothing that could open a new directive or widen the policy gets in', () => {
  const nonce = makeNonce();
  for (const [bad, why] of [
    ["'self'; script-src 'unsafe-inline'", /open a new directive/],
    ["'self', script-src *", /open a new directive/],
    ["'self'\nscript-src *", /open a new directive/],
    ["'self'\rscript-src *", /open a new directive/],
    ["'self'\tscript-src", /open a new directive/],
    ["'self' 'unsafe-inline'", /only 'self'/],
    ["'self' 'unsafe-eval'", /only 'self'/],
    ["'strict-dynamic'", /only 'self'/],
    ["'nonce-AAAAAAAAAAAAAAAAAAAAAA'", /only 'self'/],
    ["'sha256-abc='", /only 'self'/],
    ["'self", /only 'self'/],
    ['*', /bare \*/],
    ['https://a.b"x', /neither a scheme source/],
    ["https://a.b/x'y", /neither a scheme source/],
    ['https://a.b/<x>', /neither a scheme source/],
    ['', /empty/],
    ['   ', /empty/],
  ] as const) {
    assert.throws(() => webviewCsp(bad, nonce), (e: Error) => /cspSource/.test(e.message) && why.test(e.message), JSON.stringify(bad));
  }
});

test('trace lines are shown as document lines when the run came from a document', () => {
  const run = makeRun();
  const programLines = run.trace.map((t) => t.line);
  assert.ok(programLines.every((l) => l !== null));
  // Without a document: the program's own lines.
  assert.deepEqual(buildCalls(run).map((c) => c.shownLine), programLines);
  // Program line 1 on document line 12: every call moves down by 11; revealLine still gets program lines.
  const fromDoc = { ...run, program_document_line: 12 };
  assert.deepEqual(buildCalls(fromDoc).map((c) => c.shownLine), programLines.map((l) => (l ?? 0) + 11));
  assert.deepEqual(buildCalls(fromDoc).map((c) => c.line), programLines);
  assert.equal(shownLine(fromDoc, null), null);
  assert.equal(ViewRunRecord.parse(fromDoc).program_document_line, 12, 'the record schema keeps the field');
});
