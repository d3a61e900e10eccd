/**
 * HTTP plumbing for the tool server: bearer-token check in constant time, bounded body reading,
 * JSON validation that names the offending field, JSON replies and errors.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { HttpError } from './errors.js';

/**
 * Limits every VALOR HTTP server sets on its clients: how long the headers and the whole request
 * may take to arrive (a slow-loris client is cut off), how long an idle keep-alive connection
 * stays, how many connections are open at once and how many headers one request may have.
 * Processing time is not limited here (a detect call may queue behind others).
 */
export const HTTP_LIMITS = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  maxHeadersCount: 100,
} as const;

export type HttpLimits = { [K in keyof typeof HTTP_LIMITS]: number };

export function hardenServer(server: Server, limits: Partial<HttpLimits> = {}): void {
  const l = { ...HTTP_LIMITS, ...limits };
  server.headersTimeout = l.headersTimeoutMs;
  server.requestTimeout = l.requestTimeoutMs;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.maxConnections = l.maxConnections;
  server.maxHeadersCount = l.maxHeadersCount;
}

export function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const given = m?.[1]?.trim() ?? '';
  // Hash both sides so the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}

/** The most of a refused body read and thrown away, so the client can finish sending and read the 413. */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Throws away the rest of a refused body: a client still sending when the 413 goes out would
 * otherwise see the connection reset and never read the answer. A body past DRAIN_LIMIT is cut off.
 */
function drain(req: IncomingMessage): void {
  let n = 0;
  req.on('data', (chunk: Buffer) => {
    n += chunk.length;
    if (n > DRAIN_LIMIT) req.destroy();
  });
  req.resume();
}

/** Reads the whole body, refusing more than `limit` bytes (413) before buffering it all. */
export function readBody(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    drain(req);
    return Promise.reject(new HttpError(413, 'body_too_large', `${what} is ${declared} bytes; the server accepts at most ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        drain(req);
        reject(new HttpError(413, 'body_too_large', `${what} exceeds ${limit} bytes, the most the server accepts`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    req.on('aborted', () => {
      if (done) return;
      done = true;
      const e = new Error('client went away while sending the body');
      e.name = 'AbortError';
      reject(e);
    });
  });
}

/** Human-readable zod issues: `field: problem` joined, with the box format spelled out. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], body: unknown): string {
  const parts = issues.slice(0, 5).map((i) => {
    const path = i.path.map(String).join('.');
    if (path === 'bbox' || path.startsWith('bbox.')) {
      const got = (body as { bbox?: unknown } | null)?.bbox;
      return `bbox must be 4 numbers [x1, y1, x2, y2] in pixels (or null for the whole image in vqa); got ${JSON.stringify(got)?.slice(0, 100) ?? 'nothing'}`;
    }
    if (path === 'image' || path.startsWith('image.')) {
      return `image must be {"sha256": "<64 hex digits>"} or {"path": "<file on the server>"}; ${path}: ${i.message}`;
    }
    return `${path || '(body)'}: ${i.message}`;
  });
  return [...new Set(parts)].join('; ');
}

export function parseJson<T>(schema: z.ZodType<T>, raw: Buffer, route: string): T {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'invalid_json', `the body of ${route} is not valid JSON (${(err as Error).message}); send a JSON object with Content-Type: application/json`);
  }
  const r = schema.safeParse(body);
  if (!r.success) throw new HttpError(400, 'invalid_request', `${route}: ${describeIssues(r.error.issues, body)}`);
  return r.data;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
  sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}
