/**
 * The wire contract between the program runner (src/core/runner/) and its Python side
 * (python/valor_worker/worker.py):
 *
 * - the program child's messages on its own Unix socket, one JSON object a line: `call` (a tool
 *   call) and `done` (the run's result); the runner answers each call with a `result` line;
 * - the warm parent's events on its stdout: `ready`, `started`, `exit`.
 *
 * Everything the child sends is untrusted (the program can write to its socket): these schemas
 * are the first check, the runner's limits (sizes, counts, state) the second.
 */
import { z } from 'zod';
import { ToolName } from './run.js';

export const CallMessage = z.object({
  t: z.literal('call'),
  tool: ToolName,
  args: z.record(z.string(), z.unknown()),
  line: z.number().int().nullable(),
  variable: z.string().nullable(),
});
export const ErrorPayload = z.object({
  type: z.string(),
  message: z.string(),
  line: z.number().int().nullable(),
  traceback: z.string().optional(),
});
export const DoneMessage = z.object({
  t: z.literal('done'),
  ok: z.boolean(),
  final_answer: z.unknown().optional(),
  error: ErrorPayload.nullable().optional(),
  img_pth_reassigned: z.boolean().optional(),
  stdout_truncated: z.boolean().optional(),
  /** The line trace; checked and bounded by the parent (src/core/lineTrace.ts), never trusted here. */
  line_trace: z.unknown().optional(),
});
export const ChildMessage = z.discriminatedUnion('t', [CallMessage, DoneMessage]);
export type DoneMessage = z.infer<typeof DoneMessage>;

export const WorkerEvent = z.discriminatedUnion('ev', [
  z.object({ ev: z.literal('ready'), pid: z.number().int() }),
  z.object({ ev: z.literal('started'), id: z.string(), pid: z.number().int() }),
  z.object({ ev: z.literal('exit'), id: z.string().nullable(), pid: z.number().int(), code: z.number().int().nullable(), signal: z.number().int().nullable() }),
]);
export type CallMessage = z.infer<typeof CallMessage>;
export type ChildMessage = z.infer<typeof ChildMessage>;
export type WorkerEvent = z.infer<typeof WorkerEvent>;

/** Modules a program may import (pure, no file/network/process access of their own). */
export const ALLOWED_MODULES = [
  'math', 'numpy', 're', 'collections', 'itertools', 'functools', 'statistics', 'json', 'typing',
  'dataclasses', 'heapq', 'bisect', 'copy', 'random', 'string', 'operator', 'fractions', 'decimal',
] as const;
