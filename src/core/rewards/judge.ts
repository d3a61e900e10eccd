/**
 * One language-model judge call, start to verdict: structured output where the endpoint takes it
 * (a tagged fallback where it does not), strict validation, one re-ask with the specific
 * problem, and an explicit `error` state when the judge cannot give a usable verdict. A failed
 * judge never becomes a silent 0 (docs/valor.md §7).
 *
 * Identical requests (same endpoint, model, messages, format) share one verdict through a
 * `VerdictCache`, in flight included, so concurrent scorings of the same reply make one call.
 * Only validated verdicts are cached, here and in the client's reply cache on disk: a failed
 * call or an unparseable reply is never stored, so the next scoring asks again. `refresh` asks
 * again even when a verdict is cached.
 */
import { createHash } from 'node:crypto';
import { ChatError, type ChatClient, type ChatMessage, type ChatRequest, type ChatResponse } from '../chat.js';
import type { Verdict } from '../../protocol/run.js';
import type { Semaphore } from '../concurrency.js';
import { parseJudgeReply } from './verdictParse.js';
import { parseReferenceReply, referenceCorrection, referenceJudgeMessages, type ReferenceJudgeSet } from './judgeSet.js';
import { boundCites, citeBounds, type RawCites } from './cites.js';
import { citesProgram, correctionMessage, JUDGE_PROMPT_VERSION, judgeMessages, verdictResponseFormat, type JudgeMaterial, type JudgeReward, type VerdictMode } from './rubrics.js';

/** Judges are asked to be deterministic so re-scoring gives the same verdict and caches hit. */
export const JUDGE_SAMPLING = Object.freeze({ temperature: 0, max_tokens: 1024 });

/** `auto` tries JSON schema first and falls back to tags once the endpoint refuses it. */
export type StructuredMode = 'auto' | VerdictMode;

export interface VerdictCache {
  get(key: string): Promise<Verdict> | undefined;
  set(key: string, value: Promise<Verdict>): void;
  delete(key: string): void;
  readonly size: number;
  clear(): void;
}

/** An in-memory LRU of verdicts (promises, so in-flight requests are shared). */
export function createVerdictCache(maxEntries = 20_000): VerdictCache {
  const map = new Map<string, Promise<Verdict>>();
  return {
    get(key) {
      const v = map.get(key);
      if (v !== undefined) {
        map.delete(key);
        map.set(key, v);
      }
      return v;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, value);
      while (map.size > maxEntries) {
        const oldest = map.keys().next().value;
        if (oldest === undefined) break;
        map.delete(oldest);
      }
    },
    delete(key) {
      map.delete(key);
    },
    get size() {
      return map.size;
    },
    clear() {
      map.clear();
    },
  };
}

/** Shared by default so a CLI run, a batch and a server all reuse verdicts within one process. */
export const defaultVerdictCache: VerdictCache = createVerdictCache();

// Endpoints (base URL + model) seen to refuse `response_format: json_schema` in this process.
const noJsonSchema = new Set<string>();

/** Forget which endpoints refused JSON schema (tests). */
export function resetStructuredSupport(): void {
  noJsonSchema.clear();
}

function endpointKey(client: ChatClient): string {
  return `${client.baseUrl}\u0000${client.model}`;
}

/** A 400/422 that names structured output: the endpoint does not take `json_schema`. */
export function refusesStructuredOutput(err: unknown): boolean {
  if (!(err instanceof ChatError)) return false;
  if (err.kind !== 'bad_request' && err.status !== 400 && err.status !== 422) return false;
  return /response_format|json_schema|structured|guided|schema/i.test(err.message);
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  if (err instanceof ChatError && err.kind === 'cancelled') return true;
  return (err as { name?: string } | null)?.name === 'AbortError';
}

