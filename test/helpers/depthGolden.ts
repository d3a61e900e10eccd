/**
 * The depth fixture's goldens (test/fixtures/models/depth-anything-tiny/golden.json, written by
 * scripts/fixtures/make_goldens.py with transformers' DPTImageProcessor post-processing, torch's
 * bicubic resize and onnxruntime in Python) and how a test compares a depth map with them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './toolServer.js';

export const DA = join(FIXTURES, 'models', 'depth-anything-tiny');

export interface DepthStats {
  shape: number[];
  min: number;
  max: number;
  mean: number;
  samples: Array<[number, number, number]>;
  data_f32le_base64?: string;
}
export interface DaCase {
  image: string;
  image_size: { width: number; height: number };
  predicted_depth: DepthStats;
  post_processed: DepthStats;
}
export const daGolden = JSON.parse(readFileSync(join(DA, 'golden.json'), 'utf8')) as { cases: DaCase[] };

/** A golden map stored as little-endian float32, base64. */
export const f32 = (b64: string): Float32Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
};

/** The map has one value per pixel and matches the reference's samples, min, max and mean within 1e-4. */
export function assertLikeReference(map: Float32Array, c: DaCase, what: string): void {
  const { width: w, height: h } = c.image_size;
  assert.equal(map.length, w * h, `${what}: one value per pixel`);
  for (const [x, y, v] of c.post_processed.samples) assert.ok(Math.abs((map[y * w + x] as number) - v) <= 1e-4, `${what} (${x},${y}): ${map[y * w + x]} vs ${v}`);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of map) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  assert.ok(Math.abs(min - c.post_processed.min) <= 1e-4, `${what} min ${min} vs ${c.post_processed.min}`);
  assert.ok(Math.abs(max - c.post_processed.max) <= 1e-4, `${what} max ${max} vs ${c.post_processed.max}`);
  assert.ok(Math.abs(sum / map.length - c.post_processed.mean) <= 1e-4, `${what} mean ${sum / map.length} vs ${c.post_processed.mean}`);
}

