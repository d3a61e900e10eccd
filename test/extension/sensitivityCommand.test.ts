// VALOR: Analyze Answer Sensitivity through the extension: the last run's program replayed on its
// recorded candidates (real python3, no tool server), the report kept in the run record, and the
// run view given the record with the report (its threshold slider draws the answer bands).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runQuery } from '../../src/core/pipeline.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { parseVprog } from '../../src/core/vprog.js';
import { RunRecord } from '../../src/protocol/run.js';
import { WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview.js';
import type { Detection } from '../../src/protocol/tools.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';
import { FIXTURE_IMAGE, startExtension, stub, until } from './harness.js';

// Kept at threshold t: score > t. Two mugs are kept exactly for 0.31 ≤ t < 0.45.
const CANDIDATES: Detection[] = [
  { bbox: [10, 10, 50, 50], label: 'mug', score: 0.9 },
  { bbox: [60, 10, 100, 50], label: 'mug', score: 0.45 },
  { bbox: [110, 10, 150, 50], label: 'mug', score: 0.31 },
  { bbox: [160, 10, 200, 50], label: 'mug', score: 0.2 },
];
const TEXT = [
  '# image: scene.png',
  '# query: Are there two mugs?',
  '<plan>',
  '1. Count the mugs.',
  '</plan>',
  '<answer>',
  '```python',
  'mugs = gd_detect(img_pth, "mug")',
  'final_answer = "two" if len(mugs) == 2 else "not two"',
  '```',
  '</answer>',
  '',
].join('\n');

let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

test('Analyze Answer Sensitivity: intervals from the recorded candidates, kept in the record, shown in the run view', async (t) => {
  // No tool server is reachable: an analysis that reached for one would fail.
  const h = await startExtension(t, { config: { 'valor.toolServer.url': 'http://127.0.0.1:9' } });
  h.write('scene.png', Buffer.from('x'));
  h.write('q.vprog', TEXT);
  const d = await h.open('q.vprog');
  const tools = new ScriptedTools({
    gd_detect: () => ({ value: CANDIDATES.filter((c) => c.score > 0.35), detail: { candidates: CANDIDATES, box_threshold: 0.35, text_threshold: 0.25 } }),
  });
  const vp = parseVprog(TEXT);
  const recorded = await runQuery({ query: vp.query!, imagePath: FIXTURE_IMAGE, reply: vp.reply, tools, toolsUrl: 'scripted', runner });
  assert.equal(recorded.final_answer, 'two');
  h.api.store.setRun(d.uri.toString(), { record: recorded });

  await stub.executeCommand('valor.analyzeSensitivity', d.uri);
  const stored = h.api.store.get(d.uri.toString()).run!;
  assert.equal(stored.record.id, recorded.id, 'the same run, now with its report');
  assert.ok(stored.path, 'written back as the run record');
  const call = stored.record.sensitivity?.detect[0];
  assert.ok(call, JSON.stringify(stub.messages));
  const outcomes = call.intervals.map((i) => [i.from, i.to, i.outcome]);
  // Hand-computed: score > t keeps two mugs exactly for 0.31 <= t < 0.45; one above, three or four below.
  const at = (x: number) => call.intervals.find((i) => i.from <= x && x < i.to)?.outcome;
  assert.equal(at(0.35), 'answer:"two"', JSON.stringify(outcomes));
  assert.equal(at(0.31), 'answer:"two"', JSON.stringify(outcomes));
  assert.equal(at(0.449), 'answer:"two"', JSON.stringify(outcomes));
  assert.equal(at(0.45), 'answer:"not two"', JSON.stringify(outcomes));
  assert.equal(at(0.3), 'answer:"not two"', JSON.stringify(outcomes));
  assert.deepEqual(call.stable, { from: 0.31, to: 0.45 });
  assert.ok(stub.messages.some((m) => /^Sensitivity \(\d+ replays\): /.test(m.message)), JSON.stringify(stub.messages));

  const panel = stub.panels.at(-1);
  assert.ok(panel, 'the run view opens');
  panel.webview._receive({ type: 'ready', protocol: WEBVIEW_PROTOCOL_VERSION });
  await until(() => panel.webview.posted.length > 0, 'the init message after ready');
  const init = panel.webview.posted.map((m) => RunRecord.safeParse((m as { run?: unknown }).run)).find((r) => r.success && r.data.sensitivity);
  assert.ok(init?.success, 'the view is given the record with its report');
});