export interface JudgeCallOptions {
  reward: JudgeReward;
  material: JudgeMaterial;
  client: ChatClient;
  /** Data URL of the image for the optional vision judge; absent for text-only judges. */
  imageDataUrl?: string;
  structured?: StructuredMode;
  /** VALOR-shaped prompt files (./judgeSet.ts); absent: our rubrics. */
  judgeSet?: ReferenceJudgeSet;
  cache?: VerdictCache;
  /** Bounds judge requests in flight across everything sharing it. */
  semaphore?: Semaphore;
  timeoutMs?: number;
  /** Ask the judge even when a verdict or reply is cached (the new one is cached). */
  refresh?: boolean;
  signal?: AbortSignal;
}

type RequestMode = VerdictMode | 'reference';

/** The sentence every failed verdict ends with: nothing was kept, so running again retries. */
export const JUDGE_RETRY_HINT = 'nothing of this failure was cached: score again to ask the judge again';

/**
 * The verdict cache key: everything that shapes the request (the exact messages, the schema asked
 * for, the sampling) plus the prompt version, so a change to what judges are asked, or to how
 * their replies are read, never replays a verdict made the old way.
 */
export function verdictCacheKey(client: Pick<ChatClient, 'baseUrl' | 'model'>, reward: JudgeReward, messages: ChatMessage[], mode: RequestMode, imageDataUrl: string | undefined): string {
  const h = createHash('sha256');
  const format = mode === 'json_schema' ? verdictResponseFormat(reward) : null;
  h.update(JSON.stringify({ v: 2, prompt_version: JUDGE_PROMPT_VERSION, base: client.baseUrl, model: client.model, mode, sampling: JUDGE_SAMPLING, format, messages }));
  if (imageDataUrl) h.update(imageDataUrl);
  return h.digest('hex');
}

/** Runs one judge and returns its verdict; throws only when cancelled. */
export async function runJudge(opts: JudgeCallOptions): Promise<Verdict> {
  const { client, reward } = opts;
  const cache = opts.cache ?? defaultVerdictCache;
  const wanted = opts.structured ?? 'auto';
  const mode: RequestMode = opts.judgeSet
    ? 'reference'
    : wanted === 'auto'
      ? noJsonSchema.has(endpointKey(client))
        ? 'tagged'
        : 'json_schema'
      : wanted;
  const messages = messagesFor(opts, mode);
  const key = verdictCacheKey(client, reward, messages, mode, opts.imageDataUrl);

  const hit = opts.refresh ? undefined : cache.get(key);
  if (hit) {
    try {
      const v = await hit;
      return { ...v, cached: true };
    } catch {
      // the shared attempt was cancelled; fall through and make our own
    }
  }
  const pending = judgeUncached(opts, mode, messages);
  cache.set(key, pending);
  try {
    const verdict = await pending;
    // A verdict in error is not worth keeping: the next scoring should try again.
    if (verdict.state === 'error') {
      cache.delete(key);
    } else if (mode === 'json_schema' && wanted === 'auto' && noJsonSchema.has(endpointKey(client))) {
      // The endpoint refused JSON schema mid-way, so the verdict was made in tagged mode; file it
      // under the tagged request too, which is what the next identical scoring will look up.
      const taggedKey = verdictCacheKey(client, reward, judgeMessages(reward, 'tagged', opts.material, opts.imageDataUrl), 'tagged', opts.imageDataUrl);
      cache.set(taggedKey, Promise.resolve(verdict));
    }
    return verdict;
  } catch (err) {
    cache.delete(key);
    throw err;
  }
}

function messagesFor(opts: JudgeCallOptions, mode: RequestMode): ChatMessage[] {
  if (mode === 'reference') {
    if (!opts.judgeSet) throw new Error('reference mode needs a judge set');
    // The reference judges are text-only; an image for the vision judge goes along as a second part.
    const msgs = referenceJudgeMessages(opts.judgeSet, opts.reward, opts.material);
    if (!opts.imageDataUrl) return msgs;
    const text = msgs[0]?.content as string;
    return [{ role: 'user', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: opts.imageDataUrl } }] }];
  }
  return judgeMessages(opts.reward, mode, opts.material, opts.imageDataUrl);
}

