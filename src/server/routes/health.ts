/** `GET /v1/health`: models (loaded, loading, missing), versions, caches, queues, counters, memory. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { HealthResponse } from '../../protocol/tools.js';
import { sendJson } from '../http.js';
import { packageVersion } from '../onnx.js';
import type { Handler } from './handler.js';

export const SERVER_VERSION = '0.1.0';

export const health: Handler = async (ctx, _req, res) => {
  const { opts, detector, depth, cache, results, store, threads, detectBatches } = ctx;
  const models: HealthResponse['models'] = { detector: detector.status(), depth: depth.status() };
  models.vqa = ctx.chat ? { id: ctx.chat.model, loaded: true } : { id: opts.vlm?.model ?? 'none', loaded: false, error: ctx.vlmError };
  const pix = cache.statsByKind();
  const out = results.statsByKind();
  const mem = process.memoryUsage();
  const body: HealthResponse = {
    status: detector.healthy && depth.healthy ? 'ok' : 'degraded',
    device: ctx.device,
    models,
    versions: {
      server: SERVER_VERSION,
      node: process.versions.node,
      'onnxruntime-node': packageVersion('onnxruntime-node'),
      '@huggingface/transformers': transformersVersion(),
      sharp: sharp.versions.sharp ?? 'unknown',
      libvips: sharp.versions.vips,
    },
    cache: {
      images: pix.images ?? { entries: 0, bytes: 0 },
      depth_maps: pix.depth_maps ?? { entries: 0, bytes: 0 },
      detector_outputs: pix.detector_outputs ?? { entries: 0, bytes: 0 },
      model_inputs: pix.model_inputs ?? { entries: 0, bytes: 0 },
      detections: out.detections ?? { entries: 0, bytes: 0 },
      vqa: out.vqa ?? { entries: 0, bytes: 0 },
      image_files: store.stats(),
      total: { entries: cache.size, bytes: cache.bytes },
    },
    busy: { detector: detector.queue.load, depth: depth.queue.load, vqa: ctx.vqaQueue.load },
    counters: { ...ctx.counters, uploads: store.uploads, budget_bytes: cache.budgetBytes, batch_size: opts.batchSize, detect_runs: detectBatches.runs, detect_requests_run: detectBatches.served, threads_detector: threads.detector.intraOp, threads_depth: threads.depth.intraOp, threads_inter_op: threads.detector.interOp },
    memory: { rss: mem.rss, heap_used: mem.heapUsed, external: mem.external, array_buffers: mem.arrayBuffers },
  };
  sendJson(res, 200, body);
};

function transformersVersion(): string {
  const v = packageVersion('@huggingface/transformers');
  if (v !== 'unknown') return v;
  try {
    // Its exports map hides package.json; the main entry's folder leads to it.
    const main = require.resolve('@huggingface/transformers');
    const pkg = join(main, '..', '..', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
