/**
 * One tool call of a run as the runner records and answers it: its trace entry (a bounded
 * variable name, arguments too large to keep replaced by their size), the answer from
 * `dispatch` or the error the program receives (an outage of the tool server marked as such),
 * and the `result` line written back on the run's socket. The run's state (which call is in
 * flight, whether the run has ended) stays in activeRun.ts.
 */
import type { CallMessage } from '../../protocol/programWire.js';
import type { TraceEntry } from '../../protocol/run.js';
import { ToolServerError } from '../toolClient.js';
import { ToolError, type Tools } from '../tools.js';
import { CHILD_LIMITS } from './childLimits.js';
import { dispatch, type Dispatched } from './dispatch.js';

export type CallAnswer = { ok: true; r: Dispatched } | { ok: false; type: string; message: string; outage: boolean };

/** The trace entry of call number `index`; `argsBytes` is set when the arguments are over the limit. */
export function traceEntryFor(msg: CallMessage, index: number): { entry: TraceEntry; argsBytes: number | null } {
  const argsJson = JSON.stringify(msg.args);
  const tooBig = argsJson.length > CHILD_LIMITS.maxCallArgs;
  const entry: TraceEntry = {
    index,
    tool: msg.tool,
    line: msg.line,
    variable: msg.variable !== null && msg.variable.length <= CHILD_LIMITS.maxVariable ? msg.variable : null,
    args: tooBig ? { too_large: `${argsJson.length} bytes of JSON` } : msg.args,
    result: null,
    error: null,
    ms: 0,
  };
  return { entry, argsBytes: tooBig ? argsJson.length : null };
}

/** Calls the tool; any failure becomes the error the program receives, never a rejection. */
export async function answerCall(tools: Tools, msg: CallMessage, argsBytes: number | null, signal: AbortSignal, runImage: string): Promise<CallAnswer> {
  try {
    if (argsBytes !== null) throw new ToolError(`${msg.tool}: its arguments are ${argsBytes} bytes of JSON; a tool call takes at most ${CHILD_LIMITS.maxCallArgs} (pass img_pth, a short prompt and a box)`, 'ValueError');
    return { ok: true, r: await dispatch(tools, msg.tool, msg.args, signal, runImage) };
  } catch (err) {
    return { ok: false, type: err instanceof ToolError ? err.type : 'ToolError', message: err instanceof Error ? err.message : String(err), outage: err instanceof ToolServerError };
  }
}

/** Records `answer` (taken `ms`) in `entry` and returns the line that answers the program. */
export function recordAnswer(entry: TraceEntry, answer: CallAnswer, ms: number): string {
  entry.ms = ms;
  if (answer.ok) {
    entry.result = answer.r.value;
    if (answer.r.detail !== undefined) entry.detail = answer.r.detail;
    return `${JSON.stringify({ t: 'result', ok: true, value: answer.r.value })}\n`;
  }
  entry.error = { type: answer.type, message: answer.message, ...(answer.outage ? { tool_server: true } : {}) };
  return `${JSON.stringify({ t: 'result', ok: false, type: answer.type, message: answer.message })}\n`;
}
