// The detector's and the depth model's edges that the first mutation run of the server-models group
// found untested (docs/testing.md, server-models): a box score that ties the box threshold, load
// errors that name several inputs or outputs, a processor without a tokenizer, a depth model with
// an extra output, a released model, the cache size of a detection, phrase keys that would run
// together, a same-size resize of a map with invalid values, and a map whose largest value is not
// its last. Tiny graphs (test/helpers/tinyOnnx.ts) run by the real onnxruntime-node, with the
// fixture tokenizer and processors; every expected value is worked out by hand in the comments.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DepthModel, downsampleDepth, resizeBicubic } from '../../src/server/depth.js';
import { GroundingDino, parsePhrases, type RawDetections } from '../../src/server/grounding.js';
import { decodeRgb, type DecodedImage } from '../../src/server/images.js';
import { DA } from '../helpers/depthGolden.js';
import { GD } from '../helpers/groundingGolden.js';
import { detectorFolder, tinyDetector } from '../helpers/tinyDetector.js';
import type { TinyGraph } from '../helpers/tinyOnnx.js';
import { tinyOnnx } from '../helpers/tinyOnnx.js';
import { FIXTURES } from '../helpers/toolServer.js';

/** The float32 sigmoid of transformers' post-processing. */
const sigmoid = (x: number): number => Math.fround(1 / (1 + Math.exp(-x)));
const decode = async (name: string): Promise<DecodedImage> => ({ sha256: name, ...(await decodeRgb(readFileSync(join(FIXTURES, name)), 1e8)) });

let base: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'valor-models-mutants-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

const LOW = -8;
/** One query row over `tokens` positions: LOW except the given positions. */
const row = (tokens: number, set: Record<number, number>): number[] => Array.from({ length: tokens }, (_, t) => set[t] ?? LOW);
const raw = (rows: number[][], boxes: number[][], ids: number[]): RawDetections => ({
  logits: Float32Array.from(rows.flat()),
  logitsDims: [1, rows.length, rows[0]?.length ?? 0],
  predBoxes: Float32Array.from(boxes.flat()),
  boxDims: [1, boxes.length, 4],
  inputIds: ids.map(BigInt),
  bytes: 0,
});

