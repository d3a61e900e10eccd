// The depth model in-process (src/server/depth.ts), without the tool server: the fixture Depth
// Anything against the Python reference's goldens (decode, pre-processing, session, bicubic resize
// to the image), the bicubic resize alone on the reference's own network output, the map's
// downsampling worked out by hand, and the Depth Pro contract (inverse depth and a focal length or
// field of view) on tiny graphs whose outputs are worked out by hand. The HTTP tests reach the
// same code through the server's child process, where a mutation run sees no coverage.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DepthModel, downsampleDepth, resizeBicubic } from '../../src/server/depth.js';
import { decodeRgb, type DecodedImage } from '../../src/server/images.js';
import { tinyOnnx, type TinyGraph } from '../helpers/tinyOnnx.js';
import { FIXTURES } from '../helpers/toolServer.js';

const DA = join(FIXTURES, 'models', 'depth-anything-tiny');

interface DepthStats {
  shape: number[];
  min: number;
  max: number;
  mean: number;
  samples: Array<[number, number, number]>;
  data_f32le_base64?: string;
}
interface DaCase {
  image: string;
  image_size: { width: number; height: number };
  predicted_depth: DepthStats;
  post_processed: DepthStats;
}
const golden = JSON.parse(readFileSync(join(DA, 'golden.json'), 'utf8')) as { cases: DaCase[] };

const f32 = (b64: string): Float32Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
};

