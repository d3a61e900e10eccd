// VALOR: Open Review Queue in the extension (against the vscode stub): the command opens a review
// panel on an eval output folder with the chosen sampling, the panel's page is the strict-CSP
// review bundle, the view's messages reach the session and its decisions the workspace's log;
// and VALOR: Score Rollout Group on a .vprog document.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GOOD_QUERY, GOOD_REPLY, jsonVerdict } from '../helpers/judgeReplies.js';
import { startOpenAIServer } from '../helpers/openaiServer.js';
import { Uri } from '../helpers/vscodeStub.js';
import { writeReviewEval } from '../helpers/reviewFixture.js';
import { FIXTURE_IMAGE, startExtension, stub, until } from './harness.js';

test('the review queue command opens a panel whose decisions go to the audit log', async (t) => {
  const h = await startExtension(t);
  const evalDir = join(h.folder, 'eval-out');
  await writeReviewEval(evalDir, 8, { imagePath: FIXTURE_IMAGE, imageSize: { width: 320, height: 240 } });
  stub.quickPicks.push((items) => items.find((i) => /Only the logic verdict/.test(i.label)));
  await stub.executeCommand('valor.openReviewQueue', Uri.file(evalDir));
  const panel = stub.panels.find((p) => p.viewType === 'valor.reviewQueue');
  assert.ok(panel, 'a review panel was opened');
  assert.match(panel.webview.html, /default-src 'none'/);
  assert.match(panel.webview.html, /dist\/webview\/review\.js/);
  assert.match(panel.title, /reward logic only: 8 items/);

  panel.webview._receive({ type: 'ready' });
  await until(() => panel.webview.posted.length === 1, 'the first item after ready');
  const first = panel.webview.posted[0] as { type: string; item: { verdicts: Array<{ reward: string }>; imageUri: string | null } };
  assert.equal(first.type, 'item');
  assert.deepEqual(first.item.verdicts.map((v) => v.reward), ['logic']);
  assert.match(first.item.imageUri ?? '', /scene-320x240\.png$/, 'the image is served from its own folder');

  panel.webview._receive({ type: 'decide', position: 0, reward: 'logic', action: 'flip' });
  panel.webview._receive({ type: 'launch' });
  const audit = join(h.folder, '.valor', 'audits.jsonl');
  await until(() => existsSync(audit) && panel.webview.posted.length === 3, 'the decision and the error answer');
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 1);
  assert.equal(lines[0].target, 'logic');
  assert.equal(lines[0].value, 1 - lines[0].machine_value);
  assert.equal((panel.webview.posted[2] as { type: string }).type, 'error');
});

test('the rollout group command scores 5 samples of a .vprog query and opens the group as a document', async (t) => {
  const llm = await startOpenAIServer();
  t.after(() => llm.close());
  let sample = 0;
  llm.setHandler((req) => {
    const sys = req.json?.messages?.[0]?.content;
    if (typeof sys === 'string' && sys.includes('strict reviewer')) {
      // the logic judge fails the second sample's plan
      const text = JSON.stringify(req.json.messages);
      return { text: jsonVerdict(sys.includes('logical soundness') && text.includes('Marker s2') ? 0 : 1, 'checked') };
    }
    sample++;
    return { text: GOOD_REPLY.replace('4. Answer "yes" or "no".', `4. Answer "yes" or "no". Marker s${sample}.`) };
  });
  const h = await startExtension(t, {
    config: { 'valor.generator.baseUrl': llm.url, 'valor.generator.model': 'policy', 'valor.judge.baseUrl': llm.url, 'valor.judge.model': 'judge', 'valor.cache.enabled': false },
  });
  copyFileSync(FIXTURE_IMAGE, join(h.folder, 'desk.png'));
  h.write('desk.vprog', `# image: desk.png\n# query: ${GOOD_QUERY} (extension rollout)\n\n`);
  const doc = await h.open('desk.vprog');
  await stub.executeCommand('valor.rolloutGroup', doc.uri);
  const md = stub.documents.at(-1)!.getText();
  assert.match(md, /^# Rollout group: 5 replies/);
  assert.match(md, /\| rank \| sample \| format \| syntax \| spatial \| attribute \| logic \| adherence \| total \| advantage \|/);
  // four totals of 1 and one of 0.7: mean 0.94, unbiased std 0.134164; advantages 0.447 and -1.789
  assert.match(md, /\| 5 \| #2 \| 1 \| 1 \| 1 \| 1 \| 0 \| 1 \| 0\.7 \| -1\.789 \|/);
  assert.match(md, /\| 1 \| #1 \| 1 \| 1 \| 1 \| 1 \| 1 \| 1 \| 1 \| \+0\.447 \|/);
  assert.match(md, /separated by logic \(1 vs 0, weight 0\.3\)/);
  assert.equal(llm.chatRequests().filter((r) => !String(r.json.messages[0].content).includes('strict reviewer')).length, 5);
});
