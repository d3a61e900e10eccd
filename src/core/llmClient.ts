/**
 * The language-model client: `ChatClient` (src/core/chat.ts) over the `openai` package, for any
 * OpenAI-compatible endpoint (vLLM serving the VALOR checkpoint, OpenAI, a local server).
 *
 * Why our own machinery around the SDK:
 * - Retries are ours (the SDK's are switched off) so one policy covers every caller: 429, 5xx and
 *   network errors are retried with exponential backoff and jitter, honouring `Retry-After`;
 *   other 4xx are not (retrying a bad key or a bad request only delays the message).
 * - The timeout is a deadline for the whole call, retries and waits included, so a caller knows
 *   the longest it can wait; cancellation goes through the same path and returns promptly even
 *   if the SDK is slow to notice.
 * - `top_k`, `min_p` and `extra_body` go into the JSON body as extra fields, which is how vLLM
 *   receives them (the OpenAI API has no such parameters).
 * - Replies are cached on disk by the content of the request (endpoint, model, messages,
 *   sampling, response format), never by the key, so re-runs and re-scoring are instant.
 * - The key is resolved per call from a provider and never appears in messages or logs.
 */
import OpenAI, { APIError, APIUserAbortError } from 'openai';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ChatError, type ChatClient, type ChatErrorKind, type ChatRequest, type ChatResponse, type EndpointConfig, type Sampling } from './chat.js';
import { cacheKey, createDiskCache, type DiskCache } from './diskCache.js';

export interface ChatClientOptions extends EndpointConfig {
  /** Replaces global fetch (tests, proxies). Receives exactly what would go over the wire. */
  fetch?: typeof fetch;
  /** Deadline for one `complete`/`stream` call, retries included. Default 120000 ms. */
  timeoutMs?: number;
  /** Retries after the first attempt (429, 5xx, network). Default 4. */
  maxRetries?: number;
  /** First backoff step; doubles per retry, with jitter. Default 500 ms. */
  retryBaseMs?: number;
  /** Longest single wait between attempts (also caps `Retry-After`). Default 30000 ms. */
  retryMaxMs?: number;
  /** Folder of the reply cache; `false` disables it. Default: `defaultLlmCacheDir()`. */
  cacheDir?: string | false;
  /**
   * What a person should do when the endpoint rejects the key, e.g.
   * "set VALOR_JUDGE_API_KEY" or "run 'VALOR: Set API Key'". Default mentions VALOR_LLM_API_KEY.
   */
  keyHint?: string;
  /**
   * The settings a person changes to fix the base URL or the model, named in error messages:
   * e.g. `{ baseUrl: 'VALOR_JUDGE_BASE_URL', model: 'VALOR_JUDGE_MODEL' }` or VS Code setting ids.
   * Default: the generator's variables.
   */
  settingNames?: { baseUrl: string; model: string };
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
}

const DEFAULT_KEY_HINT = 'set VALOR_LLM_API_KEY (or OPENAI_API_KEY) to a key this endpoint accepts';

/**
 * The API key from the environment: `primary` first, then each fallback (default OPENAI_API_KEY).
 * Empty or whitespace-only values count as unset.
 */
export function resolveApiKeyFromEnv(
  env: Record<string, string | undefined>,
  primary: string = 'VALOR_LLM_API_KEY',
  fallbacks: readonly string[] = ['OPENAI_API_KEY'],
): string | undefined {
  for (const name of [primary, ...fallbacks]) {
    const v = env[name]?.trim();
    if (v) return v;
  }
  return undefined;
}

/** Where replies are cached by default: $VALOR_CACHE_DIR/llm, else $XDG_CACHE_HOME or ~/.cache, under valor-studio/llm. */
export function defaultLlmCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.VALOR_CACHE_DIR) return join(env.VALOR_CACHE_DIR, 'llm');
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'valor-studio', 'llm');
}

/** The cache key of a request: what determines the reply, and nothing secret. */
export function llmCacheKey(baseUrl: string, model: string, req: Pick<ChatRequest, 'messages' | 'sampling' | 'response_format'>): string {
  return cacheKey({ v: 1, baseUrl: normalizeBaseUrl(baseUrl), model, messages: req.messages, sampling: req.sampling ?? {}, response_format: req.response_format ?? null });
}

