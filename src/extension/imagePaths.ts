/**
 * Image paths of `.vprog` headers: which files count as images, where a relative path points
 * (the document's folder first, then the workspace folders), and where a new query's document
 * goes (next to its image, never overwriting one that exists).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { resolveImagePath } from '../core/vprog.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff'] as const;

export function isImagePath(p: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extname(p).toLowerCase());
}

/**
 * The absolute path a header's image refers to: relative to the document's folder when that
 * exists, else to the first workspace folder holding it; null when nothing can anchor it.
 */
export function resolveDocumentImage(documentPath: string | null, image: string, roots: readonly string[]): string | null {
  const candidates = [
    documentPath ? resolveImagePath(documentPath, image) : null,
    // An untitled document has no folder: try the workspace folders.
    ...roots.map((r) => resolveImagePath(join(r, 'untitled.vprog'), image)),
  ].filter((c): c is string => c !== null);
  if (isAbsolute(image)) return resolve(image);
  return candidates.find((c) => existsSync(c)) ?? candidates[0] ?? null;
}

/** How the header names an image relative to a document in `docDir` (forward slashes). */
export function headerImageRef(docDir: string, imagePath: string): string {
  const rel = relative(docDir, imagePath);
  return (rel === '' ? basename(imagePath) : rel).split(sep).join('/');
}

/** `kitchen.jpg` -> `kitchen.vprog`, then `kitchen-2.vprog`, ... (the first that does not exist). */
export function newDocumentPath(imagePath: string, exists: (p: string) => boolean = existsSync): string {
  const dir = dirname(imagePath);
  const stem = basename(imagePath, extname(imagePath));
  for (let i = 1; ; i++) {
    const p = join(dir, `${stem}${i === 1 ? '' : `-${i}`}.vprog`);
    if (!exists(p)) return p;
  }
}

/** The text of a new document: the header and room for the reply. */
export function newDocumentText(imageRef: string, query: string, eol = '\n'): string {
  const oneLine = query.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return `# image: ${imageRef}${eol}# query: ${oneLine}${eol}${eol}`;
}
