/** `POST /v1/depth` (metric depth of a box, docs/valor.md §2) and `POST /v1/depth/map` (the whole map, downsampled, for viewers). */
import { type DepthMapResponse, DepthMapRequest, DepthRequest, type DepthResponse } from '../../protocol/tools.js';
import { checkBox } from '../boxes.js';
import { depthMapFor } from '../context.js';
import { downsampleDepth } from '../depth.js';
import { readDepth } from '../depthReading.js';
import { parseJson, readBody, sendJson } from '../http.js';
import { timing } from '../timing.js';
import type { Handler } from './handler.js';

const DEFAULT_MAP_SIDE = 256;

export const depthRoute: Handler = async (ctx, req, res, signal) => {
  const t0 = performance.now();
  const body = parseJson(DepthRequest, await readBody(req, ctx.opts.maxJsonBytes, 'the request body'), 'POST /v1/depth');
  const img = await ctx.store.resolve(body.image);
  const box = checkBox(body.bbox, img.width, img.height);
  const { map, model, hit, phases } = await depthMapFor(ctx, img, signal);
  const reading = ctx.opts.depthReading ?? 'median';
  const { value, region } = readDepth(map, img.width, img.height, body.bbox, box, reading);
  timing(res, phases, t0);
  sendJson(res, 200, { depth: value, region, reading, model: model.id, cached: hit, ms: performance.now() - t0 } satisfies DepthResponse);
};

export const depthMapRoute: Handler = async (ctx, req, res, signal) => {
  const t0 = performance.now();
  const body = parseJson(DepthMapRequest, await readBody(req, ctx.opts.maxJsonBytes, 'the request body'), 'POST /v1/depth/map');
  const img = await ctx.store.resolve(body.image);
  const { map, model, phases } = await depthMapFor(ctx, img, signal);
  const small = downsampleDepth(map, img.width, img.height, body.max_side ?? DEFAULT_MAP_SIDE);
  const buf = Buffer.alloc(small.data.length * 4);
  for (let i = 0; i < small.data.length; i++) buf.writeFloatLE(small.data[i] as number, i * 4);
  timing(res, phases, t0);
  sendJson(res, 200, {
    width: small.width,
    height: small.height,
    image_width: img.width,
    image_height: img.height,
    min: small.min,
    max: small.max,
    data: buf.toString('base64'),
    model: model.id,
  } satisfies DepthMapResponse);
};
