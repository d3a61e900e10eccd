// Parity with the Python reference (goldens written by scripts/fixtures/make_goldens.py with
// transformers' own processors and onnxruntime on the same fixture files): preprocessing, the
// ONNX graphs under onnxruntime-node, the grounded post-processing with VALOR's filter, and the
// whole server path (boxes within 1 px, same labels, scores within 1e-4; depth values).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { decodeDepthMap } from '../../src/core/toolClient.js';
import { DepthMapResponse, DetectResponse, ImageUploadResponse, TOOL_ROUTES } from '../../src/protocol/tools.js';
import { GroundingDino, parsePhrases } from '../../src/server/grounding.js';
import { decodeRgb } from '../../src/server/images.js';
import { fastPixelValues, transformers, usePillowResize } from '../../src/server/transformersEnv.js';
import { assertSameDetections, GD, gdGolden, goldenRaw, num } from '../helpers/groundingGolden.js';
import { FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

interface DepthStats {
  shape: number[];
  min: number;
  max: number;
  mean: number;
  median: number;
  samples: Array<[number, number, number]>;
  data_f32le_base64?: string;
}
interface DaGolden {
  cases: Array<{ image: string; image_size: { width: number; height: number }; predicted_depth: DepthStats; post_processed: DepthStats }>;
  synthetic: { pixel_values_shape: number[]; predicted_depth: DepthStats };
}

const DA = join(FIXTURES, 'models', 'depth-anything-tiny');
const daGolden = JSON.parse(readFileSync(join(DA, 'golden.json'), 'utf8')) as DaGolden;

describe('parity with the Python reference', () => {
  let srv: TestToolServer;
  let gd: GroundingDino;

  before(async () => {
    gd = await GroundingDino.load(GD, 'cpu', () => undefined);
    srv = await startTestToolServer({ args: ['--detector', GD, '--depth', DA, '--allow-root', FIXTURES] });
  });
  after(async () => {
    await gd?.release();
    await srv?.stop();
  });

  it('computes pixel_values in one pass bit for bit as the transformers.js processor does', async () => {
    for (const dir of [GD, DA, join(FIXTURES, 'models', 'grounding-dino-bench')]) {
      const processor = await transformers.AutoImageProcessor.from_pretrained(dir, { local_files_only: true });
      usePillowResize(processor);
      for (const name of ['scene-640x480.jpg', 'gray-160x120.png', 'scene-240x320.png', 'pixel-1x1.png']) {
        const img = await decodeRgb(readFileSync(join(FIXTURES, 'images', name)), 1e8);
        const fast = fastPixelValues(processor, img);
        assert.ok(fast, `${dir}: the fast path covers this processor configuration`);
        const call = processor as unknown as (i: transformers.RawImage) => Promise<{ pixel_values: transformers.Tensor }>;
        const ref = (await call(new transformers.RawImage(new Uint8ClampedArray(img.data), img.width, img.height, 3))).pixel_values;
        assert.deepEqual(ref.dims, [1, 3, fast.height, fast.width]);
        assert.deepEqual(Buffer.from((ref.data as Float32Array).buffer), Buffer.from(fast.data.buffer), `${dir} ${name}`);
      }
    }
  });

  it('builds the golden caption and token ids for every prompt', () => {
    for (const c of gdGolden.cases) {
      const cap = gd.caption(parsePhrases(c.prompt));
      assert.equal(cap.text, c.caption);
      assert.deepEqual(cap.inputIds.map(Number), c.input_ids);
    }
  });

  it('runs the detector graph like onnxruntime in Python (synthetic input)', async () => {
    const s = gdGolden.synthetic;
    const [b, ch, h, w] = s.pixel_values_shape as [number, number, number, number];
    const pv = new Float32Array(b * ch * h * w);
    for (let c = 0; c < ch; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pv[(c * h + y) * w + x] = Math.fround(Math.sin(0.37 * x + 1.3 * c) * Math.cos(0.23 * y) * 2);
    const ids = (a: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
    const feeds: Record<string, ort.Tensor> = {
      pixel_values: new ort.Tensor('float32', pv, [b, ch, h, w]),
      pixel_mask: new ort.Tensor('int64', new BigInt64Array(b * h * w).fill(1n), [b, h, w]),
      input_ids: ids(s.input_ids),
      attention_mask: ids(s.attention_mask),
      token_type_ids: ids(s.token_type_ids),
    };
    const out = await gd.session.run(Object.fromEntries(gd.session.inputNames.map((n) => [n, feeds[n] as ort.Tensor])));
    const logits = out.logits?.data as Float32Array;
    const t = out.logits?.dims[2] as number;
    s.raw.logits.forEach((row, i) =>
      row.forEach((v, j) => {
        const want = num(v);
        const got = logits[i * t + j] as number;
        if (Number.isFinite(want)) assert.ok(Math.abs(got - want) <= 1e-4, `logit ${i},${j}: ${got} vs ${want}`);
        else assert.equal(got, -Infinity);
      }),
    );
    const boxes = out.pred_boxes?.data as Float32Array;
    s.raw.pred_boxes.flat().forEach((v, i) => assert.ok(Math.abs((boxes[i] as number) - v) <= 1e-5));
  });

  it('post-processes the golden model outputs into the golden detections (VALOR filter, pixels, scores)', () => {
    for (const c of gdGolden.cases) {
      const phrases = parsePhrases(c.prompt);
      const raw = goldenRaw(c, c.input_ids);
      for (const r of c.results) {
        const ours = gd.postprocess(raw, c.image_size.width, c.image_size.height, phrases, r.box_threshold, r.text_threshold);
        assertSameDetections(ours, r.detections, c.image_size.width, c.image_size.height, `${c.image} "${c.prompt}" @${r.box_threshold}/${r.text_threshold}`);
      }
    }
  });

  it('serves the golden detections end to end (decode, preprocessing, model, post-processing)', async () => {
    for (const c of gdGolden.cases) {
      for (const r of c.results) {
        const res = await srv.call('POST', TOOL_ROUTES.detect, { image: { path: join(FIXTURES, c.image) }, prompt: c.prompt, box_threshold: r.box_threshold, text_threshold: r.text_threshold });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const body = DetectResponse.parse(res.body);
        assert.deepEqual([body.width, body.height], [c.image_size.width, c.image_size.height]);
        assertSameDetections(body.detections, r.detections, c.image_size.width, c.image_size.height, `server ${c.image} "${c.prompt}" @${r.box_threshold}/${r.text_threshold}`);
      }
    }
  });

  it('runs the depth graph like onnxruntime in Python (synthetic input)', async () => {
    const s = daGolden.synthetic;
    const [b, ch, h, w] = s.pixel_values_shape as [number, number, number, number];
    const pv = new Float32Array(b * ch * h * w);
    for (let c = 0; c < ch; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pv[(c * h + y) * w + x] = Math.fround(Math.sin(0.37 * x + 1.3 * c) * Math.cos(0.23 * y) * 2);
    const session = await ort.InferenceSession.create(join(DA, 'onnx', 'model.onnx'));
    try {
      const out = await session.run({ pixel_values: new ort.Tensor('float32', pv, [b, ch, h, w]) });
      const got = out.predicted_depth?.data as Float32Array;
      const want = Buffer.from(s.predicted_depth.data_f32le_base64 as string, 'base64');
      assert.equal(got.length, want.length / 4);
      for (let i = 0; i < got.length; i++) assert.ok(Math.abs((got[i] as number) - want.readFloatLE(i * 4)) <= 1e-4, `depth ${i}`);
    } finally {
      await session.release();
    }
  });

  it('serves the golden depth maps, resized to the image (bicubic), within 1e-4', async () => {
    for (const c of daGolden.cases) {
      const bytes = readFileSync(join(FIXTURES, c.image));
      const up = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: bytes })).body);
      const { width: w, height: h } = c.image_size;
      const res = await srv.call('POST', TOOL_ROUTES.depthMap, { image: { sha256: up.sha256 }, max_side: Math.max(8, w, h) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const m = DepthMapResponse.parse(res.body);
      assert.deepEqual([m.width, m.height], [w, h], c.image);
      const map = decodeDepthMap(m);
      for (const [x, y, v] of c.post_processed.samples) assert.ok(Math.abs((map[y * w + x] as number) - v) <= 1e-4, `${c.image} (${x},${y}): ${map[y * w + x]} vs ${v}`);
      assert.ok(Math.abs(m.min - c.post_processed.min) <= 1e-4, `${c.image} min`);
      assert.ok(Math.abs(m.max - c.post_processed.max) <= 1e-4, `${c.image} max`);
    }
  });
});
