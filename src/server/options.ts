/**
 * The tool server's settings, from `valor serve` flags and the environment. Shared by the server
 * entry (dist/server.js, what the extension and the CLI spawn) and the `valor serve` command.
 */
import { closest } from '../core/suggest.js';
import type { HttpLimits } from './http.js';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEPTH_READINGS, type DepthReading } from './depthReading.js';
import type { Device } from './onnx.js';

export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Bearer token; a random one is made when unset. */
  token?: string;
  device: Device;
  /** GroundingDINO folder (transformers.js layout), or undefined when none was found. */
  detectorDir?: string;
  depthDir?: string;
  /** How `depth` reads a box: `median` of its central half (default) or the reference's single `center` pixel. */
  depthReading?: DepthReading;
  /** Folders whose images may be referenced by path. */
  allowRoots: string[];
  /** Budget for decoded images, depth maps and raw detector outputs, in MiB. */
  cacheMb: number;
  /** Disk budget for uploaded image bytes, in MiB. */
  storeMb: number;
  /** Folder for uploaded bytes; a fresh temporary one (removed on exit) when unset. */
  storeDir?: string;
  maxMegapixels: number;
  /** Inferences running at once per model. */
  modelConcurrency: number;
  /** Most detect requests run as one batch when they wait for the detector at once (1: no batching). */
  batchSize: number;
  /** onnxruntime threads per model session; unset fields get defaults for the machine (see `threadPlan`). */
  threads: ThreadSettings;
  maxImageBytes: number;
  maxJsonBytes: number;
  /** OpenAI-compatible vision model for VQA. */
  vlm?: { baseUrl: string; model: string; apiKey?: string };
  /** Test hook: extra milliseconds every inference holds its model queue (a slow model). */
  debugDelayMs: number;
  /** Client limits (timeouts, connection cap); defaults in src/server/http.ts. */
  httpLimits?: Partial<HttpLimits>;
  /** Benchmark hook ($VALOR_TOOLS_DEBUG_NO_INPUT_CACHE=1): recompute every model input, as before it was kept per image. */
  debugNoInputCache?: boolean;
  /** Where warnings go (one line each). */
  log: (line: string) => void;
}

/** `--threads`: intra-op threads for the detector and the depth model, and inter-op threads. */
export interface ThreadSettings {
  detector?: number;
  depth?: number;
  interOp?: number;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  cacheMb: 1024,
  storeMb: 2048,
  maxMegapixels: 100,
  modelConcurrency: 1,
  /** Batch size on the CPU, where a batch costs its size in model time (measured: no gain, some loss). */
  batchSizeCpu: 1,
  /** Batch size on CUDA, where a batch of 8 costs little more than one. */
  batchSizeCuda: 8,
  maxImageBytes: 64 * 1024 * 1024,
  maxJsonBytes: 1024 * 1024,
} as const;

/** Model subfolders inside a `--models` folder (and inside the `valor models pull` cache). */
export const MODEL_SUBDIRS = { detector: 'grounding-dino', depth: 'depth' } as const;

