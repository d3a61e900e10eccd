/**
 * Tool calls of an eval question that ride out a short tool-server outage: a call the server
 * could not answer is retried with backoff, and the outage is reported once the retries are used up.
 */
import { ToolError, type Tools } from '../tools.js';
import { isAbort, sleep } from './cancellation.js';

/** A failure that says the tool server refused our token (HTTP 401): retrying will not help. */
export function isRefusedToken(err: unknown): boolean {
  return (err as { status?: unknown } | null | undefined)?.status === 401;
}

/**
 * Tools that retry a call the tool server could not answer (network failure, 5xx) with backoff,
 * and report the outage when the retries are used up. A `ToolError` (the server understood and
 * refused: bad arguments) is the program's problem and goes straight through.
 */
export function withToolRetries(
  tools: Tools,
  o: { retries: number; delayMs: number; signal: AbortSignal; onRetry?: (err: Error, attempt: number) => void; onOutage: (err: Error) => void },
): Tools {
  const call = async <T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> => {
    const s = signal ? AbortSignal.any([signal, o.signal]) : o.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(s);
      } catch (err) {
        if (err instanceof ToolError || isAbort(err, s)) throw err;
        // A refused token will not change by retrying: every question would fail the same way.
        if (isRefusedToken(err) || attempt >= o.retries) {
          o.onOutage(err as Error);
          throw err;
        }
        o.onRetry?.(err as Error, attempt + 1);
        await sleep(o.delayMs * 2 ** attempt, s);
      }
    }
  };
  return {
    gd_detect: (img, prompt, signal) => call((s) => tools.gd_detect(img, prompt, s), signal),
    depth: (img, bbox, signal) => call((s) => tools.depth(img, bbox, s), signal),
    vqa: (img, bbox, prompt, signal) => call((s) => tools.vqa(img, bbox, prompt, s), signal),
  };
}
