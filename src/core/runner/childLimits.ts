/** The caps the parent puts on everything a program's process sends (it is not trusted). */
import type { ProgramError } from '../../protocol/run.js';

/**
 * What the parent accepts from a program's process, whatever it sends (the program can write to
 * its own socket, so nothing from there is trusted): one line at most CHILD_MAX_LINE bytes, one
 * tool call at a time, MAX_TOOL_CALLS calls a run, arguments of MAX_CALL_ARGS bytes of JSON, an
 * answer of MAX_ANSWER_JSON bytes (the Python side's own cap), error texts cut to size.
 */
export const CHILD_LIMITS = {
  maxLine: 2 * 1024 * 1024,
  maxToolCalls: 1000,
  maxCallArgs: 64 * 1024,
  maxAnswerJson: 1 << 20,
  maxErrorMessage: 8 * 1024,
  maxTraceback: 64 * 1024,
  maxVariable: 200,
  /** Nesting of arrays and objects (the Python side stops at 64; deeper would overflow JSON.stringify's stack here). */
  maxDepth: 100,
} as const;

/** Whether a parsed JSON value nests at most `max` levels (iterative: depth itself cannot hurt). */
export function depthWithin(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d >= max) return false;
    for (const x of Array.isArray(v) ? v : Object.values(v as object)) if (x !== null && typeof x === 'object') stack.push([x, d + 1]);
  }
  return true;
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters cut by the runner)` : s;
}

/** The program's answer as the parent keeps it: JSON of at most the cap, else a short marker. */
export function boundedAnswer(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return '<final_answer could not be read>';
  }
  if (text === undefined) return null;
  if (text.length > CHILD_LIMITS.maxAnswerJson) return `<final_answer too large: ${text.length} bytes of JSON> ${text.slice(0, 4096)}`;
  return value;
}

export function boundedError(e: ProgramError | null | undefined): ProgramError | null {
  if (!e) return null;
  return {
    type: cut(e.type, 100),
    message: cut(e.message, CHILD_LIMITS.maxErrorMessage),
    line: e.line,
    ...(e.traceback !== undefined ? { traceback: cut(e.traceback, CHILD_LIMITS.maxTraceback) } : {}),
  };
}