/** The JSON body sent for a request (exported so callers and tests can see exactly what goes out). */
export function buildChatBody(model: string, req: ChatRequest, stream: boolean): Record<string, unknown> {
  const s: Sampling = req.sampling ?? {};
  const body: Record<string, unknown> = { model, messages: req.messages };
  if (s.temperature !== undefined) body.temperature = s.temperature;
  if (s.top_p !== undefined) body.top_p = s.top_p;
  if (s.top_k !== undefined) body.top_k = s.top_k;
  if (s.min_p !== undefined) body.min_p = s.min_p;
  if (s.max_tokens !== undefined) body.max_tokens = s.max_tokens;
  if (s.seed !== undefined) body.seed = s.seed;
  if (req.response_format) body.response_format = req.response_format;
  if (s.extra_body) {
    for (const [k, v] of Object.entries(s.extra_body)) {
      // The request's own identity is not overridable from extra fields.
      if (k === 'model' || k === 'messages' || k === 'stream') continue;
      body[k] = v;
    }
  }
  if (stream) body.stream = true;
  return body;
}

/** Parses `Retry-After` (seconds or HTTP date) or `retry-after-ms`; undefined when absent or unusable. */
export function parseRetryAfterMs(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function normalizeBaseUrl(u: string): string {
  return u.trim().replace(/\/+$/, '');
}

/** The URL as it may appear in messages: no user:password part. */
function displayUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/+$/, '');
  } catch {
    return u;
  }
}

function redact(text: string, key: string | undefined): string {
  let t = text;
  if (key && key.length >= 4) t = t.split(key).join('***');
  return t.length > 400 ? `${t.slice(0, 400)}…` : t;
}

interface Classified {
  kind: ChatErrorKind;
  status?: number;
  retryable: boolean;
  retryAfterMs?: number;
  message: string;
}

function causeChain(e: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 6 && cur; i++) {
    const c = cur as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof c.code === 'string') out.push(c.code);
    if (typeof c.message === 'string') out.push(c.message);
    cur = c.cause;
  }
  return out;
}

class Attempts {
  constructor(
    readonly baseUrl: string,
    readonly model: string,
    readonly keyHint: string,
    readonly baseUrlSetting: string,
  ) {}

  classify(e: unknown, key: string | undefined): Classified {
    const url = displayUrl(this.baseUrl);
    if (e instanceof APIError && typeof e.status === 'number') {
      const status = e.status;
      const err = e.error as { message?: unknown; error?: { message?: unknown } } | string | undefined;
      const serverMsg =
        typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : typeof err?.error?.message === 'string' ? err.error.message : e.message;
      const said = serverMsg ? `: "${redact(String(serverMsg), key)}"` : '';
      if (status === 401 || status === 403) {
        const why = key ? 'the API key was rejected' : 'no API key was sent';
        return { kind: 'auth', status, retryable: false, message: `the endpoint ${url} answered ${status}${said}. ${why}: ${this.keyHint}.` };
      }
      if (status === 429) {
        return { kind: 'rate_limit', status, retryable: true, retryAfterMs: parseRetryAfterMs(e.headers), message: `the endpoint ${url} kept answering 429 (rate limited)${said}. Wait and try again, lower the concurrency, or raise the plan's limits.` };
      }
      if (status >= 500) {
        return { kind: 'server', status, retryable: true, retryAfterMs: parseRetryAfterMs(e.headers), message: `the endpoint ${url} answered ${status} (server error)${said}. Check the server's logs; the request was retried.` };
      }
      if (status === 404) {
        return { kind: 'bad_request', status, retryable: false, message: `the endpoint ${url} answered 404 for /chat/completions with model "${this.model}"${said}. Check the base URL (most servers expect it to end in /v1) and the model id (GET ${url}/models lists them).` };
      }
      return { kind: 'bad_request', status, retryable: false, message: `the endpoint ${url} rejected the request with ${status}${said}. Check the model id "${this.model}" and the sampling settings this server accepts.` };
    }
    const chain = causeChain(e);
    const code = chain.find((s) => /^E[A-Z_]+$/.test(s) || /^UND_ERR/.test(s));
    const detail = code ?? chain.find((s) => s && s !== 'Connection error.' && s !== 'fetch failed') ?? 'connection failed';
    const setting = this.baseUrlSetting;
    let hint = `Check that the server is running and reachable, and the base URL (${setting}).`;
    if (code === 'ECONNREFUSED') hint = `Nothing is listening there: start the server, or fix the base URL (${setting}).`;
    else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') hint = `The host name does not resolve: fix the base URL (${setting}) or the network.`;
    return { kind: 'network', retryable: true, message: `could not reach the endpoint ${url} (${redact(detail, key)}). ${hint}` };
  }
}

const TIMEOUT = Symbol('timeout');
const CANCEL = Symbol('cancel');

function cancelled(): ChatError {
  return new ChatError('the language-model call was cancelled', 'cancelled');
}

/** Rejects when `signal` aborts; the returned `off` detaches the listener. */
function abortRace(signal: AbortSignal): { promise: Promise<never>; off: () => void } {
  let off = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    const on = (): void => reject(signal.reason);
    if (signal.aborted) return on();
    signal.addEventListener('abort', on, { once: true });
    off = () => signal.removeEventListener('abort', on);
  });
  promise.catch(() => undefined);
  return { promise, off };
}

