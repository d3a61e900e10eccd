/**
 * The language-model reply cache: replies kept on disk by the content of the request (endpoint,
 * model, messages, sampling, response format), never by the key, so re-runs and re-scoring are
 * instant. A caller's `accept` check applies both ways: a rejected reply is neither stored nor
 * replayed. Used by llmClient.ts.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ChatRequest } from './chat.js';
import { cacheKey, createDiskCache } from './diskCache.js';

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

/** The base URL as the cache key and the SDK see it: trimmed, without trailing slashes. */
export function normalizeBaseUrl(u: string): string {
  return u.trim().replace(/\/+$/, '');
}

export interface CachedReply {
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

export interface ReplyCache {
  /** The request's cache key (undefined when it is not cached) and a reply to replay, if any. */
  lookup(req: ChatRequest): Promise<{ key?: string; hit?: CachedReply }>;
  /** Keeps `result` under `key`, unless the request's `accept` rejects it. */
  store(key: string | undefined, req: ChatRequest, result: CachedReply): Promise<void>;
}

/** The cache of one endpoint and model in `cacheDir`; `false` caches nothing. */
export function createReplyCache(cacheDir: string | false, baseUrl: string, model: string): ReplyCache {
  const cache = cacheDir === false ? undefined : createDiskCache<CachedReply>(cacheDir, { validate: validateCached });
  return {
    async lookup(req) {
      if (!cache || req.noCache) return {};
      const key = llmCacheKey(baseUrl, model, req);
      if (req.refresh) return { key };
      const hit = await cache.get(key);
      // A reply cached before its caller validated replies, and that the caller rejects, is not replayed.
      if (hit && req.accept && !req.accept(hit.text)) return { key };
      return { key, hit };
    },
    async store(key, req, result) {
      if (!key || !cache) return;
      if (req.accept && !req.accept(result.text)) return;
      await cache.set(key, result);
    },
  };
}