function parseFor(mode: RequestMode, text: string): { ok: true; score: 0 | 1; rationale: string; cites?: RawCites } | { ok: false; problem: string } {
  // Reference judges are not asked for cites (VALOR's prompts stay as they are), so none are read.
  return mode === 'reference' ? parseReferenceReply(text) : parseJudgeReply(text);
}

async function judgeUncached(opts: JudgeCallOptions, initialMode: RequestMode, initialMessages: ChatMessage[]): Promise<Verdict> {
  const { client, reward, signal } = opts;
  const started = performance.now();
  let mode = initialMode;
  let messages = initialMessages;
  let lastReply: ChatResponse | undefined;
  let allCached = true;

  const call = async (msgs: ChatMessage[]): Promise<ChatResponse> => {
    // Only a reply that reads as a verdict may be cached (and replayed on the next scoring).
    const req: ChatRequest = { messages: msgs, sampling: { ...JUDGE_SAMPLING }, accept: (text) => parseFor(mode, text).ok };
    if (opts.refresh) req.refresh = true;
    if (mode === 'json_schema') req.response_format = verdictResponseFormat(reward);
    if (opts.timeoutMs !== undefined) req.timeoutMs = opts.timeoutMs;
    const doCall = (): Promise<ChatResponse> => client.complete(req, signal);
    return opts.semaphore ? opts.semaphore.run(doCall, signal) : doCall();
  };

  const base = (): Pick<Verdict, 'reward' | 'judge' | 'prompt' | 'saw_image'> => ({
    reward,
    judge: lastReply?.model ?? client.model,
    prompt: messages,
    saw_image: opts.imageDataUrl !== undefined,
  });
  const errorVerdict = (message: string): Verdict => ({
    ...base(),
    state: 'error',
    value: null,
    rationale: '',
    error: `${message}; ${JUDGE_RETRY_HINT}`,
    raw_reply: lastReply?.text,
    ms: Math.round(performance.now() - started),
    cached: false,
  });

  const attempt = async (msgs: ChatMessage[]): Promise<ChatResponse | Verdict> => {
    try {
      return await call(msgs);
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      if (mode === 'json_schema' && opts.structured !== 'json_schema' && refusesStructuredOutput(err)) {
        noJsonSchema.add(endpointKey(client));
        mode = 'tagged';
        messages = messagesFor(opts, mode);
        return attempt(messages);
      }
      const e = err as Error;
      const kind = err instanceof ChatError ? ` (${err.kind}${err.status ? ` ${err.status}` : ''})` : '';
      return errorVerdict(`the ${reward} judge at ${client.baseUrl} (model ${client.model}) failed${kind}: ${e?.message ?? String(err)}`);
    }
  };

  const first = await attempt(messages);
  if ('state' in first) return first;
  lastReply = first;
  allCached &&= first.cached;
  let parsed = parseFor(mode, first.text);

  if (!parsed.ok) {
    // One re-ask, quoting the problem back; the conversation so far is the new prompt.
    const problem = parsed.problem;
    messages = [...messages, { role: 'assistant', content: first.text }, { role: 'user', content: mode === 'reference' ? referenceCorrection(problem) : correctionMessage(problem, mode, reward) }];
    const second = await attempt(messages);
    if ('state' in second) return second;
    lastReply = second;
    allCached &&= second.cached;
    parsed = parseFor(mode, second.text);
    if (!parsed.ok) {
      return errorVerdict(`the ${reward} judge gave no usable verdict after one correction: first ${problem}; then ${parsed.problem}`);
    }
  }
  // A judge that never saw the program (spatial, attribute, logic) cannot cite its lines.
  const bounds = citeBounds(opts.material);
  const cites = parsed.cites ? boundCites(parsed.cites, citesProgram(reward) ? bounds : { ...bounds, programLines: 0 }) : undefined;
  return {
    ...base(),
    state: parsed.score === 1 ? 'pass' : 'fail',
    value: parsed.score,
    rationale: parsed.rationale,
    ...(cites ? { cites } : {}),
    raw_reply: lastReply.text,
    ms: Math.round(performance.now() - started),
    cached: allCached,
  };
}
