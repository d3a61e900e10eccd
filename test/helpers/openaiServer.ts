/**
 * A real OpenAI-compatible HTTP server for tests (node:http on 127.0.0.1, port 0).
 *
 * It speaks just enough of the API for our clients: `POST /v1/chat/completions` (plain JSON, or
 * Server-Sent Events when the body has `stream: true`) and `GET /v1/models`. Every reply is
 * scripted by the test, and every request is recorded byte for byte, so a test can drive the real
 * `openai` package (through src/core/llmClient.ts) and assert what went over the wire.
 *
 * Usage:
 *
 *     const srv = await startOpenAIServer();
 *     t.after(() => srv.close());
 *     srv.script({ text: '<plan>1. look</plan><answer>final_answer = 1</answer>' });
 *     srv.script({ status: 429, headers: { 'retry-after': '0' } }, { text: 'ok' });
 *     srv.setHandler((req) => ({ text: `you said ${lastUserText(req)}` }));
 *     const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false });
 *     ...
 *     assert.equal(srv.requests[0].json.model, 'm');
 *
 * Which reply a request gets: the next item of the queue filled by `script(...)` (each item is
 * used once, in order); when the queue is empty, the handler (`opts.handler` or `setHandler`);
 * when there is neither, a 409 JSON error saying "no scripted reply" (409 because clients do not
 * retry it, so a forgotten script fails fast instead of hiding inside a retry loop).
 *
 * Replies (see `Reply`):
 * - `{ text }`: a normal completion (`finish_reason` 'stop' unless given). When the request
 *   streamed, the text goes out as SSE chunks (`chunks` to choose the deltas exactly, otherwise
 *   a few pieces), then a final chunk with the finish reason, then `data: [DONE]`.
 * - `{ status, body?, headers? }`: any HTTP answer, e.g. `{ status: 429, headers: { 'retry-after': '1' } }`.
 *   `body` may be an object (sent as JSON) or a string (sent as is); without one an
 *   OpenAI-style `{ error: { message, type, code } }` body is sent.
 * - `{ delayMs, then }`: wait, then answer with `then` (the wait ends early if the client leaves).
 * - `{ hang: true }`: never answer; the request stays open until the client gives up (timeout or
 *   abort) or `close()` is called.
 * - `{ destroy: true }`: drop the socket without an HTTP answer (the client sees a network error).
 *
 * Timestamps are `performance.now()`-style monotonic milliseconds (process.hrtime), comparable
 * across requests of one process, so tests can check overlap (`a.startMs < b.endMs`) rather than
 * elapsed wall time.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the server received it. */
export interface RecordedRequest {
  /** 0-based arrival order. */
  index: number;
  method: string;
  /** Path with query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** Lower-cased header names, as node parses them (`authorization`, `content-type`, ...). */
  headers: IncomingHttpHeaders;
  /** The exact request body, decoded as UTF-8. */
  body: string;
  /**
   * `body` parsed as JSON when it is a JSON object, else `{}` (see `jsonOk`).
   * Deliberately `any`, the one exception to our no-`any` rule: it is test-only data that tests
   * dig into (`rec.json.messages[3].content`) and assert on, where a wrong guess fails the
   * assertion anyway; typing every OpenAI body shape here would only add casts to every test.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  /** Whether `body` was a JSON object. */
  jsonOk: boolean;
  /** Monotonic ms when the request's headers arrived. */
  startMs: number;
  /** Monotonic ms when the answer finished, or the client went away; undefined while open. */
  endMs?: number;
  /** True when the client closed the connection before the answer was complete (timeout, abort). */
  aborted: boolean;
  /** Whether the request asked for SSE (`"stream": true`). */
  stream: boolean;
  /** What the server did: 'text', 'status', 'hang', 'destroy', 'models', 'not_found', 'unscripted'. */
  outcome?: string;
  /** HTTP status that was sent (undefined for hang/destroy). */
  status?: number;
}

export interface TextReply {
  text: string;
  /** Model id to report; defaults to the model the request named. */
  model?: string;
  /** Defaults to 'stop'. `null` sends null. */
  finish_reason?: string | null;
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Streaming only: the exact content deltas (their concatenation should equal `text`). */
  chunks?: string[];
  /** Streaming only: wait this long between chunks. */
  chunkDelayMs?: number;
  /** Streaming only: after the content chunks, 'end' normally (default), or 'hang' / 'destroy' the stream. */
  streamEnd?: 'end' | 'hang' | 'destroy';
}
export interface StatusReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
export interface DelayReply {
  delayMs: number;
  then: Reply;
}
export interface HangReply {
  hang: true;
}
export interface DestroyReply {
  destroy: true;
}
export type Reply = TextReply | StatusReply | DelayReply | HangReply | DestroyReply;

