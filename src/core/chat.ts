/**
 * The language-model contract used by generation, judges, VQA and the grounding verifier.
 * Implemented over the `openai` package in src/core/llmClient.ts (any OpenAI-compatible base
 * URL). Consumers depend on this interface only, so tests can also drive them through the real
 * client against the local OpenAI-compatible test server (test/helpers/openaiServer.ts).
 */

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'low' | 'high' | 'auto' } };

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | ContentPart[];
}

/** Sampling settings. Unset fields are not sent. `top_k`/`min_p` travel as extra body fields (vLLM). */
export interface Sampling {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  max_tokens?: number;
  seed?: number;
  /** Extra body fields sent as they are (e.g. `chat_template_kwargs: { enable_thinking: false }`). */
  extra_body?: Record<string, unknown>;
}

/** VALOR's reference generation settings for the Qwen3-8B policy (docs/valor.md §1). */
export const VALOR_SAMPLING: Readonly<Sampling> = Object.freeze({
  temperature: 0.7,
  top_p: 0.8,
  top_k: 20,
  min_p: 0,
  extra_body: { chat_template_kwargs: { enable_thinking: false } },
});

export interface JsonSchemaFormat {
  type: 'json_schema';
  json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean };
}

export interface ChatRequest {
  messages: ChatMessage[];
  sampling?: Sampling;
  /** Structured output, where the endpoint supports it. */
  response_format?: JsonSchemaFormat;
  /** Per-call timeout in ms (overrides the client's default). */
  timeoutMs?: number;
  /** Skip the on-disk response cache for this call (neither read nor written). */
  noCache?: boolean;
  /** Ask the endpoint even when a reply is cached, and cache the new reply (when accepted). */
  refresh?: boolean;
  /**
   * Whether a reply is a usable result and may be cached. A reply the caller cannot use (an
   * unparseable verdict) must not be replayed on the next run; without this, every reply is kept.
   */
  accept?: (text: string) => boolean;
}

export interface ChatResponse {
  text: string;
  /** Model id the server reported (falls back to the configured one). */
  model: string;
  cached: boolean;
  ms: number;
  finish_reason?: string | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

export interface ChatClient {
  readonly baseUrl: string;
  readonly model: string;
  complete(req: ChatRequest, signal?: AbortSignal): Promise<ChatResponse>;
  /** Streams text deltas to `onDelta`; resolves with the whole reply. */
  stream(req: ChatRequest, onDelta: (delta: string) => void, signal?: AbortSignal): Promise<ChatResponse>;
}

export type ChatErrorKind = 'config' | 'auth' | 'rate_limit' | 'timeout' | 'network' | 'server' | 'bad_request' | 'cancelled';

/** A failed language-model call after retries, with a message a person can act on. */
export class ChatError extends Error {
  constructor(
    message: string,
    readonly kind: ChatErrorKind,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

/** Where a model lives. The key comes from a provider so nothing stores it (SecretStorage, env). */
export interface EndpointConfig {
  baseUrl: string;
  model: string;
  apiKey?: () => Promise<string | undefined> | string | undefined;
}
