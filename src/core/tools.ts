/**
 * The program's API as TypeScript sees it. The python3 child forwards every tool call here
 * (src/core/runner); implementations are the HTTP client of the tool server
 * (src/core/toolClient.ts), the syntax reward's placeholders, and tests' own.
 *
 * Parameter names are VALOR's (docs/valor.md §2): `gd_detect(img_pth, prompt)`, `depth(img_pth, bbox)`,
 * `vqa(img_pth, bbox, prompt)`. The Python side defines the functions with exactly these
 * signatures once, for real runs and placeholder runs alike.
 */
import type { BBox, Detection } from '../protocol/tools.js';
import type { TraceEntry } from '../protocol/run.js';

export type { BBox, Detection };

/** What a tool returns to the program, plus facts the trace keeps for viewers. */
export interface ToolResult<T> {
  value: T;
  detail?: TraceEntry['detail'];
}

export interface Tools {
  gd_detect(img_pth: string, prompt: string, signal?: AbortSignal): Promise<ToolResult<Detection[]>>;
  depth(img_pth: string, bbox: BBox, signal?: AbortSignal): Promise<ToolResult<number>>;
  vqa(img_pth: string, bbox: BBox | null, prompt: string, signal?: AbortSignal): Promise<ToolResult<string>>;
  /**
   * Optional hint before a program runs: it will call `tools` on `img_pth`, so work that does not
   * depend on the calls' arguments (an upload, decoding, a depth map) may start now. Best effort:
   * it never fails the run.
   */
  prefetch?(img_pth: string, tools: readonly ToolName[], signal?: AbortSignal): Promise<void>;
}

export type ToolName = 'gd_detect' | 'depth' | 'vqa';

/**
 * The tools a program's source calls (a plain scan for `name(`; a call in a comment or string
 * counts too, which only costs an unneeded prefetch).
 */
export function toolsCalled(program: string): ToolName[] {
  return (['gd_detect', 'depth', 'vqa'] as const).filter((t) => new RegExp(`\\b${t}\\s*\\(`).test(program));
}

/**
 * An error a tool raises on purpose (bad arguments, server said 4xx). The program sees it as a
 * Python exception of type `type` with `message`, on the line of the call.
 */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly type: string = 'ToolError',
  ) {
    super(message);
    this.name = 'ToolError';
  }
}
