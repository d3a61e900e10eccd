/**
 * The parent's side of the line trace (src/protocol/lineTrace.ts): what a program's process sent
 * is checked against the schema and cut to the caps here, whatever the child did; and the
 * questions viewers ask of a trace (the values shown on a line, the lines that never ran).
 */
import { LINE_TRACE_LIMITS, LineTrace, type LineStep, type TracedValue } from '../protocol/lineTrace.js';

/**
 * A trace from the child, checked and bounded: undefined when it is absent or malformed (the run
 * itself stands; only its line trace is lost), steps beyond the cap dropped, and values dropped
 * from the end until the JSON fits `maxJson`.
 */
export function boundLineTrace(raw: unknown, toolCalls: number): LineTrace | undefined {
  if (raw === undefined || raw === null) return undefined;
  const parsed = LineTrace.safeParse(raw);
  if (!parsed.success) return undefined;
  const t = parsed.data;
  let truncated = t.truncated;
  let dropped = t.dropped_steps;
  let steps = t.steps;
  if (steps.length > LINE_TRACE_LIMITS.maxSteps) {
    dropped += steps.length - LINE_TRACE_LIMITS.maxSteps;
    steps = steps.slice(0, LINE_TRACE_LIMITS.maxSteps);
    truncated = true;
  }
  steps = steps.map((s) => {
    const out: LineStep = { ...s };
    // Call indices name calls of this run only.
    if (out.calls) out.calls = out.calls.filter((i) => i < toolCalls);
    if (out.values && Object.keys(out.values).length > LINE_TRACE_LIMITS.maxValuesPerStep) {
      out.values = Object.fromEntries(Object.entries(out.values).slice(0, LINE_TRACE_LIMITS.maxValuesPerStep));
      out.values_dropped = true;
      truncated = true;
    }
    return out;
  });
  const result: LineTrace = { ...t, steps, dropped_steps: dropped, truncated };
  let size = JSON.stringify(result).length;
  for (let i = steps.length - 1; i >= 0 && size > LINE_TRACE_LIMITS.maxJson; i--) {
    const s = steps[i]!;
    if (!s.values) continue;
    const before = JSON.stringify(s).length;
    delete s.values;
    s.values_dropped = true;
    size += JSON.stringify(s).length - before;
    result.truncated = true;
  }
  if (size > LINE_TRACE_LIMITS.maxJson) {
    result.steps = [];
    result.dropped_steps = dropped + steps.length;
    result.truncated = true;
  }
  return result;
}

/** Hits per line (only lines that ran). */
export function hitsByLine(t: LineTrace): Map<number, number> {
  return new Map(t.lines.map(([line, n]) => [line, n]));
}

export interface LineSummary {
  line: number;
  hits: number;
  /** Values bound on the line, per name, one per kept run (first runs first). */
  values: Map<string, TracedValue[]>;
  /** Tool-call indices made on the line. */
  calls: number[];
  raised?: string;
  /** The hit count is a lower bound (the trace stopped part-way). */
  atLeast?: boolean;
}

/** Per executed line: its hits, the values each name took on its kept runs, its calls. */
export function summariseLines(t: LineTrace): Map<number, LineSummary> {
  const out = new Map<number, LineSummary>();
  const atLeast = t.hits_complete === false;
  for (const [line, hits] of t.lines) out.set(line, { line, hits, values: new Map(), calls: [], ...(atLeast ? { atLeast } : {}) });
  for (const s of t.steps) {
    let sum = out.get(s.line);
    if (!sum) {
      sum = { line: s.line, hits: s.hit, values: new Map(), calls: [] };
      out.set(s.line, sum);
    }
    for (const [name, v] of Object.entries(s.values ?? {})) {
      const list = sum.values.get(name) ?? [];
      list.push(v);
      sum.values.set(name, list);
    }
    if (s.calls) sum.calls.push(...s.calls);
    if (s.raised) sum.raised = s.raised;
  }
  return out;
}

/** Text shown after a line: `name = value` per name, a loop's later values after `│`, `×N` hits. */
export function lineLabel(sum: LineSummary, maxChars = 120): string {
  const parts: string[] = [];
  for (const [name, vals] of sum.values) {
    const shown = vals.map((v) => v.repr);
    parts.push(`${name} = ${shown.join(' │ ')}`);
  }
  let text = parts.join(', ');
  if (sum.hits > 1) text = `${text}${text ? '  ' : ''}×${sum.hits}${sum.atLeast ? '+' : ''}`;
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

/** Program lines (1-based) where a statement starts that never ran (`else:`, blank lines and continuations are no statements). */
export function unexecutedLines(t: LineTrace): number[] {
  // A trace that stopped part-way cannot tell which lines never ran.
  if (t.hits_complete === false) return [];
  const ran = hitsByLine(t);
  return t.statement_lines.filter((line) => !ran.has(line));
}

/** The program with each executed line's values beside it (`valor run --lines`); lines that never ran marked `·`. */
export function formatProgramWithValues(program: string, t: LineTrace): string {
  const sums = summariseLines(t);
  const never = new Set(unexecutedLines(t));
  const lines = program.split(/\r?\n/);
  const width = Math.min(60, Math.max(...lines.map((l) => l.length)));
  return lines
    .map((text, i) => {
      const n = i + 1;
      const sum = sums.get(n);
      const mark = never.has(n) ? '·' : ' ';
      const label = sum ? lineLabel(sum) : '';
      const raised = sum?.raised ? `  ⚠ ${sum.raised}` : '';
      return `${String(n).padStart(3)}${mark} ${text.padEnd(width)}${label || raised ? `  │ ${label}${raised}` : ''}`.trimEnd();
    })
    .join('\n') + '\n';
}
