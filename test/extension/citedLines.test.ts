/**
 * Failing verdicts' cited lines in the editor (issue #15): the pure model with the real `.vprog`
 * parser (plan steps and program lines to document lines, edits clearing what no longer applies),
 * and the same through the activated extension against the vscode stub (the decoration, its
 * hover, the score hover's "Cites:" line).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewardSubject } from '../../src/core/audit.js';
import { parseVprog } from '../../src/core/vprog.js';
import { citedLineHover, citedLineMarks } from '../../src/extension/citedLinesModel.js';
import { layoutFromVprog } from '../../src/extension/vprogLayout.js';
import { citesText } from '../../src/extension/scoreView.js';
import type { Override, RewardSet, Verdict } from '../../src/protocol/run.js';
import { Position, WorkspaceEdit, hoversAt, stub, workspace, type StubEditor } from '../helpers/vscodeStub.js';
import { startExtension, until } from './harness.js';

const DOC = [
  '# image: scene.png', // 0
  '# query: Is the mug left of the laptop?', // 1
  '', // 2
  '<plan>', // 3
  '1. Detect the mug and the laptop.', // 4  step 1
  '   Keep the highest score of each.', // 5  (still step 1)
  '2. Compare the x centres.', // 6  step 2
  '</plan>', // 7
  '<answer>', // 8
  '```python', // 9
  'mugs = gd_detect(img_pth, "mug")', // 10 program line 1
  'laptops = gd_detect(img_pth, "laptop")', // 11 program line 2
  'final_answer = "yes" if mugs[0]["bbox"][1] < laptops[0]["bbox"][1] else "no"', // 12 program line 3
  '```', // 13
  '</answer>', // 14
  '',
].join('\n');

function v(reward: Verdict['reward'], state: Verdict['state'], cites?: Verdict['cites'], extra: Partial<Verdict> = {}): Verdict {
  return { reward, state, value: state === 'pass' ? 1 : 0, rationale: `${reward} says why`, judge: 'judge-m', ...(cites ? { cites } : {}), ...extra };
}

function set(verdicts: Verdict[], overridden?: Record<string, Override>): RewardSet {
  return { verdicts, total: 0.5, incomplete: false, weights: { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 }, ...(overridden ? { overridden } : {}) };
}

const SET = set([
  v('format', 'pass'),
  v('spatial', 'fail', { plan_steps: [2], program_lines: [] }, { rationale: 'Step 2 compares y for a left/right question.' }),
  v('logic', 'pass', { plan_steps: [1], program_lines: [] }),
  v('adherence', 'fail', { plan_steps: [2], program_lines: [1, 3] }),
]);
const reply = (text: string) => parseVprog(text).reply;

test('model: failing verdicts mark their plan steps (first line) and program lines on document lines; passing ones do not', () => {
  const layout = layoutFromVprog(parseVprog(DOC));
  const marks = citedLineMarks(layout, { set: SET, reply: reply(DOC) });
  assert.deepEqual(
    marks.map((m) => [m.line, m.cites.map((c) => `${c.reward}:${c.what}`)]),
    [
      [6, ['spatial:plan step 2', 'adherence:plan step 2']],
      [10, ['adherence:program line 1']],
      [12, ['adherence:program line 3']],
    ],
  );
  assert.equal(citedLineHover(marks[0]!), 'spatial judge: fail — cites this line (plan step 2)\n  Step 2 compares y for a left/right question.\nadherence judge: fail — cites this line (plan step 2)\n  adherence says why');
  // The same through CRLF line endings and a longer header: the lines move with the document.
  const crlf = `# note: x\r\n${DOC.replace(/\n/g, '\r\n')}`;
  const moved = citedLineMarks(layoutFromVprog(parseVprog(crlf)), { set: SET, reply: reply(crlf) });
  assert.deepEqual(moved.map((m) => m.line), [7, 11, 13]);
});

test('model: an overridden verdict, a verdict without cites and no scores mark nothing', () => {
  const layout = layoutFromVprog(parseVprog(DOC));
  const o: Override = { kind: 'reward', subject: 's', target: 'spatial', value: 0, machine_value: 0, note: '', at: '2026-01-01T00:00:00Z' };
  const only = set([v('spatial', 'fail', { plan_steps: [2], program_lines: [] })], { spatial: o });
  assert.deepEqual(citedLineMarks(layout, { set: only, reply: reply(DOC) }), []);
  assert.deepEqual(citedLineMarks(layout, { set: set([v('spatial', 'fail')]), reply: reply(DOC) }), []);
  assert.deepEqual(citedLineMarks(layout, undefined), []);
});

test('model: edits clear the marks at and below the first changed line', () => {
  const recorded = reply(DOC);
  // Program line 2 (document line 11) edited: the mark on line 10 stays, the one on 12 goes.
  const edited = DOC.replace('laptops = gd_detect', 'laptops  = gd_detect');
  assert.deepEqual(citedLineMarks(layoutFromVprog(parseVprog(edited)), { set: SET, reply: recorded }).map((m) => m.line), [6, 10]);
  // The cited line itself edited: its mark goes.
  const fixed = DOC.replace('2. Compare the x centres.', '2. Compare the x centres of the boxes.');
  assert.deepEqual(citedLineMarks(layoutFromVprog(parseVprog(fixed)), { set: SET, reply: recorded }).map((m) => m.line), []);
  // A header edit leaves the reply alone: marks stay, on the same reply lines.
  const header = DOC.replace('# query: Is the mug', '# query: Is the red mug');
  assert.deepEqual(citedLineMarks(layoutFromVprog(parseVprog(header)), { set: SET, reply: recorded }).map((m) => m.line), [6, 10, 12]);
});

test('score hover text: what a verdict cites, program lines with their document lines', () => {
  const layout = layoutFromVprog(parseVprog(DOC));
  const adherence = SET.verdicts.find((x) => x.reward === 'adherence')!;
  assert.equal(citesText(adherence, (n) => layout.programLineToDocLine(n)), 'Cites: plan step 2; program lines 1 (document line 11), 3 (document line 13)');
  assert.equal(citesText(v('logic', 'pass')), null);
});

function citedDecorations(editor: StubEditor): Array<{ line: number; hover: string }> {
  for (const [type, opts] of editor.decorations) {
    const o = (type as { options: { borderColor?: { id: string } } }).options;
    if (o.borderColor?.id === 'editorWarning.foreground') {
      return opts.map((x) => ({ line: x.range.start.line, hover: (x as { hoverMessage?: { value: string } }).hoverMessage?.value ?? '' }));
    }
  }
  return [];
}

test('through the extension: the cited lines of failing verdicts are decorated with a hover, the score hover lists the cites, edits clear them', async (t) => {
  const h = await startExtension(t);
  h.write('scene.png', Buffer.from('x'));
  h.write('q.vprog', DOC);
  const d = await h.open('q.vprog');
  const editor = stub.activeEditor as StubEditor;
  const vp = parseVprog(DOC);
  h.api.store.setScores(d.uri.toString(), { set: SET, subject: rewardSubject(vp.query!, vp.reply), query: vp.query!, reply: vp.reply, program: vp.parsed.program });

  const marks = citedDecorations(editor);
  assert.deepEqual(marks.map((m) => m.line), [6, 10, 12]);
  assert.match(marks[0]!.hover, /^spatial judge: fail — cites this line \(plan step 2\)/);
  assert.match(marks[2]!.hover, /^adherence judge: fail — cites this line \(program line 3\)/);

  // The score hover on <plan> (spatial's anchor) and on <answer> (adherence's) names the cites.
  const planHover = (await hoversAt(d, new Position(3, 2))).map((x) => x.contents.map((c) => c.value).join('\n')).join('\n');
  assert.match(planHover, /Cites: plan step 2/);
  const answerHover = (await hoversAt(d, new Position(8, 2))).map((x) => x.contents.map((c) => c.value).join('\n')).join('\n');
  assert.match(answerHover, /Cites: plan step 2; program lines 1 \\\(document line 11\\\), 3 \\\(document line 13\\\)/);

  // Editing program line 2: the marks at and below it clear once typing stops.
  const edit = new WorkspaceEdit();
  edit.insert(d.uri, new Position(11, 0), ' ');
  await workspace.applyEdit(edit);
  await until(() => citedDecorations(editor).length === 2, 'the marks below the edit to clear');
  assert.deepEqual(citedDecorations(editor).map((m) => m.line), [6, 10]);
});
