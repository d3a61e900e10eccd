// The depth model in-process (src/server/depth.ts), without the tool server: the fixture Depth
// Anything against the Python reference's goldens (decode, pre-processing through the one-pass
// path and through transformers.js, session, bicubic resize to the image), and the Depth Pro
// contract (inverse depth and a focal length or field of view) and loading rules on tiny graphs
// whose outputs are worked out by hand. depthMaps.test.ts has the map arithmetic alone. The HTTP
// tests reach the same code through the server's child process, where a mutation run sees no
// coverage.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DepthModel } from '../../src/server/depth.js';
import { decodeRgb, type DecodedImage } from '../../src/server/images.js';
import { assertLikeReference, DA, type DaCase, daGolden, f32 } from '../helpers/depthGolden.js';
import { tinyOnnx, type TinyGraph } from '../helpers/tinyOnnx.js';
import { FIXTURES } from '../helpers/toolServer.js';

const decode = async (name: string): Promise<DecodedImage> => ({ sha256: name, ...(await decodeRgb(readFileSync(join(FIXTURES, name)), 1e8)) });

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
    for (const c of daGolden.cases) {
      const img = await decode(c.image);
      const before = model.session.runs;
      assertLikeReference(await model.infer(img), c, c.image);
      assert.equal(model.session.runs, before + 1, c.image);
    }
    assert.deepEqual(warnings, [], 'a metric model loads without a warning');
    assert.match(model.id, /^depth-anything-tiny@[0-9a-f]{12}$/);
  });

  it('the network input is 1 × 3 × 112 × 112 float32, and the network output 112 × 112 metres', async () => {
    const c = daGolden.cases.find((k) => k.image.endsWith('scene-112x112.png')) as DaCase;
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

  // Relative: the values run from 1e-4 to 1e4 m.
  const near = (got: number | undefined, want: number, what: string): void => assert.ok(Math.abs((got as number) - want) <= 1e-4 * Math.abs(want), `${what}: ${got} vs ${want}`);

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

  it('Depth Pro: the scale uses the network input width, not its height', async () => {
    // A processor resizing to 112 wide × 56 high and a graph with free spatial sizes: focal 56 px
    // on a 112-pixel-wide input is a scale of 2, as before (the height would give 1).
    const graph = depthPro('focallength_px', 56);
    graph.inputs = [{ name: 'pixel_values', type: 1, shape: ['batch', 3, 'h', 'w'] }];
    graph.outputs = [{ name: 'predicted_depth', type: 1, shape: ['batch', 'h', 'w'] }, { name: 'focallength_px', type: 1, shape: [1] }];
    const dir = folder('focal-wide', graph);
    const pre = JSON.parse(readFileSync(join(DA, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ ...pre, size: { height: 56, width: 112 } }));
    const m = await DepthModel.load(dir, 'cpu', () => undefined);
    try {
      const img = await halves();
      const input = await m.pixelInput(img);
      assert.deepEqual(input.dims, [1, 3, 56, 112]);
      const map = await m.infer(img);
      assert.equal(map.length, 112 * 112);
      // Far from the white/black edge (x = 56) the map is flat.
      for (const i of [0, 112 * 30 + 20, 112 * 111 + 10]) near(map[i], 1 / (2 * WHITE), `white pixel ${i}`);
      for (const i of [111, 112 * 60 + 100]) assert.equal(map[i], 1e4, `black pixel ${i}`);
    } finally {
      await m.release();
    }
  });

  it('the model id is the folder name and a hash of its three files: any one changing gives another id', async () => {
    const files = ['config.json', 'preprocessor_config.json', 'onnx/model.onnx'];
    const make = (parent: string): string => {
      mkdirSync(join(base, parent));
      const dir = folder(join(parent, 'depth'), depthPro('focallength_px', 56));
      for (const f of files) utimesSync(join(dir, f), 1_000_000, 1_000_000);
      return dir;
    };
    const idOf = async (dir: string): Promise<string> => {
      const m = await DepthModel.load(dir, 'cpu', () => undefined);
      await m.release();
      return m.id;
    };
    const a = make('id-a');
    const b = make('id-b');
    const ida = await idOf(a);
    assert.match(ida, /^depth@[0-9a-f]{12}$/);
    assert.equal(await idOf(b), ida);
    for (const f of files) {
      utimesSync(join(b, f), 2_000_000, 2_000_000);
      assert.notEqual(await idOf(b), ida, `${f} changed`);
      utimesSync(join(b, f), 1_000_000, 1_000_000);
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
      for (const c of daGolden.cases.filter((k) => /scene-(112x112|320x240)/.test(k.image))) {
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
