// The tool client (src/core/toolClient.ts) against the real tool server: images go over the
// wire once, errors become ToolError (the program's fault) or ToolServerError (the server's).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createToolClient, ToolServerError } from '../../src/core/toolClient.js';
import { ToolError } from '../../src/core/tools.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { closedPort } from '../helpers/closedPort.js';
import { FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

describe('tool client against the tool server', () => {
  let vlm: OpenAIServer;
  let srv: TestToolServer;
  let dir: string;
  let img: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'valor-client-'));
    img = join(dir, 'scene.jpg');
    copyFileSync(join(FIXTURES, 'images', 'scene-640x480.jpg'), img);
    vlm = await startOpenAIServer();
    vlm.setHandler(() => ({ text: 'Blue.' }));
    srv = await startTestToolServer({
      // Only uploads: no path may be read by the server.
      args: ['--models', join(dir, 'none'), '--allow-root', join(FIXTURES, 'images')],
      env: { VALOR_VLM_BASE_URL: vlm.url, VALOR_VLM_MODEL: 'vision-test' },
    });
  });

  after(async () => {
    await srv?.stop();
    await vlm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const uploadsOnServer = async (): Promise<number> => {
    const c = createToolClient({ url: srv.url, token: srv.token });
    return (await c.health()).counters?.uploads ?? -1;
  };

  it('uploads an image once, then refers to it by hash, even with concurrent calls', async () => {
    const client = createToolClient({ url: srv.url, token: srv.token });
    const before = await uploadsOnServer();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => client.vqa(img, [10 + i, 10, 100, 100], `question ${i}`)));
    assert.equal(client.uploads, 1);
    assert.equal((await uploadsOnServer()) - before, 1);
    for (const r of results) assert.equal(r.value, 'blue');
    await client.vqa(img, null, 'again?');
    assert.equal(client.uploads, 1);
    const r = await client.vqa(img, [100, 100, 200, 180], 'colour?');
    assert.deepEqual(r.detail?.crop, [75, 80, 225, 200]);
    assert.equal(r.detail?.model, 'vision-test');
    assert.equal(typeof r.detail?.cached, 'boolean');
  });

  it('hashes again when the file changes, and uploads the new content', async () => {
    const client = createToolClient({ url: srv.url, token: srv.token });
    const path = join(dir, 'changing.png');
    writeFileSync(path, await sharp({ create: { width: 64, height: 48, channels: 3, background: '#ff0000' } }).png().toBuffer());
    const a = await client.imageInfo(path);
    writeFileSync(path, await sharp({ create: { width: 32, height: 32, channels: 3, background: '#00ff00' } }).png().toBuffer());
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const b = await client.imageInfo(path);
    assert.notEqual(a.sha256, b.sha256);
    assert.deepEqual([b.width, b.height], [32, 32]);
    assert.equal(client.uploads, 2);
    await client.imageInfo(path);
    assert.equal(client.uploads, 2);
  });

  it('turns a refused argument into a ToolError the program sees as ValueError', async () => {
    const client = createToolClient({ url: srv.url, token: srv.token });
    await assert.rejects(client.depth(img, [50, 50, 10, 10]), (err: unknown) => {
      assert.ok(err instanceof ToolError);
      assert.equal(err.type, 'ValueError');
      assert.match(err.message, /inverted/);
      return true;
    });
    await assert.rejects(client.vqa(join(dir, 'missing.jpg'), null, 'q'), (err: unknown) => err instanceof ToolError && err.type === 'FileNotFoundError');
  });

  it('reports a missing model as a ToolServerError with the server message, without waiting on retries', async () => {
    const client = createToolClient({ url: srv.url, token: srv.token, retryBaseMs: 60_000 });
    await assert.rejects(client.gd_detect(img, 'mug'), (err: unknown) => {
      assert.ok(err instanceof ToolServerError);
      assert.ok(!(err instanceof ToolError));
      assert.equal(err.status, 503);
      assert.match(err.message, /valor models pull/);
      return true;
    });
  });

  it('reports a wrong token as a ToolServerError that says what to set', async () => {
    const client = createToolClient({ url: srv.url, token: 'nope' });
    await assert.rejects(client.health(), (err: unknown) => err instanceof ToolServerError && /VALOR_TOOLS_TOKEN/.test(err.message));
  });

  it('names the URL and what to do when no server listens (after bounded retries)', async () => {
    const port = await closedPort();
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const client = createToolClient({ url: `http://127.0.0.1:${port}`, token: 't', fetch: counting, retryBaseMs: 1, maxRetries: 2 });
    await assert.rejects(client.depth(img, [0, 0, 10, 10]), (err: unknown) => {
      assert.ok(err instanceof ToolServerError);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(err.message, /valor serve/);
      assert.match(err.message, /VALOR_TOOLS_URL/);
      return true;
    });
    assert.equal(calls, 3);
    // The extension gives its own advice instead of the CLI's.
    const inEditor = createToolClient({ url: `http://127.0.0.1:${port}`, token: 't', retryBaseMs: 1, maxRetries: 0, unreachableHint: 'run "VALOR: Restart Tool Server"' });
    await assert.rejects(inEditor.depth(img, [0, 0, 10, 10]), (err: unknown) => {
      assert.ok(err instanceof ToolServerError);
      assert.match(err.message, /: run "VALOR: Restart Tool Server"$/);
      assert.doesNotMatch(err.message, /VALOR_TOOLS_URL|valor serve/);
      return true;
    });
  });

  it('retries a 503 that may pass (busy), then succeeds', async () => {
    let n = 0;
    const flaky = createServer();
    flaky.on('request', (_req, res) => {
      n++;
      res.writeHead(n <= 2 ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(n <= 2 ? { error: { code: 'vlm_rate_limited', message: 'busy' } } : { answer: 'ok', crop: [0, 0, 640, 480], model: 'm', cached: false, ms: 1 }));
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    try {
      const client = createToolClient({ url: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`, token: 't', retryBaseMs: 1 });
      // The fake server knows every hash, so no upload happens.
      const r = await client.vqa(img, null, 'q');
      assert.equal(r.value, 'ok');
      assert.equal(n, 3);
    } finally {
      flaky.closeAllConnections();
      await new Promise<void>((r) => flaky.close(() => r()));
    }
  });
});
