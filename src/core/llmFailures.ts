/**
 * Why a language-model call failed, in words a person can act on: an HTTP status from the
 * endpoint (401/403 the key, 429 rate limit, 5xx the server, 404 the URL or model, other 4xx the
 * request) or a network failure (refused, unresolvable, dropped), each marked retryable or not and
 * with the server's `Retry-After`. The key never appears in a message and the URL is shown
 * without credentials. Used by llmClient.ts; the retry loop that reads the verdict is llmRetries.ts.
 */
import { APIError } from 'openai';
import type { ChatErrorKind } from './chat.js';

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

/** The URL as it may appear in messages: no user:password part. */
export function displayUrl(u: string): string {
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

/** One failed attempt, classified. */
export interface Classified {
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

/** Classifies the failures of calls to one endpoint and model. */
export class FailureClassifier {
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
