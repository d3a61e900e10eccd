/**
 * The tool server: `gd_detect`, `depth` and `vqa` (docs/valor.md §2) over loopback HTTP, with the
 * models on onnxruntime-node and VQA forwarded to an OpenAI-compatible vision model.
 *
 * Every route needs the bearer token. Every failure a client can cause is a JSON error with a
 * message a person can act on, and the server keeps serving afterwards. Models load in the
 * background once the server listens, so the ready line comes fast and health can tell a
 * missing or broken model apart from one still loading.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatError, type ChatClient } from '../core/chat.js';
import { createChatClient } from '../core/llmClient.js';
import {
  type DepthMapResponse,
  DepthMapRequest,
  DepthRequest,
  type DepthResponse,
  DetectRequest,
  type DetectResponse,
  PrefetchRequest,
  type PrefetchResponse,
  type HealthResponse,
  type ImageUploadResponse,
  TOOL_ROUTES,
  VqaRequest,
  type VqaResponse,
} from '../protocol/tools.js';
import { checkBox } from './boxes.js';
import { downsampleDepth } from './depth.js';
import { depthFilesFor, loadDepthModel, type DepthBackend } from './depthBackend.js';
import { readDepth } from './depthReading.js';
import { HttpError } from './errors.js';
import { Batcher } from './batcher.js';
import { type DetectJob, DETECTOR_FILES, GroundingDino, parsePhrases, type RawDetections } from './grounding.js';
import { hardenServer, parseJson, readBody, sendError, sendJson, tokenMatches } from './http.js';
import { type DecodedImage, ImageStore, type StoredImage } from './images.js';
import { ByteLru } from './lru.js';
import { ModelSlot } from './modelSlot.js';
import { chooseDevice, packageVersion, threadPlan, type Device } from './onnx.js';
import type { ServerOptions } from './options.js';
import { abortError, ModelQueue } from './queue.js';
import { askVlm, encodeCrop, vqaRegion } from './vqa.js';

export const SERVER_VERSION = '0.1.0';

export interface ToolServer {
  url: string;
  token: string;
  /** What the models run on (after any CUDA fallback). */
  device: Device;
  port: number;
  http: Server;
  close(): Promise<void>;
}

const DEFAULT_BOX_THRESHOLD = 0.35;
const DEFAULT_TEXT_THRESHOLD = 0.25;
const DEFAULT_MAP_SIDE = 256;
/** Prefetch hints worked on at once; more are ignored (the real calls do the work). */
const MAX_PREFETCHING = 8;

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;

