/**
 * `POST /v1/vqa`: a question about a crop (docs/valor.md §2), forwarded to the configured
 * OpenAI-compatible vision model; answers are cached per image, crop and question, and the vision
 * model's failures become HTTP errors that say whose failure it was.
 */
import { ChatError, type ChatClient } from '../../core/chat.js';
import { VqaRequest, type VqaResponse } from '../../protocol/tools.js';
import { HttpError } from '../errors.js';
import { parseJson, readBody, sendJson } from '../http.js';
import { abortError } from '../queue.js';
import { askVlm, encodeCrop, vqaRegion } from '../vqa.js';
import type { Handler } from './handler.js';

export const vqa: Handler = async (ctx, req, res, signal) => {
  const t0 = performance.now();
  const body = parseJson(VqaRequest, await readBody(req, ctx.opts.maxJsonBytes, 'the request body'), 'POST /v1/vqa');
  if (!body.prompt.trim()) throw new HttpError(400, 'empty_prompt', 'vqa needs a question: prompt is empty');
  if (body.prompt.length > 4000) throw new HttpError(400, 'prompt_too_long', `the vqa question is ${body.prompt.length} characters; the server accepts at most 4000`);
  const img = await ctx.store.resolve(body.image);
  const crop = vqaRegion(body.bbox, img.width, img.height);
  if (!ctx.chat) throw new HttpError(503, 'vlm_not_configured', ctx.vlmError ?? 'no vision model configured');
  const client = ctx.chat;
  const key = JSON.stringify(['vqa', client.baseUrl, client.model, img.sha256, crop, body.prompt]);
  const known = ctx.results.get(key) as { answer: string; model: string } | undefined;
  if (known) {
    sendJson(res, 200, { answer: known.answer, crop, model: known.model, cached: true, ms: performance.now() - t0 } satisfies VqaResponse);
    return;
  }
  const pixels = await ctx.store.decode(img);
  const sent = await encodeCrop(pixels, crop);
  let answer: { answer: string; model: string };
  try {
    answer = await ctx.vqaQueue.run(() => askVlm(client, body.prompt, sent.dataUrl, signal), signal);
  } catch (err) {
    throw chatToHttp(err, client);
  }
  ctx.results.set(key, answer, 256 + key.length * 2 + answer.answer.length * 2, 'vqa');
  sendJson(res, 200, { answer: answer.answer, crop, model: answer.model, cached: false, ms: performance.now() - t0 } satisfies VqaResponse);
};

function chatToHttp(err: unknown, chat: ChatClient): Error {
  if ((err as Error)?.name === 'AbortError') return err as Error;
  if (err instanceof ChatError) {
    const where = `the vision model ${chat.model} at ${chat.baseUrl}`;
    switch (err.kind) {
      case 'cancelled':
        return abortError();
      case 'config':
        return new HttpError(503, 'vlm_not_configured', err.message);
      case 'timeout':
        return new HttpError(504, 'vlm_timeout', `${where} did not answer in time: ${err.message}`);
      case 'rate_limit':
        return new HttpError(503, 'vlm_rate_limited', `${where} keeps refusing with rate limits: ${err.message}`);
      default:
        return new HttpError(502, 'vlm_error', `${where} failed: ${err.message}`);
    }
  }
  return new HttpError(502, 'vlm_error', `the vision model call failed: ${(err as Error)?.message ?? String(err)}`);
}
