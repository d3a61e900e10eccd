// `valor serve` (the built CLI) and dist/server.js started through startToolServer: the ready
// line, the token from the environment, a clean stop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { createToolClient } from '../../src/core/toolClient.js';
import { startToolServer } from '../../src/host/toolServerProcess.js';
import { parseReadyLine } from '../../src/protocol/tools.js';
import { CLI, ensureBuilt, REPO } from '../helpers/cli.js';
import { cleanServerEnv } from '../helpers/toolServer.js';

describe('valor serve', () => {
  let dir: string;
  before(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'valor-serve-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints exactly one parseable ready line, uses VALOR_TOOLS_TOKEN, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--models', join(dir, 'models')], {
      env: cleanServerEnv({ VALOR_TOOLS_TOKEN: 'from-env-123' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const lines: string[] = [];
    const first = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 60_000);
      createInterface({ input: child.stdout }).on('line', (l) => {
        lines.push(l);
        clearTimeout(t);
        resolve(l);
      });
    });
    try {
      assert.match(first, /^valor tool server ready at http:\/\/127\.0\.0\.1:\d+ token=from-env-123 device=cpu$/);
      const ready = parseReadyLine(first);
      assert.ok(ready);
      const health = await createToolClient({ url: ready.url, token: ready.token }).health();
      assert.equal(health.status, 'degraded');
      assert.match(stderr, /valor models pull/);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
    assert.equal(lines.length, 1, 'stdout holds the ready line only');
  });

  it('refuses an unknown flag with exit code 2', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--gpu'], { env: cleanServerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 2);
    assert.match(stderr, /unknown option '--gpu'/);
  });

  it('dist/server.js starts through startToolServer, falls back from cuda with one warning, and exits with its parent pipe', async () => {
    const logs: string[] = [];
    const server = await startToolServer({
      serverScript: join(REPO, 'dist', 'server.js'),
      device: 'cuda',
      models: join(dir, 'models'),
      env: cleanServerEnv(),
      onLog: (l) => logs.push(l),
    });
    try {
      assert.equal(server.device, 'cpu', 'this machine has no CUDA provider installed');
      const health = await createToolClient({ url: server.url, token: server.token }).health();
      assert.equal(health.device, 'cpu');
      assert.equal(logs.filter((l) => /no CUDA provider/.test(l)).length, 1);
      assert.ok(logs.some((l) => /onnxruntime-node-install=cuda12/.test(l)));
    } finally {
      await server.stop();
    }
    assert.notEqual(server.process.exitCode ?? server.process.signalCode, null);
  });
});
