/**
 * `depth`: a metric depth model in ONNX, with the image processor from transformers.js. Two output
 * contracts are understood:
 * - Depth Anything V2 metric (and anything exported the same way): `pixel_values` in,
 *   `predicted_depth` in metres out. (MoGe-2, VALOR's depth model, has its own contract: mogeDepth.ts.)
 * - Depth Pro (onnx-community/DepthPro-ONNX): `predicted_depth` is a canonical inverse depth and a
 *   second output gives the focal length in pixels of the network input (or the field of view in
 *   degrees); metres are 1 / (inverse depth × input width / focal length), as Apple's reference
 *   computes them. This path follows the published formula and is not covered by a fixture here.
 * The map is computed once per image (the caller caches it by content hash and model id) and
 * resized to the image with bicubic interpolation, as the Python reference's depth
 * post-processing does (torch `interpolate(mode="bicubic", align_corners=False)`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DecodedImage } from './images.js';
import type { LoadedModel } from './modelSlot.js';
import { CountedSession, type Device, type SessionThreads } from './onnx.js';
import { fastPixelValues, modelId, transformers, usePillowResize } from './transformersEnv.js';

export const DEPTH_FILES = ['config.json', 'preprocessor_config.json', 'onnx/model.onnx'] as const;

/** The network input of one image (kept per image in the server's cache). */
export interface DepthInput {
  values: Float32Array;
  dims: number[];
  bytes: number;
}

type ImageProcessor = Awaited<ReturnType<typeof transformers.AutoImageProcessor.from_pretrained>>;

export class DepthModel implements LoadedModel {
  private constructor(
    readonly id: string,
    readonly session: CountedSession,
    private readonly processor: ImageProcessor,
    private readonly outputName: string,
    /** Depth Pro: the output holding the focal length (px) or field of view (degrees). */
    private readonly focalOutput?: string,
  ) {}

  static async load(dir: string, device: Device, warn: (line: string) => void, threads?: SessionThreads): Promise<DepthModel> {
    // Local files only: transformersEnv.ts turns remote models off for every load.
    const processor = await transformers.AutoImageProcessor.from_pretrained(dir);
    usePillowResize(processor);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { depth_estimation_type?: string };
    if (config.depth_estimation_type === 'relative') {
      warn(`the depth model in ${dir} is a relative-depth model (config depth_estimation_type "relative"): its values are not metres; use a metric model (see docs/tool-server.md)`);
    }
    const session = await CountedSession.open(join(dir, 'onnx', 'model.onnx'), device, warn, threads);
    if (!session.inputNames.includes('pixel_values')) throw new Error(`onnx/model.onnx has no input 'pixel_values' (inputs: ${session.inputNames.join(', ')})`);
    // The depth output: 'predicted_depth', else the first output that is not a focal length or
    // field of view (whatever order the export gave them); Depth Pro's focal output is the first
    // that is.
    const isFocal = (n: string): boolean => /focal|fov|field_of_view/i.test(n);
    const outputName = session.outputNames.includes('predicted_depth') ? 'predicted_depth' : session.outputNames.find((n) => !isFocal(n));
    if (outputName === undefined) {
      throw new Error(`onnx/model.onnx has no depth output (outputs: ${session.outputNames.join(', ')}, each a focal length or field of view by its name); export the depth map as 'predicted_depth'`);
    }
    const focalOutput = session.outputNames.find(isFocal);
    return new DepthModel(modelId(dir, DEPTH_FILES), session, processor, outputName, focalOutput);
  }