export type ReplyHandler = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface OpenAIServerOptions {
  /** Fallback when the queue is empty. */
  handler?: ReplyHandler;
  /** Initial queue (same as calling `script(...replies)`). */
  replies?: Array<Reply | ReplyHandler>;
  /** Model ids listed by GET /v1/models. Default ['test-model']. */
  models?: string[];
  /** When set, requests without `Authorization: Bearer <apiKey>` get a 401 (recorded, not scripted). */
  apiKey?: string;
}

export interface OpenAIServer {
  /** Base URL ending in `/v1`, e.g. `http://127.0.0.1:43121/v1`. Give it to the client as baseUrl. */
  url: string;
  /** `http://127.0.0.1:PORT` without the `/v1`. */
  origin: string;
  port: number;
  /** Every request received, in arrival order (live array). */
  requests: RecordedRequest[];
  /** Only the chat-completion requests (POST /v1/chat/completions), in order. */
  chatRequests(): RecordedRequest[];
  /** Queue replies (or one-shot handlers) for the next requests, in order. */
  script(...replies: Array<Reply | ReplyHandler>): void;
  /** Set (or clear) the fallback handler used when the queue is empty. */
  setHandler(handler: ReplyHandler | undefined): void;
  /** How many queued replies are still unused. */
  pending(): number;
  /** Resolves once at least `n` requests have arrived (their bodies are complete). Rejects after `timeoutMs` (default 20000). */
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Resolves once request `index` has ended (answered or abandoned by the client). */
  waitForEnd(index: number, timeoutMs?: number): Promise<RecordedRequest>;
  /** Stop listening and drop every open connection (hanging requests included). Idempotent. */
  close(): Promise<void>;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function isHandler(x: Reply | ReplyHandler): x is ReplyHandler {
  return typeof x === 'function';
}

/** The user text of the last user message of a recorded chat request (handy in handlers). */
export function lastUserText(req: RecordedRequest): string {
  const msgs: unknown = req.json.messages;
  if (!Array.isArray(msgs)) return '';
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i] as { role?: string; content?: unknown };
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content
        .filter((p): p is { type: 'text'; text: string } => (p as { type?: string })?.type === 'text')
        .map((p) => p.text)
        .join('\n');
    }
  }
  return '';
}

function splitForStream(text: string): string[] {
  if (text.length === 0) return [];
  // A few uneven pieces so clients must concatenate, including a split inside a tag.
  const n = Math.min(4, text.length);
  const out: string[] = [];
  let pos = 0;
  for (let i = 1; i <= n; i++) {
    const end = i === n ? text.length : Math.max(pos + 1, Math.floor((text.length * i) / n) - 1);
    out.push(text.slice(pos, end));
    pos = end;
  }
  return out.filter((s) => s.length > 0);
}

