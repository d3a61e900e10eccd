/**
 * The line-level trace of a program run (the debugger's record, issue #15): for every executed
 * program line how often it ran, and, in execution order, its first few runs with the values of
 * the names it bound (rendered by the Python side: short text, the type, boxes when the value
 * holds detections) and the indices of the tool calls it made (into the run's `trace`).
 *
 * Lines are the program's own lines (1-based, the `<answer>` body with fences removed), the same
 * numbering as `TraceEntry.line` and `ProgramError.line`.
 *
 * The program's process writes it, so nothing in it is trusted: the schema bounds every field,
 * and `boundLineTrace` (src/core/lineTrace.ts) enforces the record's overall size on our side.
 */
import { z } from 'zod';

/** Caps the parent enforces whatever the child sends (the child keeps below them itself). */
export const LINE_TRACE_LIMITS = {
  maxSteps: 2000,
  maxLines: 5000,
  maxValuesPerStep: 32,
  maxRepr: 200,
  maxName: 100,
  maxBoxes: 20,
  maxCallsPerStep: 1000,
  /** The whole trace as JSON. */
  maxJson: 512 * 1024,
} as const;

const L = LINE_TRACE_LIMITS;

export const TracedValue = z.object({
  /** Rendered value: detections summarised, arrays by shape and a few values, strings cut. */
  repr: z.string().max(L.maxRepr * 4),
  /** Python type name. */
  type: z.string().max(L.maxName),
  /** The boxes a value holds (a detection or a list of detections), for highlighting. */
  boxes: z.array(z.array(z.number()).length(4)).max(L.maxBoxes).optional(),
});
export type TracedValue = z.infer<typeof TracedValue>;

export const LineStep = z.object({
  line: z.number().int().positive(),
  /** 1-based: which run of this line this step is. */
  hit: z.number().int().positive(),
  /** The function the line belongs to, when not the program's top level. */
  fn: z.string().max(L.maxName).optional(),
  /** Names the line bound and their values after it ran. */
  values: z.record(z.string().max(L.maxName), TracedValue).optional(),
  /** Set when the values were left out to keep the record within its size cap. */
  values_dropped: z.boolean().optional(),
  /** Indices into the run's tool-call trace, for calls made while this line ran. */
  calls: z.array(z.number().int().nonnegative()).max(L.maxCallsPerStep).optional(),
  /** Exception type that passed through this line. */
  raised: z.string().max(L.maxName).optional(),
});
export type LineStep = z.infer<typeof LineStep>;

export const LineTrace = z.object({
  version: z.literal(1),
  /** First lines of the program's statements (what can run as a line); lines not in `lines` never ran. */
  statement_lines: z.array(z.number().int().positive()).max(L.maxLines),
  /** [line, hits] for every line that ran at least once, in line order. */
  lines: z.array(z.tuple([z.number().int().positive(), z.number().int().positive()])).max(L.maxLines),
  steps: z.array(LineStep),
  /** Line runs not kept as steps (beyond `max_hits_kept` of a line, or the step cap). */
  dropped_steps: z.number().int().nonnegative(),
  /** Whether a cap cut the record (steps or values left out). */
  truncated: z.boolean(),
  /**
   * False when tracing stopped part-way (a long loop spent the event budget): hits are then lower
   * bounds, and lines after that point may have run unseen.
   */
  hits_complete: z.boolean().optional(),
  /** How many runs of each line are kept as steps. */
  max_hits_kept: z.number().int().positive(),
});
export type LineTrace = z.infer<typeof LineTrace>;

// ---------------------------------------------------------------- reading a trace
// Pure questions viewers ask of a trace (the editor, the CLI, the run view), kept beside the
// schema so the browser bundle can use them without importing src/core/.

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
