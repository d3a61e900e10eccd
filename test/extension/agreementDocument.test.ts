/**
 * "VALOR: Show Judge Agreement Statistics" opens a read-only virtual Markdown document (not an
 * untitled one that asks to be saved), computed from the workspace's audit log, and re-read when
 * that log changes while it is open. Through the activated extension on the vscode stub; the
 * real workbench (scenario 4 of test/vscode) closes it and checks that nothing asks to save.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelativePattern, Uri } from '../helpers/vscodeStub.js';
import { agreementUri, auditPathOf } from '../../src/extension/agreementDocument.js';
import { startExtension, stub, until } from './harness.js';

const line = (target: string, value: number, machine: number) =>
  `${JSON.stringify({ kind: 'reward', subject: 's1', target, value, machine_value: machine, note: 'checked', at: '2026-01-01T00:00:00Z' })}\n`;

test('the agreement statistics are a read-only Markdown document that follows the audit log', async (t) => {
  const h = await startExtension(t);
  const audit = join(h.folder, '.valor', 'audits.jsonl');
  mkdirSync(join(h.folder, '.valor'));
  writeFileSync(audit, line('spatial', 0, 1));
  await stub.executeCommand('valor.showAgreement');
  const doc = stub.documents.at(-1)!;
  assert.equal(doc.uri.scheme, 'valor-agreement', 'a virtual document, not an untitled one');
  assert.equal(doc.isUntitled, false);
  assert.equal(doc.isDirty, false, 'nothing to save');
  assert.equal(doc.languageId, 'markdown');
  assert.equal(auditPathOf(doc.uri), audit, 'the URI names the workspace audit log');
  assert.match(doc.getText(), /\| spatial \| 1 \| 1 \| 0 \| 0\.0% \|/);
  assert.doesNotMatch(doc.getText(), /\| attribute \|/);

  // The log changes while the document is open (a new decision): the watcher on that log refreshes it.
  const w = stub.watchers.find((x) => x.pattern instanceof RelativePattern && x.pattern.pattern === '.valor/audits.jsonl');
  assert.ok(w, `a watcher on .valor/audits.jsonl: ${JSON.stringify(stub.watchers.map((x) => x.pattern))}`);
  appendFileSync(audit, line('attribute', 1, 1));
  w.change.fire(Uri.file(audit));
  await until(() => /\| attribute \| 1 \| 1 \| 1 \| 100\.0% \|/.test(doc.getText()), 'the refreshed statistics');
  assert.equal(doc.isDirty, false, 'a refresh leaves nothing to save');

  // Asking again shows the same document, read again.
  appendFileSync(audit, line('logic', 0, 0));
  await stub.executeCommand('valor.showAgreement');
  assert.equal(stub.documents.filter((d) => d.uri.scheme === 'valor-agreement' && !d.isClosed).length, 1, 'one document per audit log');
  await until(() => /\| logic \| 1 \|/.test(doc.getText()), 'the statistics read again on the second ask');
});

test('an agreement URI carries its audit log path, and a foreign one names none', () => {
  const path = '/tmp/some folder/.valor/audits.jsonl';
  const uri = agreementUri(path);
  assert.equal(uri.scheme, 'valor-agreement');
  assert.match(uri.path, /\.md$/, 'a .md path, so VS Code shows it as Markdown');
  assert.equal(auditPathOf(uri), path);
  assert.equal(auditPathOf(uri.with({ query: 'not json' })), undefined);
  assert.equal(auditPathOf(uri.with({ query: '{"audit":3}' })), undefined);
});
