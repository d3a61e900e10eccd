/**
 * The parent's side of the line trace (src/protocol/lineTrace.ts): what a program's process sent
 * is checked against the schema and cut to the caps here, whatever the child did; and the
 * program printed with its values (`valor run --lines`). The questions viewers ask of a trace
 * (the values shown on a line, the lines that never ran) are in src/protocol/lineTrace.ts.
 */
import { LINE_TRACE_LIMITS, LineTrace, lineLabel, summariseLines, unexecutedLines, type LineStep } from '../protocol/lineTrace.js';

// The readers live beside the schema (the run view uses them and imports only src/protocol/);
// re-exported here for the Node callers that import them from core.
export { hitsByLine, lineLabel, summariseLines, unexecutedLines, type LineSummary } from '../protocol/lineTrace.js';

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
