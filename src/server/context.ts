/**
 * Everything the tool server's handlers share, built once at start: the token, the device, the
 * caches (pixels and model inputs; final answers), the image store, the two model slots and the
 * detection batcher, the vision model client, the counters health reports, and the cached
 * computations several routes use (a model input, a depth map).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatClient } from '../core/chat.js';
import { createChatClient } from '../core/llmClient.js';
import { Batcher } from './batcher.js';
import { depthFilesFor, loadDepthModel, type DepthBackend } from './depthBackend.js';
import { type DetectJob, DETECTOR_FILES, GroundingDino, type RawDetections } from './grounding.js';
import { type DecodedImage, ImageStore, type StoredImage } from './images.js';
import { ByteLru } from './lru.js';
import { ModelSlot } from './modelSlot.js';
import { chooseDevice, threadPlan, type Device } from './onnx.js';
import type { ServerOptions } from './options.js';
import { abortError, ModelQueue } from './queue.js';
import type { Phases } from './timing.js';

export interface ServerContext {
  readonly opts: ServerOptions;
  readonly token: string;
  /** What the models run on (after any CUDA fallback). */
  readonly device: Device;
  /** Pixels, model inputs, detector outputs and depth maps, by image hash. */
  readonly cache: ByteLru<object>;
  /** Final answers (detections, vqa): small, with their own budget so they never push pixels out. */
  readonly results: ByteLru<object>;
  readonly store: ImageStore;
  readonly threads: ReturnType<typeof threadPlan>;
  readonly detector: ModelSlot<GroundingDino>;
  readonly depth: ModelSlot<DepthBackend>;
  readonly detectBatches: Batcher<DetectJob, RawDetections>;
  /** The vision model for vqa, or why there is none. */
  readonly chat: ChatClient | undefined;
  readonly vlmError: string | undefined;
  readonly vqaQueue: ModelQueue;
  readonly counters: { requests: number; uploads: number; errors: number; prefetches: number };
  /** Prefetch hints being worked on now. */
  prefetching: number;
  /** The test-only delay before a model runs (`--debug-delay-ms`). */
  delay(signal?: AbortSignal): Promise<void>;
}

function vlmClient(opts: ServerOptions): { chat?: ChatClient; vlmError?: string } {
  if (!opts.vlm) {
    return {
      vlmError:
        'vqa needs a vision-language model: set VALOR_VLM_MODEL and VALOR_VLM_BASE_URL (an OpenAI-compatible endpoint; the default is OpenAI) plus VALOR_VLM_API_KEY or OPENAI_API_KEY in the tool server\'s environment, then restart it',
    };
  }
  try {
    return { chat: createChatClient({ baseUrl: opts.vlm.baseUrl, model: opts.vlm.model, apiKey: () => opts.vlm?.apiKey, cacheDir: false, keyHint: 'set VALOR_VLM_API_KEY (or OPENAI_API_KEY) in the tool server\'s environment' }) };
  } catch (err) {
    const vlmError = `the VQA model settings are unusable: ${(err as Error).message}`;
    opts.log(`warning: ${vlmError}`);
    return { vlmError };
  }
}

