// The run view's per-panel change check, without a browser: a slot renders its panel once per
// distinct inputs (by identity, field by field), and a record sent again whole keeps the
// identity of its unchanged parts so the panels showing them are not rendered again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ViewRunRecord } from '../../src/protocol/webview.js';
import { keepUnchanged } from '../../webview/model.js';
import { PanelSlot, sameInputs, type Panel } from '../../webview/panelSlot.js';
import { makeRun } from './runData.js';

interface FakeInputs {
  rewards: unknown;
  running: boolean;
}

function fakePanel(): Panel<FakeInputs> & { seen: FakeInputs[]; attrs: Record<string, string> } {
  const attrs: Record<string, string> = {};
  const el = { setAttribute: (k: string, v: string) => void (attrs[k] = v) } as unknown as HTMLElement;
  const seen: FakeInputs[] = [];
  return { el, seen, attrs, render: (i) => void seen.push(i) };
}

test('sameInputs compares field by field by identity, and notices added or removed fields', () => {
  const r = { total: 1 };
  assert.equal(sameInputs({ a: r, b: 1 }, { a: r, b: 1 }), true);
  assert.equal(sameInputs({ a: r }, { a: { total: 1 } }), false, 'an equal but new object is a change');
  assert.equal(sameInputs({ a: r }, { a: r, b: undefined }), false);
  assert.equal(sameInputs({ a: r, b: undefined }, { a: r, c: undefined }), false);
  assert.equal(sameInputs({ n: NaN }, { n: NaN }), true);
});

test('a slot renders on the first inputs and on each change only', () => {
  const panel = fakePanel();
  const slot = new PanelSlot(panel);
  const rewards = { total: 0.5 };
  assert.equal(slot.update({ rewards, running: false }), true);
  assert.equal(slot.update({ rewards, running: false }), false);
  assert.equal(slot.update({ rewards, running: false }), false);
  assert.equal(slot.update({ rewards, running: true }), true);
  assert.equal(slot.update({ rewards: { total: 0.5 }, running: true }), true);
  assert.equal(panel.seen.length, 3);
  assert.equal(slot.renders, 3);
  assert.equal(panel.attrs['data-renders'], '3');
  slot.refresh();
  assert.equal(panel.seen.length, 4, 'refresh renders again with the last inputs');
  assert.equal(panel.seen[3], panel.seen[2]);
});

test('keepUnchanged keeps the old objects of fields that did not change, and takes the new ones that did', () => {
  const before: ViewRunRecord = JSON.parse(JSON.stringify(makeRun()));
  const again: ViewRunRecord = JSON.parse(JSON.stringify(before));
  const rejudged: ViewRunRecord = { ...again, rewards: { ...again.rewards!, total: 0.1 } };
  const kept = keepUnchanged(before, rejudged);
  assert.equal(kept.trace, before.trace);
  assert.equal(kept.grounding, before.grounding);
  assert.equal(kept.line_trace, before.line_trace);
  assert.notEqual(kept.rewards, before.rewards);
  assert.equal(kept.rewards?.total, 0.1);
  assert.deepEqual(kept, rejudged, 'the values are the new record\u2019s');
  // A router slot fed from the merged record renders the scores again, not the trace.
  const trace = new PanelSlot(fakePanel());
  const scores = new PanelSlot(fakePanel());
  trace.update({ rewards: before.trace, running: false });
  scores.update({ rewards: before.rewards, running: false });
  assert.equal(trace.update({ rewards: kept.trace, running: false }), false);
  assert.equal(scores.update({ rewards: kept.rewards, running: false }), true);
});
