/** Where a tool-server request's time went, sent back as a `Server-Timing` header. */
import type { ServerResponse } from 'node:http';

/**
 * Milliseconds per phase of one request: image (read, hash, decode), pre (the model input;
 * 0 when this image's was cached), model (the session.run this request was part of), post;
 * and `batch`, how many requests that session.run served.
 */
export type Phases = Partial<Record<'image' | 'pre' | 'model' | 'post' | 'batch', number>>;

/** `Server-Timing` header: where a request's time went (the benchmark reads `model` and `batch`). */
export function timing(res: ServerResponse, phases: Phases, t0: number): void {
  if (res.headersSent) return;
  const parts = Object.entries(phases).map(([k, v]) => (k === 'batch' ? `batch;desc=${v ?? 1}` : `${k};dur=${(v ?? 0).toFixed(3)}`));
  res.setHeader('server-timing', [...parts, `total;dur=${(performance.now() - t0).toFixed(3)}`].join(', '));
}
