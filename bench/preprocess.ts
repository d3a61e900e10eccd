/**
 * Preprocessing speed: the tool server's model input (Pillow-exact resize fused with rescale +
 * normalise into CHW float32) on the 640×480 scene, for the benchmark detector (→ 800×800,
 * bilinear) and the depth fixture (→ 112×112, bicubic), against, in the same run and interleaved:
 * - Pillow's `Image.resize` on the same pixels (scripts/bench/pillow_preprocess.py), alone and
 *   followed by numpy's rescale + normalise (what transformers' Python processors do), when a
 *   python3 with PIL is found ($VALOR_BENCH_PYTHON, else python3); Pillow's output bytes are
 *   compared with ours (sha256) so the comparison is of equal work;
 * - the pure-JS path of before (bench/baseline/pilResizeBefore.ts), always.
 * Without Pillow the Pillow rows say so and give the ratio against the path of before instead.
 *
 * Run alone: `npx tsx bench/preprocess.ts` (VALOR_BENCH_PYTHON=/path/to/python with Pillow).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { decodeRgb } from '../src/server/images.js';
import { pilResize } from '../src/server/pilResize.js';
import { fastPixelValues, transformers, usePillowResize } from '../src/server/transformersEnv.js';
import { pixelValuesBefore } from './baseline/pilResizeBefore.js';
import { median, runAlone } from './common.js';
import type { BenchResult } from './types.js';

const ROOT = resolve(__dirname, '..');
const IMAGE = join(ROOT, 'test', 'fixtures', 'images', 'scene-640x480.jpg');
const PILLOW_SCRIPT = join(ROOT, 'scripts', 'bench', 'pillow_preprocess.py');
const ROUNDS = 5;
const REPEATS = 20;

/** A python3 that can import PIL and numpy, or undefined. */
function findPillowPython(): string | undefined {
  for (const py of [process.env.VALOR_BENCH_PYTHON, 'python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import PIL, numpy'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

interface PillowFigures {
  resize_ms: number;
  resize_normalize_ms: number;
  sha256: string;
  pillow: string;
}

function pillow(py: string, png: string, w: number, h: number, resample: number): PillowFigures {
  const r = spawnSync(py, [PILLOW_SCRIPT, png, String(w), String(h), String(resample), String(REPEATS)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PILLOW_SCRIPT} failed: ${r.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(r.stdout) as PillowFigures;
}

function timeMs(fn: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function bench(): Promise<BenchResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'valor-bench-pre-'));
  try {
    const img = await decodeRgb(readFileSync(IMAGE), 1e8);
    const png = join(work, 'scene.png');
    writeFileSync(png, await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer());
    const py = findPillowPython();
    const cases = [
      { what: 'detector (640×480 → 800×800, bilinear)', dir: join(ROOT, 'test', 'fixtures', 'models', 'grounding-dino-bench') },
      { what: 'depth (640×480 → 112×112, bicubic)', dir: join(ROOT, 'test', 'fixtures', 'models', 'depth-anything-tiny') },
    ];
    const rows: BenchResult[] = [];
    for (const c of cases) {
      const processor = await transformers.AutoImageProcessor.from_pretrained(c.dir, { local_files_only: true });
      usePillowResize(processor);
      const p = processor as unknown as { size: { width: number; height: number }; resample: number; image_mean: number[]; image_std: number[] };
      const [w, h] = [p.size.width, p.size.height];
      const ours: number[] = [];
      const before: number[] = [];
      const pil: PillowFigures[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ours.push(timeMs(() => fastPixelValues(processor, img)));
        before.push(timeMs(() => pixelValuesBefore(img.data, img.width, img.height, w, h, p.resample, p.image_mean, p.image_std)));
        if (py) pil.push(pillow(py, png, w, h, p.resample));
      }
      // Same output as before, bit for bit (the fused path is a rewrite of it).
      const now = fastPixelValues(processor, img)?.data as Float32Array;
      const old = pixelValuesBefore(img.data, img.width, img.height, w, h, p.resample, p.image_mean, p.image_std);
      if (!Buffer.from(now.buffer, now.byteOffset, now.byteLength).equals(Buffer.from(old.buffer))) throw new Error(`${c.what}: the fused path's pixel values differ from the path of before`);
      const o = median(ours);
      const b = median(before);
      rows.push({
        name: `pre: ${c.what}, resize + normalise, relative to the pure-JS path of before`,
        value: o,
        unit: 'ms',
        baseline: { name: 'resize then a separate normalise loop (before), ms', value: b },
        ratio: o / b,
        target: '< 1',
        notes: `medians of ${ROUNDS} interleaved rounds of ${REPEATS}; identical float32 output`,
      });
      if (pil.length > 0) {
        const pr = median(pil.map((x) => x.resize_ms));
        const pn = median(pil.map((x) => x.resize_normalize_ms));
        const sameBytes = createHash('sha256').update(pilResize(img.data, img.width, img.height, 3, w, h, p.resample)).digest('hex') === pil[0]?.sha256;
        if (!sameBytes) throw new Error(`${c.what}: Pillow's resize gives other bytes than ours: the comparison would not be of equal work`);
        rows.push({
          name: `pre: ${c.what}, our resize + normalise relative to Pillow's resize alone`,
          value: o,
          unit: 'ms',
          baseline: { name: `Pillow ${pil[0]?.pillow} Image.resize, same pixels, ms`, value: pr },
          ratio: o / pr,
          target: '<= 1.0',
          notes: `Pillow's bytes equal ours (sha256); Pillow resize + numpy normalise (the Python processor's work) takes ${pn.toFixed(2)} ms, ours/that = ${(o / pn).toFixed(2)}; python ${py}`,
        });
      } else {
        rows.push({
          name: `pre: ${c.what}, relative to Pillow: not measured (no python3 with PIL)`,
          value: o,
          unit: 'ms',
          baseline: { name: 'pure-JS path of before, ms', value: b },
          ratio: o / b,
          notes: 'set VALOR_BENCH_PYTHON to a python with Pillow and numpy for the Pillow rows; the ratio is against the path of before',
        });
      }
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) runAlone(bench);
