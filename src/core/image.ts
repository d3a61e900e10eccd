/**
 * Facts about an input image that every front end needs before doing work with it: does it
 * exist, is it an image, its content hash and size. Failing here gives one clear message instead
 * of a confusing error deep inside a tool call.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { sha256File } from './contentHash.js';

export interface ImageInfo {
  /** Absolute path. */
  path: string;
  sha256: string;
  width: number;
  height: number;
  format: string;
}

/** The image cannot be used; `message` says which file and what to do. */
export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/**
 * Checks that `path` is a readable image and returns its hash and size. `origin` says where the
 * path came from and how it was resolved (a `.vprog` header, `--images`), for the message when
 * it is missing; without it, a relative `path` is said to be resolved from `cwd`.
 */
export async function inspectImage(path: string, cwd = process.cwd(), origin?: string): Promise<ImageInfo> {
  const abs = resolve(cwd, path);
  let st;
  try {
    st = await stat(abs);
  } catch {
    const where = origin ? ` (${origin})` : isAbsolute(path) ? '' : ` (a relative path is resolved from the working folder ${cwd})`;
    throw new ImageInputError(`image not found: ${abs}${where}. Check the path.`);
  }
  if (!st.isFile()) throw new ImageInputError(`image path is not a file: ${abs}`);
  let meta: { width?: number; height?: number; format?: string; orientation?: number };
  try {
    const sharp = (await import('sharp')).default;
    meta = await sharp(abs, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageInputError(
      `not a readable image: ${abs} (${(err as Error).message}). Use a JPEG, PNG, WebP, GIF or TIFF file.`,
    );
  }
  if (!meta.width || !meta.height) throw new ImageInputError(`image has no size: ${abs}`);
  // EXIF orientations 5-8 swap width and height; tools see the image upright.
  const swap = (meta.orientation ?? 1) >= 5;
  return {
    path: abs,
    sha256: await sha256File(abs),
    width: swap ? meta.height : meta.width,
    height: swap ? meta.width : meta.height,
    format: meta.format ?? 'unknown',
  };
}
