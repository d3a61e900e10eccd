/**
 * The bad inputs, through the activated extension: each gives a clear message with the
 * action that fixes it, and none produces an unhandled rejection. Real parts wherever a user
 * would have them (HTTP servers, python3, a tool server process that really dies).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPortUrl } from '../helpers/closedPort.js';
import { startOpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer } from '../helpers/protocolToolServer.js';
import { FIXTURE_IMAGE, ROOT, startExtension, stub, until, watchRejections, type Harness } from './harness.js';

const PROGRAM_REPLY = '<plan>\n1. Detect the mug.\n2. If none, ask vqa.\n</plan>\n<answer>\nmugs = gd_detect(img_pth, "mug")\nfinal_answer = len(mugs)\n</answer>\n';

function lastMessage() {
  const m = stub.messages.at(-1);
  assert.ok(m, 'a message was shown');
  return m;
}

async function withDoc(h: Harness, name: string, text: string) {
  h.write(name, text);
  return h.open(name);
}

test('a document without a header, with a missing image, or naming a non-image file: located problem and a message that says what to fix', async (t) => {
  const rejections = watchRejections(t);
  const h = await startExtension(t);

  const noHeader = await withDoc(h, 'a.vprog', PROGRAM_REPLY);
  await stub.executeCommand('valor.runProgram');
  let m = lastMessage();
  assert.equal(m.severity, 'error');
  assert.match(m.message, /Running the program failed: a\.vprog has no '# image: <path>' and '# query: <question>' line/);
  assert.deepEqual(m.items, ['Show Problems']);
  const diags = stub.diagnosticsFor(noHeader.uri);
  assert.ok(diags.some((d) => d.code === 'missing-image' && d.range.start.line === 0), JSON.stringify(diags.map((d) => [d.code, d.message])));

  await withDoc(h, 'b.vprog', `# image: gone.png\n# query: How many mugs?\n\n${PROGRAM_REPLY}`);
  await stub.executeCommand('valor.runProgram');
  m = lastMessage();
  assert.match(m.message, /the image .*gone\.png named in b\.vprog does not exist: fix the '# image:' line/);
  const bDiags = stub.diagnosticsFor(stub.activeEditor!.document.uri);
  assert.ok(bDiags.some((d) => d.code === 'header' && d.range.start.line === 0 && /Image not found/.test(d.message)));

  h.write('notes.txt', 'just text');
  await withDoc(h, 'c.vprog', `# image: notes.txt\n# query: How many mugs?\n\n${PROGRAM_REPLY}`);
  await stub.executeCommand('valor.score');
  m = lastMessage();
  assert.match(m.message, /the image 'notes\.txt' in c\.vprog is not an image file/);

  // New query on a file that is not an image: refused before asking anything.
  const { Uri } = await import('../helpers/vscodeStub.js');
  await stub.executeCommand('valor.newQuery', Uri.file(join(h.folder, 'notes.txt')));
  m = lastMessage();
  assert.match(m.message, /notes\.txt is not an image file/);
  assert.equal(stub.shownInputBoxes.length, 0);
  assert.deepEqual(rejections, []);
});

test('an image file that is not really an image, a CRLF document with a runtime error, and a 5 MB document', async (t) => {
  const rejections = watchRejections(t);
  const tools = await startProtocolToolServer({ objects: [{ label: 'mug', bbox: [10, 10, 50, 60], score: 0.9 }] });
  t.after(() => tools.close());
  const h = await startExtension(t, { config: { 'valor.toolServer.url': tools.url, 'valor.run.openViewAfterRun': false }, secrets: { 'valor.apiKey.toolServer': tools.token } });

  copyFileSync(join(ROOT, 'test', 'fixtures', 'images', 'not-an-image.jpg'), join(h.folder, 'fake.jpg'));
  await withDoc(h, 'fake.vprog', `# image: fake.jpg\n# query: How many mugs?\n\n${PROGRAM_REPLY}`);
  await stub.executeCommand('valor.runProgram');
  let m = lastMessage();
  assert.equal(m.severity, 'error');
  assert.match(m.message, /not a readable image/);

  // CRLF: the runtime error lands on the program's line in the document.
  copyFileSync(FIXTURE_IMAGE, join(h.folder, 'scene.png'));
  const crlf = ['# image: scene.png', '# query: How many mugs?', '', '<plan>', '1. Detect.', '</plan>', '<answer>', 'mugs = gd_detect(img_pth, "mug")', 'x = mugs[5]["bbox"]', 'final_answer = x', '</answer>', ''].join('\r\n');
  const doc = await withDoc(h, 'crlf.vprog', crlf);
  await stub.executeCommand('valor.runProgram');
  m = lastMessage();
  assert.equal(m.severity, 'warning');
  assert.match(m.message, /The program failed on line 9 of crlf.vprog: IndexError/);
  const runtime = stub.diagnosticsFor(doc.uri).find((d) => d.code === 'runtime');
  assert.ok(runtime);
  assert.equal(runtime.range.start.line, 8, 'program line 2 is document line 8 (0-based)');
  assert.equal(doc.lineAt(8).text, 'x = mugs[5]["bbox"]');

  // 5 MB: a huge plan; the editor features and a run still work.
  const plan = `<plan>\n${'1. Look at the scene carefully and think about the mug. '.repeat(95_000)}\n</plan>\n`;
  const big = `# image: scene.png\n# query: How many mugs?\n\n${plan}<answer>\nmugs = gd_detect(img_pth, "mug")\nfinal_answer = len(mugs)\n</answer>\n`;
  assert.ok(big.length > 5_000_000);
  const bigDoc = await withDoc(h, 'big.vprog', big);
  const { codeLensesOf } = await import('../helpers/vscodeStub.js');
  assert.equal((await codeLensesOf(bigDoc)).length, 3);
  await stub.executeCommand('valor.runProgram');
  m = lastMessage();
  assert.equal(m.message, 'Answer: 1');
  // Scoring without a judge endpoint says which settings to fill in.
  await stub.executeCommand('valor.score', bigDoc.uri);
  m = lastMessage();
  assert.match(m.message, /no endpoint is configured for the reward judges: set valor\.judge\.baseUrl and valor\.judge\.model/);
  assert.deepEqual(m.items, ['Open Settings']);
  stub.answers = 'Open Settings';
  await stub.executeCommand('valor.score', bigDoc.uri);
  assert.deepEqual(stub.executed.filter((e) => e.command === 'workbench.action.openSettings').at(-1)?.args, ['valor.judge']);
  assert.deepEqual(rejections, []);
});

test('the embedded tool server dies in the middle of a run: the message offers a restart, the supervisor brings it back', async (t) => {
  const rejections = watchRejections(t);
  const countDir = mkdtempSync(join(tmpdir(), 'valor-dying-'));
  t.after(() => rmSync(countDir, { recursive: true, force: true }));
  const countFile = join(countDir, 'starts');
  process.env.DYING_COUNT_FILE = countFile;
  t.after(() => delete process.env.DYING_COUNT_FILE);
  const h = await startExtension(t, {
    serverScript: join(__dirname, 'fixtures', 'dyingToolServer.cjs'),
    config: { 'valor.run.openViewAfterRun': false, 'valor.toolServer.maxRestarts': 2 },
  });
  copyFileSync(FIXTURE_IMAGE, join(h.folder, 'scene.png'));
  const two = '<plan>\n1. Detect.\n</plan>\n<answer>\na = gd_detect(img_pth, "mug")\nb = gd_detect(img_pth, "laptop")\nfinal_answer = len(a) + len(b)\n</answer>\n';
  await withDoc(h, 'q.vprog', `# image: scene.png\n# query: How many things?\n\n${two}`);
  stub.answers = 'Restart Tool Server';
  await stub.executeCommand('valor.runProgram');
  const m = stub.messages.find((x) => /tool server failed during the run/.test(x.message));
  assert.ok(m, JSON.stringify(stub.messages));
  assert.equal(m.severity, 'error');
  assert.deepEqual(m.items, ['Restart Tool Server', 'Show Log', 'Open Settings']);
  // The chosen action restarted the server; it is ready again.
  await until(() => h.api.supervisor.current.kind === 'ready', 'the server to be ready again');
  const starts = readFileSync(countFile, 'utf8').trim().split('\n').length;
  assert.ok(starts >= 2, `the server was started again (${starts} starts)`);
  assert.match(stub.outputText(), /simulated crash in the middle of a run/);
  const item = stub.statusItems.find((s) => s.id === 'valor.toolServer')!;
  assert.match(item.text, /VALOR tools: cpu/);
  // The record says where it failed.
  const runs = join(h.folder, '.valor', 'runs');
  assert.ok(existsSync(runs));
  assert.deepEqual(rejections, []);
});

test('an endpoint that is down and a key that is not set: messages with Open Settings / Set API Key; the key never reaches the log', async (t) => {
  const rejections = watchRejections(t);
  const KEY = 'sk-test-SECRET-0123456789abcdef';
  const llm = await startOpenAIServer();
  t.after(() => llm.close());
  llm.setHandler((req) => {
    const auth = req.headers.authorization;
    if (auth !== `Bearer ${KEY}`) {
      // A careless server that echoes the key it got: the extension must still never show or log it.
      return { status: 401, body: { error: { message: `Incorrect API key provided: ${auth ?? '(none)'}`, type: 'invalid_request_error', code: 'invalid_api_key' } } };
    }
    return { text: PROGRAM_REPLY };
  });
  const down = await closedPortUrl('/v1');
  const h = await startExtension(t, {
    config: { 'valor.generator.baseUrl': down, 'valor.generator.model': 'policy', 'valor.judge.baseUrl': llm.url, 'valor.judge.model': 'judge', 'valor.cache.enabled': false },
  });
  const doc = await withDoc(h, 'q.vprog', '# image: scene.png\n# query: How many mugs?\n\n');

  // Endpoint down.
  await stub.executeCommand('valor.generate', doc.uri);
  let m = lastMessage();
  assert.equal(m.severity, 'error');
  assert.match(m.message, /the endpoint could not be reached/);
  assert.deepEqual(m.items, ['Open Settings', 'Show Log']);

  // Key not set: the endpoint refuses; the message offers to set it, and doing so fixes generation.
  stub.setConfig('valor.generator.baseUrl', llm.url);
  stub.answers = 'Set API Key';
  stub.inputBoxes.push(KEY);
  await stub.executeCommand('valor.generate', doc.uri);
  m = stub.messages.find((x) => /rejected the API key/.test(x.message))!;
  assert.ok(m);
  assert.deepEqual(m.items, ['Set API Key', 'Open Settings']);
  assert.equal(stub.shownInputBoxes.at(-1)?.password, true);
  assert.equal(await h.ctx.secrets.get('valor.apiKey.generator'), KEY);
  stub.answers = undefined;
  await stub.executeCommand('valor.generate', doc.uri);
  assert.ok(doc.getText().includes('final_answer = len(mugs)'), 'generation works with the key');
  assert.equal(llm.requests.at(-1)?.headers.authorization, `Bearer ${KEY}`);

  // A failing call whose error body echoes the key (the judge key is wrong on purpose).
  await h.ctx.secrets.store('valor.apiKey.judge', `${KEY}-wrong`);
  await stub.executeCommand('valor.rejudgeReward', { uri: doc.uri.toString(), reward: 'spatial' });
  const { parseVprog } = await import('../../src/core/vprog.js');
  const vp = parseVprog(doc.getText());
  h.api.store.setScores(doc.uri.toString(), {
    set: { verdicts: [{ reward: 'spatial', state: 'pass', value: 1, rationale: 'ok', judge: 'judge' }], total: null, incomplete: true, weights: {} },
    subject: 's',
    query: vp.query!,
    reply: vp.reply,
    program: vp.parsed.program,
  });
  await stub.executeCommand('valor.rejudgeReward', { uri: doc.uri.toString(), reward: 'spatial' });
  const shown = stub.messages.map((x) => x.message).join('\n');
  const logged = stub.outputText();
  assert.match(shown, /spatial: error \(.*failed \(auth 401\)/, 'the rejected judge key is reported');
  for (const text of [shown, logged]) assert.ok(!text.includes(KEY), 'no key in messages or the log');
  assert.deepEqual(rejections, []);
});

test('an untrusted workspace: programs are not run, and the message says why and how to change it', async (t) => {
  const rejections = watchRejections(t);
  const h = await startExtension(t, { trusted: false });
  copyFileSync(FIXTURE_IMAGE, join(h.folder, 'scene.png'));
  await withDoc(h, 'q.vprog', `# image: scene.png\n# query: How many mugs?\n\n${PROGRAM_REPLY}`);
  stub.answers = 'Manage Workspace Trust';
  await stub.executeCommand('valor.runProgram');
  const m = lastMessage();
  assert.equal(m.severity, 'warning');
  assert.match(m.message, /this workspace is not trusted, so VALOR Studio does not run programs: the program in a \.vprog document is Python code/);
  assert.deepEqual(m.items, ['Manage Workspace Trust']);
  assert.ok(stub.executed.some((e) => e.command === 'workbench.trust.manage'));
  await stub.executeCommand('valor.score');
  assert.match(lastMessage().message, /does not score programs \(the syntax reward runs the program\)/);
  assert.ok(!existsSync(join(h.folder, '.valor')), 'nothing ran');
  assert.match(stub.outputText(), /untrusted workspace/);
  assert.deepEqual(rejections, []);
});

test('a tool server that prints its key: the log shows <redacted>; setting the vision key restarts the server with it', async (t) => {
  const rejections = watchRejections(t);
  const KEY = 'vk-VISION-abcdefghijklmnop';
  const h = await startExtension(t, { serverScript: join(__dirname, 'fixtures', 'fakeToolServer.cjs'), config: { 'valor.vision.model': 'vlm' } });
  await stub.executeCommand('valor.startToolServer');
  await until(() => h.api.supervisor.current.kind === 'ready', 'the server');
  const firstPid = h.api.supervisor.current.kind === 'ready' ? h.api.supervisor.current.pid : 0;
  stub.quickPicks.push((items) => items.find((i) => i.label === 'Vision model'));
  stub.inputBoxes.push(KEY);
  await stub.executeCommand('valor.setApiKey');
  await until(() => h.api.supervisor.current.kind === 'ready' && h.api.supervisor.current.pid !== firstPid, 'the restart with the new key');
  await until(() => /debug: using vision key/.test(stub.outputText()), 'the server to print its key');
  const log = stub.outputText();
  assert.ok(!log.includes(KEY), 'the key is not in the log');
  assert.match(log, /debug: using vision key <redacted>/);
  assert.match(log, /token=<redacted>/, 'the server token is hidden too');
  assert.ok(!stub.messages.some((m) => m.message.includes(KEY)));

  // A setting the server reads at start restarts it; an unrelated one does not.
  const cur = () => h.api.supervisor.current;
  const pidBefore = cur().kind === 'ready' ? (cur() as { pid: number }).pid : 0;
  stub.setConfig('valor.run.timeoutSeconds', 30);
  assert.equal((cur() as { pid?: number }).pid, pidBefore, 'run settings do not touch the server');
  stub.setConfig('valor.toolServer.device', 'cuda');
  await until(() => cur().kind === 'ready' && (cur() as { pid: number }).pid !== pidBefore, 'the restart for the new device');
  assert.match(stub.outputText(), /--device cuda/);
  // Switching to a remote server stops the embedded one and the status bar says so.
  stub.setConfig('valor.toolServer.url', 'http://10.0.0.7:7400');
  await until(() => cur().kind === 'stopped', 'the embedded server to stop');
  const item = stub.statusItems.find((s) => s.id === 'valor.toolServer')!;
  assert.match(item.text, /VALOR tools: remote/);
  assert.match(String(item.tooltip), /http:\/\/10\.0\.0\.7:7400/);
  // A bad value is reported with its setting and falls back to the default.
  stub.setConfig('valor.detector.boxThreshold', 7);
  const warn = stub.messages.find((m) => /valor\.detector\.boxThreshold is invalid/.test(m.message));
  assert.ok(warn);
  assert.deepEqual(warn.items, ['Open Settings']);
  assert.equal(h.api.config().detector.boxThreshold, 0.35);
  assert.deepEqual(rejections, []);
});
