/**
 * Line values in the editor: a real run (python3 child, scripted tools) of the document's program
 * gives the record; through the activated extension against the vscode stub, each executed line
 * shows its values at its end, the branch not taken is dimmed, the raising line shows the
 * exception, a hover on a name shows its value there, and edits clear what no longer applies.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runQuery } from '../../src/core/pipeline.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { parseVprog } from '../../src/core/vprog.js';
import { layoutFromVprog } from '../../src/extension/vprogLayout.js';
import { applicableLines, lineValueView } from '../../src/extension/lineValuesModel.js';
import type { RunRecord } from '../../src/protocol/run.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';
import { Position, WorkspaceEdit, hoversAt, workspace, type StubEditor } from '../helpers/vscodeStub.js';
import { FIXTURE_IMAGE, startExtension, stub, until } from './harness.js';

const HEADER = ['# image: scene.png', '# query: Is the mug left of the laptop?', '', '<plan>', '1. Detect both.', '</plan>', '<answer>', '```python'];
// Program lines 1.. sit on document lines 8..
const PROGRAM = [
  'mugs = gd_detect(img_pth, "mug")', // 1 → doc 8
  'laptops = gd_detect(img_pth, "laptop")', // 2 → doc 9
  'if not mugs:', // 3 → doc 10
  '    final_answer = "no mug"', // 4 → doc 11 (never runs)
  'x = mugs[0]["bbox"][0]', // 5 → doc 12
  'for m in mugs:', // 6 → doc 13
  '    w = m["bbox"][2] - m["bbox"][0]', // 7 → doc 14
  'final_answer = "yes" if x < laptops[0]["bbox"][0] else "no"', // 8 → doc 15
];
const doc = (program: string[]) => [...HEADER, ...program, '```', '</answer>', ''].join('\n');

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

const tools = () => new ScriptedTools({
  gd_detect: (_i, p) => (p === 'mug'
    ? [{ bbox: [10, 20, 50, 80], label: 'mug', score: 0.8 }, { bbox: [60, 20, 90, 80], label: 'mug', score: 0.6 }]
    : [{ bbox: [200, 30, 300, 90], label: 'laptop', score: 0.7 }]),
});

async function recordFor(text: string): Promise<RunRecord> {
  const vp = parseVprog(text);
  return runQuery({ query: vp.query!, imagePath: FIXTURE_IMAGE, reply: vp.reply, tools: tools(), toolsUrl: 'scripted', runner });
}

function decorationsByColour(editor: StubEditor): Map<string, Array<{ line: number; text: string }>> {
  const out = new Map<string, Array<{ line: number; text: string }>>();
  for (const [type, opts] of editor.decorations) {
    const color = (type as { options: { after?: { color?: { id: string } } } }).options.after?.color?.id ?? '?';
    out.set(color, [...(out.get(color) ?? []), ...opts.map((o) => ({ line: o.range.start.line, text: o.renderOptions?.after?.contentText ?? '' }))]);
  }
  return out;
}

test('model: what still applies after an edit', () => {
  const a = applicableLines('a = 1\nfor i in x:\n    b = i\nc = 2\nd = 3', 'a = 1\nfor i in x:\n    b = i\nc = 5\nd = 3');
  assert.equal(a.all, false);
  assert.deepEqual([1, 2, 3, 4, 5].filter(a.keep), [1], 'top-level simple lines above the first change; not loop headers or bodies');
  assert.equal(applicableLines('a', 'a').all, true);
});

test('through the extension: values at line ends, dimmed branch, raising line, hover, cleared by edits', async (t) => {
  const h = await startExtension(t);
  h.write('scene.png', Buffer.from('x'));
  const text = doc(PROGRAM);
  h.write('q.vprog', text);
  const d = await h.open('q.vprog');
  const editor = stub.activeEditor as StubEditor;
  const record = await recordFor(text);
  assert.equal(record.final_answer, 'yes');
  assert.ok(record.line_trace);
  h.api.store.setRun(d.uri.toString(), { record });

  const deco = decorationsByColour(editor);
  assert.deepEqual(deco.get('editorInlayHint.foreground'), [
    { line: 8, text: 'mugs = 2 detections: mug 0.8 [10, 20, 50, 80]; mug 0.6 [60, 20, 90, 80]' },
    { line: 9, text: 'laptops = 1 detection: laptop 0.7 [200, 30, 300, 90]' },
    { line: 12, text: 'x = 10' },
    { line: 13, text: 'm = mug 0.8 [10, 20, 50, 80] │ mug 0.6 [60, 20, 90, 80] │ mug 0.6 [60, 20, 90, 80]  ×3' },
    { line: 14, text: 'w = 40 │ 30  ×2' },
    { line: 15, text: "final_answer = 'yes'" },
  ]);
  // Every value sits at the end of its line.
  const [, valueOpts] = [...editor.decorations].find(([type]) => (type as { options: { after?: { color?: { id: string } } } }).options.after?.color?.id === 'editorInlayHint.foreground')!;
  for (const o of valueOpts) assert.equal(o.range.start.character, d.lineAt(o.range.start.line).text.length);
  assert.deepEqual(deco.get('disabledForeground')!.map((x) => x.line), [11], 'the branch not taken is dimmed');
  assert.deepEqual(deco.get('editorError.foreground'), []);

  const hover = await hoversAt(d, new Position(15, 25)); // `x` in the final line: its value when the line started
  assert.equal(hover.length, 1);
  assert.match(hover[0]!.contents[0]!.value, /^x when line 8 started:\n10 {2}\(int\)/);
  const hw = await hoversAt(d, new Position(14, 5)); // `w`, bound on this line twice
  assert.match(hw[0]!.contents[0]!.value, /w after line 7 \(ran 2×, first 2 shown\):\n40 {2}\(int\)\n30 {2}\(int\)/);
  assert.equal((await hoversAt(d, new Position(4, 3))).length, 0, 'no value hover outside the program');

  // Editing line 5 of the program: only the two detections above it still apply.
  const edit = new WorkspaceEdit();
  edit.insert(d.uri, new Position(12, 4), ' ');
  await workspace.applyEdit(edit);
  await until(() => (decorationsByColour(editor).get('editorInlayHint.foreground') ?? []).length === 2, 'values below the edit to clear');
  assert.deepEqual(decorationsByColour(editor).get('disabledForeground'), []);
  assert.equal((await hoversAt(d, new Position(15, 25))).length, 0, 'no hover from a stale run');
});

test('through the extension: the raising line shows the exception', async (t) => {
  const h = await startExtension(t);
  h.write('scene.png', Buffer.from('x'));
  const text = doc(['mugs = gd_detect(img_pth, "mug")', 'y = mugs[5]', 'final_answer = y']);
  h.write('q.vprog', text);
  const d = await h.open('q.vprog');
  const record = await recordFor(text);
  assert.equal(record.error?.type, 'IndexError');
  h.api.store.setRun(d.uri.toString(), { record });
  const deco = decorationsByColour(stub.activeEditor as StubEditor);
  assert.deepEqual(deco.get('editorError.foreground'), [{ line: 9, text: '⚠ IndexError: list index out of range' }]);
  assert.deepEqual(deco.get('disabledForeground')!.map((x) => x.line), [10], 'the line after the raise never ran');
  const layout = layoutFromVprog(parseVprog(text));
  assert.equal(lineValueView(layout, record).raised?.line, 9);
});

test('through the extension: Replay Last Run re-runs the edited program on the recorded tool results, no tool server', async (t) => {
  // No tool server is configured or reachable: a replay that reached for one would fail.
  const h = await startExtension(t, { config: { 'valor.toolServer.url': 'http://127.0.0.1:9' } });
  h.write('scene.png', Buffer.from('x'));
  const text = doc(PROGRAM);
  h.write('q.vprog', text);
  const d = await h.open('q.vprog');
  const recorded = await recordFor(text);
  h.api.store.setRun(d.uri.toString(), { record: recorded });

  await stub.executeCommand('valor.replayRun', d.uri);
  const replayed = h.api.store.get(d.uri.toString()).run!;
  assert.notEqual(replayed.record.id, recorded.id);
  assert.equal(replayed.record.replay?.of, recorded.id);
  assert.equal(replayed.record.final_answer, 'yes');
  assert.ok(replayed.path, 'the replay is written as a run record');
  assert.equal((decorationsByColour(stub.activeEditor as StubEditor).get('editorInlayHint.foreground') ?? []).length, 6, 'its line values are shown');

  // Edit: ask for a cup too; the replay names the call it has no result for.
  const edit = new WorkspaceEdit();
  edit.insert(d.uri, new Position(9, 0), 'cups = gd_detect(img_pth, "cup")\n');
  await workspace.applyEdit(edit);
  await stub.executeCommand('valor.replayRun', d.uri);
  const second = h.api.store.get(d.uri.toString()).run!.record;
  assert.equal(second.error?.type, 'NoRecordedResult');
  assert.deepEqual(second.replay?.missing, [{ tool: 'gd_detect', args: { prompt: 'cup' }, line: 2 }]);
  assert.ok(stub.messages.some((m) => /1 call\(s\) had no recorded result: gd_detect\(\{"prompt":"cup"\}\) on program line 2/.test(m.message)), JSON.stringify(stub.messages));
});
