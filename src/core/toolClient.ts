/**
 * The `Tools` of a program run, over the tool server's HTTP API (src/protocol/tools.ts).
 *
 * Images travel once: the client hashes a file once per path and modification time, asks by
 * hash, and uploads the bytes only when the server answers 404 `unknown_image` (then repeats the
 * request). Concurrent calls on a new image share one upload.
 *
 * Errors: a refusal the program caused (4xx: a bad box, an empty prompt) is a `ToolError` whose
 * Python type the program sees (`ValueError`, ...). A server that cannot answer (unreachable,
 * 5xx, wrong token, timeout) is a `ToolServerError`: not the program's fault, so callers such as
 * the evaluation loop may retry or report an outage. Connection refused and 503 are retried a
 * bounded number of times first.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { z } from 'zod';
import {
  DEFAULT_BOX_THRESHOLD,
  DEFAULT_TEXT_THRESHOLD,
  DepthMapResponse,
  DepthResponse,
  DetectResponse,
  ErrorResponse,
  HealthResponse,
  type ImageRef,
  ImageUploadResponse,
  PrefetchResponse,
  TOOL_ROUTES,
  VqaResponse,
  type BBox,
  type Detection,
} from '../protocol/tools.js';
import { sha256Hex } from './contentHash.js';
import { ImageFileError, readImageFile } from './imageFile.js';
import { ToolError, type ToolResult, type Tools } from './tools.js';

/**
 * The tools one command works with: the `Tools` programs call, the client behind them (for the
 * calls programs do not make: detect with thresholds, depth maps), the server's URL, and how to
 * let go of them (stops an embedded server the command started; a no-op otherwise).
 */
export interface ToolsHandle {
  tools: Tools;
  client: ToolClient;
  url: string;
  close(): Promise<void>;
}

export interface ToolClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:7400 (no /v1). */
  url: string;
  token: string;
  fetch?: typeof fetch;
  /** Per-request deadline (default 300 s: a first call may wait for a model to load on the CPU). */
  timeoutMs?: number;
  /** gd_detect also asks for candidates at this box threshold, for viewers (default 0.1). */
  candidateThreshold?: number;
  /** Retries after connection refused / 503 (default 3). */
  maxRetries?: number;
  /** First retry delay, doubled each time (default 250 ms). */
  retryBaseMs?: number;
  /**
   * What to do when the server cannot be reached, appended to that error (default: the CLI's
   * advice about `valor serve` and VALOR_TOOLS_URL; the extension names its own commands).
   */
  unreachableHint?: string;
}

export interface DetectThresholds {
  box_threshold?: number;
  text_threshold?: number;
  candidate_threshold?: number;
}

export interface ToolClient extends Tools {
  readonly url: string;
  health(signal?: AbortSignal): Promise<HealthResponse>;
  /** The whole depth map (downsampled to `maxSide`); `decodeDepthMap` turns `data` into floats. */
  depthMap(imagePath: string, maxSide?: number, signal?: AbortSignal): Promise<DepthMapResponse>;
  /** Detection with explicit thresholds (the grounding verifier asks for 0.1 / 0.1). */
  detect(imagePath: string, prompt: string, thresholds?: DetectThresholds, signal?: AbortSignal): Promise<DetectResponse>;
  /** Makes sure the server holds the image (uploading it if not); its hash and upright size. */
  imageInfo(imagePath: string, signal?: AbortSignal): Promise<ImageUploadResponse>;
  /** Images this client has uploaded (tests check that an image goes over the wire once). */
  readonly uploads: number;
}

/** The tool server could not answer (unreachable, 5xx, auth, timeout): not the program's fault. */
export class ToolServerError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ToolServerError';
  }
}

/**
 * Whether a tool-server failure is a configuration problem (exit 2: a wrong token, no server at
 * the URL, a model or the vision model not set up) rather than a failure of the work (exit 1:
 * a timeout, a 500). Only the person can fix the former, and retrying never helps.
 */
