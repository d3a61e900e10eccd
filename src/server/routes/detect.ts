/**
 * `POST /v1/detect`: open-vocabulary detection (docs/valor.md §2). The detector's raw output is
 * cached per image and caption, the final detections per thresholds too, and concurrent requests
 * are batched into one session run.
 */
import { DEFAULT_BOX_THRESHOLD, DEFAULT_TEXT_THRESHOLD, DetectRequest, type DetectResponse } from '../../protocol/tools.js';
import { modelInput, shared } from '../context.js';
import { parsePhrases, type RawDetections } from '../grounding.js';
import { parseJson, readBody, sendJson } from '../http.js';
import { type Phases, timing } from '../timing.js';
import type { Handler } from './handler.js';


export const detect: Handler = async (ctx, req, res, signal) => {
  const t0 = performance.now();
  const body = parseJson(DetectRequest, await readBody(req, ctx.opts.maxJsonBytes, 'the request body'), 'POST /v1/detect');
  const phrases = parsePhrases(body.prompt);
  const tImage = performance.now();
  const img = await ctx.store.resolve(body.image);
  const phases: Phases = { image: performance.now() - tImage };
  const model = await ctx.detector.get();
  const caption = model.caption(phrases);
  const bt = body.box_threshold ?? DEFAULT_BOX_THRESHOLD;
  const tt = body.text_threshold ?? DEFAULT_TEXT_THRESHOLD;
  const ct = body.candidate_threshold;
  const resultKey = JSON.stringify(['det', model.id, img.sha256, caption.text, phrases.map((p) => p.asked), bt, tt, ct ?? null]);
  const known = ctx.results.get(resultKey) as Omit<DetectResponse, 'cached' | 'ms'> | undefined;
  if (known) {
    sendJson(res, 200, { ...known, cached: true, ms: performance.now() - t0 } satisfies DetectResponse);
    return;
  }
  const { value: raw, hit } = await shared(ctx, `gd:${model.id}:${img.sha256}:${caption.text}`, 'detector_outputs', async () => {
    const { input, ms } = await modelInput(ctx, img, model.id, (pixels) => model.pixelInput(pixels), signal);
    phases.pre = ms;
    const r = await ctx.detectBatches.submit({ pixels: input, caption }, signal);
    phases.model = r.ms;
    phases.batch = r.batch;
    return { value: r.value, bytes: r.value.bytes };
  }, signal);
  const tPost = performance.now();
  const rawOut = raw as RawDetections;
  const detections = model.postprocess(rawOut, img.width, img.height, phrases, bt, tt);
  const reply: Omit<DetectResponse, 'cached' | 'ms'> = { detections, width: img.width, height: img.height, model: model.id };
  // Same text threshold as the detections, so the candidates are a superset of them and a
  // viewer's box-threshold slider moves between the two without surprises.
  if (ct !== undefined) reply.candidates = model.postprocess(rawOut, img.width, img.height, phrases, ct, tt);
  ctx.results.set(resultKey, reply, 256 + JSON.stringify(reply).length * 2, 'detections');
  phases.post = performance.now() - tPost;
  timing(res, phases, t0);
  sendJson(res, 200, { ...reply, cached: hit, ms: performance.now() - t0 } satisfies DetectResponse);
};
