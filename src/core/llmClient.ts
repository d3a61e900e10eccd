/**
 * The language-model client: `ChatClient` (src/core/chat.ts) over the `openai` package, for any
 * OpenAI-compatible endpoint (vLLM serving the VALOR checkpoint, OpenAI, a local server).
 *
 * Why our own machinery around the SDK:
 * - Retries are ours (the SDK's are switched off) so one policy covers every caller: 429, 5xx and
 *   network errors are retried with exponential backoff and jitter, honouring `Retry-After`;
 *   other 4xx are not (retrying a bad key or a bad request only delays the message). The loop is
 *   llmRetries.ts, the classification of failures llmFailures.ts.
 * - The timeout is a deadline for the whole call, retries and waits included, so a caller knows
 *   the longest it can wait; cancellation goes through the same path and returns promptly even
 *   if the SDK is slow to notice.
 * - `top_k`, `min_p` and `extra_body` go into the JSON body as extra fields, which is how vLLM
 *   receives them (the OpenAI API has no such parameters).
 * - Replies are cached on disk by the content of the request (endpoint, model, messages,
 *   sampling, response format), never by the key, so re-runs and re-scoring are instant
 *   (llmReplyCache.ts).
 * - The key is resolved per call from a provider and never appears in messages or logs.
 */
import OpenAI from 'openai';
import { ChatError, type ChatClient, type ChatRequest, type ChatResponse, type EndpointConfig, type Sampling } from './chat.js';
import { displayUrl, FailureClassifier } from './llmFailures.js';
import { createReplyCache, defaultLlmCacheDir, normalizeBaseUrl, type CachedReply } from './llmReplyCache.js';
import { cancelled, withRetries } from './llmRetries.js';

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
  const cache = createReplyCache(cacheDir, baseUrl, model);
  const classifier = new FailureClassifier(baseUrl, model, config.keyHint ?? DEFAULT_KEY_HINT, names.baseUrl);

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
    const policy = { maxRetries, retryBaseMs, retryMaxMs, random, url: displayUrl(baseUrl), classify: (e: unknown) => classifier.classify(e, key) };
    return withRetries(policy, { limit, deadline }, signal, (s) => attempt(client, s), mayRetry);
  };

  const complete = async (req: ChatRequest, signal?: AbortSignal): Promise<ChatResponse> => {
    const t0 = performance.now();
    if (signal?.aborted) throw cancelled();
    const { key: ck, hit } = await cache.lookup(req);
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
    await cache.store(ck, req, result);
    return { ...result, cached: false, ms: performance.now() - t0 };
  };

  const stream = async (req: ChatRequest, onDelta: (delta: string) => void, signal?: AbortSignal): Promise<ChatResponse> => {
    const t0 = performance.now();
    if (signal?.aborted) throw cancelled();
    const { key: ck, hit } = await cache.lookup(req);
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
    await cache.store(ck, req, result);
    return { ...result, cached: false, ms: performance.now() - t0 };
  };

  return { baseUrl, model, complete, stream };
}