/** Waits `ms`, rejecting with a cancelled ChatError as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', on);
      resolve();
    }, ms);
    const on = (): void => {
      clearTimeout(t);
      reject(cancelled());
    };
    signal?.addEventListener('abort', on, { once: true });
  });
}

interface CachedReply {
  text: string;
  model: string;
  finish_reason?: string | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

function validateCached(raw: unknown): CachedReply | undefined {
  const r = raw as Partial<CachedReply> | null;
  if (!r || typeof r !== 'object' || typeof r.text !== 'string' || typeof r.model !== 'string') return undefined;
  return { text: r.text, model: r.model, finish_reason: r.finish_reason ?? null, usage: r.usage };
}

export function createChatClient(config: ChatClientOptions): ChatClient {
  const baseUrl = normalizeBaseUrl(config.baseUrl ?? '');
  const model = (config.model ?? '').trim();
  const names = config.settingNames ?? { baseUrl: 'VALOR_LLM_BASE_URL', model: 'VALOR_LLM_MODEL' };
  if (!baseUrl) throw new ChatError(`no language-model endpoint is configured: set ${names.baseUrl} (e.g. http://localhost:8000/v1)`, 'config');
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ChatError(`the language-model base URL "${displayUrl(baseUrl)}" is not an http(s) URL: set ${names.baseUrl} to something like http://localhost:8000/v1`, 'config');
  }
  if (!model) throw new ChatError(`no model is configured for ${displayUrl(baseUrl)}: set ${names.model} to one of the ids the server lists at GET /models`, 'config');

  const timeoutMs = config.timeoutMs ?? 120_000;
  const maxRetries = Math.max(0, config.maxRetries ?? 4);
  const retryBaseMs = Math.max(0, config.retryBaseMs ?? 500);
  const retryMaxMs = Math.max(0, config.retryMaxMs ?? 30_000);
  const random = config.random ?? Math.random;
  const cacheDir = config.cacheDir === undefined ? defaultLlmCacheDir() : config.cacheDir;
  const cache: DiskCache<CachedReply> | undefined = cacheDir === false ? undefined : createDiskCache<CachedReply>(cacheDir, { validate: validateCached });
  const attempts = new Attempts(baseUrl, model, config.keyHint ?? DEFAULT_KEY_HINT, names.baseUrl);

  // One SDK client per distinct key (keys can change between calls, e.g. SecretStorage).
  let sdk: { key: string | undefined; client: OpenAI } | undefined;
  const sdkFor = (key: string | undefined): OpenAI => {
    if (sdk && sdk.key === key) return sdk.client;
    const client = new OpenAI({
      baseURL: baseUrl,
      // The SDK insists on a key; without one we send a placeholder and then drop the header, so
      // local servers see no Authorization at all.
      apiKey: key ?? 'no-key',
      defaultHeaders: key ? undefined : { Authorization: null },
      // Explicit nulls: never pick up OPENAI_ORG_ID / OPENAI_PROJECT_ID / OPENAI_ADMIN_KEY from the
      // environment and send them to an unrelated endpoint.
      organization: null,
      project: null,
      adminAPIKey: null,
      maxRetries: 0,
      timeout: timeoutMs + 60_000, // our own deadline fires first
      fetch: config.fetch,
      logLevel: 'off',
    });
    sdk = { key, client };
    return client;
  };

  const resolveKey = async (): Promise<string | undefined> => {
    const k = typeof config.apiKey === 'function' ? await config.apiKey() : undefined;
    const t = k?.trim();
    return t ? t : undefined;
  };

  /** Runs `attempt` with retries under one deadline; `mayRetry` lets streaming refuse once output was delivered. */
  const run = async <T>(
    req: ChatRequest,
    signal: AbortSignal | undefined,
    attempt: (client: OpenAI, signal: AbortSignal) => Promise<T>,
    mayRetry: () => boolean = () => true,
  ): Promise<T> => {
    const limit = req.timeoutMs ?? timeoutMs;
    const deadline = Date.now() + limit;
    if (signal?.aborted) throw cancelled();
    const key = await resolveKey();
    const client = sdkFor(key);
    for (let i = 0; ; i++) {
      if (signal?.aborted) throw cancelled();
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new ChatError(`no answer from ${displayUrl(baseUrl)} within ${limit} ms (timeout): the server may be overloaded or stuck; raise the timeout or check the server`, 'timeout');
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(TIMEOUT), remaining);
      const onAbort = (): void => ac.abort(CANCEL);
      signal?.addEventListener('abort', onAbort, { once: true });
      const race = abortRace(ac.signal);
      let failure: Classified;
      try {
        return await Promise.race([attempt(client, ac.signal), race.promise]);
      } catch (e) {
        if (ac.signal.aborted && ac.signal.reason === CANCEL) throw cancelled();
        if (ac.signal.aborted && ac.signal.reason === TIMEOUT) {
          throw new ChatError(`no answer from ${displayUrl(baseUrl)} within ${limit} ms (timeout): the server may be overloaded or stuck; raise the timeout or check the server`, 'timeout');
        }
        if (e instanceof ChatError) throw e;
        if (e instanceof APIUserAbortError) throw cancelled();
        failure = attempts.classify(e, key);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        race.off();
      }
      const tries = i + 1;
      if (!failure.retryable || i >= maxRetries || !mayRetry()) {
        const suffix = failure.retryable && tries > 1 ? ` (gave up after ${tries} attempts)` : '';
        throw new ChatError(failure.message + suffix, failure.kind, failure.status);
      }
      const backoff = Math.min(retryMaxMs, retryBaseMs * 2 ** i) * (0.5 + 0.5 * random());
      const wait = Math.min(retryMaxMs, failure.retryAfterMs ?? backoff);
      if (Date.now() + wait >= deadline) {
        throw new ChatError(`${failure.message} (gave up after ${tries} attempts: the next retry would pass the ${limit} ms timeout)`, failure.kind, failure.status);
      }
      await sleep(wait, signal);
    }
  };

  const cacheLookup = async (req: ChatRequest): Promise<{ key?: string; hit?: CachedReply }> => {
    if (!cache || req.noCache) return {};
    const key = llmCacheKey(baseUrl, model, req);
    if (req.refresh) return { key };
    const hit = await cache.get(key);
    // A reply cached before its caller validated replies, and that the caller rejects, is not replayed.
    if (hit && req.accept && !req.accept(hit.text)) return { key };
    return { key, hit };
  };
  const store = async (key: string | undefined, req: ChatRequest, result: CachedReply): Promise<void> => {
    if (!key || !cache) return;
    if (req.accept && !req.accept(result.text)) return;
    await cache.set(key, result);
  };

  const complete = async (req: ChatRequest, signal?: AbortSignal): Promise<ChatResponse> => {
    const t0 = performance.now();
    if (signal?.aborted) throw cancelled();
    const { key: ck, hit } = await cacheLookup(req);
    if (hit) return { ...hit, cached: true, ms: performance.now() - t0 };
    const body = buildChatBody(model, req, false);
    const result = await run(req, signal, async (client, s) => {
      const c = await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal: s, maxRetries: 0 });
      const choice = c.choices?.[0];
      if (!choice) throw new ChatError(`the endpoint ${displayUrl(baseUrl)} answered without any choices: check that model "${model}" serves chat completions`, 'server');
      const reply: CachedReply = { text: choice.message?.content ?? '', model: c.model || model, finish_reason: choice.finish_reason ?? null };
      if (c.usage) reply.usage = { prompt_tokens: c.usage.prompt_tokens, completion_tokens: c.usage.completion_tokens };
      return reply;
    });
    await store(ck, req, result);
    return { ...result, cached: false, ms: performance.now() - t0 };
  };

  const stream = async (req: ChatRequest, onDelta: (delta: string) => void, signal?: AbortSignal): Promise<ChatResponse> => {
    const t0 = performance.now();
    if (signal?.aborted) throw cancelled();
    const { key: ck, hit } = await cacheLookup(req);
    if (hit) {
      if (hit.text) onDelta(hit.text);
      return { ...hit, cached: true, ms: performance.now() - t0 };
    }
    const body = buildChatBody(model, req, true);
    let delivered = false;
    const result = await run(
      req,
      signal,
      async (client, s) => {
        const st = await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming, { signal: s, maxRetries: 0 });
        let text = '';
        let reported = '';
        let finish: string | null = null;
        let usage: CachedReply['usage'];
        for await (const chunk of st) {
          if (s.aborted) break;
          if (chunk.model) reported = chunk.model;
          if (chunk.usage) usage = { prompt_tokens: chunk.usage.prompt_tokens, completion_tokens: chunk.usage.completion_tokens };
          const ch = chunk.choices?.[0];
          if (!ch) continue;
          const d = ch.delta?.content;
          if (d) {
            text += d;
            delivered = true;
            onDelta(d);
          }
          if (ch.finish_reason) finish = ch.finish_reason;
        }
        if (s.aborted) throw s.reason;
        const reply: CachedReply = { text, model: reported || model, finish_reason: finish };
        if (usage) reply.usage = usage;
        return reply;
      },
      () => !delivered,
    );
    await store(ck, req, result);
    return { ...result, cached: false, ms: performance.now() - t0 };
  };

  return { baseUrl, model, complete, stream };
}
