/**
 * transformers.js, set up for a server that must never reach the network: models load from
 * local folders only (an absolute folder path is not a hub id, so nothing is fetched).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as transformers from '@huggingface/transformers';
import { PIL_RESAMPLE } from './pilFilters.js';
import type { ChannelLut } from './pilPasses.js';
import { pilResize, pilResizeToPlanes } from './pilResize.js';

transformers.env.allowRemoteModels = false;
transformers.env.allowLocalModels = true;
transformers.env.useFSCache = false;

export { transformers };

/**
 * A model id for cache keys and replies: the folder name plus a short hash of its configuration
 * and the weights' size and mtime, so swapping the weights in a folder gives a new id.
 */
export function modelId(dir: string, files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    try {
      const p = join(dir, f);
      const st = statSync(p);
      h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
      if (f.endsWith('.json')) h.update(readFileSync(p));
    } catch {
      h.update(`${f}:missing\n`);
    }
  }
  return `${basename(dir)}@${h.digest('hex').slice(0, 12)}`;
}

interface ResizingImageProcessor {
  size: unknown;
  resample?: number;
  get_resize_output_image_size(image: transformers.RawImage, size: unknown): [number, number];
  resize(image: transformers.RawImage): Promise<transformers.RawImage>;
}

/**
 * Makes a transformers.js image processor resize like the Python reference (Pillow) instead of
 * sharp: same output size rule (the processor's own), same filter, identical bytes. Everything
 * else (rescale, normalise, pad, masks) stays the processor's.
 */
export function usePillowResize(processor: unknown): void {
  const p = processor as ResizingImageProcessor;
  if (typeof p?.get_resize_output_image_size !== 'function') throw new Error('this image processor has no resize step to replace');
  p.resize = async (image) => {
    const [w, h] = p.get_resize_output_image_size(image, p.size);
    const rgb = image.channels === 3 ? image : image.rgb();
    if (rgb.width === w && rgb.height === h) return rgb;
    const data = pilResize(rgb.data as Uint8ClampedArray, rgb.width, rgb.height, 3, w, h, p.resample ?? PIL_RESAMPLE.BILINEAR);
    return new transformers.RawImage(data, w, h, 3);
  };
}

interface ImageProcessorFields extends ResizingImageProcessor {
  do_resize?: boolean;
  do_rescale?: boolean;
  rescale_factor?: number;
  do_normalize?: boolean;
  image_mean?: number | number[];
  image_std?: number | number[];
  do_pad?: boolean;
  pad_size?: { width: number; height: number };
  size_divisibility?: number;
  do_center_crop?: boolean;
  do_thumbnail?: boolean;
  do_crop_margin?: boolean;
  do_flip_channel_order?: boolean;
}

const channelLuts = new WeakMap<object, ChannelLut>();

/**
 * What the processor's rescale and normalise make of each byte value, per channel: the same
 * float32 operations in the same order as transformers.js (so a table lookup is bit-identical).
 */
function channelLut(rescale: boolean, rf: number, normalize: boolean, mean: number[], std: number[]): ChannelLut {
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = mean[c] ?? 0;
    const s = std[c] ?? 1;
    for (let b = 0; b < 256; b++) {
      let v = b;
      if (rescale) v = Math.fround(rf * v);
      if (normalize) v = Math.fround((v - m) / s);
      lut[c * 256 + b] = v;
    }
  }
  return lut;
}

/**
 * The processor's `pixel_values` (CHW float32) computed in one pass: Pillow-exact resize to the
 * processor's own output size, then rescale and normalise with the same float32 rounding as
 * transformers.js. Returns undefined for options outside that common subset (center crop,
 * thumbnail, padding that changes the size, ...), where the caller uses the processor itself.
 * A test checks that both paths give identical bits.
 */
export function fastPixelValues(processor: unknown, img: { data: Uint8Array; width: number; height: number }): { data: Float32Array; width: number; height: number } | undefined {
  const p = processor as ImageProcessorFields;
  if (p.do_thumbnail || p.do_center_crop || p.do_crop_margin || p.do_flip_channel_order) return undefined;
  if (p.do_pad && !p.pad_size && p.size_divisibility) return undefined;
  const mean = Array.isArray(p.image_mean) ? p.image_mean : [p.image_mean, p.image_mean, p.image_mean];
  const std = Array.isArray(p.image_std) ? p.image_std : [p.image_std, p.image_std, p.image_std];
  if (p.do_normalize && (mean.length !== 3 || std.length !== 3 || mean.some((v) => typeof v !== 'number') || std.some((v) => typeof v !== 'number'))) return undefined;
  let w = img.width;
  let h = img.height;
  if (p.do_resize) [w, h] = p.get_resize_output_image_size({ size: [img.width, img.height] } as unknown as transformers.RawImage, p.size);
  if (p.do_pad && p.pad_size && (p.pad_size.width !== w || p.pad_size.height !== h)) return undefined;
  let lut = channelLuts.get(p);
  if (!lut) {
    lut = channelLut(p.do_rescale !== false, p.rescale_factor ?? 1 / 255, Boolean(p.do_normalize), mean as number[], std as number[]);
    channelLuts.set(p, lut);
  }
  const data = pilResizeToPlanes(img.data, img.width, img.height, w, h, p.resample ?? PIL_RESAMPLE.BILINEAR, lut);
  return { data, width: w, height: h };
}
