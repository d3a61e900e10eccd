/**
 * transformers.js, set up for a server that must never reach the network: models load from
 * local folders only (an absolute folder path is not a hub id, so nothing is fetched).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as transformers from '@huggingface/transformers';
import { PIL_RESAMPLE, pilResize } from './pilResize.js';

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
