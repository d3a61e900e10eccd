/**
 * An onnxruntime session on its own thread. onnxruntime-node's `session.run` is synchronous on the
 * calling thread (its promise only defers the call), so a run on the server's main thread stops
 * everything else for the model's whole time: no request is read, no image preprocessed, no
 * health answered, and two models can never run side by side. In a worker the main thread stays
 * free: it preprocesses the next request while a model runs, requests that arrive meanwhile wait
 * together (and can be batched), and the detector and the depth model run at once.
 *
 * Inputs cross by copy: a typed array over a SharedArrayBuffer (what the preprocessing writes) is
 * copied on the worker's side (onnxruntime refuses shared memory), anything else by the message's
 * structured clone; an all-ones mask is sent as a size and made (once per size) in the worker.
 * Outputs come back transferred, without a copy.
 *
 * The worker's code is a string evaluated in the worker (`eval: true`), so the same code runs from
 * the bundles in dist/ and from the sources under tsx, with onnxruntime-node resolved by the main
 * thread and handed over as a path.
 */
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';

/** A tensor as it crosses between threads. */
export interface WireTensor {
  type: ort.Tensor.Type;
  dims: readonly number[];
  data?: ort.Tensor.DataType;
  /** An int64 tensor of ones with this many elements (nothing else sent). */
  ones?: number;
}

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
const ones = new Map();
function onesOf(n) {
  let m = ones.get(n);
  if (!m) {
    if (ones.size > 8) ones.clear();
    m = new BigInt64Array(n).fill(1n);
    ones.set(n, m);
  }
  return m;
}
let session;
ort.InferenceSession.create(workerData.file, workerData.options).then(
  (s) => {
    session = s;
    let shapes = {};
    try { for (const m of s.inputMetadata || []) shapes[m.name] = m.isTensor ? m.shape : []; } catch { shapes = {}; }
    parentPort.postMessage({ kind: 'ready', inputNames: s.inputNames, outputNames: s.outputNames, inputShapes: shapes });
  },
  (err) => parentPort.postMessage({ kind: 'failed', message: String((err && err.message) || err) }),
);
parentPort.on('message', async (m) => {
  if (m.kind === 'release') {
    try { if (session) await session.release(); } catch {}
    parentPort.postMessage({ kind: 'released' });
    return;
  }
  try {
    const feeds = {};
    for (const [name, t] of Object.entries(m.feeds)) {
      let data = t.ones !== undefined ? onesOf(t.ones) : t.data;
      if (data && data.buffer instanceof SharedArrayBuffer) data = data.slice();
      feeds[name] = new ort.Tensor(t.type, data, t.dims);
    }
    const t0 = performance.now();
    const out = await session.run(feeds);
    const ms = performance.now() - t0;
    const result = {};
    const transfer = [];
    for (const [name, t] of Object.entries(out)) {
      result[name] = { type: t.type, dims: t.dims, data: t.data };
      if (t.data && t.data.buffer instanceof ArrayBuffer && !transfer.includes(t.data.buffer)) transfer.push(t.data.buffer);
    }
    try {
      parentPort.postMessage({ kind: 'result', id: m.id, ms, out: result }, transfer);
    } catch {
      parentPort.postMessage({ kind: 'result', id: m.id, ms, out: result });
    }
  } catch (err) {
    parentPort.postMessage({ kind: 'error', id: m.id, message: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  resolve: (r: { out: Record<string, WireTensor>; ms: number }) => void;
  reject: (err: Error) => void;
}

/** One session in one worker thread. */
export class SessionThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private dead?: Error;

  private constructor(
    private readonly worker: Worker,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    /** Declared input shapes (a string is a symbolic dimension); empty when the runtime gives none. */
    readonly inputShapes: Readonly<Record<string, ReadonlyArray<number | string>>>,
  ) {
    worker.on('message', (m: { kind: string; id?: number; out?: Record<string, WireTensor>; ms?: number; message?: string }) => {
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id as number);
      this.updateRef();
      if (m.kind === 'result') p.resolve({ out: m.out ?? {}, ms: m.ms ?? 0 });
      else p.reject(new Error(m.message ?? 'the model run failed'));
    });
    const fail = (err: Error): void => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`the model's thread failed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`the model's thread stopped (exit code ${code})`)));
    this.updateRef();
  }

  /** Creates the session in a new worker; rejects with onnxruntime's message when it cannot. */
  static open(file: string, options: ort.InferenceSession.SessionOptions): Promise<SessionThread> {
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { ort: require.resolve('onnxruntime-node'), file, options } });
    return new Promise((resolve, reject) => {
      const onMessage = (m: { kind: string; inputNames?: string[]; outputNames?: string[]; inputShapes?: Record<string, Array<number | string>>; message?: string }): void => {
        worker.off('error', onError);
        worker.off('message', onMessage);
        if (m.kind === 'ready') resolve(new SessionThread(worker, m.inputNames ?? [], m.outputNames ?? [], m.inputShapes ?? {}));
        else {
          void worker.terminate();
          reject(new Error(m.message ?? 'the session could not be created'));
        }
      };
      const onError = (err: Error): void => {
        worker.off('message', onMessage);
        reject(err);
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
  }

  /** One session.run on the worker; `ms` is the run's own time there. */
  run(feeds: Record<string, WireTensor>): Promise<{ out: Record<string, WireTensor>; ms: number }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.updateRef();
      try {
        this.worker.postMessage({ kind: 'run', id, feeds });
      } catch (err) {
        this.pending.delete(id);
        this.updateRef();
        reject(err as Error);
      }
    });
  }

  /** Only a thread with work in flight keeps the process alive. */
  private updateRef(): void {
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  async release(): Promise<void> {
    if (!this.dead) {
      this.worker.ref();
      await new Promise<void>((resolve) => {
        const done = (): void => resolve();
        this.worker.once('message', done);
        this.worker.once('exit', done);
        this.worker.postMessage({ kind: 'release' });
        setTimeout(done, 2000).unref();
      });
    }
    await this.worker.terminate();
  }
}
