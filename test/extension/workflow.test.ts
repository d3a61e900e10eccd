/**
 * The "done when", end to end through the activated extension (vscode stub) with real
 * parts everywhere else: an OpenAI-compatible HTTP server for generation and judges, a tool
 * server speaking the real protocol, the real python3 runner, run records and the audit log on
 * disk. Right-click an image, ask, get plan + program + run + six scores; override one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startOpenAIServer, type RecordedRequest } from '../helpers/openaiServer.js';
import { startProtocolToolServer } from '../helpers/protocolToolServer.js';
import { Uri, type StubEditor } from '../helpers/vscodeStub.js';
import { FIXTURE_IMAGE, startExtension, stub, until, watchRejections } from './harness.js';

const REPLY = [
  '<plan>',
  '1. Detect the mug and the laptop with gd_detect.',
  '2. If either list is empty, answer with vqa on the whole image.',
  '3. Compare the left edges: the mug is left of the laptop when its x is smaller.',
  '</plan>',
  '<answer>',
  'mugs = gd_detect(img_pth, "mug")',
  'laptops = gd_detect(img_pth, "laptop")',
  'if not mugs or not laptops:',
  '    final_answer = vqa(img_pth, None, "Is the mug left of the laptop? yes or no")',
  '    return',
  'final_answer = "yes" if mugs[0]["bbox"][0] < laptops[0]["bbox"][0] else "no"',
  '</answer>',
].join('\n');

function isJudge(req: RecordedRequest): boolean {
  const sys = req.json?.messages?.[0]?.content;
  return typeof sys === 'string' && sys.includes('strict reviewer');
}

test('new query from an image: streamed reply, run, six inline scores, run view, override reflected everywhere', async (t) => {
  const rejections = watchRejections(t);
  const llm = await startOpenAIServer();
  t.after(() => llm.close());
  llm.setHandler((req) => {
    if (isJudge(req)) return { text: JSON.stringify({ rationale: 'Every relation is resolved with box coordinates.', score: 1 }) };
    // Generation streams in many small pieces, so the document fills up as it arrives.
    const chunks = REPLY.match(/[\s\S]{1,40}/g) ?? [REPLY];
    return { text: REPLY, chunks };
  });
  const tools = await startProtocolToolServer({
    objects: [
      { label: 'mug', bbox: [20, 100, 60, 150], score: 0.9, depth: 1.5 },
      { label: 'laptop', bbox: [150, 80, 300, 200], score: 0.8, depth: 2 },
    ],
  });
  t.after(() => tools.close());

  const h = await startExtension(t, {
    config: {
      'valor.generator.baseUrl': llm.url,
      'valor.generator.model': 'policy',
      'valor.judge.baseUrl': llm.url,
      'valor.judge.model': 'judge',
      'valor.toolServer.url': tools.url,
      'valor.cache.enabled': false,
    },
    secrets: { 'valor.apiKey.toolServer': tools.token },
  });
  const image = join(h.folder, 'kitchen.png');
  copyFileSync(FIXTURE_IMAGE, image);

  stub.inputBoxes.push('Is the mug left of the laptop?');
  await stub.executeCommand('valor.newQuery', Uri.file(image));

  const errors = stub.messages.filter((m) => m.severity !== 'info');
  assert.deepEqual(errors, [], 'no warnings or errors');
  const docPath = join(h.folder, 'kitchen.vprog');
  assert.ok(existsSync(docPath), 'the document is saved next to the image');
  const text = readFileSync(docPath, 'utf8');
  assert.equal(text, `# image: kitchen.png\n# query: Is the mug left of the laptop?\n\n${REPLY}\n`);
  const doc = stub.documents.find((d) => d.uri.fsPath === docPath)!;
  const gen = llm.requests.find((r) => !isJudge(r))!;
  assert.equal(gen.stream, true);
  assert.match(JSON.stringify(gen.json.messages), /Question: Is the mug left of the laptop\?/);
  assert.ok(stub.progress.some((p) => p.cancellable && p.title === 'VALOR: new query'));

  // The run: a record on disk, the answer, the trace with program lines.
  const runsDir = join(h.folder, '.valor', 'runs');
  const files = readdirSync(runsDir).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1);
  const record = JSON.parse(readFileSync(join(runsDir, files[0]!), 'utf8'));
  assert.equal(record.final_answer, 'yes');
  assert.equal(record.document, 'kitchen.vprog');
  assert.deepEqual(record.trace.map((e: { tool: string; line: number }) => [e.tool, e.line]), [['gd_detect', 1], ['gd_detect', 2]]);
  assert.equal(record.rewards.total, 1);
  assert.equal(record.rewards.verdicts.length, 6);
  assert.ok(stub.messages.some((m) => m.message === 'Answer: yes'));
  assert.equal(llm.requests.filter(isJudge).length, 4, 'four judge calls (syntax is the runner, format the parser)');

  // Six inline verdicts plus the total, all passing.
  const editor = stub.editors.find((e) => e.document === doc) as StubEditor;
  const badges = [...editor.decorations.entries()].flatMap(([type, opts]) =>
    opts.map((o) => `${(type as { options: { after: { color: { id: string } } } }).options.after.color.id}@${o.range.start.line}:${o.renderOptions?.after?.contentText?.trim()}`),
  ).filter((b) => b.startsWith('valor.score')); // the score badges only (the run's line values sit beside them)
  assert.deepEqual(badges.sort(), [
    'valor.scorePassed@0:✓ format   total 1.00',
    'valor.scorePassed@3:✓ spatial   ✓ attribute   ✓ logic',
    'valor.scorePassed@8:✓ syntax   ✓ adherence',
  ]);

  // The run view opened beside the document; it gets data only after `ready`.
  assert.equal(stub.panels.length, 1);
  const panel = stub.panels[0]!;
  assert.match(panel.webview.html, /Content-Security-Policy/);
  assert.match(panel.webview.html, /default-src 'none'/);
  const opts = panel.options as { localResourceRoots: Array<{ path: string }>; enableScripts: boolean };
  assert.deepEqual(
    opts.localResourceRoots.map((u) => u.path.replace(/^.*\/(dist|media)$/, '$1')).sort(),
    [h.folder, 'dist', 'media'].sort(),
    'resources only from dist/, media/ and the image folder',
  );
  assert.deepEqual(panel.webview.posted, []);
  panel.webview._receive({ type: 'ready', protocol: 1 });
  await until(() => panel.webview.posted.length === 1, 'init after ready');
  const init = panel.webview.posted[0] as unknown as { type: string; run: { id: string }; imageUri: string };
  assert.equal(init.type, 'init');
  assert.equal(init.run.id, record.id);
  assert.match(init.imageUri, /kitchen\.png$/);

  // A malformed message is ignored and logged; revealLine moves the editor to the program line.
  panel.webview._receive({ type: 'revealLine', runId: record.id, line: 'six' });
  panel.webview._receive({ type: 'launchMissiles' });
  panel.webview._receive({ type: 'revealLine', runId: record.id, line: 6 });
  await until(() => stub.activeEditor?.selection.start.line === 14, 'the reveal of program line 6 (document line 14)');
  assert.match(stub.outputText(), /not valid/);

  // Override one verdict from the command (as the hover link does): audit log, scores, view, record.
  stub.quickPicks.push((items) => items[1]); // Fail
  stub.inputBoxes.push('step 3 compares left edges, not centres');
  await stub.executeCommand('valor.overrideVerdict', { uri: doc.uri.toString(), reward: 'spatial' });
  const audit = readFileSync(join(h.folder, '.valor', 'audits.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(audit.length, 1);
  assert.deepEqual([audit[0].kind, audit[0].target, audit[0].value, audit[0].machine_value, audit[0].note], ['reward', 'spatial', 0, 1, 'step 3 compares left edges, not centres']);
  const scores = h.api.store.get(doc.uri.toString()).scores!;
  assert.equal(scores.set.total, 0.8);
  assert.ok(stub.messages.some((m) => /Total now 0\.80/.test(m.message)));
  const overridden = [...editor.decorations.entries()].find(([type]) => (type as { options: { after: { color: { id: string } } } }).options.after.color.id === 'valor.scoreOverridden')![1];
  assert.deepEqual(overridden.map((o) => [o.range.start.line, o.renderOptions?.after?.contentText?.trim()]), [[0, 'total 0.80'], [3, '✎ spatial']]);
  const updated = JSON.parse(readFileSync(join(runsDir, files[0]!), 'utf8'));
  assert.equal(updated.rewards.total, 0.8);
  assert.equal(updated.rewards.overridden.spatial.note, 'step 3 compares left edges, not centres');
  const update = panel.webview.posted.find((m) => (m as { type: string }).type === 'update') as unknown as { rewards: { total: number } };
  assert.equal(update.rewards.total, 0.8);

  // The view's own override button goes through the same path.
  stub.inputBoxes.push('no empty-detection fallback for the laptop');
  panel.webview._receive({ type: 'override', runId: record.id, reward: 'logic', value: 0, machineValue: 1 });
  await until(() => readFileSync(join(h.folder, '.valor', 'audits.jsonl'), 'utf8').trim().split('\n').length === 2, 'the second audit line');
  await until(() => h.api.store.get(doc.uri.toString()).scores?.set.total === 0.5, 'the total after two overrides');

  // Re-judging one reward asks the judge again (no cache), keeps the person's overrides on top.
  const judgeCalls = llm.requests.filter(isJudge).length;
  await stub.executeCommand('valor.rejudgeReward', { uri: doc.uri.toString(), reward: 'attribute' });
  assert.equal(llm.requests.filter(isJudge).length, judgeCalls + 1);
  assert.equal(stub.messages.at(-1)!.message, 'attribute: pass.');
  assert.equal(h.api.store.get(doc.uri.toString()).scores?.set.total, 0.5, 'the two overrides still count');

  // The runs view lists the run with its answer and total.
  const tree = stub.treeProviders.get('valor.runs')!;
  const items = (await tree.getChildren()) as Array<{ label: string; description: string }>;
  assert.equal(items.length, 1);
  assert.equal(items[0]!.label, 'Is the mug left of the laptop?');
  assert.match(items[0]!.description, /→ yes · total 0\.50/);

  // Agreement statistics reflect the overrides at once.
  await stub.executeCommand('valor.showAgreement');
  const report = stub.documents.at(-1)!.getText();
  assert.match(report, /\| spatial \| 1 \| 1 \| 0 \| 0\.0% \|/);
  assert.deepEqual(rejections, []);
});

test('a restored run view (after a reload) finds its run by the id in its saved state', async (t) => {
  const h = await startExtension(t);
  const { makePanel } = await import('../helpers/vscodeStub.js');
  const runsDir = join(h.folder, '.valor', 'runs');
  const { writeRunRecord } = await import('../../src/core/runStore.js');
  await writeRunRecord(runsDir, {
    version: 1,
    id: '20260102T000000Z-000001',
    created: '2026-01-02T00:00:00Z',
    query: 'How many mugs?',
    image: { path: FIXTURE_IMAGE, sha256: 'b'.repeat(64) },
    tools: { url: 'http://127.0.0.1:1' },
    reply: '<plan>1. x</plan><answer>final_answer = 2</answer>',
    plan: '1. x',
    program: 'final_answer = 2',
    format: { score: 1, diagnostics: [] },
    trace: [],
    final_answer: 2,
    error: null,
    timings: { total_ms: 1 },
  });
  const serializer = stub.serializers.get('valor.runView')!;
  const panel = makePanel('valor.runView', 'old title', {});
  await serializer.deserializeWebviewPanel(panel, { v: 1, runId: '20260102T000000Z-000001', selectedCall: null });
  assert.equal(panel.title, 'VALOR: How many mugs?');
  panel.webview._receive({ type: 'ready', protocol: 1 });
  await until(() => panel.webview.posted.length === 1, 'init');
  assert.equal((panel.webview.posted[0] as { run: { final_answer: number } }).run.final_answer, 2);

  const gone = makePanel('valor.runView', 'x', {});
  await serializer.deserializeWebviewPanel(gone, { runId: 'no-such-run' });
  assert.match(gone.webview.html, /no longer in the workspace/);
});

test('the reply streams into the document while the model is still writing, and Cancel stops it cleanly', async (t) => {
  const rejections = watchRejections(t);
  const llm = await startOpenAIServer();
  t.after(() => llm.close());
  const half = REPLY.slice(0, REPLY.indexOf('<answer>'));
  // Sends the plan, then never finishes: only cancelling ends the request.
  llm.setHandler(() => ({ text: half, chunks: [half.slice(0, 30), half.slice(30)], streamEnd: 'hang' }));
  const h = await startExtension(t, { config: { 'valor.generator.baseUrl': llm.url, 'valor.generator.model': 'policy', 'valor.cache.enabled': false } });
  const image = join(h.folder, 'kitchen.png');
  copyFileSync(FIXTURE_IMAGE, image);
  stub.inputBoxes.push('Is the mug left of the laptop?');
  const done = stub.executeCommand('valor.newQuery', Uri.file(image));
  const docPath = join(h.folder, 'kitchen.vprog');
  await until(() => stub.documents.some((d) => d.uri.fsPath === docPath && d.getText().includes('</plan>')), 'the plan to appear in the document');
  const progress = stub.progress.find((p) => p.title === 'VALOR: new query')!;
  assert.ok(progress.cancellable);
  progress.token.cancel();
  await done;
  await until(() => llm.requests[0]?.aborted === true, 'the request to be abandoned');
  const doc = stub.documents.find((d) => d.uri.fsPath === docPath)!;
  assert.ok(doc.getText().endsWith(half), 'what arrived stays in the document');
  assert.deepEqual(stub.messages.filter((m) => m.severity !== 'info'), [], 'a cancellation is not an error');
  assert.ok(!existsSync(join(h.folder, '.valor', 'runs')), 'nothing ran after the cancel');
  assert.match(stub.outputText(), /cancelled/);
  assert.deepEqual(rejections, []);
});

test('verify boxes: the grounding verifier runs on the last run, the view gets it, and flipping a box is audited', async (t) => {
  const rejections = watchRejections(t);
  const llm = await startOpenAIServer();
  t.after(() => llm.close());
  llm.setHandler((req) => {
    const sys = String(req.json?.messages?.[0]?.content ?? '');
    const user = JSON.stringify(req.json?.messages?.at(-1)?.content ?? '');
    if (sys.includes('Sort every listed number')) {
      const listed = [...user.matchAll(/(?:\\n|")(\d+): /g)].map((m) => Number(m[1]));
      const [first, ...rest] = listed;
      return { text: JSON.stringify({ keep: [first], drop: rest.map((i) => ({ index: i, note: 'a shadow, not a mug' })) }) };
    }
    if (sys.includes('You check one detection')) return { text: JSON.stringify({ keep: true, reason: 'one whole mug' }) };
    const listed = [...user.matchAll(/(?:\\n|")(\d+): /g)].map((m) => Number(m[1]));
    return { text: JSON.stringify({ keep: listed, drop: [] }) };
  });
  const tools = await startProtocolToolServer({
    objects: [
      { label: 'mug', bbox: [20, 100, 60, 150], score: 0.9 },
      { label: 'mug', bbox: [200, 30, 230, 60], score: 0.2 },
    ],
  });
  t.after(() => tools.close());
  const h = await startExtension(t, {
    config: { 'valor.vision.baseUrl': llm.url, 'valor.vision.model': 'vlm', 'valor.toolServer.url': tools.url, 'valor.cache.enabled': false },
    secrets: { 'valor.apiKey.toolServer': tools.token },
  });
  copyFileSync(FIXTURE_IMAGE, join(h.folder, 'scene.png'));
  h.write('count.vprog', '# image: scene.png\n# query: How many mugs?\n\n<plan>\n1. Detect mugs.\n2. Count.\n</plan>\n<answer>\nmugs = gd_detect(img_pth, "mug")\nfinal_answer = len(mugs)\n</answer>\n');
  const doc = await h.open('count.vprog');

  // Before a run there is nothing to verify.
  await stub.executeCommand('valor.verifyBoxes', doc.uri);
  assert.match(stub.messages.at(-1)!.message, /needs a run of this document/);
  assert.deepEqual(stub.messages.at(-1)!.items, ['Run']);

  await stub.executeCommand('valor.runProgram', doc.uri);
  assert.equal(stub.messages.at(-1)!.message, 'Answer: 1');
  await stub.executeCommand('valor.verifyBoxes', doc.uri);
  assert.ok(stub.messages.some((m) => m.message === 'Grounding verifier: kept 1 of 2 candidate boxes.'), JSON.stringify(stub.messages));
  const runsDir = join(h.folder, '.valor', 'runs');
  const file = join(runsDir, readdirSync(runsDir)[0]!);
  const record = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual(
    record.grounding[0].boxes.map((b: { index: number; kept: boolean; dropped_at?: string }) => [b.index, b.kept, b.dropped_at ?? null]),
    [[0, true, null], [1, false, 'coarse']],
  );

  const panel = stub.panels[0]!;
  panel.webview._receive({ type: 'ready', protocol: 1 });
  await until(() => panel.webview.posted.length > 0, 'init');
  const init = panel.webview.posted[0] as unknown as { run: { grounding: unknown[] } };
  assert.equal(init.run.grounding.length, 1);

  stub.inputBoxes.push('it is a mug, half hidden');
  panel.webview._receive({ type: 'flipBox', runId: record.id, grounding: 0, box: 1, kept: true, machineKept: false });
  await until(() => panel.webview.posted.some((m) => (m as { type: string }).type === 'update'), 'the update after the flip');
  const audit = JSON.parse(readFileSync(join(h.folder, '.valor', 'audits.jsonl'), 'utf8').trim());
  assert.deepEqual([audit.kind, audit.target, audit.value, audit.machine_value], ['box', '1', 1, 0]);
  const flipped = JSON.parse(readFileSync(file, 'utf8')).grounding[0].boxes[1];
  assert.equal(flipped.kept, true);
  assert.equal(flipped.overridden, true);

  // A request the host cannot serve comes back to the view as an error, not a crash.
  panel.webview._receive({ type: 'requestDepthMap', runId: record.id });
  await until(() => panel.webview.posted.some((m) => (m as { type: string }).type === 'error'), 'the error answer');
  const err = panel.webview.posted.find((m) => (m as { type: string }).type === 'error') as unknown as { request: string };
  assert.equal(err.request, 'requestDepthMap');

  // Opening the same run again reuses its panel.
  await stub.executeCommand('valor.openRun', file);
  assert.equal(stub.panels.length, 1);
  assert.deepEqual(rejections, []);
});
