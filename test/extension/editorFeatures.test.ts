/**
 * Inline scores, hovers, CodeLens and diagnostics: the pure models with the real `.vprog`
 * parser, and the same through the activated extension against the vscode stub.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Override, RewardSet, Verdict } from '../../src/protocol/run.js';
import { parseVprog } from '../../src/core/vprog.js';
import { rewardSubject } from '../../src/core/audit.js';
import { layoutFromVprog } from '../../src/extension/vprogLayout.js';
import { documentProblems } from '../../src/extension/diagnosticsModel.js';
import { hoverMarkdown, scoreBadges } from '../../src/extension/scoreView.js';
import { DiagnosticSeverity, Position, codeLensesOf, hoversAt, type StubEditor } from '../helpers/vscodeStub.js';
import { startExtension, stub, until } from './harness.js';

const DOC = [
  '# image: scene.png', // 0
  '# query: Is the mug left of the laptop?', // 1
  '', // 2
  '<plan>', // 3
  '1. Detect the mug and the laptop.', // 4
  '2. If either is empty, ask vqa on the whole image.', // 5
  '</plan>', // 6
  '<answer>', // 7
  '```python', // 8
  'mugs = gd_detect(img_pth, "mug")', // 9  program line 1
  'laptops = gd_detect(img_pth, "laptop")', // 10 program line 2
  'final_answer = "yes" if mugs[0]["bbox"][0] < laptops[0]["bbox"][0] else "no"', // 11 program line 3
  '```', // 12
  '</answer>', // 13
  '',
].join('\n');

function v(reward: Verdict['reward'], state: Verdict['state'], value: number | null, extra: Partial<Verdict> = {}): Verdict {
  return { reward, state, value, rationale: `${reward} rationale`, judge: 'judge-model-x', ms: 812, ...extra };
}

function sampleSet(): RewardSet {
  const override: Override = { kind: 'reward', subject: 's', target: 'logic', value: 1, machine_value: 0, note: 'the fallback is in step 2', author: 'ana', at: '2026-01-01T00:00:00Z' };
  return {
    verdicts: [
      v('format', 'pass', 1, { judge: 'parser' }),
      v('syntax', 'fail', 0, { judge: 'runner', line: 3, rationale: 'IndexError: list index out of range' }),
      v('spatial', 'pass', 1, { cached: true }),
      v('attribute', 'error', null, { rationale: '', error: 'judge timed out after 60 s' }),
      v('logic', 'pass', 1),
      v('adherence', 'fail', 0, { rationale: 'Ignores step 2. [click](command:workbench.action.terminal.new) <img src=x>' }),
    ],
    total: null,
    incomplete: true,
    weights: { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 },
    overridden: { logic: override },
  };
}

test('badges: format and total on the header, spatial/attribute/logic on <plan>, syntax/adherence on <answer>, four distinct kinds', () => {
  const layout = layoutFromVprog(parseVprog(DOC));
  const lines = scoreBadges(layout, sampleSet());
  assert.deepEqual(
    lines.map((l) => [l.line, l.anchor, l.badges.map((b) => `${b.kind}:${b.text}`)]),
    [
      [0, 'header', ['pass:✓ format', 'error:total: incomplete']],
      [3, 'plan', ['pass:✓ spatial', 'error:⚠ attribute (judge failed)', 'overridden:✎ logic']],
      [7, 'answer', ['fail:✗ syntax', 'fail:✗ adherence']],
    ],
  );
  // A repeated tag scores 0.5 on format and says so; a complete set shows its total.
  const half = { ...sampleSet(), verdicts: [v('format', 'fail', 0.5)], total: 0, incomplete: false, overridden: {} };
  assert.deepEqual(scoreBadges(layout, half)[0]!.badges.map((b) => b.text), ['✗ format 0.5', 'total 0.00']);
});

test('badges of a missing <plan> move to the header line so no verdict disappears', () => {
  const noPlan = DOC.replace(/<plan>[\s\S]*<\/plan>\n/, '');
  const lines = scoreBadges(layoutFromVprog(parseVprog(noPlan)), sampleSet());
  const header = lines.find((l) => l.line === 0)!;
  assert.deepEqual(header.rewards, ['format', 'spatial', 'attribute', 'logic']);
});

test('hover: rationale, judge model, latency, override note, and command links with the document and reward', () => {
  const set = sampleSet();
  const md = hoverMarkdown(set, ['spatial', 'attribute', 'logic'], 'file:///w/q.vprog', false);
  assert.match(md, /\*\*spatial\*\* ✓ pass \(1\)/);
  assert.match(md, /judge: `judge-model-x` · 812 ms · cached/);
  assert.match(md, /> spatial rationale/);
  assert.match(md, /\*\*attribute\*\* ⚠ judge failed/);
  assert.match(md, /Error: judge timed out after 60 s/);
  assert.match(md, /overridden by a person: pass/);
  assert.match(md, /Machine verdict: 0; note: the fallback is in step 2 \(ana\)/);
  const links = [...md.matchAll(/\]\(command:(valor\.\w+)\?([^ )]+)/g)].map((m) => [m[1], JSON.parse(decodeURIComponent(m[2]!))]);
  assert.deepEqual(links.slice(0, 2), [
    ['valor.overrideVerdict', [{ uri: 'file:///w/q.vprog', reward: 'spatial' }]],
    ['valor.rejudgeReward', [{ uri: 'file:///w/q.vprog', reward: 'spatial' }]],
  ]);
  // Judge text cannot smuggle a link or HTML into the trusted hover.
  const adherence = hoverMarkdown(set, ['adherence'], 'file:///w/q.vprog', false);
  assert.ok(!adherence.includes('](command:workbench'), 'no live link from the rationale');
  assert.doesNotMatch(adherence, /(^|[^\\])<img/, 'no raw HTML from the rationale (only an escaped one)');
  assert.match(adherence, /\\<img/);
  // The total's hover names the weights; format has no re-judge link (it is the parser's).
  const header = hoverMarkdown(set, ['format'], 'file:///w/q.vprog', true);
  assert.match(header, /VALOR total:\*\* incomplete/);
  assert.ok(!header.includes('valor.rejudgeReward'));
});

test('diagnostics land on the document line of the program line, in LF and CRLF documents alike', () => {
  for (const eol of ['\n', '\r\n']) {
    const layout = layoutFromVprog(parseVprog(DOC.replace(/\n/g, eol)));
    const program = layout.program;
    const problems = documentProblems({
      layout,
      run: { program, error: { type: 'IndexError', message: 'list index out of range', line: 3 } },
      rewards: { program, set: sampleSet() },
    });
    const runtime = problems.find((p) => p.code === 'runtime')!;
    assert.equal(runtime.line, 11, `runtime error on document line 11 (${JSON.stringify(eol)})`);
    assert.match(runtime.message, /IndexError: list index out of range/);
    const syntax = problems.find((p) => p.code === 'syntax-reward')!;
    assert.equal(syntax.line, 11);
    assert.equal(syntax.severity, 'warning');
    // Results of an older program are not shown on lines that now hold other code.
    const stale = documentProblems({ layout, run: { program: 'x = 1', error: { type: 'E', message: 'm', line: 1 } } });
    assert.ok(!stale.some((p) => p.code === 'runtime'));
  }
});

test('format problems and header problems are located in the document', () => {
  const noHeader = '<plan>\n1. x\n</plan>\n<answer>\nfinal_answer = 1\n</answer>\n<answer>\nfinal_answer = 2\n</answer>\n';
  const layout = layoutFromVprog(parseVprog(noHeader));
  const problems = documentProblems({ layout });
  assert.ok(problems.some((p) => p.code === 'missing-image' && p.line === 0 && p.severity === 'error'));
  assert.ok(problems.some((p) => p.code === 'missing-query'));
  const repeated = problems.filter((p) => p.message.toLowerCase().includes('answer') && p.code !== 'missing-query' && p.code !== 'missing-image');
  assert.ok(repeated.length > 0, `a repeated <answer> block is reported: ${JSON.stringify(problems)}`);
  assert.ok(repeated.every((p) => p.line >= 3), 'located at the blocks, not at the top');
});

test('through the extension: decorations per kind with theme colours, hover, CodeLens, diagnostics and context keys', async (t) => {
  const h = await startExtension(t);
  h.write('scene.png', Buffer.from('not really a png, only its name is checked here'));
  h.write('q.vprog', DOC.replace(/\n/g, '\r\n'));
  const doc = await h.open('q.vprog');
  const editor = stub.activeEditor as StubEditor;
  const layout = layoutFromVprog(parseVprog(doc.getText()));
  const set = sampleSet();
  h.api.store.setScores(doc.uri.toString(), { set, subject: rewardSubject('q', layout.reply), query: 'q', reply: layout.reply, program: layout.program });

  const byColor = new Map<string, Array<{ line: number; text: string }>>();
  for (const [type, opts] of editor.decorations) {
    // Only the after-text decorations (the cited-line bars of citedLines.ts have none).
    const color = (type as { options: { after?: { color?: { id: string } } } }).options.after?.color?.id;
    if (!color) continue;
    byColor.set(color, opts.map((o) => ({ line: o.range.start.line, text: o.renderOptions?.after?.contentText?.trim() ?? '' })));
  }
  assert.deepEqual(byColor.get('valor.scorePassed'), [{ line: 0, text: '✓ format' }, { line: 3, text: '✓ spatial' }]);
  assert.deepEqual(byColor.get('valor.scoreFailed'), [{ line: 7, text: '✗ syntax   ✗ adherence' }]);
  assert.deepEqual(byColor.get('valor.scoreError'), [{ line: 0, text: 'total: incomplete' }, { line: 3, text: '⚠ attribute (judge failed)' }]);
  assert.deepEqual(byColor.get('valor.scoreOverridden'), [{ line: 3, text: '✎ logic' }]);
  // Decorations sit at the end of their line.
  const [, passOpts] = [...editor.decorations].find(([type]) => (type as { options: { after?: { color?: { id: string } } } }).options.after?.color?.id === 'valor.scorePassed')!;
  assert.equal(passOpts[0]!.range.start.character, doc.lineAt(0).text.length);
  assert.equal(stub.context.get('valor.hasScores'), true);

  const hovers = await hoversAt(doc, new Position(3, 2));
  assert.equal(hovers.length, 1);
  const md = hovers[0]!.contents[0]!;
  assert.match(md.value, /spatial rationale/);
  assert.deepEqual(md.isTrusted, { enabledCommands: ['valor.overrideVerdict', 'valor.rejudgeReward'] });
  assert.equal((await hoversAt(doc, new Position(5, 0))).length, 0, 'no hover on lines without scores');

  const lenses = await codeLensesOf(doc);
  assert.deepEqual(lenses.map((l) => l.command?.command), ['valor.runProgram', 'valor.score', 'valor.verifyBoxes']);
  assert.ok(lenses.every((l) => l.range.start.line === 0));
  assert.equal((lenses[0]!.command!.arguments![0] as { toString(): string }).toString(), doc.uri.toString());

  // After an edit the old scores no longer match the reply: they disappear instead of pointing at wrong lines.
  const { workspace, WorkspaceEdit } = await import('../helpers/vscodeStub.js');
  const edit = new WorkspaceEdit();
  edit.insert(doc.uri, new Position(5, 0), '3. Compare x centres.\r\n');
  await workspace.applyEdit(edit);
  const decorated = () => [...editor.decorations.values()].reduce((n, o) => n + o.length, 0);
  await until(() => decorated() === 0, 'stale scores to disappear after an edit');
  assert.equal(stub.context.get('valor.hasScores'), true, 'the scores are still known (a re-score or undo brings them back)');
});

test('through the extension: a stored run puts its runtime error on the right line of a CRLF document', async (t) => {
  const h = await startExtension(t);
  h.write('scene.png', Buffer.from('x'));
  h.write('q.vprog', DOC.replace(/\n/g, '\r\n'));
  const doc = await h.open('q.vprog');
  const vp = parseVprog(doc.getText());
  const record = {
    version: 1 as const,
    id: '20260101T000000Z-abcdef',
    created: '2026-01-01T00:00:00Z',
    query: vp.query!,
    image: { path: `${h.folder}/scene.png`, sha256: 'a'.repeat(64) },
    tools: { url: 'http://127.0.0.1:1' },
    reply: vp.reply,
    plan: vp.parsed.plan,
    program: vp.parsed.program,
    format: vp.parsed.format,
    trace: [],
    final_answer: null,
    error: { type: 'IndexError', message: 'list index out of range', line: 3 },
    timings: { total_ms: 1 },
  };
  h.api.store.setRun(doc.uri.toString(), { record });
  const diags = stub.diagnosticsFor(doc.uri);
  const runtime = diags.find((d) => d.code === 'runtime');
  assert.ok(runtime, JSON.stringify(diags.map((d) => d.message)));
  assert.equal(runtime.range.start.line, 11);
  assert.equal(runtime.range.end.character, doc.lineAt(11).text.length);
  assert.equal(runtime.severity, DiagnosticSeverity.Error);
  assert.equal(runtime.source, 'valor');
  const lenses = await codeLensesOf(doc);
  assert.ok(lenses.some((l) => l.command?.command === 'valor.openRunView'), 'a document with a run offers Open view');
  // A missing image is a located problem on the # image: line.
  const missing = diags.find((d) => d.code === 'header');
  assert.equal(missing, undefined, 'scene.png exists');
});