export function isConfigToolFailure(err: unknown): err is ToolServerError {
  if (!(err instanceof ToolServerError)) return false;
  return err.status === 401 || err.code === 'unreachable' || (err.status === 503 && PERMANENT_503.has(err.code ?? ''));
}

/**
 * Tools that remember the first `ToolServerError` any call raised. The program sees the failure
 * as a Python exception; the caller uses `failure()` to tell an outage or a configuration
 * problem from a failure of the program itself.
 */
export function watchToolServer(tools: Tools): { tools: Tools; failure(): ToolServerError | undefined } {
  let first: ToolServerError | undefined;
  const seen = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      if (err instanceof ToolServerError) first ??= err;
      throw err;
    });
  return {
    failure: () => first,
    tools: {
      gd_detect: (img, prompt, signal) => seen(tools.gd_detect(img, prompt, signal)),
      depth: (img, bbox, signal) => seen(tools.depth(img, bbox, signal)),
      vqa: (img, bbox, prompt, signal) => seen(tools.vqa(img, bbox, prompt, signal)),
    },
  };
}

/** Python exception type a program sees for a 4xx refusal. */
function pythonType(status: number): string {
  if (status === 404) return 'FileNotFoundError';
  if (status === 403) return 'PermissionError';
  return 'ValueError';
}

/** Codes whose 503 will not change by waiting (a missing model, no VLM configured). */
const PERMANENT_503 = new Set(['model_unavailable', 'vlm_not_configured']);