/** `$VALOR_MODELS_DIR`, else `$XDG_CACHE_HOME/valor-studio/models`, else `~/.cache/valor-studio/models`. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VALOR_MODELS_DIR) return resolve(env.VALOR_MODELS_DIR);
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'valor-studio', 'models');
}

export const SERVE_USAGE = `Usage: valor serve [options]

Starts the tool server (detection, depth, VQA) and prints one line:
  valor tool server ready at http://HOST:PORT token=TOKEN device=DEVICE

Options:
  --host HOST              address to bind (default 127.0.0.1; anything else exposes the server)
  --port N                 port (default 0: a free one)
  --token TOKEN            bearer token clients must send (default: $VALOR_TOOLS_TOKEN, else random)
  --device cpu|cuda        onnxruntime device (default cpu; cuda falls back to cpu with a warning)
  --models DIR             folder holding grounding-dino/ and depth/ (default: $VALOR_MODELS_DIR,
                           else ~/.cache/valor-studio/models, where 'valor models pull' writes)
  --detector DIR           GroundingDINO folder (overrides --models)
  --depth DIR              depth model folder (overrides --models)
  --depth-reading median|center
                           how depth reads a box: median of its central half (default) or the
                           single centre pixel, as VALOR's reference code does ($VALOR_DEPTH_READING)
  --allow-root DIR         folder whose images may be referenced by path (repeatable; default: cwd)
  --cache-mb N             memory for decoded images, depth maps, detector outputs (default 1024)
  --store-mb N             disk for uploaded images (default 2048)
  --store-dir DIR          where uploaded images are kept (default: a temporary folder)
  --max-megapixels N       largest image accepted (default 100)
  --model-concurrency N    inferences at once per model (default 1)
  --batch-size N           detect requests waiting at once run as one batch of up to N (default 1
                           on the CPU, where batching gains nothing, 8 with --device cuda)
  --threads N[,M[,K]]      onnxruntime intra-op threads of the detector (N) and the depth model (M,
                           default N), inter-op threads K (default 1); default: the detector gets
                           every core, the depth model half of them, and idle threads sleep instead
                           of spinning, so the two models can share the machine
  --vlm-base-url URL       vision model endpoint for vqa (default: $VALOR_VLM_BASE_URL)
  --vlm-model ID           vision model id (default: $VALOR_VLM_MODEL); key: $VALOR_VLM_API_KEY or $OPENAI_API_KEY

Environment: VALOR_TOOLS_TOKEN, VALOR_MODELS_DIR, VALOR_DEVICE, VALOR_DEPTH_READING, VALOR_VLM_BASE_URL,
VALOR_VLM_MODEL, VALOR_VLM_API_KEY (falls back to OPENAI_API_KEY).
`;

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

const VALUE_FLAGS = new Set([
  '--host', '--port', '--token', '--device', '--models', '--detector', '--depth', '--depth-reading', '--allow-root', '--cache-mb', '--store-mb',
  '--store-dir', '--max-megapixels', '--model-concurrency', '--batch-size', '--threads', '--vlm-base-url', '--vlm-model', '--debug-delay-ms',
]);

function num(flag: string, v: string, min: number, integer = true): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new OptionsError(`${flag} expects ${integer ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
  }
  return n;
}

/** Parses `valor serve` flags; `--flag=value` and `--flag value` both work. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv, cwd: string, log: (line: string) => void): ServerOptions {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) {
      const guess = flag.startsWith('--') ? closest(flag.slice(2), [...VALUE_FLAGS].map((f) => f.slice(2))) : undefined;
      throw new OptionsError(`unknown option '${arg}'${guess ? ` (did you mean '--${guess}'?)` : ''}. Run 'valor serve --help' for the list.`);
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new OptionsError(`${flag} needs a value`);
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  const one = (f: string): string | undefined => values.get(f)?.at(-1);

  const deviceText = one('--device') ?? env.VALOR_DEVICE ?? 'cpu';
  if (deviceText !== 'cpu' && deviceText !== 'cuda') throw new OptionsError(`--device must be cpu or cuda, got '${deviceText}'`);

  const readingText = one('--depth-reading') ?? (env.VALOR_DEPTH_READING?.trim() || 'median');
  if (!(DEPTH_READINGS as readonly string[]).includes(readingText)) {
    throw new OptionsError(`--depth-reading must be ${DEPTH_READINGS.join(' or ')}, got '${readingText}'`);
  }

  const modelsDir = resolve(cwd, one('--models') ?? defaultModelsDir(env));
  const detectorDir = resolve(cwd, one('--detector') ?? join(modelsDir, MODEL_SUBDIRS.detector));
  const depthDir = resolve(cwd, one('--depth') ?? join(modelsDir, MODEL_SUBDIRS.depth));

  const vlmBase = one('--vlm-base-url') ?? env.VALOR_VLM_BASE_URL?.trim();
  const vlmModel = one('--vlm-model') ?? env.VALOR_VLM_MODEL?.trim();
  const vlmKey = env.VALOR_VLM_API_KEY?.trim() || env.OPENAI_API_KEY?.trim() || undefined;
  const vlm = vlmModel ? { baseUrl: vlmBase || 'https://api.openai.com/v1', model: vlmModel, apiKey: vlmKey } : undefined;

  const storeDir = one('--store-dir');
  const token = one('--token') ?? (env.VALOR_TOOLS_TOKEN?.trim() || undefined);
  if (token !== undefined && !/^[\x21-\x7e]{8,}$/.test(token)) {
    throw new OptionsError('the token (--token or VALOR_TOOLS_TOKEN) must be at least 8 printable characters without spaces');
  }
  return {
    host: one('--host') ?? DEFAULTS.host,
    port: num('--port', one('--port') ?? '0', 0),
    token,
    device: deviceText,
    detectorDir,
    depthDir,
    depthReading: readingText as DepthReading,
    allowRoots: (values.get('--allow-root') ?? [cwd]).map((r) => resolve(cwd, r)),
    cacheMb: num('--cache-mb', one('--cache-mb') ?? String(DEFAULTS.cacheMb), 1),
    storeMb: num('--store-mb', one('--store-mb') ?? String(DEFAULTS.storeMb), 1),
    storeDir: storeDir ? resolve(cwd, storeDir) : undefined,
    maxMegapixels: num('--max-megapixels', one('--max-megapixels') ?? String(DEFAULTS.maxMegapixels), 0.000001, false),
    modelConcurrency: num('--model-concurrency', one('--model-concurrency') ?? '1', 1),
    batchSize: num('--batch-size', one('--batch-size') ?? env.VALOR_BATCH_SIZE ?? String(deviceText === 'cuda' ? DEFAULTS.batchSizeCuda : DEFAULTS.batchSizeCpu), 1),
    threads: parseThreads(one('--threads') ?? env.VALOR_THREADS),
    maxImageBytes: DEFAULTS.maxImageBytes,
    maxJsonBytes: DEFAULTS.maxJsonBytes,
    vlm,
    debugDelayMs: num('--debug-delay-ms', one('--debug-delay-ms') ?? env.VALOR_TOOLS_DEBUG_DELAY_MS ?? '0', 0),
    debugNoInputCache: env.VALOR_TOOLS_DEBUG_NO_INPUT_CACHE === '1',
    log,
  };
}

/** `--threads 4`, `--threads 4,2` or `--threads 4,2,1`: detector, depth, inter-op. */
export function parseThreads(text: string | undefined): ThreadSettings {
  if (text === undefined || text.trim() === '') return {};
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length > 3 || parts.some((p) => !/^[1-9]\d{0,3}$/.test(p))) {
    throw new OptionsError(`--threads expects N, N,M or N,M,K (positive integers: detector intra-op threads, depth intra-op threads, inter-op threads), got '${text}'`);
  }
  const [detector, depth, interOp] = parts.map(Number);
  return { detector, depth: depth ?? detector, interOp };
}

/** The ready line's format (documented in src/protocol/tools.ts: TOOL_SERVER_READY_RE). */
export function readyLine(url: string, token: string, device: string): string {
  return `valor tool server ready at ${url} token=${token} device=${device}`;
}