function assertLikeReference(map: Float32Array, c: DaCase, what: string): void {
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

const decode = async (name: string): Promise<DecodedImage> => ({ sha256: name, ...(await decodeRgb(readFileSync(join(FIXTURES, name)), 1e8)) });

describe('resizeBicubic against the reference (torch bicubic, align_corners=False)', () => {
  it('resizes the reference network output to the image as the reference post-processing does', () => {
    for (const c of golden.cases.filter((k) => k.predicted_depth.data_f32le_base64)) {
      const [h, w] = c.predicted_depth.shape.slice(-2) as [number, number];
      const src = f32(c.predicted_depth.data_f32le_base64 as string);
      assert.equal(src.length, w * h);
      assertLikeReference(resizeBicubic(src, w, h, c.image_size.width, c.image_size.height), c, c.image);
    }
  });

  it('gives a copy at the same size, and keeps a constant map constant', () => {
    const src = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const same = resizeBicubic(src, 3, 2, 3, 2);
    assert.deepEqual([...same], [1, 2, 3, 4, 5, 6]);
    assert.notEqual(same, src, 'a new array: the caller may write into it');
    const flat = resizeBicubic(new Float32Array(4 * 3).fill(2.5), 4, 3, 9, 7);
    assert.equal(flat.length, 63);
    for (const v of flat) assert.ok(Math.abs(v - 2.5) < 1e-6, String(v));
  });

  it('upsamples two columns to four with the bicubic weights worked out by hand', () => {
    // 2 → 4: output o reads source position (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
    // Weights (a = -0.75) at fraction t: c2(1 + t), c1(t), c1(1 - t), c2(2 - t) with
    // c1(x) = (1.25x - 2.25)x² + 1, c2(x) = ((-0.75x + 3.75)x - 6)x + 3:
    //   t = 0.75: -0.03515625, 0.26171875, 0.87890625, -0.10546875
    //   t = 0.25: -0.10546875, 0.87890625, 0.26171875, -0.03515625
    // Taps past the edge read the edge column (source [10, 20]):
    //   o = 0: taps -2..1 → 10, 10, 10, 20 → 11.0546875 - 2.109375 = 8.9453125 (bicubic overshoots)
    //   o = 1: taps -1..2 → 10, 10, 20, 20 → 7.734375 + 4.53125 = 12.265625
    //   o = 2, 3 mirror them: 30 - 12.265625, 30 - 8.9453125.
    const want = [8.9453125, 12.265625, 17.734375, 21.0546875];
    const row = resizeBicubic(Float32Array.from([10, 20]), 2, 1, 4, 1);
    want.forEach((v, i) => assert.ok(Math.abs((row[i] as number) - v) < 1e-5, `x ${i}: ${row[i]} vs ${v}`));
    const col = resizeBicubic(Float32Array.from([10, 20]), 1, 2, 1, 4);
    want.forEach((v, i) => assert.ok(Math.abs((col[i] as number) - v) < 1e-5, `y ${i}: ${col[i]} vs ${v}`));
    // Down 4 → 2 (no antialiasing, as torch): positions 0.5 and 2.5, t = 0.5, weights -0.09375,
    // 0.59375, 0.59375, -0.09375; source [0, 8, 16, 24]: o = 0 taps -1..2 → 0, 0, 8, 16 →
    // 4.75 - 1.5 = 3.25; o = 1 taps 1..4 → 8, 16, 24, 24 → -0.75 + 9.5 + 14.25 - 2.25 = 20.75.
    const down = resizeBicubic(Float32Array.from([0, 8, 16, 24]), 4, 1, 2, 1);
    assert.deepEqual([...down], [3.25, 20.75]);
  });
});

describe('downsampleDepth', () => {
  it('averages the valid values of each cell and gives the range of the valid values', () => {
    // 4 × 2 to 2 × 1 (long side 4 → 2): cell 0 = x 0..1, cell 1 = x 2..3, both rows.
    // Invalid: Infinity, NaN, 0 and negatives. Cell 0: 1, 2, 5 → 8/3; cell 1: 3, 4, 8 → 5.
    const map = Float32Array.from([1, 2, 3, 4, 5, Infinity, 8, -1]);
    const d = downsampleDepth(map, 4, 2, 2);
    assert.deepEqual([d.width, d.height, d.min, d.max], [2, 1, 1, 8]);
    assert.ok(Math.abs((d.data[0] as number) - 8 / 3) < 1e-6, String(d.data[0]));
    assert.equal(d.data[1], 5);
  });

  it('keeps the size when the map is already small enough, and a cell without valid values stays NaN', () => {
    const d = downsampleDepth(Float32Array.from([0, 2, Number.NaN, 4]), 2, 2, 8);
    assert.deepEqual([d.width, d.height, d.min, d.max], [2, 2, 2, 4]);
    assert.ok(Number.isNaN(d.data[0]) && Number.isNaN(d.data[2]));
    assert.deepEqual([d.data[1], d.data[3]], [2, 4]);
  });

  it('gives a range of 0..0 when nothing is valid', () => {
    const d = downsampleDepth(Float32Array.from([0, -1, Number.NaN, Infinity]), 4, 1, 2);
    assert.deepEqual([d.width, d.height, d.min, d.max], [2, 1, 0, 0]);
    assert.ok(Number.isNaN(d.data[0]) && Number.isNaN(d.data[1]));
  });

  it('rounds the smaller size, never below one pixel, and maps rows and columns to cells by position', () => {
    // 5 × 3, long side to 2: scale 0.4 → 2 × 1.2 → 2 × 1. Columns 0..2 → cell 0 (x·2/5 < 1.2... floor 0,0,0), 3..4 → cell 1.
    const map = new Float32Array(15);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) map[y * 5 + x] = x < 3 ? 1 + y : 10 + y;
    const d = downsampleDepth(map, 5, 3, 2);
    assert.deepEqual([d.width, d.height], [2, 1]);
    assert.deepEqual([...d.data], [2, 11]);
    // 100 × 1 to 10: the height 0.1 rounds to 0, kept at 1.
    const line = downsampleDepth(new Float32Array(100).fill(3), 100, 1, 10);
    assert.deepEqual([line.width, line.height, line.data.length], [10, 1, 10]);
    // 1 × 4 to 2 (portrait): the long side is the height; rows 0..1 → cell 0, 2..3 → cell 1.
    const tall = downsampleDepth(Float32Array.from([1, 3, 5, 9]), 1, 4, 2);
    assert.deepEqual([tall.width, tall.height, ...tall.data], [1, 2, 2, 7]);
  });
});

describe('DepthModel with the fixture Depth Anything', () => {
  let model: DepthModel;
  const warnings: string[] = [];
  before(async () => {
    model = await DepthModel.load(DA, 'cpu', (l) => warnings.push(l));
  });
  after(async () => {
    await model?.release();
  });

  it('gives the reference depth maps at the image size for every golden image, from one session run each', async () => {
    for (const c of golden.cases) {
      const img = await decode(c.image);
      const before = model.session.runs;
      assertLikeReference(await model.infer(img), c, c.image);
      assert.equal(model.session.runs, before + 1, c.image);
    }
    assert.deepEqual(warnings, [], 'a metric model loads without a warning');
    assert.match(model.id, /^depth-anything-tiny@[0-9a-f]{12}$/);
  });

  it('the network input is 1 × 3 × 112 × 112 float32, and the network output 112 × 112 metres', async () => {
    const c = golden.cases.find((k) => k.image.endsWith('scene-112x112.png')) as DaCase;
    const input = await model.pixelInput(await decode(c.image));
    assert.deepEqual(input.dims, [1, 3, 112, 112]);
    assert.equal(input.values.length, 3 * 112 * 112);
    assert.equal(input.bytes, 3 * 112 * 112 * 4);
    const out = await model.run(input);
    const want = f32(c.predicted_depth.data_f32le_base64 as string);
    const got = out.predicted_depth?.data as Float32Array;
    assert.equal(got.length, want.length);
    for (let i = 0; i < got.length; i += 97) assert.ok(Math.abs((got[i] as number) - (want[i] as number)) <= 1e-4, `${i}`);
  });
});

