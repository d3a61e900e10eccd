// MoGe-2 parity: the tiny real-architecture MoGe-2 (test/fixtures/models/moge-2-tiny, MoGe's own
// model code with random weights, exported in its ONNX mode) run by our server, with our
// TypeScript port of `MoGeModel.infer`'s post-processing, against the depth maps MoGe's PyTorch
// `infer` computed (scripts/fixtures/make_moge_fixture.py): within 1e-4 relative, same mask.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createToolClient, decodeDepthMap } from '../../src/core/toolClient.js';
import { DepthMapResponse, DepthResponse, ImageUploadResponse, TOOL_ROUTES } from '../../src/protocol/tools.js';
import { depthFilesFor } from '../../src/server/depthBackend.js';
import { decodeRgb } from '../../src/server/images.js';
import { isMoGeFolder, MoGeDepthModel, mogeNumTokens } from '../../src/server/mogeDepth.js';
import { lmSolve1, mogeDepth } from '../../src/server/mogePost.js';
import { errorOf, FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const MOGE = join(FIXTURES, 'models', 'moge-2-tiny');
interface MoGeCase {
  image: string;
  image_size: { width: number; height: number };
  num_tokens: number;
  shift: number;
  focal: number;
  metric_scale: number;
  masked_pixels: number;
  depth: { shape: number[]; min: number; max: number; median: number; data_f32le_base64: string };
}
const golden = JSON.parse(readFileSync(join(MOGE, 'golden.json'), 'utf8')) as { cases: MoGeCase[] };

function goldenDepth(c: MoGeCase): Float32Array {
  const buf = Buffer.from(c.depth.data_f32le_base64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

/** Same mask (+∞ at the same pixels) and every finite depth within `rel` relative. */
function assertSameDepth(got: ArrayLike<number>, want: Float32Array, rel: number, what: string, invalid = (v: number) => v === Infinity): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as number;
    const g = got[i] as number;
    if (w === Infinity) {
      assert.ok(invalid(g), `${what}: pixel ${i} is masked in the golden, ours is ${g}`);
      continue;
    }
    assert.ok(Number.isFinite(g), `${what}: pixel ${i} is ${g}, the golden ${w}`);
    worst = Math.max(worst, Math.abs(g - w) / Math.abs(w));
  }
  assert.ok(worst <= rel, `${what}: worst relative difference ${worst} > ${rel}`);
}

describe('MoGe-2 depth (tiny real-architecture fixture) against MoGe\'s PyTorch infer', () => {
  let model: MoGeDepthModel;
  let srv: TestToolServer;
  let centre: TestToolServer;

  before(async () => {
    model = await MoGeDepthModel.load(MOGE, 'cpu', () => undefined);
    srv = await startTestToolServer({ args: ['--depth', MOGE, '--allow-root', FIXTURES] });
    centre = await startTestToolServer({ args: ['--depth', MOGE, '--allow-root', FIXTURES, '--depth-reading', 'center'] });
  });
  after(async () => {
    await model?.release();
    await srv?.stop();
    await centre?.stop();
  });

  it('recognises the folder layout and takes infer\'s default token count from the config', () => {
    assert.equal(isMoGeFolder(MOGE), true);
    assert.deepEqual(depthFilesFor(MOGE), ['model.onnx']);
    assert.equal(isMoGeFolder(join(FIXTURES, 'models', 'depth-anything-tiny')), false);
    assert.equal(model.numTokens, 48);
    assert.equal(mogeNumTokens(undefined), 3600, 'MoGe-2 default range [1200, 3600] at resolution level 9');
    assert.equal(mogeNumTokens({ num_tokens_range: [1200, 3600], resolution_level: 0 }), 1200);
    for (const c of golden.cases) assert.equal(c.num_tokens, model.numTokens);
  });

  it('recovers the same shift and gives the same depth map, mask and metric scale (1e-4 relative)', async () => {
    for (const c of golden.cases) {
      const img = await decodeRgb(readFileSync(join(FIXTURES, c.image)), 1e8);
      const depth = await model.infer({ sha256: '', ...img });
      const last = model.last;
      assert.ok(last);
      assert.ok(Math.abs(last.shift - c.shift) <= 1e-5 * Math.max(1, Math.abs(c.shift)), `${c.image}: shift ${last.shift} vs ${c.shift}`);
      assert.ok(Math.abs(last.focal - c.focal) <= 1e-4 * c.focal, `${c.image}: focal ${last.focal} vs ${c.focal}`);
      assert.equal(last.masked, c.masked_pixels, `${c.image}: masked pixels`);
      assert.ok(c.masked_pixels > 0 && c.masked_pixels < img.width * img.height, 'the fixture masks some pixels, not all');
      assertSameDepth(depth, goldenDepth(c), 1e-4, c.image);
    }
  });

  it('serves the same map through /v1/depth/map (full size; masked pixels come back as no value)', async () => {
    for (const c of golden.cases) {
      const up = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: readFileSync(join(FIXTURES, c.image)) })).body);
      const { width: w, height: h } = c.image_size;
      const res = await srv.call('POST', TOOL_ROUTES.depthMap, { image: { sha256: up.sha256 }, max_side: Math.max(w, h) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const m = DepthMapResponse.parse(res.body);
      assert.deepEqual([m.width, m.height], [w, h]);
      assertSameDepth(decodeDepthMap(m), goldenDepth(c), 1e-4, `${c.image} via HTTP`, (v) => Number.isNaN(v));
      assert.ok(Math.abs(m.min - c.depth.min) <= 1e-4 * c.depth.min && Math.abs(m.max - c.depth.max) <= 1e-4 * c.depth.max);
    }
  });

  it('reads a box as the median of its central half by default, and at the single centre pixel with --depth-reading center', async () => {
    const c = golden.cases[0] as MoGeCase;
    const want = goldenDepth(c);
    const { width: w } = c.image_size;
    const bbox = [10.6, 30.2, 51.9, 60.8];
    const image = { path: join(FIXTURES, c.image) };
    const med = DepthResponse.parse((await srv.call('POST', TOOL_ROUTES.depth, { image, bbox })).body);
    assert.equal(med.reading, 'median');
    const [x1, y1, x2, y2] = med.region;
    const vals: number[] = [];
    for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) if (Number.isFinite(want[y * w + x])) vals.push(want[y * w + x] as number);
    vals.sort((a, b) => a - b);
    const mid = vals.length >> 1;
    const median = vals.length % 2 ? (vals[mid] as number) : ((vals[mid - 1] as number) + (vals[mid] as number)) / 2;
    assert.ok(Math.abs(med.depth - median) <= 1e-4 * median, `median ${med.depth} vs ${median}`);
    const one = DepthResponse.parse((await centre.call('POST', TOOL_ROUTES.depth, { image, bbox })).body);
    assert.equal(one.reading, 'center');
    assert.deepEqual(one.region, [31, 45, 32, 46], 'trunc((10.6 + 51.9) / 2), trunc((30.2 + 60.8) / 2)');
    assert.ok(Math.abs(one.depth - (want[45 * w + 31] as number)) <= 1e-4 * one.depth);
    assert.notEqual(one.depth, med.depth);
    // The reading goes into the trace entry's detail (what a run record keeps).
    for (const [server, reading] of [[srv, 'median'], [centre, 'center']] as const) {
      const r = await createToolClient({ url: server.url, token: server.token }).depth(image.path, bbox as [number, number, number, number]);
      assert.equal((r.detail as { reading?: string }).reading, reading);
    }
    // A box centred on a masked pixel: the reference would get +inf; we refuse with a reason.
    const masked = want.findIndex((v) => v === Infinity);
    const mx = masked % w;
    const my = Math.floor(masked / w);
    const hole = await centre.call('POST', TOOL_ROUTES.depth, { image, bbox: [mx - 2, my, mx + 3, my + 1] });
    assert.equal(hole.status, 422);
    assert.equal(errorOf(hole).code, 'no_valid_depth');
    assert.match(errorOf(hole).message, /centre pixel/);
  });

  it('masks everything and finds no shift when no pixel passes the mask (fewer than 2 cells)', () => {
    const width = 4;
    const height = 3;
    const points = new Float32Array(width * height * 3).fill(1);
    const r = mogeDepth({ points, mask: new Float32Array(width * height).fill(0.2), metricScale: 2, width, height });
    assert.equal(r.shift, 0);
    assert.equal(r.masked, width * height);
    assert.ok(r.depth.every((v) => v === Infinity));
    const unmasked = mogeDepth({ points, metricScale: 2, width, height });
    assert.ok(unmasked.depth.every((v) => v > 0 && Number.isFinite(v)), 'no mask output: nothing is dropped');
  });

  it('solves a one-parameter least-squares problem like MINPACK (stops at ftol, converges when asked)', () => {
    // residuals x - a_i: the optimum is the mean; a loose ftol stops early, a tight one at the mean.
    const a = [1, 2, 4, 9];
    const fun = (x: number) => Float64Array.from(a, (ai) => x - ai);
    const tight = lmSolve1(fun, 0, 1e-12);
    assert.ok(Math.abs(tight.x - 4) < 1e-9, String(tight.x));
    const nonlinear = lmSolve1((x) => Float64Array.from([Math.exp(x) - 3, 2 * Math.exp(x) - 5]), 0, 1e-10);
    assert.ok(Math.abs(Math.exp(nonlinear.x) - 13 / 5) < 1e-6, `exp(x) = ${Math.exp(nonlinear.x)}`);
  });
});