  /** The image's `pixel_values` (the one-pass Pillow-exact path, or the processor itself for other options). */
  async pixelInput(img: DecodedImage): Promise<DepthInput> {
    const fast = fastPixelValues(this.processor, img);
    if (fast) return { values: fast.data, dims: [1, 3, fast.height, fast.width], bytes: fast.data.byteLength };
    const image = new transformers.RawImage(new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), img.width, img.height, 3);
    const call = this.processor as unknown as (i: transformers.RawImage) => Promise<{ pixel_values: transformers.Tensor }>;
    const pv = (await call(image)).pixel_values;
    return { values: pv.data as Float32Array, dims: [...pv.dims], bytes: (pv.data as Float32Array).byteLength };
  }

  /** One session.run: the network's own output (map at the network's size, plus Depth Pro's focal output). */
  async run(input: DepthInput): Promise<Record<string, ort.Tensor>> {
    return this.session.run({ pixel_values: new ort.Tensor('float32', input.values, input.dims) });
  }

  /** The network's output as a depth map at the image's own size, row-major metres. */
  toImage(out: Record<string, ort.Tensor>, input: DepthInput, width: number, height: number): Float32Array {
    const t = out[this.outputName] as ort.Tensor;
    const dims = t.dims;
    const h = dims[dims.length - 2] as number;
    const w = dims[dims.length - 1] as number;
    const data = (t.data as Float32Array).subarray(0, h * w);
    if (!this.focalOutput) return resizeBicubic(data, w, h, width, height);
    // Depth Pro: scale the canonical inverse depth by the input width over the focal length,
    // resize, then invert (clamped as the reference does).
    const netWidth = input.dims[input.dims.length - 1] as number;
    const raw = Number((out[this.focalOutput] as ort.Tensor).data[0]);
    const focalPx = /fov|field_of_view/i.test(this.focalOutput) ? (0.5 * netWidth) / Math.tan((0.5 * raw * Math.PI) / 180) : raw;
    const scale = netWidth / focalPx;
    const inverse = data.map((v) => v * scale);
    const resized = resizeBicubic(inverse, w, h, width, height);
    for (let i = 0; i < resized.length; i++) resized[i] = 1 / Math.min(Math.max(resized[i] as number, 1e-4), 1e4);
    return resized;
  }

  /** The depth map at the image's own size, row-major metres. */
  async infer(img: DecodedImage): Promise<Float32Array> {
    const input = await this.pixelInput(img);
    return this.toImage(await this.run(input), input, img.width, img.height);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

const A = -0.75;
function cubicWeights(t: number): [number, number, number, number] {
  const c1 = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1;
  const c2 = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
}

const taps = new Map<string, { idx: Int32Array; w: Float32Array }>();

/** Source taps and weights along one axis (PyTorch's bicubic, align_corners=False, edge-clamped), kept per size pair. */
function axisTaps(inSize: number, outSize: number): { idx: Int32Array; w: Float32Array } {
  const key = `${inSize}>${outSize}`;
  let t = taps.get(key);
  if (!t) {
    if (taps.size > 64) taps.clear();
    t = computeTaps(inSize, outSize);
    taps.set(key, t);
  }
  return t;
}

function computeTaps(inSize: number, outSize: number): { idx: Int32Array; w: Float32Array } {
  const idx = new Int32Array(outSize * 4);
  const w = new Float32Array(outSize * 4);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const real = scale * (o + 0.5) - 0.5;
    const i0 = Math.floor(real);
    const ws = cubicWeights(real - i0);
    for (let k = 0; k < 4; k++) {
      idx[o * 4 + k] = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      w[o * 4 + k] = ws[k] as number;
    }
  }
  return { idx, w };
}

/** Separable bicubic resize of a single-channel float map. */
export function resizeBicubic(src: Float32Array, inW: number, inH: number, outW: number, outH: number): Float32Array {
  if (inW === outW && inH === outH) return Float32Array.from(src);
  const xs = axisTaps(inW, outW);
  const ys = axisTaps(inH, outH);
  // Horizontal pass: inH rows × outW.
  const tmp = new Float32Array(inH * outW);
  for (let y = 0; y < inH; y++) {
    const row = y * inW;
    const orow = y * outW;
    for (let x = 0; x < outW; x++) {
      const k = x * 4;
      tmp[orow + x] =
        (src[row + (xs.idx[k] as number)] as number) * (xs.w[k] as number) +
        (src[row + (xs.idx[k + 1] as number)] as number) * (xs.w[k + 1] as number) +
        (src[row + (xs.idx[k + 2] as number)] as number) * (xs.w[k + 2] as number) +
        (src[row + (xs.idx[k + 3] as number)] as number) * (xs.w[k + 3] as number);
    }
  }
  const out = new Float32Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const k = y * 4;
    const r0 = (ys.idx[k] as number) * outW;
    const r1 = (ys.idx[k + 1] as number) * outW;
    const r2 = (ys.idx[k + 2] as number) * outW;
    const r3 = (ys.idx[k + 3] as number) * outW;
    const w0 = ys.w[k] as number;
    const w1 = ys.w[k + 1] as number;
    const w2 = ys.w[k + 2] as number;
    const w3 = ys.w[k + 3] as number;
    const orow = y * outW;
    for (let x = 0; x < outW; x++) {
      out[orow + x] = (tmp[r0 + x] as number) * w0 + (tmp[r1 + x] as number) * w1 + (tmp[r2 + x] as number) * w2 + (tmp[r3 + x] as number) * w3;
    }
  }
  return out;
}

/**
 * The map averaged down so its long side is at most `maxSide` (area mean of valid values; cells
 * with none stay NaN), with the min and max of the valid values of the full map.
 */
export function downsampleDepth(map: Float32Array, width: number, height: number, maxSide: number): { width: number; height: number; data: Float32Array; min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of map) {
    if (Number.isFinite(v) && v > 0) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) {
    min = 0;
    max = 0;
  }
  const s = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * s));
  const h = Math.max(1, Math.round(height * s));
  const sum = new Float64Array(w * h);
  const cnt = new Uint32Array(w * h);
  for (let y = 0; y < height; y++) {
    // y < height, so the cell row is below h (and the column below w).
    const ty = Math.floor((y * h) / height);
    for (let x = 0; x < width; x++) {
      const v = map[y * width + x] as number;
      if (!(Number.isFinite(v) && v > 0)) continue;
      const j = ty * w + Math.floor((x * w) / width);
      sum[j] = (sum[j] as number) + v;
      cnt[j] = (cnt[j] as number) + 1;
    }
  }
  // A cell with no valid value is 0 / 0: NaN.
  const data = Float32Array.from(sum, (s, j) => s / (cnt[j] as number));
  return { width: w, height: h, data, min, max };
}