export async function createServerContext(opts: ServerOptions): Promise<ServerContext> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const choice = chooseDevice(opts.device);
  if (choice.warning) opts.log(`warning: ${choice.warning}`);
  const device = choice.device;
  let warnedCuda = false;
  const warn = (line: string): void => {
    if (warnedCuda) return;
    warnedCuda = true;
    opts.log(`warning: ${line}`);
  };

  const cache = new ByteLru<object>(opts.cacheMb * 1024 * 1024);
  const results = new ByteLru<object>(Math.max(8, Math.round(opts.cacheMb / 16)) * 1024 * 1024);
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'valor-tools-'));
  const store = new ImageStore({
    dir: storeDir,
    ownsDir: !opts.storeDir,
    allowRoots: opts.allowRoots,
    maxFileBytes: opts.maxImageBytes,
    maxPixels: Math.round(opts.maxMegapixels * 1e6),
    diskBudgetBytes: opts.storeMb * 1024 * 1024,
    cache,
  });
  await store.init();

  const threads = threadPlan(opts.threads);
  const detector = new ModelSlot('detector', 'GroundingDINO', opts.detectorDir, DETECTOR_FILES, (dir) => GroundingDino.load(dir, device, warn, threads.detector), opts.modelConcurrency, '--models DIR (holding grounding-dino/) or --detector DIR');
  const depth = new ModelSlot('depth', 'depth', opts.depthDir, depthFilesFor(opts.depthDir), (dir) => loadDepthModel(dir, device, warn, threads.depth), opts.modelConcurrency, '--models DIR (holding depth/) or --depth DIR');
  for (const slot of [detector, depth]) {
    const s = slot.status();
    if (s.error) opts.log(`warning: ${s.error}`);
  }
  const { chat, vlmError } = vlmClient(opts);

  const delay = async (signal?: AbortSignal): Promise<void> => {
    if (opts.debugDelayMs <= 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, opts.debugDelayMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  };
  const detectBatches = new Batcher<DetectJob, RawDetections>(detector.queue, opts.batchSize, GroundingDino.batchable, async (jobs) => {
    await delay();
    const model = await detector.get();
    return model.run(jobs);
  });

  return {
    opts,
    token,
    device,
    cache,
    results,
    store,
    threads,
    detector,
    depth,
    detectBatches,
    chat,
    vlmError,
    vqaQueue: new ModelQueue(Math.max(4, opts.modelConcurrency)),
    counters: { requests: 0, uploads: 0, errors: 0, prefetches: 0 },
    prefetching: 0,
    delay,
  };
}

/**
 * A cached computation shared by concurrent requests. When the request that started it went
 * away (its queued work was dropped), the others start their own instead of failing.
 */
export async function shared(ctx: ServerContext, key: string, kind: string, compute: () => Promise<{ value: object; bytes: number }>, signal: AbortSignal): Promise<{ value: object; hit: boolean }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.cache.getOrCompute(key, kind, compute);
    } catch (err) {
      if ((err as Error)?.name === 'AbortError' && !signal.aborted && attempt < 3) continue;
      throw err;
    }
  }
}

/**
 * The model input of one image for one model, kept per image hash and model id in the shared
 * cache (a program asking three questions of one image pays decoding and preprocessing once).
 * `ms` is the time this caller spent computing it (0 when it was already there).
 */
export async function modelInput<P extends { bytes: number }>(ctx: ServerContext, img: StoredImage, modelId: string, make: (pixels: DecodedImage) => Promise<P>, signal: AbortSignal): Promise<{ input: P; ms: number }> {
  const t = performance.now();
  if (ctx.opts.debugNoInputCache) return { input: await make(await ctx.store.decode(img)), ms: performance.now() - t };
  let ran = false;
  const { value } = await shared(ctx, `input:${modelId}:${img.sha256}`, 'model_inputs', async () => {
    ran = true;
    const pixels = await ctx.store.decode(img);
    const input = await make(pixels);
    return { value: input, bytes: input.bytes };
  }, signal);
  return { input: value as P, ms: ran ? performance.now() - t : 0 };
}

/** The whole depth map of an image (cached per image and model), with where its time went. */
export async function depthMapFor(ctx: ServerContext, img: StoredImage, signal: AbortSignal): Promise<{ map: Float32Array; model: DepthBackend; hit: boolean; phases: Phases }> {
  const model = await ctx.depth.get();
  const phases: Phases = {};
  const { value, hit } = await shared(ctx, `depth:${model.id}:${img.sha256}`, 'depth_maps', async () => {
    const { input, ms } = await modelInput(ctx, img, model.id, (pixels) => model.pixelInput(pixels), signal);
    phases.pre = ms;
    const out = await ctx.depth.queue.run(async () => {
      await ctx.delay(signal);
      if (signal.aborted) throw abortError();
      return model.run(input);
    }, signal);
    phases.model = model.session.lastRunMs;
    const t = performance.now();
    const map = model.toImage(out, input, img.width, img.height);
    phases.post = performance.now() - t;
    return { value: map, bytes: map.byteLength };
  }, signal);
  return { map: value as Float32Array, model, hit, phases };
}
