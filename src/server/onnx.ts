/**
 * onnxruntime-node sessions for the tool models: device selection with an honest CPU fallback,
 * and a run counter plus timing per session (health reports the counts, tests use them to prove
 * that a cached call ran no model, the benchmark compares server time with bare session time).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SessionThread, type WireTensor } from './sessionWorker.js';

export type Device = 'cpu' | 'cuda';

export interface DeviceChoice {
  device: Device;
  /** Set when `cuda` was asked for and the CPU is used instead; printed once. */
  warning?: string;
}

/** Where onnxruntime-node keeps its native libraries (the CUDA provider lands there when installed). */
function runtimeLibDir(): string | undefined {
  try {
    const pkg = require.resolve('onnxruntime-node/package.json');
    const base = join(dirname(pkg), 'bin');
    for (const napi of readdirSync(base)) {
      const dir = join(base, napi, process.platform, process.arch);
      if (existsSync(dir)) return dir;
    }
  } catch {
    // fall through: no runtime found, the session creation will report it
  }
  return undefined;
}

/**
 * Whether the installed onnxruntime-node can use CUDA. The npm package ships CPU binaries only;
 * `npm run install:cuda` (onnxruntime-node's own installer, `--onnxruntime-node-install=cuda12`)
 * adds `libonnxruntime_providers_cuda.so` beside them.
 */
export function chooseDevice(requested: Device): DeviceChoice {
  if (requested === 'cpu') return { device: 'cpu' };
  const dir = runtimeLibDir();
  const hasCuda = dir !== undefined && readdirSync(dir).some((f) => /onnxruntime_providers_cuda/.test(f));
  if (hasCuda) return { device: 'cuda' };
  return {
    device: 'cpu',
    warning: `--device cuda: the installed onnxruntime-node has no CUDA provider (no libonnxruntime_providers_cuda in ${dir ?? 'node_modules/onnxruntime-node'}); using the CPU. Add it with 'npm run install:cuda' (onnxruntime-node's installer with --onnxruntime-node-install=cuda12) on a machine with CUDA 12 and cuDNN 9.`,
  };
}

/** onnxruntime thread settings of one session. */
export interface SessionThreads {
  intraOp: number;
  interOp: number;
  /** Whether idle pool threads spin (lower latency alone, stolen cores when models share). */
  spin: boolean;
}

/**
 * Threads per model when nothing is given: the detector (the heavy model) may use every core;
 * the depth model, which runs beside it when a run starts its depth map early, half of them, so
 * the two together do not ask for much more than the machine has; one inter-op thread each
 * (the graphs are chains: parallel operators gain little and add threads); pool threads that
 * sleep when idle rather than spin, because two sessions and the server's own preprocessing
 * share the same cores. On CUDA the pools only feed the GPU, so the same numbers do no harm.
 */
export function threadPlan(given: { detector?: number; depth?: number; interOp?: number }, cores = availableParallelism(), spinEnv = process.env.VALOR_ORT_SPIN): { detector: SessionThreads; depth: SessionThreads } {
  const spin = spinEnv === '1';
  const interOp = given.interOp ?? 1;
  return {
    detector: { intraOp: given.detector ?? Math.max(1, cores), interOp, spin },
    depth: { intraOp: given.depth ?? Math.max(1, Math.floor(cores / 2)), interOp, spin },
  };
}

const onesArrays = new Map<number, BigInt64Array>();
const ONES = new WeakSet<object>();

/**
 * An all-ones int64 array of `n` elements (a mask with nothing masked), shared and never written:
 * a session sends it to its thread as a size instead of the bytes.
 */
export function onesInt64(n: number): BigInt64Array {
  let m = onesArrays.get(n);
  if (!m) {
    if (onesArrays.size > 8) onesArrays.clear();
    m = new BigInt64Array(n).fill(1n);
    ONES.add(m);
    onesArrays.set(n, m);
  }
  return m;
}

/** A session on its own thread (src/server/sessionWorker.ts), with a run counter and timings. */
export class CountedSession {
  runs = 0;
  /** Total milliseconds spent inside session.run. */
  runMs = 0;
  lastRunMs = 0;

  private constructor(
    private readonly thread: SessionThread,
    readonly device: Device,
    readonly file: string,
  ) {}

  /**
   * Opens `file` on `device`. A CUDA session that cannot be created (driver, cuDNN) falls back to
   * the CPU with `onWarning` called once, so the server keeps working.
   */
  static async open(file: string, device: Device, onWarning: (line: string) => void, threads?: SessionThreads): Promise<CountedSession> {
    const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
    if (threads) {
      base.intraOpNumThreads = threads.intraOp;
      base.interOpNumThreads = threads.interOp;
      base.executionMode = threads.interOp > 1 ? 'parallel' : 'sequential';
      base.extra = { session: { intra_op: { allow_spinning: threads.spin ? '1' : '0' }, inter_op: { allow_spinning: threads.spin ? '1' : '0' } } };
    }
    if (device === 'cuda') {
      try {
        const s = await SessionThread.open(file, { ...base, executionProviders: ['cuda', 'cpu'] });
        return new CountedSession(s, 'cuda', file);
      } catch (err) {
        onWarning(`could not open ${file} with the CUDA provider (${(err as Error).message.split('\n')[0]}); using the CPU for this model`);
      }
    }
    const s = await SessionThread.open(file, { ...base, executionProviders: ['cpu'] });
    return new CountedSession(s, 'cpu', file);
  }

  get inputNames(): readonly string[] {
    return this.thread.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.thread.outputNames;
  }

  /** Whether input `name` has a free first (batch) dimension; unknown shapes count as free. */
  batchable(name: string): boolean {
    const shape = this.thread.inputShapes[name];
    return !shape || shape.length === 0 || typeof shape[0] === 'string' || shape[0] === -1;
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const wire: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      wire[name] = ONES.has(t.data as object) ? { type: t.type, dims: t.dims, ones: t.size } : { type: t.type, dims: t.dims, data: t.data };
    }
    const { out, ms } = await this.thread.run(wire);
    this.lastRunMs = ms;
    this.runMs += ms;
    this.runs++;
    const result: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(out)) result[name] = new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims);
    return result;
  }

  async release(): Promise<void> {
    await this.thread.release();
  }
}

/** Version of an installed package (for `/v1/health`), or `unknown`. */
export function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
