// `valor models pull` against a local HTTP server that imitates the Hugging Face hub's routes
// (tree listing with LFS sha256 / git blob ids, resolve with Range), never the internet.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { HubError, HubOfflineError, pullModel, type ModelSpec } from '../../src/server/hubPull.js';

interface FakeFile {
  path: string;
  bytes: Buffer;
  lfs: boolean;
}

interface FakeHub {
  url: string;
  /** Every resolve request: path and Range header. */
  gets: { path: string; range?: string }[];
  lists: number;
  /** Paths whose next full (non-Range) transfer is cut after this many bytes. */
  cutOnce: Map<string, number>;
  /** Paths served with one byte flipped. */
  corrupt: Set<string>;
  /** Ignore Range headers (a server without resume support). */
  noRange: boolean;
  close(): Promise<void>;
}

const gitOid = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A hub serving `repo` (and any `more` repositories) with their files. */
async function startFakeHub(repo: string, files: FakeFile[], more: Record<string, FakeFile[]> = {}): Promise<FakeHub> {
  const repos: Record<string, FakeFile[]> = { [repo]: files, ...more };
  const hub: Omit<FakeHub, 'url' | 'close'> = { gets: [], lists: 0, cutOnce: new Map(), corrupt: new Set(), noRange: false };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const listed = Object.keys(repos).find((r) => url.pathname === `/api/models/${r}/tree/main`);
    const served = Object.keys(repos).find((r) => url.pathname.startsWith(`/${r}/resolve/main/`));
    const files = repos[listed ?? served ?? repo] as FakeFile[];
    if (listed) {
      hub.lists++;
      const body = files.map((f) =>
        f.lfs
          ? { type: 'file', path: f.path, size: f.bytes.length, oid: gitOid(Buffer.from('pointer')), lfs: { oid: sha256(f.bytes), size: f.bytes.length, pointerSize: 130 } }
          : { type: 'file', path: f.path, size: f.bytes.length, oid: gitOid(f.bytes) },
      );
      body.push({ type: 'directory', path: 'onnx', size: 0, oid: 'x' } as never);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    const prefix = `/${served ?? repo}/resolve/main/`;
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    const path = decodeURIComponent(url.pathname.slice(prefix.length));
    const f = files.find((x) => x.path === path);
    const range = req.headers.range;
    hub.gets.push({ path, range });
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    let bytes = f.bytes;
    if (hub.corrupt.has(path)) {
      bytes = Buffer.from(bytes);
      bytes[0] = (bytes[0] as number) ^ 0xff;
    }
    const m = /^bytes=(\d+)-$/.exec(range ?? '');
    if (m && !hub.noRange) {
      const start = Number(m[1]);
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': bytes.length - start, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` });
      res.end(bytes.subarray(start));
      return;
    }
    const cut = hub.cutOnce.get(path);
    res.writeHead(200, { 'content-length': bytes.length });
    if (cut !== undefined) {
      hub.cutOnce.delete(path);
      res.write(bytes.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(hub, {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

const REPO = 'test-org/tiny-model';
const spec: ModelSpec = {
  folder: 'grounding-dino',
  repo: REPO,
  revision: 'main',
  include: [/^[^/]+\.json$/, /^onnx\/model\.onnx$/],
  required: ['config.json', 'onnx/model.onnx'],
  why: 'test',
};

describe('models pull against a fake hub', () => {
  const weights = randomBytes(3 * 1024 * 1024 + 17);
  const config = Buffer.from(JSON.stringify({ model_type: 'grounding-dino' }));
  const files: FakeFile[] = [
    { path: 'config.json', bytes: config, lfs: false },
    { path: 'onnx/model.onnx', bytes: weights, lfs: true },
    { path: 'README.md', bytes: Buffer.from('# readme'), lfs: false },
  ];
  let hub: FakeHub;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'valor-pull-'));
    dirs.push(d);
    return d;
  };

  before(async () => {
    hub = await startFakeHub(REPO, files);
  });
  after(async () => {
    await hub.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('downloads the listed files, resumes an interrupted transfer with Range, verifies, and skips them next time', async () => {
    const dir = tmp();
    hub.gets.length = 0;
    const cutAt = 1024 * 1024 + 5;
    hub.cutOnce.set('onnx/model.onnx', cutAt);
    const events: string[] = [];
    const r = await pullModel(spec, dir, { endpoint: hub.url, retryDelayMs: 10, onProgress: (p) => events.push(`${p.event}:${p.file}`) });
    assert.equal(r.fetched, 2);
    assert.deepEqual(readFileSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx')), weights);
    assert.deepEqual(readFileSync(join(dir, 'grounding-dino', 'config.json')), config);
    assert.equal(existsSync(join(dir, 'grounding-dino', 'README.md')), false, 'files outside the include list are not fetched');
    assert.equal(existsSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx.part')), false);
    const weightGets = hub.gets.filter((g) => g.path === 'onnx/model.onnx');
    assert.equal(weightGets.length, 2);
    assert.equal(weightGets[0]?.range, undefined);
    // The resumed request starts where the .part file ended (at least what was cut; the socket may
    // deliver everything written before it closes).
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(weightGets[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= cutAt, `resumed at ${resumedAt}`);
    assert.ok(events.includes('resume:onnx/model.onnx'));
    assert.ok(events.includes('verified:onnx/model.onnx'));

    hub.gets.length = 0;
    const again = await pullModel(spec, dir, { endpoint: hub.url });
    assert.equal(again.fetched, 0);
    assert.equal(hub.gets.length, 0, 'verified files are not downloaded again');
  });

  it('resumes a .part file left by an earlier run', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'grounding-dino', 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx.part'), weights.subarray(0, 777_777));
    hub.gets.length = 0;
    await pullModel(spec, dir, { endpoint: hub.url, retryDelayMs: 10 });
    const g = hub.gets.find((x) => x.path === 'onnx/model.onnx');
    assert.equal(g?.range, 'bytes=777777-');
    assert.deepEqual(readFileSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx')), weights);
  });

  it('starts over when the server ignores Range', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'grounding-dino', 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx.part'), weights.subarray(0, 1000));
    hub.noRange = true;
    try {
      await pullModel(spec, dir, { endpoint: hub.url, retryDelayMs: 10 });
    } finally {
      hub.noRange = false;
    }
    assert.deepEqual(readFileSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx')), weights);
  });

  it('refuses bytes whose hash does not match the hub, leaving no file behind', async () => {
    const dir = tmp();
    hub.corrupt.add('onnx/model.onnx');
    try {
      await assert.rejects(pullModel(spec, dir, { endpoint: hub.url, retryDelayMs: 1, attempts: 2 }), (err: unknown) => {
        assert.ok(err instanceof HubError);
        assert.match((err as Error).message, /sha256 .* does not match/);
        return true;
      });
    } finally {
      hub.corrupt.clear();
    }
    assert.equal(existsSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx')), false);
    assert.equal(existsSync(join(dir, 'grounding-dino', 'onnx', 'model.onnx.part')), false);
  });

  it('valor models pull --valor fetches VALOR\'s checkpoint and MoGe-2 ViT-L, listing sizes and hashes before downloading', async () => {
    const dir = tmp();
    const pth = randomBytes(200_000);
    const onnx = randomBytes(300_000);
    const valorHub = await startFakeHub('glab-caltech/VALOR-GroundingDINO', [
      { path: 'VALOR-GroundingDINO.pth', bytes: pth, lfs: true },
      { path: 'README.md', bytes: Buffer.from('# VALOR'), lfs: false },
    ], { 'Ruicheng/moge-2-vitl-normal-onnx': [{ path: 'model.onnx', bytes: onnx, lfs: true }, { path: '.gitattributes', bytes: Buffer.from('*'), lfs: false }] });
    try {
      const out = new PassThrough();
      const errs = new PassThrough();
      let stdout = '';
      let stderr = '';
      out.on('data', (d) => (stdout += d));
      errs.on('data', (d) => {
        // The listing must come before the first byte of that file is requested.
        if (/VALOR-GroundingDINO\.pth\s+0\.2 MB\s+sha256/.test(String(d))) assert.equal(valorHub.gets.length, 0, 'listed before any download');
        stderr += d;
      });
      const io = { stdout: out, stderr: errs, env: {}, cwd: dir, signal: new AbortController().signal, isTTY: false };
      assert.equal(await main(['models', 'pull', '--valor', '--dir', dir, '--endpoint', valorHub.url], io), 0, stderr);
      assert.ok(stderr.includes(`VALOR-GroundingDINO.pth  0.2 MB  sha256 ${sha256(pth)}`), stderr);
      assert.ok(stderr.includes(`model.onnx  0.3 MB  sha256 ${sha256(onnx)}`), stderr);
      assert.deepEqual(readFileSync(join(dir, 'valor-grounding-dino-checkpoint', 'VALOR-GroundingDINO.pth')), pth);
      assert.deepEqual(readFileSync(join(dir, 'depth', 'model.onnx')), onnx);
      assert.equal(existsSync(join(dir, 'valor-grounding-dino-checkpoint', 'README.md')), false);
      assert.match(stdout, /Next: valor models convert/);
      // Another depth model pulled into the same folder replaces the files the first one brought.
      assert.equal(await main(['models', 'pull', '--depth', 'nope', '--dir', dir], io), 2);
      assert.equal(await main(['models', 'pull', '--valor', '--depth', 'moge-2-vitb', '--dir', dir], io), 2);
    } finally {
      await valorHub.close();
    }
  });

  it('reports an unreachable hub as offline', async () => {
    await assert.rejects(pullModel(spec, tmp(), { endpoint: 'http://127.0.0.1:9' }), HubOfflineError);
  });

  it('valor models pull offline names the folders to fill and the files they need', async () => {
    const dir = tmp();
    const out = new PassThrough();
    const errs = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d) => (stdout += d));
    errs.on('data', (d) => (stderr += d));
    const code = await main(['models', 'pull', '--dir', dir, '--endpoint', 'http://127.0.0.1:9'], {
      stdout: out,
      stderr: errs,
      env: {},
      cwd: dir,
      signal: new AbortController().signal,
      isTTY: false,
    });
    assert.equal(code, 1);
    assert.match(stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
    assert.ok(stderr.includes(join(dir, 'grounding-dino')), stderr);
    assert.ok(stderr.includes(join(dir, 'depth')), stderr);
    assert.match(stderr, /onnx\/model\.onnx/);
    assert.match(stderr, /tokenizer\.json/);
    assert.equal(stdout, '');
  });
});