export function decodeDepthMap(map: DepthMapResponse): Float32Array {
  const buf = Buffer.from(map.data, 'base64');
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

interface Reply {
  status: number;
  body: unknown;
}

export function createToolClient(opts: ToolClientOptions): ToolClient {
  const base = opts.url.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const candidateThreshold = opts.candidateThreshold ?? 0.1;
  const maxRetries = opts.maxRetries ?? 3;
  const retryBaseMs = opts.retryBaseMs ?? 250;
  const hashes = new Map<string, { mtimeMs: number; size: number; sha256: Promise<string> }>();
  /** Per image: the latest upload (in flight or done), so concurrent 404s share it. */
  const uploadsBySha = new Map<string, Promise<ImageUploadResponse>>();
  let uploads = 0;

  const hint =
    opts.unreachableHint ??
    "start one with 'valor serve' and set VALOR_TOOLS_URL (and VALOR_TOOLS_TOKEN) to the URL and token it prints, or unset VALOR_TOOLS_URL to let valor start its own";
  const unreachable = (err: unknown): ToolServerError =>
    new ToolServerError(`cannot reach the tool server at ${base} (${describeNetworkError(err)}): ${hint}`, undefined, 'unreachable');

  async function send(method: string, route: string, body: Buffer | object | undefined, signal?: AbortSignal): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      const deadline = AbortSignal.timeout(timeoutMs);
      const s = signal ? AbortSignal.any([signal, deadline]) : deadline;
      let res: Response;
      try {
        const isBytes = Buffer.isBuffer(body);
        res = await doFetch(`${base}${route}`, {
          method,
          headers: {
            authorization: `Bearer ${opts.token}`,
            ...(body === undefined ? {} : { 'content-type': isBytes ? 'application/octet-stream' : 'application/json' }),
          },
          body: body === undefined ? undefined : isBytes ? new Uint8Array(body) : JSON.stringify(body),
          signal: s,
        });
      } catch (err) {
        if (signal?.aborted) throw abortError();
        if (deadline.aborted) throw new ToolServerError(`the tool server at ${base} did not answer ${method} ${route} within ${Math.round(timeoutMs / 1000)} s; it may be overloaded or stuck: check its log, or raise the client's timeout`, undefined, 'timeout');
        if (attempt < maxRetries && isNetworkFailure(err)) {
          await sleep(retryBaseMs * 2 ** attempt, signal);
          continue;
        }
        throw unreachable(err);
      }
      let parsed: unknown;
      const text = await res.text().catch(() => '');
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      if (res.status === 503 && attempt < maxRetries) {
        const code = ErrorResponse.safeParse(parsed).data?.error.code ?? '';
        if (!PERMANENT_503.has(code)) {
          await sleep(retryBaseMs * 2 ** attempt, signal);
          continue;
        }
      }
      return { status: res.status, body: parsed ?? (text ? { error: { code: 'not_json', message: text.slice(0, 300) } } : undefined) };
    }
  }

  function fail(reply: Reply, what: string): never {
    const e = ErrorResponse.safeParse(reply.body);
    const code = e.success ? e.data.error.code : `http_${reply.status}`;
    const message = e.success ? e.data.error.message : `HTTP ${reply.status} with no error message`;
    if (reply.status === 401) {
      throw new ToolServerError(`the tool server at ${base} refused the token (${message}); set VALOR_TOOLS_TOKEN to the token it printed`, 401, code);
    }
    if (reply.status >= 400 && reply.status < 500) throw new ToolError(`${what}: ${message}`, pythonType(reply.status));
    throw new ToolServerError(`${what}: the tool server at ${base} failed (${reply.status} ${code}): ${message}`, reply.status, code);
  }

  function ok<T>(schema: z.ZodType<T>, reply: Reply, what: string): T {
    if (reply.status !== 200) fail(reply, what);
    const r = schema.safeParse(reply.body);
    if (!r.success) {
      throw new ToolServerError(`${what}: the server at ${base} answered with a body this client does not understand (${r.error.issues[0]?.message ?? 'wrong shape'}); is it a VALOR tool server of the same version?`);
    }
    return r.data;
  }

  /** The image's bytes, read only as a regular file of bounded size (never a FIFO or device), cancellable. */
  async function imageBytes(abs: string, signal?: AbortSignal): Promise<Buffer> {
    try {
      return (await readImageFile(abs, { signal })).bytes;
    } catch (err) {
      if (err instanceof ImageFileError) throw new ToolError(err.message, err.problem === 'missing' ? 'FileNotFoundError' : 'ValueError');
      throw err;
    }
  }

  async function hashOf(imagePath: string, signal?: AbortSignal): Promise<{ abs: string; sha256: string }> {
    const abs = resolve(imagePath);
    let st;
    try {
      st = await stat(abs);
    } catch {
      throw new ToolError(`image file ${abs} does not exist (img_pth must name the image the program was given)`, 'FileNotFoundError');
    }
    if (!st.isFile()) throw new ToolError(`image path ${abs} is not a regular file (a FIFO, device or folder is never read)`, 'ValueError');
    const known = hashes.get(abs);
    if (known && known.mtimeMs === st.mtimeMs && known.size === st.size) return { abs, sha256: await known.sha256 };
    const p = imageBytes(abs, signal).then(sha256Hex);
    hashes.set(abs, { mtimeMs: st.mtimeMs, size: st.size, sha256: p });
    p.catch(() => hashes.delete(abs));
    return { abs, sha256: await p };
  }

  function upload(abs: string, sha256: string, signal?: AbortSignal): Promise<ImageUploadResponse> {
    const p = (async () => {
      const bytes = await imageBytes(abs, signal);
      uploads++;
      const reply = await send('POST', TOOL_ROUTES.images, bytes, signal);
      return ok(ImageUploadResponse, reply, `uploading ${abs}`);
    })();
    uploadsBySha.set(sha256, p);
    p.catch(() => {
      if (uploadsBySha.get(sha256) === p) uploadsBySha.delete(sha256);
    });
    return p;
  }

  /** Sends a request that names the image by hash; uploads once on `unknown_image` and repeats. */
  async function withImage(imagePath: string, request: (image: ImageRef) => Promise<Reply>, signal?: AbortSignal): Promise<Reply> {
    const { abs, sha256 } = await hashOf(imagePath, signal);
    for (let attempt = 0; ; attempt++) {
      const before = uploadsBySha.get(sha256);
      if (before) await before.catch(() => undefined);
      const reply = await request({ sha256 });
      if (reply.status !== 404 || ErrorResponse.safeParse(reply.body).data?.error.code !== 'unknown_image' || attempt >= 2) return reply;
      // Someone uploaded it meanwhile: use that upload; otherwise send the bytes now.
      const after = uploadsBySha.get(sha256);
      await (after && after !== before ? after : upload(abs, sha256, signal));
    }
  }

  const client: ToolClient = {
    url: base,
    get uploads() {
      return uploads;
    },

    async health(signal) {
      return ok(HealthResponse, await send('GET', TOOL_ROUTES.health, undefined, signal), 'health');
    },

    async imageInfo(imagePath, signal) {
      const reply = await withImage(imagePath, (image) => send('GET', `${TOOL_ROUTES.images}/${(image as { sha256: string }).sha256}`, undefined, signal), signal);
      return ok(ImageUploadResponse, reply, `image ${imagePath}`);
    },

    async detect(imagePath, prompt, thresholds = {}, signal) {
      const reply = await withImage(imagePath, (image) => send('POST', TOOL_ROUTES.detect, { image, prompt, ...thresholds }, signal), signal);
      return ok(DetectResponse, reply, 'gd_detect');
    },

    async depthMap(imagePath, maxSide, signal) {
      const reply = await withImage(imagePath, (image) => send('POST', TOOL_ROUTES.depthMap, maxSide === undefined ? { image } : { image, max_side: maxSide }, signal), signal);
      return ok(DepthMapResponse, reply, 'depth map');
    },

    async gd_detect(img_pth, prompt, signal): Promise<ToolResult<Detection[]>> {
      if (typeof prompt !== 'string') throw new ToolError(`gd_detect: prompt must be a string of comma-separated phrases, got ${typeof prompt}`, 'TypeError');
      const thresholds = { box_threshold: DEFAULT_BOX_THRESHOLD, text_threshold: DEFAULT_TEXT_THRESHOLD, candidate_threshold: candidateThreshold };
      const r = await client.detect(img_pth, prompt, thresholds, signal);
      return {
        value: r.detections,
        detail: { candidates: r.candidates ?? [], box_threshold: DEFAULT_BOX_THRESHOLD, text_threshold: DEFAULT_TEXT_THRESHOLD, cached: r.cached, model: r.model },
      };
    },

    async depth(img_pth, bbox, signal): Promise<ToolResult<number>> {
      const reply = await withImage(img_pth, (image) => send('POST', TOOL_ROUTES.depth, { image, bbox }, signal), signal);
      const r = ok(DepthResponse, reply, 'depth');
      return { value: r.depth, detail: { region: r.region, reading: r.reading ?? 'median', cached: r.cached, model: r.model } };
    },

    async prefetch(img_pth, tools, signal): Promise<void> {
      const reply = await withImage(img_pth, (image) => send('POST', TOOL_ROUTES.prefetch, { image, tools }, signal), signal);
      if (reply.status === 202 && PrefetchResponse.safeParse(reply.body).success) return;
      // An older server without the route answers 404 not_found: a hint it cannot take is no error.
      if (reply.status === 404 && ErrorResponse.safeParse(reply.body).data?.error.code === 'not_found') return;
      fail(reply, 'prefetch');
    },

    async vqa(img_pth, bbox: BBox | null, prompt, signal): Promise<ToolResult<string>> {
      const reply = await withImage(img_pth, (image) => send('POST', TOOL_ROUTES.vqa, { image, bbox, prompt }, signal), signal);
      const r = ok(VqaResponse, reply, 'vqa');
      return { value: r.answer, detail: { crop: r.crop, cached: r.cached, model: r.model } };
    },
  };
  return client;
}

/** Socket error codes worth another try: nothing listening yet, or a kept-alive connection the server closed as it was reused. */
const RETRYABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The socket's error code of a failed fetch (fetch rejects with a TypeError whose cause has it). */
export function networkErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether a failed fetch failed at the socket (refused, reset, closed): worth a retry, the server may be away. */
export function isNetworkFailure(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && RETRYABLE_NETWORK_CODES.has(code);
}

function describeNetworkError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  return cause?.message ?? e?.message ?? String(err);
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
