/**
 * A `Tools` implementation whose answers the test chooses, recording every call it receives.
 * Handlers may be async (to delay, or to wait for the test) and may throw `ToolError`.
 */
import { readFileSync } from 'node:fs';
import type { BBox, Detection, ToolResult, Tools } from '../../src/core/tools.js';

export interface ToolCall {
  tool: 'gd_detect' | 'depth' | 'vqa';
  img_pth: string;
  prompt?: string;
  bbox?: BBox | null;
  signal?: AbortSignal;
}

type Answer<T> = T | ToolResult<T>;

export interface ToolScript {
  gd_detect?: (img_pth: string, prompt: string, signal?: AbortSignal) => Answer<Detection[]> | Promise<Answer<Detection[]>>;
  depth?: (img_pth: string, bbox: BBox, signal?: AbortSignal) => Answer<number> | Promise<Answer<number>>;
  vqa?: (img_pth: string, bbox: BBox | null, prompt: string, signal?: AbortSignal) => Answer<string> | Promise<Answer<string>>;
}

function wrap<T>(a: Answer<T>): ToolResult<T> {
  return a !== null && typeof a === 'object' && 'value' in (a as object) && !Array.isArray(a) ? (a as ToolResult<T>) : { value: a as T };
}

/** Default answers: one box per phrase (side by side), depth 3.0, vqa "no". */
export class ScriptedTools implements Tools {
  readonly calls: ToolCall[] = [];

  constructor(private readonly script: ToolScript = {}) {}

  async gd_detect(img_pth: string, prompt: string, signal?: AbortSignal): Promise<ToolResult<Detection[]>> {
    this.calls.push({ tool: 'gd_detect', img_pth, prompt, signal });
    if (this.script.gd_detect) return wrap(await this.script.gd_detect(img_pth, prompt, signal));
    const phrases = prompt.split(',').map((p) => p.trim()).filter(Boolean);
    return { value: phrases.map((label, i) => ({ bbox: [10 + 100 * i, 20, 90 + 100 * i, 120] as BBox, label, score: 0.9 })) };
  }

  async depth(img_pth: string, bbox: BBox, signal?: AbortSignal): Promise<ToolResult<number>> {
    this.calls.push({ tool: 'depth', img_pth, bbox, signal });
    if (this.script.depth) return wrap(await this.script.depth(img_pth, bbox, signal));
    return { value: 3.0 };
  }

  async vqa(img_pth: string, bbox: BBox | null, prompt: string, signal?: AbortSignal): Promise<ToolResult<string>> {
    this.calls.push({ tool: 'vqa', img_pth, bbox, prompt, signal });
    if (this.script.vqa) return wrap(await this.script.vqa(img_pth, bbox, prompt, signal));
    return { value: 'no' };
  }
}

/** Whether a process exists and is not a zombie (Linux /proc; elsewhere signal 0). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `cond` until it holds or `ms` pass (for facts the OS settles asynchronously, e.g. reaping). */
export async function eventually(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A promise the test resolves later. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
