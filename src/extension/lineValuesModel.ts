/**
 * What the editor shows of a run's line trace (issue #15), without an editor: the values at the
 * end of each executed line, the lines that never ran, the line that raised, and the value of a
 * name at a line for the hover. Program lines are mapped to document lines through the layout.
 *
 * Edits clear what no longer applies: with the program unchanged everything shows; once it
 * differs, only top-level simple statements above the first changed line keep their values
 * (they ran before any changed line could have run); dimming and the exception go.
 */
import { lineLabel, summariseLines, unexecutedLines, type LineSummary } from '../core/lineTrace.js';
import type { LineTrace, TracedValue } from '../protocol/lineTrace.js';
import type { RunRecord } from '../protocol/run.js';
import type { DocLayout } from './vprogLayout.js';

export interface LineValueView {
  /** 0-based document line and the text shown after it. */
  values: Array<{ line: number; text: string; programLine: number }>;
  dimmed: number[];
  raised: { line: number; text: string } | null;
}

const EMPTY: LineValueView = { values: [], dimmed: [], raised: null };

/** Program lines (1-based) whose trace still applies to `current`: all when unchanged, else the safe prefix. */
export function applicableLines(recorded: string, current: string): { all: boolean; keep: (line: number) => boolean } {
  if (recorded === current) return { all: true, keep: () => true };
  const a = recorded.split(/\r?\n/);
  const b = current.split(/\r?\n/);
  let first = 0;
  while (first < a.length && first < b.length && a[first] === b[first]) first++;
  const keep = (line: number) => {
    if (line > first) return false;
    const text = a[line - 1] ?? '';
    return text.length > 0 && !/^\s/.test(text) && !text.trimEnd().endsWith(':') && !/\\\s*$/.test(text);
  };
  return { all: false, keep };
}

export function lineValueView(layout: DocLayout, record: RunRecord | undefined): LineValueView {
  if (!record || record.program === null || layout.program === null) return EMPTY;
  const { all, keep } = applicableLines(record.program, layout.program);
  const toDoc = (n: number) => layout.programLineToDocLine(n);
  const view: LineValueView = { values: [], dimmed: [], raised: null };
  const trace = record.line_trace;
  if (trace) {
    for (const sum of summariseLines(trace).values()) {
      if (!keep(sum.line)) continue;
      const line = toDoc(sum.line);
      const text = lineLabel(sum);
      if (line !== null && text) view.values.push({ line, text, programLine: sum.line });
    }
    if (all) {
      for (const n of unexecutedLines(trace)) {
        const line = toDoc(n);
        if (line !== null) view.dimmed.push(line);
      }
    }
  }
  const err = record.error;
  if (all && err && err.line !== null) {
    const line = toDoc(err.line);
    if (line !== null) view.raised = { line, text: `⚠ ${err.type}: ${err.message.split('\n')[0]!.slice(0, 160)}` };
  }
  view.values.sort((x, y) => x.line - y.line);
  return view;
}

/** The 1-based program line shown on 0-based document line `docLine`, if any. */
export function programLineAt(layout: DocLayout, docLine: number): number | null {
  if (layout.program === null) return null;
  const n = layout.program.split(/\r?\n/).length;
  for (let i = 1; i <= n; i++) if (layout.programLineToDocLine(i) === docLine) return i;
  return null;
}

export interface NameValue {
  name: string;
  /** `bound` when the line itself assigned it (one entry per kept run), `before` its latest value when the line started. */
  kind: 'bound' | 'before';
  values: TracedValue[];
  hits: number;
}

/** The value of `name` at program line `line`: what the line bound, else its latest value before the line first ran. */
export function valueAt(trace: LineTrace, line: number, name: string): NameValue | null {
  const sum: LineSummary | undefined = summariseLines(trace).get(line);
  if (!sum) return null;
  const bound = sum.values.get(name);
  if (bound) return { name, kind: 'bound', values: bound, hits: sum.hits };
  const firstStep = trace.steps.findIndex((s) => s.line === line);
  if (firstStep < 0) return null;
  for (let i = firstStep - 1; i >= 0; i--) {
    const v = trace.steps[i]!.values?.[name];
    if (v) return { name, kind: 'before', values: [v], hits: sum.hits };
  }
  return null;
}

/** The identifier under 0-based column `col` of `text`, if any. */
export function wordAt(text: string, col: number): string | null {
  const re = /[A-Za-z_][A-Za-z0-9_]*/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (col >= m.index && col <= m.index + m[0].length) return m[0];
  }
  return null;
}
