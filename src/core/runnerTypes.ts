/**
 * The program runner's contract (implementation: src/core/runner/). A generated program runs in
 * a python3 child, never in our process; tool calls come back to a `Tools` implementation.
 */
import type { ProgramOutcome } from '../protocol/run.js';
import type { Tools } from './tools.js';

export interface RunRequest {
  /** The program text (the `<answer>` body, fences already removed). */
  program: string;
  /** Value of `img_pth` inside the program (absolute path of the image). */
  imagePath: string;
  tools: Tools;
  /** Wall-clock limit in ms (default 60 000). */
  timeoutMs?: number;
  /** Address-space cap for the child in MiB (default 2048). */
  memoryMB?: number;
  /** Captured stdout cap in bytes (default 64 KiB). */
  maxStdoutBytes?: number;
}

export interface ProgramRunnerLike {
  run(req: RunRequest, signal?: AbortSignal): Promise<ProgramOutcome>;
  dispose(): Promise<void>;
}