describe('DepthModel loading and output contracts (tiny graphs)', () => {
  let base: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'valor-depth-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  /** A model folder with the fixture's processor (112 × 112, bicubic) and `graph` as its model. */
  const folder = (name: string, graph: TinyGraph | 'fixture', config: object = { depth_estimation_type: 'metric' }): string => {
    const dir = join(base, name);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    copyFileSync(join(DA, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    if (graph === 'fixture') copyFileSync(join(DA, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model.onnx'));
    else writeFileSync(join(dir, 'onnx', 'model.onnx'), tinyOnnx(graph));
    return dir;
  };

  // The inverse depth of the tiny Depth Pro graphs: the mean of the three normalised channels.
  // White (255): ((1 - 0.485) / 0.229 + (1 - 0.456) / 0.224 + (1 - 0.406) / 0.225) / 3 = 2.4391621.
  const WHITE = ((1 - 0.485) / 0.229 + (1 - 0.456) / 0.224 + (1 - 0.406) / 0.225) / 3;
  const depthPro = (focalName: string, focal: number, order: 'depth-first' | 'focal-first' = 'depth-first', depthName = 'predicted_depth'): TinyGraph => {
    const depth = { name: depthName, type: 1 as const, shape: ['batch', 112, 112] };
    const focalOut = { name: focalName, type: 1 as const, shape: [1] };
    return {
      inputs: [{ name: 'pixel_values', type: 1, shape: ['batch', 3, 112, 112] }],
      outputs: order === 'depth-first' ? [depth, focalOut] : [focalOut, depth],
      nodes: [
        { op: 'ReduceMean', inputs: ['pixel_values'], outputs: [depthName], attrs: { axes: [1], keepdims: 0 } },
        { op: 'Identity', inputs: ['focal_value'], outputs: [focalName] },
      ],
      initializers: [{ name: 'focal_value', dims: [1], type: 1, values: [focal] }],
    };
  };

  /** 112 × 112, left half white, right half black (no resize at the network's own size). */
  const halves = async (): Promise<DecodedImage> => {
    const raw = Buffer.alloc(112 * 112 * 3);
    for (let y = 0; y < 112; y++) for (let x = 0; x < 56; x++) raw.fill(255, (y * 112 + x) * 3, (y * 112 + x) * 3 + 3);
    return { sha256: 'halves', ...(await decodeRgb(await sharp(raw, { raw: { width: 112, height: 112, channels: 3 } }).png().toBuffer(), 1e8)) };
  };

  const near = (got: number | undefined, want: number, what: string): void => assert.ok(Math.abs((got as number) - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);

  it('Depth Pro with a focal length in pixels: metres = 1 / (inverse depth × input width / focal), clamped', async () => {
    // Focal 56 px on a 112-pixel input: scale 2. White: 1 / (2 × 2.43916) = 0.20499 m. Black has a
    // negative inverse depth, clamped to 1e-4: 10,000 m. The outputs come in either order, and the
    // depth output need not be called predicted_depth.
    for (const [name, graph] of [
      ['focal-a', depthPro('focallength_px', 56)],
      ['focal-b', depthPro('focallength_px', 56, 'focal-first', 'inverse_depth')],
    ] as const) {
      const m = await DepthModel.load(folder(name, graph), 'cpu', () => undefined);
      try {
        const map = await m.infer(await halves());
        assert.equal(map.length, 112 * 112);
        near(map[0], 1 / (2 * WHITE), `${name} white`);
        near(map[112 * 50 + 10], 1 / (2 * WHITE), `${name} white`);
        assert.equal(map[111], 1e4, `${name} black`);
        assert.equal(map[112 * 60 + 100], 1e4, `${name} black`);
      } finally {
        await m.release();
      }
    }
  });

  it('Depth Pro with a field of view in degrees: focal = half the input width / tan(half the angle)', async () => {
    // 60°: focal = 56 / tan(30°) = 96.995 px; scale = 112 / 96.995 = 2·tan(30°) = 1.1547005.
    const scale = 2 * Math.tan(Math.PI / 6);
    for (const [name, out] of [
      ['fov-a', 'fov_deg'],
      ['fov-b', 'Field_Of_View'],
    ] as const) {
      const m = await DepthModel.load(folder(name, depthPro(out, 60)), 'cpu', () => undefined);
      try {
        const map = await m.infer(await halves());
        near(map[0], 1 / (scale * WHITE), `${name} white`);
        assert.equal(map[100], 1e4, `${name} black`);
      } finally {
        await m.release();
      }
    }
  });

  it('Depth Pro: a very large inverse depth is clamped at 1e4, so the nearest depth is 1e-4 m; resized before inverting', async () => {
    // Focal 0.01 px: scale 11,200, white 27,318 → clamped to 1e4 → 1e-4 m.
    const m = await DepthModel.load(folder('focal-tiny', depthPro('focal', 0.01)), 'cpu', () => undefined);
    try {
      const map = await m.infer(await halves());
      near(map[0], 1e-4, 'white');
      // A white image of 224 × 168 (resized to 112 × 112 and the map back to 224 × 168): 1e-4 m everywhere.
      const white = await decodeRgb(await sharp({ create: { width: 224, height: 168, channels: 3, background: '#ffffff' } }).png().toBuffer(), 1e8);
      const big = await m.infer({ sha256: 'white', ...white });
      assert.equal(big.length, 224 * 168);
      for (let i = 0; i < big.length; i += 331) near(big[i], 1e-4, `pixel ${i}`);
    } finally {
      await m.release();
    }
    const focal = await DepthModel.load(folder('focal-56-big', depthPro('focallength_px', 56)), 'cpu', () => undefined);
    try {
      const white = await decodeRgb(await sharp({ create: { width: 224, height: 168, channels: 3, background: '#ffffff' } }).png().toBuffer(), 1e8);
      const big = await focal.infer({ sha256: 'white', ...white });
      for (let i = 0; i < big.length; i += 331) near(big[i], 1 / (2 * WHITE), `pixel ${i}`);
    } finally {
      await focal.release();
    }
  });

  it('a graph without pixel_values is refused, naming its inputs', async () => {
    const graph: TinyGraph = {
      inputs: [{ name: 'image', type: 1, shape: [1, 3, 112, 112] }],
      outputs: [{ name: 'predicted_depth', type: 1, shape: [1, 3, 112, 112] }],
      nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['predicted_depth'] }],
    };
    await assert.rejects(DepthModel.load(folder('no-pixel-values', graph), 'cpu', () => undefined), /^Error: onnx\/model\.onnx has no input 'pixel_values' \(inputs: image\)$/);
  });

  it('a relative-depth model loads with a warning that its values are not metres', async () => {
    const warned: string[] = [];
    const dir = folder('relative', 'fixture', { depth_estimation_type: 'relative' });
    const m = await DepthModel.load(dir, 'cpu', (l) => warned.push(l));
    await m.release();
    assert.equal(warned.length, 1);
    assert.match(warned[0] as string, new RegExp(`^the depth model in ${dir.replace(/[.]/g, '\\.')} is a relative-depth model \\(config depth_estimation_type "relative"\\): its values are not metres; use a metric model`));
    const quiet: string[] = [];
    const metric = await DepthModel.load(folder('metric', 'fixture'), 'cpu', (l) => quiet.push(l));
    await metric.release();
    assert.deepEqual(quiet, []);
  });

  it('a processor the one-pass path does not cover (a centre crop) goes through transformers.js and gives the same map', async () => {
    const dir = folder('crop', 'fixture');
    const pre = JSON.parse(readFileSync(join(DA, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ ...pre, do_center_crop: true, crop_size: { height: 112, width: 112 } }));
    const m = await DepthModel.load(dir, 'cpu', () => undefined);
    try {
      for (const c of golden.cases.filter((k) => /scene-(112x112|320x240)/.test(k.image))) {
        const img = await decode(c.image);
        const input = await m.pixelInput(img);
        assert.deepEqual(input.dims, [1, 3, 112, 112]);
        assert.equal(input.bytes, 3 * 112 * 112 * 4);
        assertLikeReference(await m.infer(img), c, `${c.image} through the processor`);
      }
    } finally {
      await m.release();
    }
  });
});
