// Queues and responsiveness with a slow model: the server is started with a debug delay that
// every inference holds its model's queue for, so a model run is reliably "in progress".
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DepthResponse, HealthResponse, ImageUploadResponse, TOOL_ROUTES } from '../../src/protocol/tools.js';
import { FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const MODELS = join(FIXTURES, 'models');

describe('tool server under load with a slow model', () => {
  let srv: TestToolServer;

  before(async () => {
    srv = await startTestToolServer({ args: ['--depth', join(MODELS, 'depth-anything-tiny'), '--detector', join(MODELS, 'grounding-dino-tiny'), '--debug-delay-ms', '1500'] });
  });
  after(async () => {
    await srv?.stop();
  });

  const health = async (): Promise<HealthResponse> => HealthResponse.parse((await srv.call('GET', TOOL_ROUTES.health)).body);
  const upload = async (bytes: Buffer): Promise<string> => ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: bytes })).body).sha256;
  const variant = (seed: number): Promise<Buffer> =>
    sharp({ create: { width: 96, height: 64, channels: 3, background: { r: seed % 256, g: (seed * 7) % 256, b: 90 } } }).png().toBuffer();
  const waitFor = async (cond: () => Promise<boolean>, what: string): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out waiting for ${what}`);
  };

  it('answers health while a model runs, and merges 100 concurrent depth calls on one image into one run', async () => {
    const sha = await upload(readFileSync(join(FIXTURES, 'images', 'scene-320x240.png')));
    const runsBefore = (await health()).models.depth?.runs ?? 0;
    const calls = Array.from({ length: 100 }, (_, i) => srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: sha }, bbox: [i, i, 100 + i, 100 + i] }));
    await waitFor(async () => ((await health()).busy?.depth ?? 0) > 0, 'the depth model to be busy');
    const during = await health();
    const results = await Promise.all(calls);
    assert.equal(during.status, 'ok');
    assert.ok((during.busy?.depth ?? 0) >= 1);
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    const depths = results.map((r) => DepthResponse.parse(r.body));
    assert.ok(depths.every((d) => Number.isFinite(d.depth) && d.depth > 0));
    assert.equal((await health()).models.depth?.runs, runsBefore + 1, 'one map for one image');
  });

  it('drops the queued work of a client that disconnects, and keeps serving', async () => {
    const shas = await Promise.all([1, 2, 3].map(async (s) => upload(await variant(s))));
    const runsBefore = (await health()).models.depth?.runs ?? 0;
    // The first call occupies the model; the second waits in the queue and its client leaves.
    const first = srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: shas[0] }, bbox: [0, 0, 10, 10] });
    await waitFor(async () => ((await health()).busy?.depth ?? 0) >= 1, 'the first run');
    const url = new URL(`${srv.url}${TOOL_ROUTES.depth}`);
    const body = JSON.stringify({ image: { sha256: shas[1] }, bbox: [0, 0, 10, 10] });
    const gone = request({ hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    gone.on('error', () => undefined);
    gone.end(body);
    await waitFor(async () => ((await health()).busy?.depth ?? 0) >= 2, 'the second call to queue');
    gone.destroy();
    await waitFor(async () => ((await health()).busy?.depth ?? 0) <= 1, 'the abandoned call to leave the queue');
    assert.equal((await first).status, 200);
    const third = await srv.call('POST', TOOL_ROUTES.depth, { image: { sha256: shas[2] }, bbox: [0, 0, 10, 10] });
    assert.equal(third.status, 200);
    assert.equal((await health()).models.depth?.runs, runsBefore + 2, 'the abandoned image never ran');
  });
});
