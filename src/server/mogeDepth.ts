/**
 * `depth` with MoGe-2 (VALOR's depth model): the authors' ONNX export of the raw forward pass
 * (`Ruicheng/moge-2-vit{l,b,s}-normal-onnx`, one `model.onnx`) plus `MoGeModel.infer`'s
 * post-processing in TypeScript (mogePost.ts).
 *
 * Folder layout: `model.onnx` (as the hub repository has it) or `onnx/model.onnx`; an optional
 * `config.json` may set `num_tokens_range` ([min, max], default [1200, 3600] as MoGe-2's
 * configuration), `resolution_level` (0–9, default 9 as `infer`) or `num_tokens` directly. A
 * folder is taken as MoGe-2 when its config says `"model_type": "moge-2"` or it has no
 * `preprocessor_config.json` (transformers-layout depth models always have one); the graph must
 * have the inputs `image` and `num_tokens`.
 *
 * Input: the whole picture at its own size, RGB / 255 in float32 (as MoGe's infer script feeds
 * `torch.tensor(image / 255)`); the graph resizes and normalises inside, so the depth map comes
 * out at the image's resolution with no resize of ours. Masked pixels are +∞ (the tool reads
 * finite values only).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DepthInput } from './depth.js';
import type { DecodedImage } from './images.js';
import type { LoadedModel } from './modelSlot.js';
import { mogeDepth, type MoGeDepth } from './mogePost.js';
import { CountedSession, type Device, type SessionThreads } from './onnx.js';
import { modelId } from './transformersEnv.js';

export const MOGE_DEFAULT_TOKENS_RANGE: readonly [number, number] = [1200, 3600];

interface MoGeConfig {
  model_type?: string;
  num_tokens_range?: [number, number];
  resolution_level?: number;
  num_tokens?: number;
}

/** Where the graph lies in a MoGe folder (`model.onnx`, else `onnx/model.onnx`), or undefined. */
export function mogeGraphFile(dir: string): string | undefined {
  for (const f of ['model.onnx', 'onnx/model.onnx']) if (existsSync(join(dir, f))) return f;
  return undefined;
}

function readConfig(dir: string): MoGeConfig | undefined {
  const p = join(dir, 'config.json');
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as MoGeConfig;
  } catch (err) {
    throw new Error(`${p} is not valid JSON (${(err as Error).message})`);
  }
}

/** Whether `dir` holds a MoGe-2 model (see the file comment). */
export function isMoGeFolder(dir: string): boolean {
  let config: MoGeConfig | undefined;
  try {
    config = readConfig(dir);
  } catch {
    return false;
  }
  if (config?.model_type === 'moge-2') return true;
  if (config?.model_type) return false;
  return !existsSync(join(dir, 'preprocessor_config.json')) && mogeGraphFile(dir) !== undefined;
}

/** The token count `infer` uses by default: `int(min + level / 9 · (max − min))`. */
export function mogeNumTokens(config: MoGeConfig | undefined): number {
  if (config?.num_tokens !== undefined) return config.num_tokens;
  const [lo, hi] = config?.num_tokens_range ?? MOGE_DEFAULT_TOKENS_RANGE;
  const level = config?.resolution_level ?? 9;
  return Math.trunc(lo + (level / 9) * (hi - lo));
}

export class MoGeDepthModel implements LoadedModel {
  /** The last map's solver result (shift, focal), for tests and the trace. */
  last?: Omit<MoGeDepth, 'depth'>;

  private constructor(
    readonly id: string,
    readonly session: CountedSession,
    readonly numTokens: number,
  ) {}

  static async load(dir: string, device: Device, warn: (line: string) => void, threads?: SessionThreads): Promise<MoGeDepthModel> {
    const config = readConfig(dir);
    const file = mogeGraphFile(dir);
    if (!file) throw new Error(`no model.onnx (or onnx/model.onnx) in the MoGe-2 folder ${dir}`);
    const numTokens = mogeNumTokens(config);
    if (!Number.isInteger(numTokens) || numTokens < 1) throw new Error(`config.json in ${dir} gives num_tokens ${numTokens}; it must be a positive integer`);
    const session = await CountedSession.open(join(dir, file), device, warn, threads);
    for (const name of ['image', 'num_tokens']) {
      if (!session.inputNames.includes(name)) throw new Error(`${file} in ${dir} has no input '${name}' (inputs: ${session.inputNames.join(', ')}); it is not a MoGe-2 export`);
    }
    for (const name of ['points', 'mask']) {
      if (!session.outputNames.includes(name)) throw new Error(`${file} in ${dir} has no output '${name}' (outputs: ${session.outputNames.join(', ')}); it is not a MoGe-2 export`);
    }
    if (!session.outputNames.includes('metric_scale')) warn(`the MoGe model in ${dir} has no metric_scale output (MoGe-1?): its depth is relative, not metres`);
    const files = [file, ...(config ? ['config.json'] : [])];
    return new MoGeDepthModel(modelId(dir, files), session, numTokens);
  }

  /** The model input of one picture: RGB / 255 as float32 [1, 3, H, W] (kept per image like the other models' inputs). */
  async pixelInput(img: DecodedImage): Promise<DepthInput> {
    const n = img.width * img.height;
    const data = new Float32Array(3 * n);
    const src = img.data;
    for (let i = 0; i < n; i++) {
      data[i] = (src[i * 3] as number) / 255;
      data[n + i] = (src[i * 3 + 1] as number) / 255;
      data[2 * n + i] = (src[i * 3 + 2] as number) / 255;
    }
    return { values: data, dims: [1, 3, img.height, img.width], bytes: data.byteLength };
  }

  /** One session.run: the raw forward pass (affine point map, mask, metric scale). */
  async run(input: DepthInput): Promise<Record<string, ort.Tensor>> {
    return this.session.run({
      image: new ort.Tensor('float32', input.values, input.dims),
      num_tokens: new ort.Tensor('int64', BigInt64Array.from([BigInt(this.numTokens)]), []),
    });
  }

  /** `infer`'s post-processing: the depth map at the image's own size, row-major metres (+∞ where masked). */
  toImage(out: Record<string, ort.Tensor>, _input: DepthInput, width: number, height: number): Float32Array {
    const points = out.points as ort.Tensor;
    const [, h, w] = points.dims as number[];
    if (h !== height || w !== width) throw new Error(`MoGe returned a ${w}×${h} point map for a ${width}×${height} image`);
    const scale = out.metric_scale ? Number((out.metric_scale as ort.Tensor).data[0]) : undefined;
    const result = mogeDepth({
      points: points.data as Float32Array,
      mask: out.mask ? ((out.mask as ort.Tensor).data as Float32Array) : undefined,
      metricScale: scale,
      width: w,
      height: h,
    });
    const { depth, ...rest } = result;
    this.last = rest;
    return depth;
  }

  /** The depth map at the image's own size, row-major metres (+∞ where masked). */
  async infer(img: DecodedImage): Promise<Float32Array> {
    const input = await this.pixelInput(img);
    return this.toImage(await this.run(input), input, img.width, img.height);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
