// Work done once per image, and batching, against the real server with the fixture models:
// three detections on one image preprocess it once (Server-Timing pre 0 after the first, one
// cached model input per image and model); detect requests that wait for the detector at once
// run as one batch (Server-Timing batch) with the same answers as unbatched runs; thread
// settings reach the sessions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runQuery } from '../../src/core/pipeline.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { createToolClient } from '../../src/core/toolClient.js';
import { toolsCalled } from '../../src/core/tools.js';
import { DepthResponse, DetectResponse, HealthResponse, ImageUploadResponse, PrefetchResponse, TOOL_ROUTES, type Detection } from '../../src/protocol/tools.js';
import { FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const MODELS = join(FIXTURES, 'models');
const MODEL_ARGS = ['--detector', join(MODELS, 'grounding-dino-tiny'), '--depth', join(MODELS, 'depth-anything-tiny')];

interface Timed {
  status: number;
  body: unknown;
  timing: Record<string, string>;
}

async function post(srv: TestToolServer, route: string, body: unknown): Promise<Timed> {
  const res = await fetch(`${srv.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const timing: Record<string, string> = {};
  for (const m of (res.headers.get('server-timing') ?? '').matchAll(/(\w+);(?:dur|desc)=([\w.]+)/g)) timing[m[1] as string] = m[2] as string;
  return { status: res.status, body: await res.json(), timing };
}

const upload = async (srv: TestToolServer, bytes: Buffer): Promise<string> => ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: bytes })).body).sha256;
const health = async (srv: TestToolServer): Promise<HealthResponse> => HealthResponse.parse((await srv.call('GET', TOOL_ROUTES.health)).body);

function sameDetections(a: Detection[], b: Detection[], what: string): void {
  assert.equal(a.length, b.length, `${what}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  a.forEach((d, i) => {
    const e = b[i] as Detection;
    assert.equal(d.label, e.label, what);
    assert.deepEqual(d.bbox, e.bbox, what);
    assert.ok(Math.abs(d.score - e.score) <= 1e-4, `${what}: score ${d.score} vs ${e.score}`);
  });
}

describe('work done once per image, and batching', () => {
  let plain: TestToolServer;
  let batching: TestToolServer;
  const images: Buffer[] = [];

  before(async () => {
    [plain, batching] = await Promise.all([
      startTestToolServer({ args: [...MODEL_ARGS, '--batch-size', '1'] }),
      // The delay holds the detector for each batch, so the requests sent meanwhile wait together.
      startTestToolServer({ args: [...MODEL_ARGS, '--batch-size', '4', '--debug-delay-ms', '1500', '--threads', '1,1,1'] }),
    ]);
    images.push(readFileSync(join(FIXTURES, 'images', 'scene-320x240.png')), readFileSync(join(FIXTURES, 'images', 'scene-240x320.png')), readFileSync(join(FIXTURES, 'images', 'noise-61x47.png')));
    images.push(await sharp(readFileSync(join(FIXTURES, 'images', 'scene-640x480.jpg'))).flop().png().toBuffer());
  });
  after(async () => {
    await Promise.all([plain?.stop(), batching?.stop()]);
  });

  it('decodes and preprocesses an image once for three detections and keeps one model input per model', async () => {
    const sha = await upload(plain, images[0] as Buffer);
    const before = (await health(plain)).cache.model_inputs?.entries ?? 0;
    const calls: Timed[] = [];
    for (const prompt of ['red square', 'blue circle, green box', 'yellow box']) {
      const r = await post(plain, TOOL_ROUTES.detect, { image: { sha256: sha }, prompt });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(DetectResponse.parse(r.body).cached, false, 'a new prompt runs the model');
      calls.push(r);
    }
    assert.ok(Number(calls[0]?.timing.pre) > 0, `the first call preprocesses (${JSON.stringify(calls[0]?.timing)})`);
    assert.equal(Number(calls[1]?.timing.pre), 0, 'the second call reuses the model input');
    assert.equal(Number(calls[2]?.timing.pre), 0, 'the third call reuses the model input');
    assert.equal((await health(plain)).cache.model_inputs?.entries, before + 1);
    const d = await post(plain, TOOL_ROUTES.depth, { image: { sha256: sha }, bbox: [10, 10, 100, 100] });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.ok(Number(d.timing.pre) > 0, 'the depth model has its own input size and normalisation');
    assert.equal((await health(plain)).cache.model_inputs?.entries, before + 2);
  });

  it('runs detect requests that wait at once as one batch, with the answers of unbatched runs', async () => {
    const asks = [
      { image: 0, prompt: 'red square, blue circle' },
      { image: 1, prompt: 'green box' },
      { image: 2, prompt: 'yellow box, black circle, person' },
      { image: 3, prompt: 'mug' },
    ];
    const shas = await Promise.all(images.map((b) => upload(batching, b)));
    const plainShas = await Promise.all(images.map((b) => upload(plain, b)));
    const h0 = await health(batching);
    const runs0 = h0.counters?.detect_runs ?? 0;
    // One request occupies the detector; the others arrive while it is held and wait together.
    const occupy = post(batching, TOOL_ROUTES.detect, { image: { sha256: shas[3] }, prompt: 'chair', box_threshold: 0.05 });
    for (let i = 0; i < 200 && ((await health(batching)).busy?.detector ?? 0) < 1; i++) await new Promise((r) => setTimeout(r, 25));
    const together = await Promise.all(asks.map((a) => post(batching, TOOL_ROUTES.detect, { image: { sha256: shas[a.image] }, prompt: a.prompt, box_threshold: 0.05, text_threshold: 0.05 })));
    assert.equal((await occupy).status, 200);
    for (const r of together) assert.equal(r.status, 200, JSON.stringify(r.body));
    const sizes = together.map((r) => Number(r.timing.batch));
    assert.ok(sizes.every((s) => s >= 1 && s <= 4), `batch sizes ${sizes}`);
    assert.ok(sizes.some((s) => s > 1), `some requests shared a run (batch sizes ${sizes})`);
    const h1 = await health(batching);
    assert.ok((h1.counters?.detect_runs ?? 0) - runs0 < asks.length + 1, `fewer runs than requests (${(h1.counters?.detect_runs ?? 0) - runs0} for ${asks.length + 1})`);
    for (const [i, a] of asks.entries()) {
      const alone = await post(plain, TOOL_ROUTES.detect, { image: { sha256: plainShas[a.image] }, prompt: a.prompt, box_threshold: 0.05, text_threshold: 0.05 });
      assert.equal(alone.timing.batch, '1');
      sameDetections(DetectResponse.parse(together[i]?.body).detections, DetectResponse.parse(alone.body).detections, `${a.prompt} on image ${a.image}`);
    }
  });

  it('starts the depth map and the detector input on a prefetch hint, so the calls find them done', async () => {
    const sha = await upload(plain, images[1] as Buffer);
    const h0 = await health(plain);
    const r = await post(plain, TOOL_ROUTES.prefetch, { image: { sha256: sha }, tools: ['depth', 'gd_detect', 'no_such_tool'] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(PrefetchResponse.parse(r.body).started.sort(), ['depth', 'gd_detect']);
    for (let i = 0; i < 400 && (await health(plain)).models.depth?.runs === h0.models.depth?.runs; i++) await new Promise((res) => setTimeout(res, 25));
    const d = await post(plain, TOOL_ROUTES.depth, { image: { sha256: sha }, bbox: [0, 0, 50, 50] });
    assert.equal(DepthResponse.parse(d.body).cached, true, 'the depth map was computed by the hint');
    const det = await post(plain, TOOL_ROUTES.detect, { image: { sha256: sha }, prompt: 'purple chair' });
    assert.equal(det.status, 200);
    assert.equal(Number(det.timing.pre), 0, 'the detector input was made by the hint');
    assert.equal((await health(plain)).models.depth?.runs, (h0.models.depth?.runs ?? 0) + 1);
    const bad = await post(plain, TOOL_ROUTES.prefetch, { image: { sha256: 'f'.repeat(64) }, tools: ['depth'] });
    assert.equal(bad.status, 404, 'an unknown image is refused as by the tools');
  });

  it('sends the hint when a run starts whose program calls depth, and not when asked not to', async () => {
    assert.deepEqual(toolsCalled('d = depth (img_pth, b)\nx = gd_detect(img_pth, "a")'), ['gd_detect', 'depth']);
    assert.deepEqual(toolsCalled('deep_depth = 3\nfinal_answer = vqa(img_pth, None, "q")'), ['vqa']);
    const work = mkdtempSync(join(tmpdir(), 'valor-prefetch-'));
    const runner = new ProgramRunner();
    try {
      const tools = createToolClient({ url: plain.url, token: plain.token });
      const program = ['boxes = gd_detect(img_pth, "red square")', 'd = depth(img_pth, [0, 0, 40, 40])', 'final_answer = f"{len(boxes)} {d:.2f}"'].join('\n');
      const reply = `<plan>\n1. Detect.\n2. Measure depth.\n</plan>\n<answer>\n${program}\n</answer>`;
      const run = async (variant: number, prefetch: boolean): Promise<{ cachedDepth: unknown; prefetches: number }> => {
        const path = join(work, `img-${variant}.png`);
        writeFileSync(path, await sharp(images[3] as Buffer).modulate({ brightness: 1 + variant / 50 }).png().toBuffer());
        const before = (await health(plain)).counters?.prefetches ?? 0;
        const record = await runQuery({ query: 'q', imagePath: path, reply, tools, toolsUrl: plain.url, runner, prefetch });
        assert.equal(record.error, null, JSON.stringify(record.error));
        const depthCall = record.trace.find((t) => t.tool === 'depth');
        return { cachedDepth: (depthCall?.detail as { cached?: unknown } | undefined)?.cached, prefetches: ((await health(plain)).counters?.prefetches ?? 0) - before };
      };
      const hinted = await run(1, true);
      assert.ok(hinted.prefetches >= 1, 'the run sent a prefetch hint');
      assert.equal(hinted.cachedDepth, true, 'the depth call found the map made (or being made) by the hint');
      const unhinted = await run(2, false);
      assert.equal(unhinted.prefetches, 0);
      assert.equal(unhinted.cachedDepth, false);
    } finally {
      await runner.dispose();
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('gives the sessions the thread settings asked for', async () => {
    const c = (await health(batching)).counters ?? {};
    assert.deepEqual([c.threads_detector, c.threads_depth, c.threads_inter_op, c.batch_size], [1, 1, 1, 4]);
  });
});