export async function startOpenAIServer(opts: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  const requests: RecordedRequest[] = [];
  const queue: Array<Reply | ReplyHandler> = [...(opts.replies ?? [])];
  let handler: ReplyHandler | undefined = opts.handler;
  const models = opts.models ?? ['test-model'];
  const sockets = new Set<Socket>();
  const arrivalWaiters = new Set<() => void>();
  const endWaiters = new Set<() => void>();
  let closed = false;
  let completionSeq = 0;

  const notify = (set: Set<() => void>): void => {
    for (const w of [...set]) w();
  };

  const markEnd = (rec: RecordedRequest, aborted: boolean): void => {
    if (rec.endMs !== undefined) return;
    rec.endMs = nowMs();
    rec.aborted = aborted;
    notify(endWaiters);
  };

  const sendJson = (res: ServerResponse, rec: RecordedRequest, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    rec.status = status;
    const data = typeof body === 'string' ? body : JSON.stringify(body);
    const ct = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    res.writeHead(status, { 'content-type': ct, 'content-length': Buffer.byteLength(data), ...headers });
    res.end(data);
  };

  const errorBody = (status: number, message: string): unknown => ({
    error: { message, type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error', code: String(status) },
  });

  /** Wait `ms`, resolving early (false) when the client disconnects. */
  const wait = (ms: number, _req: IncomingMessage, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        res.off('close', onClose);
        resolve(ok);
      };
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(true), ms);
      // Only the response side tells whether the client left: node marks the request destroyed as
      // soon as its body has been read, which says nothing about the connection.
      if (res.destroyed) return done(false);
      res.on('close', onClose);
    });

  const sendText = async (reply: TextReply, req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): Promise<void> => {
    const requested = typeof rec.json.model === 'string' ? rec.json.model : 'test-model';
    const model = reply.model ?? requested;
    const id = `chatcmpl-test-${++completionSeq}`;
    const created = Math.floor(Date.now() / 1000);
    const finish = reply.finish_reason === undefined ? 'stop' : reply.finish_reason;
    const usage = reply.usage ?? { prompt_tokens: 1, completion_tokens: Math.max(1, Math.ceil(reply.text.length / 4)) };
    rec.outcome = 'text';
    if (!rec.stream) {
      sendJson(res, rec, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: reply.text }, finish_reason: finish, logprobs: null }],
        usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
      });
      return;
    }
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const chunk = (delta: Record<string, unknown>, finishReason: string | null): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    for (const piece of reply.chunks ?? splitForStream(reply.text)) {
      if (reply.chunkDelayMs && !(await wait(reply.chunkDelayMs, req, res))) return;
      if (res.destroyed) return;
      res.write(chunk({ content: piece }, null));
    }
    if (reply.streamEnd === 'hang') {
      rec.outcome = 'hang';
      return;
    }
    if (reply.streamEnd === 'destroy') {
      rec.outcome = 'destroy';
      res.socket?.destroy();
      return;
    }
    res.write(chunk({}, finish));
    const includeUsage = rec.json.stream_options?.include_usage === true;
    if (includeUsage) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  };

  const answer = async (reply: Reply, req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): Promise<void> => {
    if ('delayMs' in reply) {
      if (!(await wait(reply.delayMs, req, res))) return;
      return answer(reply.then, req, res, rec);
    }
    if ('hang' in reply) {
      rec.outcome = 'hang';
      return; // the request ends when the client leaves or close() drops the socket
    }
    if ('destroy' in reply) {
      rec.outcome = 'destroy';
      req.socket.destroy();
      return;
    }
    if ('status' in reply) {
      rec.outcome = 'status';
      const body = reply.body ?? errorBody(reply.status, `scripted error ${reply.status}`);
      sendJson(res, rec, reply.status, body, reply.headers ?? {});
      return;
    }
    await sendText(reply, req, res, rec);
  };

  const route = async (req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): Promise<void> => {
    const pathOnly = rec.path.split('?')[0] ?? '';
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      rec.outcome = 'status';
      sendJson(res, rec, 401, errorBody(401, 'Incorrect API key provided (test server).'));
      return;
    }
    if (req.method === 'GET' && pathOnly === '/v1/models') {
      rec.outcome = 'models';
      sendJson(res, rec, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'test' })) });
      return;
    }
    if (req.method === 'POST' && pathOnly === '/v1/chat/completions') {
      let next: Reply | ReplyHandler | undefined = queue.shift();
      if (next === undefined) next = handler;
      if (next === undefined) {
        rec.outcome = 'unscripted';
        sendJson(res, rec, 409, errorBody(409, `test server: no scripted reply for request #${rec.index} (call srv.script(...) or srv.setHandler(...))`));
        return;
      }
      const reply = isHandler(next) ? await next(rec) : next;
      await answer(reply, req, res, rec);
      return;
    }
    rec.outcome = 'not_found';
    sendJson(res, rec, 404, errorBody(404, `test server: no route for ${req.method} ${rec.path}`));
  };

  const server = createServer((req, res) => {
    const rec: RecordedRequest = {
      index: -1,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: '',
      json: {},
      jsonOk: false,
      startMs: nowMs(),
      aborted: false,
      stream: false,
    };
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    res.on('finish', () => markEnd(rec, false));
    res.on('close', () => markEnd(rec, !res.writableFinished));
    req.on('end', () => {
      rec.body = Buffer.concat(parts).toString('utf8');
      try {
        const parsed: unknown = rec.body.length > 0 ? JSON.parse(rec.body) : undefined;
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
          rec.json = parsed;
          rec.jsonOk = true;
        }
      } catch {
        // not JSON: leave json = {} and jsonOk = false; tests can still read `body`
      }
      rec.stream = rec.json.stream === true;
      rec.index = requests.length;
      requests.push(rec);
      notify(arrivalWaiters);
      route(req, res, rec).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) sendJson(res, rec, 500, errorBody(500, `test server handler threw: ${String(err)}`));
        else res.destroy();
      });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;

  const waitFor = <T>(set: Set<() => void>, check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const first = check();
      if (first !== undefined) return resolve(first);
      const timer = setTimeout(() => {
        set.delete(onEvent);
        reject(new Error(`test server: timed out after ${timeoutMs} ms waiting for ${what} (have ${requests.length} requests)`));
      }, timeoutMs);
      const onEvent = (): void => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        set.delete(onEvent);
        resolve(v);
      };
      set.add(onEvent);
    });

  return {
    url: `${origin}/v1`,
    origin,
    port,
    requests,
    chatRequests: () => requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/chat/completions')),
    script: (...replies) => {
      queue.push(...replies);
    },
    setHandler: (h) => {
      handler = h;
    },
    pending: () => queue.length,
    waitForRequests: (n, timeoutMs = 20_000) =>
      waitFor(arrivalWaiters, () => (requests.length >= n ? requests.slice(0, n) : undefined), timeoutMs, `${n} request(s)`),
    waitForEnd: (index, timeoutMs = 20_000) =>
      waitFor(
        endWaiters,
        () => {
          const r = requests[index];
          return r && r.endMs !== undefined ? r : undefined;
        },
        timeoutMs,
        `request #${index} to end`,
      ),
    close: async () => {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