export async function startServer(opts: ServerOptions): Promise<ToolServer> {
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
  // Final answers are small; their own budget keeps them from pushing pixels out.
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

  let chat: ChatClient | undefined;
  let vlmError: string | undefined;
  if (opts.vlm) {
    try {
      chat = createChatClient({ baseUrl: opts.vlm.baseUrl, model: opts.vlm.model, apiKey: () => opts.vlm?.apiKey, cacheDir: false, keyHint: 'set VALOR_VLM_API_KEY (or OPENAI_API_KEY) in the tool server\'s environment' });
    } catch (err) {
      vlmError = `the VQA model settings are unusable: ${(err as Error).message}`;
      opts.log(`warning: ${vlmError}`);
    }
  } else {
    vlmError = 'vqa needs a vision-language model: set VALOR_VLM_MODEL and VALOR_VLM_BASE_URL (an OpenAI-compatible endpoint; the default is OpenAI) plus VALOR_VLM_API_KEY or OPENAI_API_KEY in the tool server\'s environment, then restart it';
  }
  const vqaQueue = new ModelQueue(Math.max(4, opts.modelConcurrency));

  const counters = { requests: 0, uploads: 0, errors: 0, prefetches: 0 };
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

  /**
   * A cached computation shared by concurrent requests. When the request that started it went
   * away (its queued work was dropped), the others start their own instead of failing.
   */
  const shared = async (key: string, kind: string, compute: () => Promise<{ value: object; bytes: number }>, signal: AbortSignal): Promise<{ value: object; hit: boolean }> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await cache.getOrCompute(key, kind, compute);
      } catch (err) {
        if ((err as Error)?.name === 'AbortError' && !signal.aborted && attempt < 3) continue;
        throw err;
      }
    }
  };

  const resolveImage = (ref: Parameters<ImageStore['resolve']>[0]): Promise<StoredImage> => store.resolve(ref);

  // ---- routes -------------------------------------------------------------------------------

  const health: Handler = async (_req, res) => {
    const models: HealthResponse['models'] = { detector: detector.status(), depth: depth.status() };
    models.vqa = chat ? { id: chat.model, loaded: true } : { id: opts.vlm?.model ?? 'none', loaded: false, error: vlmError };
    const pix = cache.statsByKind();
    const out = results.statsByKind();
    const mem = process.memoryUsage();
    const body: HealthResponse = {
      status: detector.healthy && depth.healthy ? 'ok' : 'degraded',
      device,
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
      busy: { detector: detector.queue.load, depth: depth.queue.load, vqa: vqaQueue.load },
      counters: { ...counters, uploads: store.uploads, budget_bytes: cache.budgetBytes, batch_size: opts.batchSize, detect_runs: detectBatches.runs, detect_requests_run: detectBatches.served, threads_detector: threads.detector.intraOp, threads_depth: threads.depth.intraOp, threads_inter_op: threads.detector.interOp },
      memory: { rss: mem.rss, heap_used: mem.heapUsed, external: mem.external, array_buffers: mem.arrayBuffers },
    };
    sendJson(res, 200, body);
  };

  const uploadImage: Handler = async (req, res) => {
    const bytes = await readBody(req, opts.maxImageBytes, 'the image');
    if (bytes.length === 0) throw new HttpError(400, 'empty_body', 'POST /v1/images needs the image bytes as the body');
    const img = await store.put(bytes);
    const body: ImageUploadResponse = { sha256: img.sha256, width: img.width, height: img.height };
    sendJson(res, 200, body);
  };

  const imageInfo = async (res: ServerResponse, sha: string): Promise<void> => {
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new HttpError(400, 'bad_hash', `'${sha.slice(0, 80)}' is not a sha256 (64 lowercase hex digits)`);
    const img = await store.resolve({ sha256: sha });
    sendJson(res, 200, { sha256: img.sha256, width: img.width, height: img.height } satisfies ImageUploadResponse);
  };

  /**
   * The model input of one image for one model, kept per image hash and model id in the shared
   * cache (a program asking three questions of one image pays decoding and preprocessing once).
   * `ms` is the time this caller spent computing it (0 when it was already there).
   */
  const modelInput = async <P extends { bytes: number }>(img: StoredImage, modelId: string, make: (pixels: DecodedImage) => Promise<P>, signal: AbortSignal): Promise<{ input: P; ms: number }> => {
    const t = performance.now();
    if (opts.debugNoInputCache) return { input: await make(await store.decode(img)), ms: performance.now() - t };
    let ran = false;
    const { value } = await shared(`input:${modelId}:${img.sha256}`, 'model_inputs', async () => {
      ran = true;
      const pixels = await store.decode(img);
      const input = await make(pixels);
      return { value: input, bytes: input.bytes };
    }, signal);
    return { input: value as P, ms: ran ? performance.now() - t : 0 };
  };

  const detectBatches = new Batcher<DetectJob, RawDetections>(detector.queue, opts.batchSize, GroundingDino.batchable, async (jobs) => {
    await delay();
    const model = await detector.get();
    return model.run(jobs);
  });

  const detect: Handler = async (req, res, signal) => {
    const t0 = performance.now();
    const body = parseJson(DetectRequest, await readBody(req, opts.maxJsonBytes, 'the request body'), 'POST /v1/detect');
    const phrases = parsePhrases(body.prompt);
    const tImage = performance.now();
    const img = await resolveImage(body.image);
    const phases: Phases = { image: performance.now() - tImage };
    const model = await detector.get();
    const caption = model.caption(phrases);
    const bt = body.box_threshold ?? DEFAULT_BOX_THRESHOLD;
    const tt = body.text_threshold ?? DEFAULT_TEXT_THRESHOLD;
    const ct = body.candidate_threshold;
    const resultKey = JSON.stringify(['det', model.id, img.sha256, caption.text, phrases.map((p) => p.asked), bt, tt, ct ?? null]);
    const known = results.get(resultKey) as Omit<DetectResponse, 'cached' | 'ms'> | undefined;
    if (known) {
      sendJson(res, 200, { ...known, cached: true, ms: performance.now() - t0 } satisfies DetectResponse);
      return;
    }
    const { value: raw, hit } = await shared(`gd:${model.id}:${img.sha256}:${caption.text}`, 'detector_outputs', async () => {
      const { input, ms } = await modelInput(img, model.id, (pixels) => model.pixelInput(pixels), signal);
      phases.pre = ms;
      const r = await detectBatches.submit({ pixels: input, caption }, signal);
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
    results.set(resultKey, reply, 256 + JSON.stringify(reply).length * 2, 'detections');
    phases.post = performance.now() - tPost;
    timing(res, phases, t0);
    sendJson(res, 200, { ...reply, cached: hit, ms: performance.now() - t0 } satisfies DetectResponse);
  };

  const depthMapFor = async (img: StoredImage, signal: AbortSignal): Promise<{ map: Float32Array; model: DepthBackend; hit: boolean; phases: Phases }> => {
    const model = await depth.get();
    const phases: Phases = {};
    const { value, hit } = await shared(`depth:${model.id}:${img.sha256}`, 'depth_maps', async () => {
      const { input, ms } = await modelInput(img, model.id, (pixels) => model.pixelInput(pixels), signal);
      phases.pre = ms;
      const out = await depth.queue.run(async () => {
        await delay(signal);
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
  };

  const depthRoute: Handler = async (req, res, signal) => {
    const t0 = performance.now();
    const body = parseJson(DepthRequest, await readBody(req, opts.maxJsonBytes, 'the request body'), 'POST /v1/depth');
    const img = await resolveImage(body.image);
    const box = checkBox(body.bbox, img.width, img.height);
    const { map, model, hit, phases } = await depthMapFor(img, signal);
    const { value, region } = readDepth(map, img.width, img.height, body.bbox, box, opts.depthReading ?? 'median');
    timing(res, phases, t0);
    sendJson(res, 200, { depth: value, region, reading: opts.depthReading ?? 'median', model: model.id, cached: hit, ms: performance.now() - t0 } satisfies DepthResponse);
  };

  const depthMapRoute: Handler = async (req, res, signal) => {
    const t0 = performance.now();
    const body = parseJson(DepthMapRequest, await readBody(req, opts.maxJsonBytes, 'the request body'), 'POST /v1/depth/map');
    const img = await resolveImage(body.image);
    const { map, model, phases } = await depthMapFor(img, signal);
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

  const vqa: Handler = async (req, res, signal) => {
    const t0 = performance.now();
    const body = parseJson(VqaRequest, await readBody(req, opts.maxJsonBytes, 'the request body'), 'POST /v1/vqa');
    if (!body.prompt.trim()) throw new HttpError(400, 'empty_prompt', 'vqa needs a question: prompt is empty');
    if (body.prompt.length > 4000) throw new HttpError(400, 'prompt_too_long', `the vqa question is ${body.prompt.length} characters; the server accepts at most 4000`);
    const img = await resolveImage(body.image);
    const crop = vqaRegion(body.bbox, img.width, img.height);
    if (!chat) throw new HttpError(503, 'vlm_not_configured', vlmError ?? 'no vision model configured');
    const client = chat;
    const key = JSON.stringify(['vqa', client.baseUrl, client.model, img.sha256, crop, body.prompt]);
    const known = results.get(key) as { answer: string; model: string } | undefined;
    if (known) {
      sendJson(res, 200, { answer: known.answer, crop, model: known.model, cached: true, ms: performance.now() - t0 } satisfies VqaResponse);
      return;
    }
    const pixels = await store.decode(img);
    const sent = await encodeCrop(pixels, crop);
    let answer: { answer: string; model: string };
    try {
      answer = await vqaQueue.run(() => askVlm(client, body.prompt, sent.dataUrl, signal), signal);
    } catch (err) {
      throw chatToHttp(err, client);
    }
    results.set(key, answer, 256 + key.length * 2 + answer.answer.length * 2, 'vqa');
    sendJson(res, 200, { answer: answer.answer, crop, model: answer.model, cached: false, ms: performance.now() - t0 } satisfies VqaResponse);
  };

  /** Background work from prefetch hints, bounded so a flood of hints cannot pile up work. */
  let prefetching = 0;
  const prefetch: Handler = async (req, res) => {
    const body = parseJson(PrefetchRequest, await readBody(req, opts.maxJsonBytes, 'the request body'), 'POST /v1/prefetch');
    const img = await resolveImage(body.image);
    const started: string[] = [];
    const never = new AbortController().signal;
    const background = (name: string, work: () => Promise<unknown>): void => {
      if (prefetching >= MAX_PREFETCHING) return;
      prefetching++;
      counters.prefetches++;
      started.push(name);
      // Failures surface on the real call, which repeats the work; a hint has nobody to tell.
      void work().catch(() => undefined).finally(() => prefetching--);
    };
    const wants = new Set(body.tools);
    if (wants.has('depth') && depth.healthy) background('depth', () => depthMapFor(img, never));
    if (wants.has('gd_detect') && detector.healthy) background('gd_detect', async () => {
      const model = await detector.get();
      await modelInput(img, model.id, (pixels) => model.pixelInput(pixels), never);
    });
    if (wants.has('vqa')) background('vqa', () => store.decode(img));
    sendJson(res, 202, { started } satisfies PrefetchResponse);
  };

  const routes: Record<string, { method: string; handler: Handler }> = {
    [TOOL_ROUTES.health]: { method: 'GET', handler: health },
    [TOOL_ROUTES.images]: { method: 'POST', handler: uploadImage },
    [TOOL_ROUTES.detect]: { method: 'POST', handler: detect },
    [TOOL_ROUTES.depth]: { method: 'POST', handler: depthRoute },
    [TOOL_ROUTES.depthMap]: { method: 'POST', handler: depthMapRoute },
    [TOOL_ROUTES.vqa]: { method: 'POST', handler: vqa },
    [TOOL_ROUTES.prefetch]: { method: 'POST', handler: prefetch },
  };

  const http = createServer((req, res) => {
    counters.requests++;
    const controller = new AbortController();
    // A client that goes away mid-request: queued work for it is skipped.
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        if (!tokenMatches(req.headers.authorization, token)) {
          throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token: send Authorization: Bearer <token>, the token the server printed in its ready line (or VALOR_TOOLS_TOKEN)');
        }
        const path = url.pathname.replace(/\/+$/, '') || '/';
        const imagePrefix = `${TOOL_ROUTES.images}/`;
        if (path.startsWith(imagePrefix) && req.method === 'GET') {
          await imageInfo(res, path.slice(imagePrefix.length));
          return;
        }
        const route = routes[path];
        if (!route) throw new HttpError(404, 'not_found', `no route ${path}; the tool server serves ${Object.values(routes).map((r, i) => `${r.method} ${Object.keys(routes)[i]}`).join(', ')}`);
        if (req.method !== route.method) throw new HttpError(405, 'method_not_allowed', `${path} takes ${route.method}, not ${req.method}`);
        await route.handler(req, res, controller.signal);
      } catch (err) {
        if (controller.signal.aborted || res.destroyed) return;
        if (err instanceof HttpError) {
          counters.errors++;
          // A refused body (too large, or no token) is not read: close the connection instead of draining it.
          sendError(res, err, err.code === 'body_too_large' || err.code === 'unauthorized' ? { connection: 'close' } : {});
          return;
        }
        if ((err as Error)?.name === 'AbortError') return;
        counters.errors++;
        opts.log(`error: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
        sendError(res, new HttpError(500, 'internal', `the tool server failed unexpectedly: ${(err as Error)?.message ?? String(err)} (details in the server's log)`));
      }
    })();
  });
  hardenServer(http, opts.httpLimits);
  http.maxRequestsPerSocket = 0;

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  const addr = http.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${addr.port}`;

  // Load in the background: requests wait for a loading model; health says loaded: false meanwhile.
  for (const slot of [detector, depth]) {
    slot.load()?.catch((err: unknown) => opts.log(`warning: ${(err as Error).message}`));
  }

  let closed: Promise<void> | undefined;
  return {
    url,
    token,
    device,
    port: addr.port,
    http,
    close: () => {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        await Promise.all([detector.release(), depth.release()]);
        cache.clear();
        results.clear();
        await store.close();
      })();
      return closed;
    },
  };
}

/**
 * Milliseconds per phase of one request: image (read, hash, decode), pre (the model input;
 * 0 when this image's was cached), model (the session.run this request was part of), post;
 * and `batch`, how many requests that session.run served.
 */
type Phases = Partial<Record<'image' | 'pre' | 'model' | 'post' | 'batch', number>>;

/** `Server-Timing` header: where a request's time went (the benchmark reads `model` and `batch`). */
function timing(res: ServerResponse, phases: Phases, t0: number): void {
  if (res.headersSent) return;
  const parts = Object.entries(phases).map(([k, v]) => (k === 'batch' ? `batch;desc=${v ?? 1}` : `${k};dur=${(v ?? 0).toFixed(3)}`));
  res.setHeader('server-timing', [...parts, `total;dur=${(performance.now() - t0).toFixed(3)}`].join(', '));
}

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
