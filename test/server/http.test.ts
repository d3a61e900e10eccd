// The tool server's HTTP layer as a real child process: auth, images by hash and by path, the
// bad inputs that need no model, degraded health with a broken model folder, and many clients.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HealthResponse, ImageUploadResponse, TOOL_ROUTES } from '../../src/protocol/tools.js';
import { pngHeader } from '../helpers/pngHeader.js';
import { errorOf, FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const IMAGES = join(FIXTURES, 'images');

describe('tool server HTTP layer (no models)', () => {
  let srv: TestToolServer;
  let root: string;
  let outside: string;
  let brokenModels: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'valor-root-'));
    outside = mkdtempSync(join(tmpdir(), 'valor-outside-'));
    brokenModels = mkdtempSync(join(tmpdir(), 'valor-models-'));
    writeFileSync(join(root, 'scene.jpg'), readFileSync(join(IMAGES, 'scene-640x480.jpg')));
    writeFileSync(join(outside, 'secret.png'), readFileSync(join(IMAGES, 'pixel-1x1.png')));
    symlinkSync(join(outside, 'secret.png'), join(root, 'link.png'));
    // A detector folder with one file missing; no depth folder at all.
    mkdirSync(join(brokenModels, 'grounding-dino', 'onnx'), { recursive: true });
    for (const f of ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json']) writeFileSync(join(brokenModels, 'grounding-dino', f), '{}');
    srv = await startTestToolServer({ args: ['--models', brokenModels, '--allow-root', root], token: 'secret-token-1' });
  });

  after(async () => {
    await srv?.stop();
    for (const d of [root, outside, brokenModels]) rmSync(d, { recursive: true, force: true });
  });

  const healthOk = async (): Promise<void> => {
    const h = await srv.call('GET', TOOL_ROUTES.health);
    assert.equal(h.status, 200, 'the server keeps serving');
  };

  it('prints a ready line the client parses, with the given token', () => {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(srv.token, 'secret-token-1');
    assert.equal(srv.device, 'cpu');
  });

  it('answers 401 without the token or with a wrong one, on every route', async () => {
    for (const route of Object.values(TOOL_ROUTES)) {
      for (const token of [null, 'wrong', 'secret-token-1x', 'secret-token-']) {
        const r = route === TOOL_ROUTES.health ? await srv.call('GET', route, undefined, { token }) : await srv.call('POST', route, {}, { token });
        assert.equal(r.status, 401, `${route} with ${token}`);
        assert.equal(errorOf(r).code, 'unauthorized');
        assert.match(errorOf(r).message, /token/);
      }
    }
  });

  it('reports degraded health naming the exact missing file, and 503 on the tool routes', async () => {
    const h = HealthResponse.parse((await srv.call('GET', TOOL_ROUTES.health)).body);
    assert.equal(h.status, 'degraded');
    assert.equal(h.models.detector?.loaded, false);
    assert.match(h.models.detector?.error ?? '', /lacks onnx\/model\.onnx/);
    assert.match(h.models.depth?.error ?? '', /no depth model folder/);
    assert.match(h.models.vqa?.error ?? '', /VALOR_VLM_MODEL/);
    assert.ok(h.versions['onnxruntime-node']);
    assert.ok(srv.log.some((l) => /lacks onnx\/model\.onnx/.test(l)), 'the missing file is also logged at start');

    const up = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: readFileSync(join(IMAGES, 'scene-320x240.png')) })).body);
    const d = await srv.call('POST', TOOL_ROUTES.detect, { image: { sha256: up.sha256 }, prompt: 'mug' });
    assert.equal(d.status, 503);
    assert.equal(errorOf(d).code, 'model_unavailable');
    assert.match(errorOf(d).message, /onnx\/model\.onnx/);
    const dep = await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: up.sha256 }, bbox: [1, 1, 50, 50] });
    assert.equal(dep.status, 503);
    assert.match(errorOf(dep).message, /valor models pull|--depth/);
    const v = await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: up.sha256 }, bbox: null, prompt: 'what colour?' });
    assert.equal(v.status, 503);
    assert.equal(errorOf(v).code, 'vlm_not_configured');
    assert.match(errorOf(v).message, /VALOR_VLM_BASE_URL/);
  });

  it('stores an upload by sha256, upright size, and answers GET /v1/images/<sha>', async () => {
    const bytes = readFileSync(join(IMAGES, 'scene-640x480.jpg'));
    const r = await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: bytes });
    assert.equal(r.status, 200);
    const up = ImageUploadResponse.parse(r.body);
    assert.equal(up.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual([up.width, up.height], [640, 480]);
    const info = await srv.call('GET', `${TOOL_ROUTES.images}/${up.sha256}`);
    assert.deepEqual(ImageUploadResponse.parse(info.body), up);
    const unknown = await srv.call('GET', `${TOOL_ROUTES.images}/${'0'.repeat(64)}`);
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).code, 'unknown_image');
    assert.match(errorOf(unknown).message, /POST \/v1\/images/);
  });

  it('refuses bytes that are not an image (415) and a truncated image (422)', async () => {
    const text = await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: readFileSync(join(IMAGES, 'not-an-image.jpg')) });
    assert.equal(text.status, 415);
    assert.equal(errorOf(text).code, 'unsupported_image');
    assert.match(errorOf(text).message, /JPEG, PNG/);
    const trunc = await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: readFileSync(join(IMAGES, 'truncated.jpg')) });
    assert.equal(trunc.status, 422);
    assert.equal(errorOf(trunc).code, 'corrupt_image');
    const empty = await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: Buffer.alloc(0) });
    assert.equal(empty.status, 400);
    await healthOk();
  });

  it('refuses a 20000×20000 image from its header with 413, without decoding it', async () => {
    const r = await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: pngHeader(20000, 20000) });
    assert.equal(r.status, 413);
    assert.equal(errorOf(r).code, 'image_too_large');
    assert.match(errorOf(r).message, /20000×20000/);
    assert.match(errorOf(r).message, /100\.0 megapixels/);
    const h = HealthResponse.parse((await srv.call('GET', TOOL_ROUTES.health)).body);
    assert.ok((h.memory?.rss ?? 0) < 1.5e9, 'nothing close to 1.2 GB of pixels was allocated');
  });

  it('refuses a body over the JSON limit with 413 and keeps serving', async () => {
    const r = await srv.call('POST', TOOL_ROUTES.depth, `{"pad":"${'x'.repeat(1_100_000)}"}`);
    assert.equal(r.status, 413);
    assert.equal(errorOf(r).code, 'body_too_large');
    await healthOk();
  });

  it('names the field for malformed JSON and schema errors', async () => {
    const notJson = await srv.call('POST', TOOL_ROUTES.depth, '{"image": ');
    assert.equal(notJson.status, 400);
    assert.equal(errorOf(notJson).code, 'invalid_json');

    const three = await srv.call('POST', TOOL_ROUTES.depth, { image: { path: join(root, 'scene.jpg') }, bbox: [1, 2, 3] });
    assert.equal(three.status, 400);
    assert.match(errorOf(three).message, /bbox must be 4 numbers \[x1, y1, x2, y2\].*got \[1,2,3\]/);

    const strings = await srv.call('POST', TOOL_ROUTES.depth, { image: { path: join(root, 'scene.jpg') }, bbox: ['1', '2', '3', '4'] });
    assert.equal(strings.status, 400);
    assert.match(errorOf(strings).message, /bbox must be 4 numbers/);

    const badHash = await srv.call('POST', TOOL_ROUTES.detect, { image: { sha256: 'abc' }, prompt: 'mug' });
    assert.equal(badHash.status, 400);
    assert.match(errorOf(badHash).message, /image must be/);

    const noPrompt = await srv.call('POST', TOOL_ROUTES.detect, { image: { path: join(root, 'scene.jpg') } });
    assert.equal(noPrompt.status, 400);
    assert.match(errorOf(noPrompt).message, /prompt/);

    const threshold = await srv.call('POST', TOOL_ROUTES.detect, { image: { path: join(root, 'scene.jpg') }, prompt: 'mug', box_threshold: 2 });
    assert.equal(threshold.status, 400);
    assert.match(errorOf(threshold).message, /box_threshold/);
    await healthOk();
  });

  it('checks boxes before any model runs: inverted, zero-area, outside the image', async () => {
    const image = { path: join(root, 'scene.jpg') };
    const cases: Array<[number[], RegExp]> = [
      [[100, 100, 50, 200], /inverted \(x2 < x1\)/],
      [[100, 200, 150, 100], /inverted \(y2 < y1\)/],
      [[100, 100, 100, 200], /zero area \(x1 == x2\)/],
      [[100, 100, 200, 100], /zero area \(y1 == y2\)/],
      [[700, 10, 800, 50], /entirely outside the 640×480 image/],
      [[-50, -50, -1, -1], /entirely outside/],
    ];
    for (const [bbox, re] of cases) {
      for (const route of [TOOL_ROUTES.depth, TOOL_ROUTES.vqa]) {
        const r = await srv.call('POST', route, route === TOOL_ROUTES.vqa ? { image, bbox, prompt: 'what?' } : { image, bbox });
        assert.equal(r.status, 400, `${route} ${JSON.stringify(bbox)}`);
        assert.equal(errorOf(r).code, 'bad_bbox');
        assert.match(errorOf(r).message, re);
      }
    }
    await healthOk();
  });

  it('resolves paths only inside the allowed roots (traversal and symlinks out are 403)', async () => {
    const inside = await srv.call('POST', TOOL_ROUTES.depth, { image: { path: join(root, 'scene.jpg') }, bbox: [10, 10, 100, 100] });
    assert.equal(inside.status, 503, 'an allowed path gets as far as the (missing) model');
    for (const path of [join(root, '..', outside.split('/').pop() as string, 'secret.png'), join(outside, 'secret.png'), join(root, 'link.png'), '/etc/hostname']) {
      const r = await srv.call('POST', TOOL_ROUTES.depth, { image: { path }, bbox: [0, 0, 1, 1] });
      assert.equal(r.status, 403, path);
      assert.equal(errorOf(r).code, 'path_forbidden');
      assert.match(errorOf(r).message, /--allow-root/);
    }
    const missing = await srv.call('POST', TOOL_ROUTES.depth, { image: { path: join(root, 'nope.jpg') }, bbox: [0, 0, 1, 1] });
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).code, 'image_not_found');
  });

  it('answers unknown hashes, routes and methods with JSON errors', async () => {
    const r = await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: 'f'.repeat(64) }, bbox: [0, 0, 1, 1] });
    assert.equal(r.status, 404);
    assert.equal(errorOf(r).code, 'unknown_image');
    assert.equal((await srv.call('GET', '/v1/nothing')).status, 404);
    const m = await srv.call('GET', TOOL_ROUTES.detect);
    assert.equal(m.status, 405);
    assert.match(errorOf(m).message, /takes POST/);
  });

  it('answers 100 concurrent requests', async () => {
    const bytes = readFileSync(join(IMAGES, 'scene-320x240.png'));
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? srv.call('POST', TOOL_ROUTES.images, undefined, { raw: bytes }) : srv.call('GET', TOOL_ROUTES.health))),
    );
    assert.equal(results.filter((r) => r.status === 200).length, 100);
    const shas = new Set(results.filter((_, i) => i % 2 === 0).map((r) => ImageUploadResponse.parse(r.body).sha256));
    assert.equal(shas.size, 1);
  });
});
