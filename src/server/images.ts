/**
 * The server's images: uploaded bytes kept on disk by sha256 (so a client sends an image once),
 * paths resolved only inside the allowed roots, and decoding with sharp into RGB pixels that the
 * shared byte-budget cache keeps by content hash.
 *
 * Orientation: every image is turned upright by its EXIF orientation before anything else, so
 * widths, heights, boxes, crops and depth maps all refer to the upright image a viewer shows.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import sharp from 'sharp';
import type { ImageRef } from '../protocol/tools.js';
import { DEFAULT_MAX_IMAGE_BYTES, ImageFileError, readImageFile } from '../core/imageFile.js';
import { HttpError } from './errors.js';
import { ByteLru } from './lru.js';

/** RGB pixels of an upright image, row-major, 3 bytes a pixel. */
export interface DecodedImage {
  sha256: string;
  width: number;
  height: number;
  data: Buffer;
}

export interface StoredImage {
  sha256: string;
  /** Upright size (after EXIF orientation). */
  width: number;
  height: number;
  format: string;
  bytes: number;
  file: string;
}

export interface ImageStoreOptions {
  /** Folder for uploaded image bytes (created; removed by `close` when `ownsDir`). */
  dir: string;
  ownsDir: boolean;
  /** Folders whose files may be referenced by path (symlinks resolved). */
  allowRoots: string[];
  /** Most bytes of an image read from a path (default: the upload cap, 64 MiB). */
  maxFileBytes?: number;
  /** Largest accepted image, in pixels (width × height). */
  maxPixels: number;
  /** Disk budget for uploaded bytes; the least recently used are forgotten beyond it. */
  diskBudgetBytes: number;
  /** Shared cache for decoded pixels. */
  cache: ByteLru<object>;
}

const FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

export class ImageStore {
  private readonly stored: ByteLru<StoredImage>;
  /** Path → hash, reused while the file's size and mtime stay the same. */
  private readonly pathHashes = new Map<string, { mtimeMs: number; size: number; sha256: string }>();
  private roots: string[] | undefined;
  uploads = 0;

  constructor(private readonly opts: ImageStoreOptions) {
    this.stored = new ByteLru<StoredImage>(opts.diskBudgetBytes, (_k, img) => {
      void unlink(img.file).catch(() => undefined);
    });
  }

  async init(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    this.roots = await Promise.all(
      this.opts.allowRoots.map(async (r) => {
        try {
          return await realpath(r);
        } catch {
          throw new Error(`allowed root ${r} does not exist: pass an existing folder with --allow-root`);
        }
      }),
    );
  }

  get allowRoots(): string[] {
    return this.roots ?? this.opts.allowRoots;
  }

  stats(): { entries: number; bytes: number } {
    return { entries: this.stored.size, bytes: this.stored.bytes };
  }

