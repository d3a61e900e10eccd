/**
 * Reading an image file from disk without trusting the path: only a regular file is read (a
 * FIFO, a device such as /dev/zero, a socket or a folder is refused before a byte is read, and
 * opening never blocks), at most `maxBytes` (checked before and while reading), and the read
 * stops when the signal is aborted.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export type ImageFileProblem = 'missing' | 'not_a_file' | 'too_large';

export class ImageFileError extends Error {
  constructor(
    message: string,
    readonly problem: ImageFileProblem,
  ) {
    super(message);
    this.name = 'ImageFileError';
  }
}

/** The most bytes one image file may have unless a caller says otherwise (the tool server's upload cap). */
export const DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024;

export interface ReadImageOptions {
  maxBytes?: number;
  signal?: AbortSignal;
}

/** The file's bytes and its modification stamp, or an ImageFileError saying what was wrong. */
export async function readImageFile(path: string, o: ReadImageOptions = {}): Promise<{ bytes: Buffer; size: number; mtimeMs: number }> {
  const max = o.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  o.signal?.throwIfAborted();
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting forever.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ImageFileError(`image file ${path} does not exist`, 'missing');
    if (code === 'ENXIO' || code === 'EISDIR') throw new ImageFileError(`image path ${path} is not a regular file`, 'not_a_file');
    throw new ImageFileError(`image file ${path} cannot be read (${code ?? (err as Error).message})`, 'missing');
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ImageFileError(`image path ${path} is not a regular file (a FIFO, device, socket or folder is never read)`, 'not_a_file');
    if (st.size > max) throw new ImageFileError(`image file ${path} is ${st.size} bytes; at most ${max} are read`, 'too_large');
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = 1024 * 1024;
    for (;;) {
      o.signal?.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(chunk, max + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      chunks.push(buf.subarray(0, bytesRead));
      // A file that grows while it is read is cut off at the cap, not followed.
      if (total > max) throw new ImageFileError(`image file ${path} grew past ${max} bytes while being read`, 'too_large');
    }
    return { bytes: Buffer.concat(chunks, total), size: total, mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}
