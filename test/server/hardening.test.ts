// Hardening of what listens on a port or reads files named by someone else: the host's image
// reader (regular files only, capped, never blocking on a FIFO or spinning on /dev/zero), the
// reward service's image folders and connection cap, and the tool server's answers for paths
// outside its allowed folders (the same whether the file exists or not).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageFileError, readImageFile } from '../../src/core/imageFile.js';
import { TOOL_ROUTES } from '../../src/protocol/tools.js';
import { HTTP_LIMITS } from '../../src/server/http.js';
import { GOOD_QUERY, GOOD_REPLY } from '../helpers/judgeReplies.js';
import { postReward, startRewardService } from '../helpers/rewardService.js';
import { errorOf, FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const LINUX = process.platform === 'linux';
const dir = mkdtempSync(join(tmpdir(), 'valor-harden-'));
const png = join(FIXTURES, 'images', 'pixel-1x1.png');
after(() => rmSync(dir, { recursive: true, force: true }));

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, 'mkfifo');
}

describe('reading an image file on the host', { skip: !LINUX && 'uses a FIFO and /dev/zero' }, () => {
  test('a FIFO, /dev/zero and a folder are refused at once without reading; a big file is refused by size', async () => {
    const fifo = join(dir, 'fifo.png');
    mkfifo(fifo);
    for (const p of [fifo, '/dev/zero', dir]) {
      await assert.rejects(readImageFile(p), (e: unknown) => e instanceof ImageFileError && e.problem === 'not_a_file' && /not a regular file/.test(e.message), p);
    }
    const big = join(dir, 'big.png');
    writeFileSync(big, Buffer.alloc(2048));
    await assert.rejects(readImageFile(big, { maxBytes: 1024 }), (e: unknown) => e instanceof ImageFileError && e.problem === 'too_large' && /2048 bytes; at most 1024/.test(e.message));
    await assert.rejects(readImageFile(join(dir, 'missing.png')), (e: unknown) => e instanceof ImageFileError && e.problem === 'missing');
    const ok = await readImageFile(png);
    assert.deepEqual(ok.bytes, readFileSync(png));
    await assert.rejects(readImageFile(png, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });
});

describe('the reward service', () => {
  test('the vision judge reads item images only inside --images; outside paths get one answer whether they exist or not', async (t) => {
    const images = mkdtempSync(join(dir, 'images-'));
    writeFileSync(join(images, 'ok.png'), readFileSync(png));
    symlinkSync('/etc/hostname', join(images, 'link.png'));
    const f = await startRewardService({ visionJudge: true, imageRoots: [images] });
    t.after(() => f.close());
    const item = (image: string) => ({ items: [{ query: GOOD_QUERY, reply: GOOD_REPLY, image }] });
    const existing = await postReward(f.service, item('/etc/hostname'));
    const missing = await postReward(f.service, item('/etc/no-such-file-for-valor.png'));
    assert.equal(existing.status, 403);
    assert.equal(missing.status, 403);
    assert.equal(existing.json.error.code, 'image_forbidden');
    assert.equal(existing.json.error.message.replace('/etc/hostname', 'P'), missing.json.error.message.replace('/etc/no-such-file-for-valor.png', 'P'));
    const link = await postReward(f.service, item(join(images, 'link.png')));
    assert.equal(link.status, 403);
    assert.ok(!link.json.error.message.includes('/etc/hostname'), 'where a link points is not told');
    assert.equal(f.judgeServer.chatRequests().length, 0, 'nothing was judged');

    const none = await startRewardService({ visionJudge: true });
    t.after(() => none.close());
    const r = await postReward(none.service, item(join(images, 'ok.png')));
    assert.equal(r.status, 403);
    assert.match(r.json.error.message, /--images DIR/);
  });

  test('requests only read the audit log: it is byte for byte the same after scoring', async (t) => {
    const audit = join(dir, 'audit.jsonl');
    const line = `${JSON.stringify({ kind: 'reward', subject: 'x', target: 'logic', value: 1, machine_value: 0, note: 'n', at: '2026-01-01T00:00:00Z' })}\n`;
    writeFileSync(audit, line);
    const f = await startRewardService({ auditPath: audit });
    t.after(() => f.close());
    const r = await postReward(f.service, { items: [{ query: GOOD_QUERY, reply: GOOD_REPLY, image: '/etc/hostname' }] });
    assert.equal(r.status, 200);
    assert.equal(readFileSync(audit, 'utf8'), line);
  });

  test('connections beyond the cap are dropped', async (t) => {
    const f = await startRewardService({ httpLimits: { maxConnections: 2 } });
    t.after(() => f.close());
    const { port } = new URL(f.service.url);
    const open = () =>
      new Promise<{ closed: Promise<void> }>((resolve, reject) => {
        const s = connect(Number(port), '127.0.0.1', () => resolve({ closed: new Promise((r) => s.on('close', () => r())) }));
        s.on('error', reject);
        t.after(() => s.destroy());
      });
    const a = await open();
    const b = await open();
    const c = await open();
    await c.closed; // the third is closed by the server
    let firstClosed = false;
    void a.closed.then(() => (firstClosed = true));
    void b.closed;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(firstClosed, false, 'connections within the cap stay open');
    assert.equal(HTTP_LIMITS.maxConnections, 256);
  });
});

describe('the tool server', () => {
  let srv: TestToolServer;
  let root: string;
  before(async () => {
    root = mkdtempSync(join(dir, 'root-'));
    writeFileSync(join(root, 'scene.png'), readFileSync(png));
    if (LINUX) mkfifo(join(root, 'fifo.png'));
    symlinkSync('/dev/zero', join(root, 'zero.png'));
    srv = await startTestToolServer({ args: ['--allow-root', root], token: 't-harden' });
  });
  after(async () => {
    await srv?.stop();
  });

  test('a path outside the allowed folders gets the same 403 whether it exists or not, without saying where a link points', async () => {
    const answer = async (path: string) => {
      const r = await srv.call('POST', TOOL_ROUTES.depth, { image: { path }, bbox: [0, 0, 1, 1] });
      return { status: r.status, code: errorOf(r).code, message: errorOf(r).message.replace(path, 'P') };
    };
    const exists = await answer('/etc/hostname');
    const missing = await answer('/etc/no-such-file-for-valor.png');
    assert.equal(exists.status, 403);
    assert.deepEqual(exists, missing);
    const zero = await answer(join(root, 'zero.png'));
    assert.equal(zero.code, 'path_forbidden');
    assert.ok(!zero.message.includes('/dev/zero'));
  });

  test('a FIFO inside an allowed folder is refused at once, and the server still answers', { skip: !LINUX && 'needs mkfifo' }, async () => {
    const r = await srv.call('POST', TOOL_ROUTES.depth, { image: { path: join(root, 'fifo.png') }, bbox: [0, 0, 1, 1] });
    assert.equal(r.status, 400);
    assert.equal(errorOf(r).code, 'bad_path');
    assert.match(errorOf(r).message, /not a regular file/);
    assert.equal((await srv.call('GET', TOOL_ROUTES.health)).status, 200);
  });
});
