/** Helpers the benchmark modules share: the median, distinct test images, and running a module alone. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { BenchResult } from './types.js';

/** The median (the mean of the two middle values for an even count). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * `n` PNG copies of `image` in `dir`, each with one pixel changed, so that every call on them is
 * a cache miss that reads, hashes and decodes; their paths in order.
 */
export async function distinctImages(image: string, dir: string, n: number): Promise<string[]> {
  const base = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const px = Buffer.from(base.data);
    px[i] = (px[i] as number) ^ 0x01;
    const p = join(dir, `img-${i}.png`);
    writeFileSync(p, await sharp(px, { raw: { width: base.info.width, height: base.info.height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer());
    paths.push(p);
  }
  return paths;
}

/** `npx tsx bench/<module>.ts`: runs the module's bench and prints its rows, one JSON line each. */
export function runAlone(bench: () => Promise<BenchResult[]>): void {
  bench().then(
    (rs) => {
      for (const r of rs) console.log(JSON.stringify(r));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
