/**
 * The run view's line-by-line trace (issue #15): the program text with the values each line
 * bound beside it, how often it ran, lines that never ran dimmed and the raising line marked.
 * Selecting a line selects the tool call whose boxes it used: a call made on the line, else the
 * call whose detections hold a box one of the line's values holds. Pure DOM from record data;
 * every value is text (textContent only).
 */
import { lineLabel, summariseLines, unexecutedLines, type LineSummary } from '../src/protocol/lineTrace.js';
import type { LineTrace } from '../src/protocol/lineTrace.js';
import type { TraceEntry } from '../src/protocol/run.js';
import { h } from './dom.js';

export interface LineViewInput {
  program: string;
  trace: LineTrace;
  calls: readonly Pick<TraceEntry, 'index' | 'tool' | 'result'>[];
  errorLine: number | null;
  errorText: string | null;
}

const sameBox = (a: readonly number[], b: readonly number[]) => a.length === 4 && b.length === 4 && a.every((x, i) => Math.round(x) === Math.round(b[i]!));

/** The tool call whose boxes a line used (see the module comment), or null. */
export function callForLine(sum: LineSummary | undefined, calls: LineViewInput['calls']): number | null {
  if (!sum) return null;
  if (sum.calls.length > 0) return sum.calls[0]!;
  for (const values of sum.values.values()) {
    for (const v of values) {
      for (const box of v.boxes ?? []) {
        const hit = calls.find((c) => c.tool === 'gd_detect' && Array.isArray(c.result) && (c.result as Array<{ bbox?: number[] }>).some((d) => Array.isArray(d.bbox) && sameBox(d.bbox, box)));
        if (hit) return hit.index;
      }
    }
  }
  return null;
}

/** The list of program lines; `onSelect` gets the line and the call it used (or null). */
export function renderLineView(input: LineViewInput, selected: number | null, onSelect: (line: number, call: number | null) => void): HTMLOListElement {
  const sums = summariseLines(input.trace);
  const never = new Set(unexecutedLines(input.trace));
  const list = h('ol', { class: 'lines', attrs: { 'aria-label': 'program lines with their values' } });
  input.program.split(/\r?\n/).forEach((text, i) => {
    const n = i + 1;
    const sum = sums.get(n);
    const call = callForLine(sum, input.calls);
    const label = sum ? lineLabel(sum, 400) : '';
    const cls = ['line', never.has(n) ? 'never' : '', sum ? 'ran' : '', input.errorLine === n ? 'raised' : '', selected === n ? 'selected' : ''].filter(Boolean).join(' ');
    const row = h('li', { class: cls, attrs: { 'data-line': n, 'aria-selected': selected === n ? 'true' : 'false', ...(call !== null ? { 'data-call': call } : {}) } }, [
      h('span', { class: 'line-no', text: String(n) }),
      h('code', { class: 'line-code', text: text || ' ' }),
      label ? h('span', { class: 'line-values', text: label }) : null,
      input.errorLine === n && input.errorText ? h('span', { class: 'line-raised', text: input.errorText }) : null,
      never.has(n) ? h('span', { class: 'line-never', text: 'never ran' }) : null,
    ]);
    if (sum) row.addEventListener('click', () => onSelect(n, call));
    list.append(row);
  });
  return list;
}
