/**
 * The images of an eval run, hashed and measured once each: many questions share an image. The
 * cache is bounded (cleared past 256 images) so memory stays flat over a long run, and a failed
 * inspection is not kept, so a later question retries it.
 */
import { type ImageInfo, inspectImage } from '../image.js';

const MAX_IMAGES = 256;

export class ImageCache {
  private readonly byPath = new Map<string, Promise<ImageInfo>>();

  /** The facts of the image at `path`; `described` names it in errors (how it was resolved). */
  async get(path: string, described?: string): Promise<ImageInfo> {
    let p = this.byPath.get(path);
    if (!p) {
      if (this.byPath.size > MAX_IMAGES) this.byPath.clear();
      p = inspectImage(path, undefined, described);
      this.byPath.set(path, p);
    }
    try {
      return await p;
    } catch (err) {
      this.byPath.delete(path);
      throw err;
    }
  }
}
