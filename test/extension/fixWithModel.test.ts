/**
 * "Fix with the Model" through the activated extension (vscode stub) with real parts elsewhere:
 * a tool server speaking the real protocol, the real python3 runner, the generator behind the
 * scripted OpenAI-compatible HTTP server. A program that raises NameError is run, fixed by the
 * model, shown as a diff, accepted, and the fixed program passes a re-run; a rejected fix leaves
 * the document byte for byte as it was; the failures say what to do.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { replaceVprogReply } from '../../src/core/vprog.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer } from '../helpers/protocolToolServer.js';
import { codeLensesOf, Position, Range, Uri, workspace, WorkspaceEdit, type TextDocument } from '../helpers/vscodeStub.js';
import { FIXTURE_IMAGE, startExtension, stub, until, watchRejections, type Harness } from './harness.js';

const reply = (program: string[]) => ['<plan>', '1. Detect the mugs with gd_detect.', '2. Count them.', '</plan>', '<answer>', ...program, '</answer>'].join('\n');
// Program line 2 names `mug`, which was never bound: NameError.
const BROKEN = reply(['mugs = gd_detect(img_pth, "mug")', 'final_answer = len(mug)']);
const FIXED = reply(['mugs = gd_detect(img_pth, "mug")', 'final_answer = len(mugs)']);
const HEADER = '# image: scene.png\n# query: How many mugs are there?\n\n';

interface Setup {
  h: Harness;
  llm: OpenAIServer;
  doc: TextDocument;
  path: string;
}

async function setup(t: TestContext, opts: { generator?: boolean; name?: string; text?: string } = {}): Promise<Setup> {
  const llm = await startOpenAIServer();
  t.after(() => llm.close());
  const tools = await startProtocolToolServer({ objects: [{ label: 'mug', bbox: [20, 100, 60, 150], score: 0.9 }, { label: 'mug', bbox: [150, 80, 200, 140], score: 0.8 }] });
  t.after(() => tools.close());
  const h = await startExtension(t, {
    config: {
      ...(opts.generator === false ? {} : { 'valor.generator.baseUrl': llm.url, 'valor.generator.model': 'policy' }),
      'valor.toolServer.url': tools.url,
      'valor.cache.enabled': false,
      'valor.run.openViewAfterRun': false,
    },
    secrets: { 'valor.apiKey.toolServer': tools.token },
  });
  copyFileSync(FIXTURE_IMAGE, join(h.folder, 'scene.png'));
  const name = opts.name ?? 'mugs.vprog';
  const path = h.write(name, opts.text ?? `${HEADER}${BROKEN}\n`);
  const doc = await h.open(name);
  return { h, llm, doc, path };
}

async function runFailing(s: Setup): Promise<void> {
  await stub.executeCommand('valor.runProgram', s.doc.uri);
  const run = s.h.api.store.get(s.doc.uri.toString()).run!;
  assert.equal(run.record.error?.type, 'NameError');
  assert.equal(run.record.error?.line, 2);
}

const lensTitles = async (doc: TextDocument) => (await codeLensesOf(doc)).map((l) => l.command?.title ?? '');

test('a NameError run → Fix with the Model → diff → Accept → the document holds the fix → a re-run passes', async (t) => {
  const rejections = watchRejections(t);
  const s = await setup(t);
  assert.ok(!(await lensTitles(s.doc)).some((l) => /Fix with the model/.test(l)), 'no fix lens before a failed run');
  await runFailing(s);

  // The failed run's message offers the fix, and so does a code lens.
  const failed = stub.messages.at(-1)!;
  assert.match(failed.message, /The program failed on line \d+ of mugs\.vprog: NameError/);
  assert.deepEqual(failed.items, ['Fix with the Model']);
  assert.ok((await lensTitles(s.doc)).includes('$(wrench) Fix with the model'));

  s.llm.script({ text: FIXED });
  const before = s.doc.getText();
  stub.answers = (_m, items) => (items.includes('Accept') ? 'Accept' : undefined);
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);

  // What went to the generator: the generation conversation continued with the failure and its line.
  assert.equal(s.llm.requests.length, 1);
  const msgs = s.llm.requests[0]!.json.messages as Array<{ role: string; content: string }>;
  assert.deepEqual(msgs.map((m) => m.role), ['user', 'assistant', 'user']);
  assert.match(msgs[0]!.content, /Question: How many mugs are there\?/);
  assert.equal(msgs[1]!.content, BROKEN);
  assert.match(msgs[2]!.content, /program line 2/);
  assert.match(msgs[2]!.content, /final_answer = len\(mug\)/);
  assert.match(msgs[2]!.content, /NameError/);
  assert.ok(stub.progress.some((p) => p.cancellable && p.title === 'VALOR: asking the model for a fix'));

  // The diff: the document against a read-only valor-repair: document holding the proposed text.
  const diff = stub.executed.find((e) => e.command === 'vscode.diff')!;
  assert.ok(diff, 'vscode.diff was opened');
  assert.equal((diff.args[0] as Uri).toString(), s.doc.uri.toString());
  const proposed = diff.args[1] as Uri;
  assert.equal(proposed.scheme, 'valor-repair');
  const content = await stub.contentProviders.get('valor-repair')!.provideTextDocumentContent(proposed, undefined);
  assert.equal(content, replaceVprogReply(before, FIXED));
  const ask = stub.messages.find((m) => m.items.includes('Accept'))!;
  assert.deepEqual(ask.items, ['Accept', 'Reject']);
  assert.match(ask.message, /1 program line\(s\) added, 1 removed/);

  // Accepted: the reply is replaced (the header kept), saved, nothing else recorded; the diff tab is closed.
  assert.equal(s.doc.getText(), `${HEADER}${FIXED}\n`);
  assert.deepEqual(stub.tabs, [], 'the diff tab is closed');
  assert.equal(readFileSync(s.path, 'utf8'), `${HEADER}${FIXED}\n`);
  assert.equal(s.h.api.store.get(s.doc.uri.toString()).run!.record.reply, BROKEN, 'no run is recorded for the fix');
  const lenses = await lensTitles(s.doc);
  assert.ok(!lenses.includes('$(wrench) Fix with the model'), 'the old run no longer describes the document: no fix lens');

  stub.answers = undefined;
  await stub.executeCommand('valor.runProgram', s.doc.uri);
  const rerun = s.h.api.store.get(s.doc.uri.toString()).run!.record;
  assert.equal(rerun.error, null);
  assert.equal(rerun.final_answer, 2);
  assert.equal(stub.messages.at(-1)!.message, 'Answer: 2');
  assert.deepEqual(rejections, []);
});

test('Reject (or dismissing the question) leaves the document byte for byte as it was', async (t) => {
  // A CRLF document with a BOM: the bytes must not change at all.
  const bytes = `\ufeff${HEADER}${BROKEN}\n`.replace(/\n/g, '\r\n');
  const s = await setup(t, { name: 'crlf.vprog', text: bytes });
  assert.equal(s.doc.getText(), bytes);
  const onDisk = readFileSync(s.path);
  await runFailing(s);
  const saves = stub.saved.length;

  for (const answer of ['Reject', undefined]) {
    s.llm.script({ text: FIXED });
    stub.answers = answer;
    await stub.executeCommand('valor.fixWithModel', s.doc.uri);
    assert.equal(s.doc.getText(), bytes, `after ${answer ?? 'dismissing'}`);
    assert.ok(stub.executed.some((e) => e.command === 'vscode.diff'), 'the diff was shown');
    assert.deepEqual(stub.tabs, [], `the diff tab is closed after ${answer ?? 'dismissing'}`);
  }
  assert.equal(s.llm.requests.length, 2);
  assert.equal(stub.saved.length, saves, 'nothing saved');
  assert.deepEqual(readFileSync(s.path), onDisk);
  assert.deepEqual(stub.messages.filter((m) => m.severity === 'error'), []);
});

test('clear errors: no generator endpoint, no failed run, a fix without a program, and cancelling', async (t) => {
  const rejections = watchRejections(t);
  const s = await setup(t, { generator: false });
  const lastError = () => stub.messages.filter((m) => m.severity !== 'info').at(-1)!;

  // No run yet.
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);
  assert.match(lastError().message, /^Fixing the program with the model failed: the document has no run to fix: run the program first/);
  assert.deepEqual(lastError().items, ['Run']);

  // A failed run, but no generator endpoint: the settings are named.
  await runFailing(s);
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);
  assert.match(lastError().message, /^Fixing the program with the model failed: .*generator/);
  assert.ok(lastError().items.includes('Open Settings'));
  assert.equal(s.llm.requests.length, 0);

  // The model answers without a program (RepairParseError): said so, the document unchanged.
  stub.setConfig('valor.generator.baseUrl', s.llm.url);
  stub.setConfig('valor.generator.model', 'policy');
  const before = s.doc.getText();
  s.llm.script({ text: 'I am not sure what went wrong.' });
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);
  assert.match(lastError().message, /repair holds no program to run.*The document is unchanged/);
  assert.deepEqual(lastError().items, ['Ask Again', 'Show Log']);
  assert.equal(s.doc.getText(), before);
  assert.ok(!stub.executed.some((e) => e.command === 'vscode.diff'), 'no diff for an answer without a program');

  // Cancelling while the model answers: no message, no diff, the document unchanged.
  s.llm.script({ hang: true });
  const m0 = stub.messages.length;
  const pending = stub.executeCommand('valor.fixWithModel', s.doc.uri);
  await until(() => s.llm.requests.length === 2, 'the second repair request');
  stub.progress.at(-1)!.token.cancel();
  await pending;
  assert.deepEqual(stub.messages.slice(m0), []);
  assert.equal(s.doc.getText(), before);
  await until(() => s.llm.requests[1]!.aborted, 'the request to be abandoned');

  // An edited reply: the last run no longer describes it; a passing run has nothing to fix.
  const edit = new WorkspaceEdit();
  edit.replace(s.doc.uri, new Range(new Position(0, 0), s.doc.positionAt(before.length)), `${HEADER}${FIXED}\n`);
  await workspace.applyEdit(edit);
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);
  assert.match(lastError().message, /the reply changed since the last run/);
  await stub.executeCommand('valor.runProgram', s.doc.uri);
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);
  assert.match(lastError().message, /the last run did not fail .*there is nothing to fix/);
  assert.equal(s.llm.requests.length, 2);
  assert.deepEqual(rejections, []);
});

test('a run the tool server failed is not offered a fix: restart and run again', async (t) => {
  const s = await setup(t);
  await runFailing(s);
  // The same run, as if the tool server had gone away during the call (the runner marks such a call).
  const run = s.h.api.store.get(s.doc.uri.toString()).run!;
  const message = 'the tool server at http://127.0.0.1:1 did not answer';
  s.h.api.store.setRun(s.doc.uri.toString(), {
    ...run,
    record: {
      ...run.record,
      trace: run.record.trace.map((e, i) => (i === 0 ? { ...e, error: { type: 'ToolError', message, tool_server: true } } : e)),
      error: { ...run.record.error!, type: 'ToolError', message },
    },
  });
  assert.ok(!(await lensTitles(s.doc)).includes('$(wrench) Fix with the model'));
  await stub.executeCommand('valor.fixWithModel', s.doc.uri);
  const m = stub.messages.at(-1)!;
  assert.match(m.message, /failed because the tool server failed .*not because of the program: restart the server and run again/);
  assert.deepEqual(m.items, ['Restart Tool Server', 'Run']);
  assert.equal(s.llm.requests.length, 0);
});

test("the run view's fixWithModel message runs the fix on the run's document", async (t) => {
  const { parseViewMessage } = await import('../../src/protocol/webview.js');
  assert.equal(parseViewMessage({ type: 'fixWithModel', runId: 'r' }).ok, true);
  assert.equal(parseViewMessage({ type: 'fixWithModel' }).ok, false);
  const s = await setup(t);
  await runFailing(s);
  await stub.executeCommand('valor.openRunView', s.doc.uri);
  const panel = stub.panels.at(-1)!;
  const runId = s.h.api.store.get(s.doc.uri.toString()).run!.record.id;
  s.llm.script({ text: FIXED });
  stub.answers = (_m, items) => (items.includes('Accept') ? 'Accept' : undefined);
  panel.webview._receive({ type: 'fixWithModel', runId: 'another-run' });
  panel.webview._receive({ type: 'fixWithModel', runId });
  await until(() => s.doc.getText() === `${HEADER}${FIXED}\n`, 'the accepted fix in the document');
  assert.equal(s.llm.requests.length, 1, 'a message for another run is ignored');
});

test("a program that sets no final_answer is a failure too; the failure message's button runs the fix", async (t) => {
  const s = await setup(t, { text: `${HEADER}${reply(['mugs = gd_detect(img_pth, "mug")', 'n = len(mugs)'])}\n` });
  s.llm.script({ text: FIXED });
  // The person clicks "Fix with the Model" on the failure message, then Accept.
  stub.answers = (_m, items) => (items.includes('Fix with the Model') ? 'Fix with the Model' : items.includes('Accept') ? 'Accept' : undefined);
  await stub.executeCommand('valor.runProgram', s.doc.uri);
  const m = stub.messages.find((x) => x.items.includes('Fix with the Model'))!;
  assert.equal(m.severity, 'warning');
  assert.match(m.message, /^The program failed: NoFinalAnswer: the program finished without setting final_answer/);
  await until(() => s.doc.getText() === `${HEADER}${FIXED}\n`, 'the accepted fix');
  assert.match(String(s.llm.requests[0]!.json.messages.at(-1).content), /final_answer/);
});
