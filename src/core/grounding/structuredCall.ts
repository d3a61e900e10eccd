/**
 * One structured question to the vision-language verifier, with the repairs VALOR's reference
 * lacks:
 * - JSON schema output where the endpoint takes it; where it refuses `response_format`, the same
 *   question without it (the prompt already asks for JSON) for the rest of the run.
 * - Replies validated by the caller's check; an invalid reply (a missing, repeated or unknown
 *   index, a wrong type) is re-asked once with the specific problem, then reported as a
 *   `GroundingError`, never guessed. Only a reply that passes the check is cached: a failure is
 *   never replayed, so running again asks again (`refresh` asks again even after successes).
 * - An endpoint that rejects an image for its size (HTTP 413, or 400 naming the size) gets the
 *   images again at half the size, down to a floor, before giving up.
 */
import { ChatError, type ChatClient, type ChatMessage, type ChatResponse, type ContentPart, type JsonSchemaFormat } from '../chat.js';
import type { Semaphore } from '../concurrency.js';

export class GroundingError extends Error {
  constructor(
    message: string,
    readonly stage: 'coarse' | 'crop' | 'dedup',
  ) {
    super(message);
    this.name = 'GroundingError';
  }
}

/** State shared by all calls of one verification run. */
export interface CallContext {
  vlm: ChatClient;
  semaphore: Semaphore;
  /** Current cap on the long side of images sent; halves on a size rejection. */
  maxSide: number;
  minSide: number;
  /** False once the endpoint refused `response_format: json_schema`. */
  structured: boolean;
  timeoutMs?: number;
  /** Ask the verifier even when a reply is cached (`--refresh`). */
  refresh?: boolean;
  signal?: AbortSignal;
  /** Every request's messages and reply, for records and debugging. */
  transcript: Array<{ stage: string; messages: ChatMessage[]; reply?: string; error?: string; ms: number }>;
}

export type Check<T> = (value: unknown) => { ok: true; value: T } | { ok: false; problem: string };

/** An image part, built lazily so it can be re-encoded at a smaller size. */
export type ImageSource = (maxSide: number) => Promise<string>;
export type Part = { type: 'text'; text: string } | { type: 'image'; source: ImageSource };

export function isSizeRejection(err: unknown): boolean {
  if (!(err instanceof ChatError)) return false;
  if (err.status === 413) return true;
  if (err.status !== 400 && err.kind !== 'bad_request') return false;
  return /too (large|big|long)|exceed|dimension|pixels|image size|size limit|max(imum)?[ _-]?(size|side|resolution)|payload/i.test(err.message);
}

function refusesSchema(err: unknown): boolean {
  if (!(err instanceof ChatError)) return false;
  if (err.kind !== 'bad_request' && err.status !== 400 && err.status !== 422) return false;
  return /response_format|json_schema|structured|guided/i.test(err.message);
}

/** The first JSON object in a reply: bare, fenced, or the outermost braces. */
export function extractJson(text: string): unknown {
  const t = text.replace(/<think>[\s\S]*?<\/think>/gi, '').trim();
  const candidates = [t];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(t);
  if (fence?.[1]) candidates.push(fence[1]);
  const a = t.indexOf('{');
  const b = t.lastIndexOf('}');
  if (a >= 0 && b > a) candidates.push(t.slice(a, b + 1));
  for (const c of candidates) {
    try {
      return JSON.parse(c.trim());
    } catch {
      // next candidate
    }
  }
  return undefined;
}

async function render(parts: readonly Part[], maxSide: number): Promise<ContentPart[]> {
  return Promise.all(
    parts.map(async (p): Promise<ContentPart> => (p.type === 'text' ? { type: 'text', text: p.text } : { type: 'image_url', image_url: { url: await p.source(maxSide) } })),
  );
}

export interface AskOptions<T> {
  ctx: CallContext;
  stage: 'coarse' | 'crop' | 'dedup';
  /** What is being asked, for error messages ("the coarse filter of boxes 0-39"). */
  what: string;
  system: string;
  parts: readonly Part[];
  format: JsonSchemaFormat;
  check: Check<T>;
  /** Appended to the re-ask after the specific problem. */
  reaskHint: string;
}

export async function askStructured<T>(o: AskOptions<T>): Promise<T> {
  const { ctx } = o;
  let correction: ChatMessage[] = [];
  let firstProblem: string | undefined;

  for (let sizeTries = 0; ; ) {
    const user: ChatMessage = { role: 'user', content: await render(o.parts, ctx.maxSide) };
    const messages: ChatMessage[] = [{ role: 'system', content: o.system }, user, ...correction];
    const t0 = performance.now();
    let res: ChatResponse;
    try {
      res = await ctx.semaphore.run(
        () =>
          ctx.vlm.complete(
            {
              messages,
              sampling: { temperature: 0, max_tokens: 4096 },
              accept: (text: string) => {
                const json = extractJson(text);
                return json !== undefined && o.check(json).ok;
              },
              ...(ctx.refresh ? { refresh: true } : {}),
              ...(ctx.structured ? { response_format: o.format } : {}),
              ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
            },
            ctx.signal,
          ),
        ctx.signal,
      );
    } catch (err) {
      ctx.transcript.push({ stage: o.stage, messages, error: (err as Error).message, ms: performance.now() - t0 });
      if (ctx.signal?.aborted || (err instanceof ChatError && err.kind === 'cancelled')) throw err;
      if (isSizeRejection(err) && ctx.maxSide > ctx.minSide && sizeTries < 4) {
        sizeTries++;
        ctx.maxSide = Math.max(ctx.minSide, Math.floor(ctx.maxSide / 2));
        continue;
      }
      if (ctx.structured && refusesSchema(err)) {
        ctx.structured = false;
        continue;
      }
      throw new GroundingError(`${o.what}: the verifier model ${ctx.vlm.model} at ${ctx.vlm.baseUrl} failed: ${(err as Error).message} (nothing was cached: run it again to retry)`, o.stage);
    }
    ctx.transcript.push({ stage: o.stage, messages, reply: res.text, ms: performance.now() - t0 });
    const json = extractJson(res.text);
    const checked = json === undefined ? ({ ok: false, problem: 'the reply is not a JSON object' } as const) : o.check(json);
    if (checked.ok) return checked.value;
    if (firstProblem !== undefined) {
      throw new GroundingError(
        `${o.what}: the verifier model ${ctx.vlm.model} gave no valid answer after one correction (first: ${firstProblem}; then: ${checked.problem}). Nothing was guessed and nothing of this failure was cached: run it again to ask again, or use a stronger verifier model.`,
        o.stage,
      );
    }
    firstProblem = checked.problem;
    correction = [
      { role: 'assistant', content: res.text },
      { role: 'user', content: `That answer cannot be used: ${checked.problem}. ${o.reaskHint}` },
    ];
  }
}
