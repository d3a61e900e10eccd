// The tool server with the fixture models (real ONNX graphs, real transformers.js processing):
// the API contract, VALOR's detection semantics, the depth sampling rule, caching counted in
// model runs, EXIF orientation, the memory budget, and the tool client end to end.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createToolClient, decodeDepthMap } from '../../src/core/toolClient.js';
import { DepthMapResponse, DepthResponse, DetectResponse, HealthResponse, ImageUploadResponse, TOOL_ROUTES, type Detection } from '../../src/protocol/tools.js';
import { errorOf, FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const MODELS = join(FIXTURES, 'models');
const CACHE_MB = 8;

describe('tool server with the fixture models', () => {
  let srv: TestToolServer;
  let work: string;
  let sha: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'valor-infer-'));
    srv = await startTestToolServer({
      args: ['--detector', join(MODELS, 'grounding-dino-tiny'), '--depth', join(MODELS, 'depth-anything-tiny'), '--cache-mb', String(CACHE_MB), '--allow-root', work],
    });
    sha = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: readFileSync(join(FIXTURES, 'images', 'scene-640x480.jpg')) })).body).sha256;
  });
  after(async () => {
    await srv?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const health = async (): Promise<HealthResponse> => HealthResponse.parse((await srv.call('GET', TOOL_ROUTES.health)).body);
  const runs = async (model: 'detector' | 'depth'): Promise<number> => (await health()).models[model]?.runs ?? -1;
  const detect = async (body: Record<string, unknown>): Promise<DetectResponse> => {
    const r = await srv.call('POST', TOOL_ROUTES.detect, { image: { sha256: sha }, ...body });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return DetectResponse.parse(r.body);
  };
  const key = (d: Detection): string => `${d.label}|${d.bbox.join(',')}|${d.score}`;

  it('loads both models and reports them healthy', async () => {
    // The first tool call waits for loading; afterwards health shows them loaded.
    await detect({ prompt: 'mug' });
    const h = await health();
    assert.equal(h.status, 'ok');
    assert.equal(h.device, 'cpu');
    assert.equal(h.models.detector?.loaded, true);
    assert.match(h.models.detector?.id ?? '', /^grounding-dino-tiny@[0-9a-f]{12}$/);
  });

  it('returns detections in the contract: asked labels, integer boxes inside the image, scores above the threshold, best first', async () => {
    const r = await detect({ prompt: 'red mug, laptop, chair', box_threshold: 0.05, text_threshold: 0.05 });
    assert.deepEqual([r.width, r.height], [640, 480]);
    assert.ok(r.detections.length > 0, 'the fixture detector finds something at a low threshold');
    for (const d of r.detections) {
      assert.ok(['red mug', 'laptop', 'chair'].includes(d.label), d.label);
      assert.ok(d.bbox.every(Number.isInteger), JSON.stringify(d.bbox));
      const [x1, y1, x2, y2] = d.bbox;
      assert.ok(x1 >= 0 && y1 >= 0 && x2 <= 640 && y2 <= 480 && x1 < x2 && y1 < y2, JSON.stringify(d.bbox));
      assert.ok(d.score > 0.05 && d.score <= 1);
    }
    const scores = r.detections.map((d) => d.score);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
  });

  it('treats the prompt as VALOR does: trimmed, empty and repeated phrases dropped, labels as written', async () => {
    const clean = await detect({ prompt: 'Red Mug, laptop', box_threshold: 0.05, text_threshold: 0.05 });
    const messy = await detect({ prompt: '  Red Mug , ,red  mug,laptop ,, ', box_threshold: 0.05, text_threshold: 0.05 });
    assert.deepEqual(messy.detections.map(key), clean.detections.map(key));
    for (const d of clean.detections) assert.ok(['Red Mug', 'laptop'].includes(d.label));
  });

  it('labels a cached detection with the spelling of the prompt asked now, not of an earlier differently-cased one', async () => {
    const first = await detect({ prompt: 'Red Mug, laptop', box_threshold: 0.05, text_threshold: 0.05 });
    assert.ok(first.detections.some((d) => d.label === 'Red Mug'), `the fixture finds a Red Mug at 0.05: ${first.detections.map((d) => d.label).join(', ')}`);
    for (const prompt of ['RED MUG, laptop', 'red mug, Laptop']) {
      const again = await detect({ prompt, box_threshold: 0.05, text_threshold: 0.05 });
      const asked = prompt.split(', ');
      assert.deepEqual(again.detections.map((d) => d.bbox), first.detections.map((d) => d.bbox), 'same caption, same boxes');
      for (const d of again.detections) assert.ok(asked.includes(d.label), `${prompt}: label ${d.label} is not spelled as asked`);
      assert.ok(again.detections.some((d) => d.label === asked[0]));
    }
  });

  it('lowers thresholds per request; candidates are a superset of the detections; other thresholds need no model run', async () => {
    const before = await runs('detector');
    const strict = await detect({ prompt: 'mug, chair' });
    const loose = await detect({ prompt: 'mug, chair', box_threshold: 0.1, text_threshold: 0.25, candidate_threshold: 0.05 });
    assert.equal(await runs('detector'), before + 1, 'one caption on one image runs the model once');
    assert.equal(loose.cached, true);
    for (const d of strict.detections) assert.ok(d.score > 0.35);
    const looseKeys = new Set(loose.detections.map(key));
    for (const d of strict.detections) assert.ok(looseKeys.has(key(d)), 'a lower box threshold keeps every box of a higher one');
    assert.ok(loose.candidates);
    const candKeys = new Set(loose.candidates.map(key));
    for (const d of loose.detections) assert.ok(candKeys.has(key(d)));
    for (const c of loose.candidates) assert.ok(c.score > 0.05);
  });

  it('answers a repeated detection from the cache', async () => {
    const a = await detect({ prompt: 'laptop, mug' });
    const before = await runs('detector');
    const b = await detect({ prompt: 'laptop, mug' });
    assert.equal(b.cached, true);
    assert.deepEqual(b.detections, a.detections);
    assert.equal(await runs('detector'), before);
  });

  it('refuses an empty prompt and a 10,000-character prompt with the limit named', async () => {
    for (const prompt of ['', ' , ,, ']) {
      const r = await srv.call('POST', TOOL_ROUTES.detect, { image: { sha256: sha }, prompt });
      assert.equal(r.status, 400);
      assert.equal(errorOf(r).code, 'empty_prompt');
    }
    const long = await srv.call('POST', TOOL_ROUTES.detect, { image: { sha256: sha }, prompt: 'red mug on the table '.repeat(500) });
    assert.equal(long.status, 400);
    assert.equal(errorOf(long).code, 'prompt_too_long');
    assert.match(errorOf(long).message, /at most 256 tokens/);
    assert.equal((await health()).status, 'ok');
  });

  it('reads depth as the median of the central half of the box, from one map per image', async () => {
    const before = await runs('depth');
    const r = DepthResponse.parse((await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: sha }, bbox: [100, 60, 300, 260] })).body);
    assert.deepEqual(r.region, [150, 110, 250, 210]);
    assert.ok(Number.isFinite(r.depth) && r.depth > 0);
    // The full-resolution map from /v1/depth/map gives the same median over the same region.
    const m = DepthMapResponse.parse((await srv.call('POST', TOOL_ROUTES.depthMap, { image: { sha256: sha }, max_side: 640 })).body);
    assert.deepEqual([m.width, m.height, m.image_width, m.image_height], [640, 480, 640, 480]);
    const full = decodeDepthMap(m);
    const vals: number[] = [];
    for (let y = 110; y < 210; y++) for (let x = 150; x < 250; x++) vals.push(full[y * 640 + x] as number);
    vals.sort((a, b) => a - b);
    const expected = ((vals[vals.length / 2 - 1] as number) + (vals[vals.length / 2] as number)) / 2;
    assert.ok(Math.abs(r.depth - expected) < 1e-6, `${r.depth} vs ${expected}`);
    // A second box on the same image runs no model.
    const again = DepthResponse.parse((await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: sha }, bbox: [0, 0, 3, 3] })).body);
    assert.equal(again.cached, true);
    assert.deepEqual(again.region, [1, 1, 2, 2], 'the central pixel of a 3-pixel box');
    assert.equal(await runs('depth'), before + 1);
  });

  it('clips a box partly outside the image', async () => {
    const r = DepthResponse.parse((await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: sha }, bbox: [-100, -100, 100, 100] })).body);
    assert.deepEqual(r.region, [25, 25, 75, 75]);
  });

  it('downsamples the depth map with its range', async () => {
    const m = DepthMapResponse.parse((await srv.call('POST', TOOL_ROUTES.depthMap, { image: { sha256: sha }, max_side: 64 })).body);
    assert.deepEqual([m.width, m.height], [64, 48]);
    const data = decodeDepthMap(m);
    assert.equal(data.length, 64 * 48);
    assert.ok(m.min > 0 && m.min <= m.max);
    for (const v of data) assert.ok(v >= m.min - 1e-4 && v <= m.max + 1e-4);
  });

  it('respects EXIF orientation everywhere', async () => {
    const rotated = await sharp(readFileSync(join(FIXTURES, 'images', 'scene-320x240.png'))).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const up = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: rotated })).body);
    assert.deepEqual([up.width, up.height], [240, 320]);
    const d = DetectResponse.parse((await srv.call('POST', TOOL_ROUTES.detect, { image: { sha256: up.sha256 }, prompt: 'mug', box_threshold: 0.01, text_threshold: 0.01 })).body);
    assert.deepEqual([d.width, d.height], [240, 320]);
    for (const det of d.detections) assert.ok(det.bbox[2] <= 240 && det.bbox[3] <= 320);
    const m = DepthMapResponse.parse((await srv.call('POST', TOOL_ROUTES.depthMap, { image: { sha256: up.sha256 }, max_side: 320 })).body);
    assert.deepEqual([m.image_width, m.image_height, m.width, m.height], [240, 320, 240, 320]);
    const outside = await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: up.sha256 }, bbox: [250, 10, 300, 50] });
    assert.equal(outside.status, 400, 'x = 250 lies outside the upright 240-pixel width');
  });

  it('serves the tool client end to end, with the details viewers need', async () => {
    const img = join(work, 'scene.jpg');
    copyFileSync(join(FIXTURES, 'images', 'scene-640x480.jpg'), img);
    const client = createToolClient({ url: srv.url, token: srv.token, candidateThreshold: 0.05 });
    const det = await client.gd_detect(img, 'red mug, laptop');
    assert.equal(det.detail?.box_threshold, 0.35);
    assert.equal(det.detail?.text_threshold, 0.25);
    assert.ok(Array.isArray(det.detail?.candidates));
    assert.ok((det.detail?.candidates?.length ?? 0) >= det.value.length);
    assert.match(String(det.detail?.model), /^grounding-dino-tiny@/);
    const dep = await client.depth(img, [100, 60, 300, 260]);
    assert.deepEqual(dep.detail?.region, [150, 110, 250, 210]);
    assert.equal(dep.detail?.cached, true, 'same bytes as the uploaded image: the map is cached by content');
    assert.equal(client.uploads, 0, 'the server already holds these bytes');
  });

  it('keeps memory within the cache budget for a stream of distinct images', async () => {
    for (let i = 0; i < 24; i++) {
      const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: i * 9, g: 255 - i * 9, b: 128 } } }).png().toBuffer();
      const s = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: png })).body).sha256;
      const r = await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: s }, bbox: [10, 10, 200, 200] });
      assert.equal(r.status, 200);
    }
    const h = await health();
    const total = h.cache.total as { entries: number; bytes: number };
    assert.ok(total.bytes <= CACHE_MB * 1024 * 1024, `${total.bytes} bytes cached`);
    // 24 images × (360 KB pixels + 480 KB map) would be ~20 MB; the budget holds far fewer.
    assert.ok((h.cache.depth_maps?.entries ?? 0) < 24);
    assert.ok((h.memory?.rss ?? Infinity) < 1024 * 1024 * 1024, 'resident memory stays bounded');
  });
});