  /** Validates, stores and decodes uploaded bytes (decoding now reports corrupt data at once). */
  async put(bytes: Buffer): Promise<StoredImage> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const known = this.stored.get(sha256);
    if (known) return known;
    const meta = await probe(bytes, this.opts.maxPixels);
    const file = join(this.opts.dir, `${sha256}.${meta.format}`);
    const img: StoredImage = { sha256, width: meta.width, height: meta.height, format: meta.format, bytes: bytes.length, file };
    await this.decodeBytes(img, bytes);
    await writeFile(file, bytes);
    this.stored.set(sha256, img, bytes.length, 'image_files');
    this.uploads++;
    return img;
  }

  /** The image a request refers to: a known hash (404 `unknown_image` otherwise) or an allowed path. */
  async resolve(ref: ImageRef): Promise<StoredImage> {
    if ('sha256' in ref) {
      const img = this.stored.get(ref.sha256);
      if (!img) {
        throw new HttpError(404, 'unknown_image', `no image with sha256 ${ref.sha256} on this server: upload its bytes with POST /v1/images first (the server may have restarted or forgotten it to stay within its disk budget)`);
      }
      return img;
    }
    return this.resolvePath(ref.path);
  }

  private async resolvePath(p: string): Promise<StoredImage> {
    if (p.includes('\0')) throw new HttpError(400, 'bad_path', 'image path contains a NUL byte');
    const abs = resolve(p);
    const roots = this.allowRoots;
    const within = (file: string, list: readonly string[] = roots) =>
      list.some((root) => {
        const rel = relative(root, file);
        // By whole components: `..` or `../x` leaves the root; a name like `..notes.png` does not.
        return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
      });
    // The same answer for a path outside the allowed folders whether or not it exists (and
    // without saying where a link points), so the server cannot be used to probe the disk.
    const forbidden = () =>
      new HttpError(403, 'path_forbidden', `image path ${p} is outside the server's allowed folders (${roots.join(', ')}): start the server with --allow-root <folder>, or upload the bytes with POST /v1/images`);
    if (!within(abs, [...roots, ...this.opts.allowRoots.map((r) => resolve(r))])) throw forbidden();
    let real: string;
    try {
      real = await realpath(abs);
    } catch {
      throw new HttpError(404, 'image_not_found', `image file ${abs} does not exist on the tool server's machine: check the path, or upload the bytes with POST /v1/images`);
    }
    if (!within(real)) throw forbidden();
    const st = await stat(real);
    if (!st.isFile()) throw new HttpError(400, 'bad_path', `image path ${abs} is not a regular file`);
    const maxBytes = this.opts.maxFileBytes ?? DEFAULT_MAX_IMAGE_BYTES;
    if (st.size > maxBytes) throw new HttpError(413, 'image_too_large', `image file ${abs} is ${st.size} bytes; the server reads files up to ${maxBytes} bytes, as for uploads`);
    const seen = this.pathHashes.get(real);
    if (seen && seen.mtimeMs === st.mtimeMs && seen.size === st.size) {
      const img = this.stored.get(seen.sha256);
      if (img) return img;
    }
    let bytes: Buffer;
    try {
      ({ bytes } = await readImageFile(real, { maxBytes }));
    } catch (err) {
      if (err instanceof ImageFileError) throw new HttpError(err.problem === 'too_large' ? 413 : 400, err.problem === 'too_large' ? 'image_too_large' : 'bad_path', err.message);
      throw err;
    }
    const img = await this.put(bytes);
    this.pathHashes.set(real, { mtimeMs: st.mtimeMs, size: st.size, sha256: img.sha256 });
    if (this.pathHashes.size > 10_000) this.pathHashes.delete(this.pathHashes.keys().next().value as string);
    return img;
  }

  /** Upright RGB pixels of a stored image, from the cache when present. */
  async decode(img: StoredImage): Promise<DecodedImage> {
    const key = `pixels:${img.sha256}`;
    const hit = this.opts.cache.get(key) as DecodedImage | undefined;
    if (hit) return hit;
    const bytes = await readFile(img.file).catch(() => {
      throw new HttpError(404, 'unknown_image', `the bytes of image ${img.sha256} are gone from the server's store: upload them again with POST /v1/images`);
    });
    return this.decodeBytes(img, bytes);
  }

  private async decodeBytes(img: Pick<StoredImage, 'sha256' | 'width' | 'height'>, bytes: Buffer): Promise<DecodedImage> {
    const key = `pixels:${img.sha256}`;
    const { value } = await this.opts.cache.getOrCompute(key, 'images', async () => {
      const decoded = await decodeRgb(bytes, this.opts.maxPixels);
      const out: DecodedImage = { sha256: img.sha256, ...decoded };
      return { value: out, bytes: out.data.length };
    });
    return value as DecodedImage;
  }

  async close(): Promise<void> {
    this.stored.clear();
    if (this.opts.ownsDir) await rm(this.opts.dir, { recursive: true, force: true });
  }
}

/** Header-only check: format and size, so a 20000×20000 image is refused before any decoding. */
export async function probe(bytes: Buffer, maxPixels: number): Promise<{ format: string; width: number; height: number }> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    const why = firstLine(err);
    if (/unsupported image format/i.test(why)) {
      throw new HttpError(415, 'unsupported_image', `the bytes are not an image the server can read (${why}); send JPEG, PNG, WebP, GIF, TIFF or AVIF`);
    }
    throw new HttpError(422, 'corrupt_image', `the image could not be read (${why}): the file is damaged or truncated; re-export or re-download it`);
  }
  const format = meta.format ?? 'unknown';
  if (!FORMATS.has(format)) {
    throw new HttpError(415, 'unsupported_image', `images in ${format} format are not accepted; send JPEG, PNG, WebP, GIF, TIFF or AVIF`);
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w < 1 || h < 1) throw new HttpError(422, 'corrupt_image', 'the image header gives no size: the file is damaged; re-export it');
  if (w * h > maxPixels) {
    throw new HttpError(413, 'image_too_large', `the image is ${w}×${h} = ${(w * h / 1e6).toFixed(1)} megapixels; the server accepts at most ${(maxPixels / 1e6).toFixed(1)} megapixels (--max-megapixels): downscale it first`);
  }
  const swap = (meta.orientation ?? 1) >= 5;
  return { format, width: swap ? h : w, height: swap ? w : h };
}

/** Decodes to upright 8-bit RGB (grey expanded, alpha dropped as PIL's convert('RGB') does). */
export async function decodeRgb(bytes: Buffer, maxPixels: number): Promise<{ width: number; height: number; data: Buffer }> {
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels })
      .autoOrient()
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data };
  } catch (err) {
    throw new HttpError(422, 'corrupt_image', `the image could not be decoded (${firstLine(err)}): the file is damaged or truncated; re-export or re-download it`);
  }
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}