describe('GroundingDino: thresholds, phrase decoding, cache size, loading and release', () => {
  // "red box." → [CLS] red box . [SEP] in the fixture vocabulary.
  const IDS = [101, 205, 227, 1012, 102];

  it('a box whose best token ties the box threshold is dropped even when its tokens pass the text threshold', async () => {
    const gd = await GroundingDino.load(detectorFolder(base, 'tie', tinyDetector(1)), 'cpu', () => undefined);
    try {
      // Logit 0 on "red" and "box": σ(0) = 0.5 exactly, the box score. A text threshold of 0.4
      // picks both tokens ("red box", asked); a box threshold of 0.5 is not passed (0.5 is not
      // above 0.5), 0.49 is.
      const r = raw([row(5, { 1: 0, 2: 0 })], [[0.5, 0.5, 0.5, 0.5]], IDS);
      const phrases = parsePhrases('red box');
      assert.deepEqual(gd.postprocess(r, 100, 100, phrases, 0.5, 0.4), []);
      assert.deepEqual(gd.postprocess(r, 100, 100, phrases, 0.49, 0.4), [{ bbox: [25, 25, 75, 75], label: 'red box', score: 0.5 }]);
    } finally {
      await gd.release();
    }
  });

  it('the tokens [20, 5] and the token [205] are different phrases (the decode cache keys them apart)', async () => {
    // A new detector, so its decode cache is empty. The caption ids are made by hand:
    // [CLS] [unused19] [unused4] . red . [SEP]. Query 0 picks positions 1 and 2 (ids 20 and 5,
    // "[unused19] [unused4]", not asked); query 1 picks position 4 (id 205, "red", asked). Only
    // query 1's box is kept: (0.3, 0.3, 0.2, 0.2) on 100 × 100 → [20, 20, 40, 40].
    const gd = await GroundingDino.load(detectorFolder(base, 'keys', tinyDetector(1)), 'cpu', () => undefined);
    try {
      const r = raw(
        [row(7, { 1: 2, 2: 2 }), row(7, { 4: 1 })],
        [
          [0.7, 0.7, 0.2, 0.2],
          [0.3, 0.3, 0.2, 0.2],
        ],
        [101, 20, 5, 1012, 205, 1012, 102],
      );
      assert.deepEqual(gd.postprocess(r, 100, 100, parsePhrases('red'), 0.5, 0.5), [{ bbox: [20, 20, 40, 40], label: 'red', score: sigmoid(1) }]);
    } finally {
      await gd.release();
    }
  });

  it('a detection costs the cache its logits, boxes and token ids plus 256 bytes', async () => {
    // The tiny graph's logits are 1 × 2 × 5 float32 (40 bytes) and its boxes 1 × 2 × 4 (32 bytes);
    // "red box." is 5 int64 ids (40 bytes): 40 + 32 + 40 + 256 = 368.
    const gd = await GroundingDino.load(detectorFolder(base, 'bytes', tinyDetector(1)), 'cpu', () => undefined);
    try {
      const cap = gd.caption(parsePhrases('red box'));
      assert.deepEqual(cap.inputIds.map(Number), IDS);
      const r = await gd.infer(await decode('images/scene-224x224.png'), cap);
      assert.equal(r.bytes, 368);
    } finally {
      await gd.release();
    }
  });

  it('a graph without pred_boxes is refused naming every output it has', async () => {
    const g = tinyDetector(1);
    (g.outputs[1] as { name: string }).name = 'boxes';
    (g.nodes[1] as { outputs: string[] }).outputs = ['boxes'];
    await assert.rejects(
      GroundingDino.load(detectorFolder(base, 'two-outputs', g), 'cpu', () => undefined),
      /^Error: onnx\/model\.onnx has no output 'pred_boxes' \(outputs: logits, boxes\); export it with scripts\/export\/export_grounding_dino\.py$/,
    );
  });

  it('a processor config without processor_class (an image processor, no tokenizer) is refused at load, saying what it needs', async () => {
    const { processor_class: _drop, ...pre } = JSON.parse(readFileSync(join(GD, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    await assert.rejects(
      GroundingDino.load(detectorFolder(base, 'no-processor-class', tinyDetector(1), { preprocessor: pre }), 'cpu', () => undefined),
      /^Error: preprocessor_config\.json does not make a processor with both a tokenizer and an image processor: it needs "processor_class": "GroundingDinoProcessor" and the tokenizer files beside it \(scripts\/export\/export_grounding_dino\.py writes them\)$/,
    );
  });

  it('a released detector runs no more: its session thread is gone', async () => {
    const gd = await GroundingDino.load(detectorFolder(base, 'release', tinyDetector(1)), 'cpu', () => undefined);
    const job = { pixels: await gd.pixelInput(await decode('images/scene-224x224.png')), caption: gd.caption(parsePhrases('red box')) };
    assert.equal((await gd.run([job])).length, 1);
    await gd.release();
    await assert.rejects(gd.run([job]), /^Error: the model's thread stopped/);
  });
});

describe('DepthModel: outputs, inputs and release (tiny graphs)', () => {
  /** A depth folder with the fixture's processor (112 × 112) and `graph` as its model. */
  const folder = (name: string, graph: TinyGraph): string => {
    const dir = join(base, name);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    copyFileSync(join(DA, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ depth_estimation_type: 'metric' }));
    writeFileSync(join(dir, 'onnx', 'model.onnx'), tinyOnnx(graph));
    return dir;
  };
  const pixels = { name: 'pixel_values', type: 1 as const, shape: [1, 3, 112, 112] };
  const map = (name: string) => ({ name, type: 1 as const, shape: [1, 112, 112] });
  /** `name` = the mean of the three normalised channels. */
  const meanNode = (name: string) => ({ op: 'ReduceMean', inputs: ['pixel_values'], outputs: [name], attrs: { axes: [1], keepdims: 0 } });
  /** `name` = a constant map of 7 m. */
  const constant = (name: string) => ({
    node: { op: 'Identity', inputs: [`${name}_value`], outputs: [name] },
    init: { name: `${name}_value`, dims: [1, 112, 112], type: 1 as const, values: new Array<number>(112 * 112).fill(7) },
  });

  // The normalised channel means of a white and a black pixel (ImageNet mean and std).
  const WHITE = ((1 - 0.485) / 0.229 + (1 - 0.456) / 0.224 + (1 - 0.406) / 0.225) / 3;
  const BLACK = (-0.485 / 0.229 - 0.456 / 0.224 - 0.406 / 0.225) / 3;
  /** 112 × 112, left half white, right half black: the network's own size, so no resize. */
  const halves = async (): Promise<DecodedImage> => {
    const px = Buffer.alloc(112 * 112 * 3);
    for (let y = 0; y < 112; y++) for (let x = 0; x < 56; x++) px.fill(255, (y * 112 + x) * 3, (y * 112 + x) * 3 + 3);
    return { sha256: 'halves', ...(await decodeRgb(await sharp(px, { raw: { width: 112, height: 112, channels: 3 } }).png().toBuffer(), 1e8)) };
  };
  const near = (got: number | undefined, want: number, what: string): void => assert.ok(Math.abs((got as number) - want) <= 1e-5 * Math.abs(want), `${what}: ${got} vs ${want}`);

  it('predicted_depth is the depth map even when another output (not a focal length) comes first, and then no focal scaling applies', async () => {
    // Outputs: confidence (7 everywhere), then predicted_depth (the channel mean). The map is the
    // channel mean as it is (Depth Anything's contract): WHITE on the left, BLACK on the right.
    const c = constant('confidence');
    const m = await DepthModel.load(
      folder('extra-output', { inputs: [pixels], outputs: [map('confidence'), map('predicted_depth')], nodes: [c.node, meanNode('predicted_depth')], initializers: [c.init] }),
      'cpu',
      () => undefined,
    );
    try {
      const out = await m.infer(await halves());
      near(out[0], WHITE, 'white');
      near(out[112 * 80 + 100], BLACK, 'black');
    } finally {
      await m.release();
    }
  });

  it('without predicted_depth, the first output that is not a focal length is the map, beside a second non-focal output', async () => {
    // Outputs: inverse_depth (the channel mean), confidence (7): no focal output, so metres as given.
    const c = constant('confidence');
    const m = await DepthModel.load(
      folder('two-maps', { inputs: [pixels], outputs: [map('inverse_depth'), map('confidence')], nodes: [meanNode('inverse_depth'), c.node], initializers: [c.init] }),
      'cpu',
      () => undefined,
    );
    try {
      const out = await m.infer(await halves());
      near(out[0], WHITE, 'white');
      near(out[111], BLACK, 'black');
    } finally {
      await m.release();
    }
  });

  it('a graph whose every output is a focal length or field of view is refused, naming them', async () => {
    const f = { op: 'Identity', inputs: ['f_value'], outputs: ['focallength_px'] };
    const v = { op: 'Identity', inputs: ['f_value'], outputs: ['fov_deg'] };
    const graph: TinyGraph = {
      inputs: [pixels],
      outputs: [
        { name: 'focallength_px', type: 1, shape: [1] },
        { name: 'fov_deg', type: 1, shape: [1] },
      ],
      nodes: [f, v],
      initializers: [{ name: 'f_value', dims: [1], type: 1, values: [56] }],
    };
    await assert.rejects(
      DepthModel.load(folder('all-focal', graph), 'cpu', () => undefined),
      /^Error: onnx\/model\.onnx has no depth output \(outputs: focallength_px, fov_deg, each a focal length or field of view by its name\); export the depth map as 'predicted_depth'$/,
    );
  });

  it('a graph without pixel_values is refused naming every input it has', async () => {
    const graph: TinyGraph = {
      inputs: [
        { name: 'image', type: 1, shape: [1, 112, 112] },
        { name: 'mask', type: 1, shape: [1, 112, 112] },
      ],
      outputs: [map('predicted_depth')],
      nodes: [{ op: 'Add', inputs: ['image', 'mask'], outputs: ['predicted_depth'] }],
    };
    await assert.rejects(DepthModel.load(folder('two-inputs', graph), 'cpu', () => undefined), /^Error: onnx\/model\.onnx has no input 'pixel_values' \(inputs: image, mask\)$/);
  });

  it('a released depth model runs no more: its session thread is gone', async () => {
    const m = await DepthModel.load(folder('release', { inputs: [pixels], outputs: [map('predicted_depth')], nodes: [meanNode('predicted_depth')] }), 'cpu', () => undefined);
    const input = { values: new Float32Array(3 * 112 * 112), dims: [1, 3, 112, 112], bytes: 3 * 112 * 112 * 4 };
    assert.equal((await m.run(input)).predicted_depth?.dims.join('×'), '1×112×112');
    await m.release();
    await assert.rejects(m.run(input), /^Error: the model's thread stopped/);
  });
});

describe('depth map arithmetic edges', () => {
  it('at the same size the map comes back unchanged, invalid cells included: an infinite or NaN value does not spread', () => {
    // The bicubic weights at the same size are 0, 1, 0, 0, but 0 × ∞ is NaN: a resize would make
    // the neighbours of the ∞ and NaN cells NaN too.
    const same = resizeBicubic(Float32Array.from([1, Infinity, 3, Number.NaN, 5, 6]), 3, 2, 3, 2);
    assert.deepEqual([...same], [1, Infinity, 3, Number.NaN, 5, 6]);
  });

  it('the range is the smallest and largest valid value wherever they come', () => {
    // Valid: 5, 9, 2 (0 is not): min 2, max 9, though the last valid value is 2. 4 × 1 stays 4 × 1.
    const d = downsampleDepth(Float32Array.from([5, 9, 2, 0]), 4, 1, 4);
    assert.deepEqual([d.width, d.height, d.min, d.max], [4, 1, 2, 9]);
    assert.deepEqual([...d.data], [5, 9, 2, Number.NaN]);
  });
});
