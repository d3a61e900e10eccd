/**
 * `POST /v1/prefetch`: a hint that a program will soon ask these tools about this image. The
 * server starts the shared work (decoding, model inputs, the depth map) in the background,
 * bounded so a flood of hints cannot pile up work, and answers 202 at once.
 */
import { PrefetchRequest, type PrefetchResponse } from '../../protocol/tools.js';
import { depthMapFor, modelInput } from '../context.js';
import { parseJson, readBody, sendJson } from '../http.js';
import type { Handler } from './handler.js';

/** Prefetch hints worked on at once; more are ignored (the real calls do the work). */
const MAX_PREFETCHING = 8;

export const prefetch: Handler = async (ctx, req, res) => {
  const body = parseJson(PrefetchRequest, await readBody(req, ctx.opts.maxJsonBytes, 'the request body'), 'POST /v1/prefetch');
  const img = await ctx.store.resolve(body.image);
  const started: string[] = [];
  const never = new AbortController().signal;
  const background = (name: string, work: () => Promise<unknown>): void => {
    if (ctx.prefetching >= MAX_PREFETCHING) return;
    ctx.prefetching++;
    ctx.counters.prefetches++;
    started.push(name);
    // Failures surface on the real call, which repeats the work; a hint has nobody to tell.
    void work()
      .catch(() => undefined)
      .finally(() => ctx.prefetching--);
  };
  const wants = new Set(body.tools);
  if (wants.has('depth') && ctx.depth.healthy) background('depth', () => depthMapFor(ctx, img, never));
  if (wants.has('gd_detect') && ctx.detector.healthy) background('gd_detect', async () => {
    const model = await ctx.detector.get();
    await modelInput(ctx, img, model.id, (pixels) => model.pixelInput(pixels), never);
  });
  if (wants.has('vqa')) background('vqa', () => ctx.store.decode(img));
  sendJson(res, 202, { started } satisfies PrefetchResponse);
};
