import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolServerSupervisor, type ServerState } from '../../src/extension/toolServerSupervisor.js';

const FAKE = join(__dirname, 'fixtures', 'fakeToolServer.cjs');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `cond` until true or `ms` pass (generous: the machine is shared). */
async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function make(mode: string, maxRestarts: number, extra: { readyTimeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'valor-sup-'));
  const countFile = join(dir, 'starts.txt');
  const log: string[] = [];
  const states: ServerState[] = [];
  const sup = new ToolServerSupervisor({
    command: () => ({ executable: process.execPath, args: [FAKE], env: { ...process.env, FAKE_MODE: mode, FAKE_COUNT_FILE: countFile } }),
    log: (l) => log.push(l),
    maxRestarts: () => maxRestarts,
    backoffMs: () => 20,
    stopGraceMs: 500,
    ...extra,
  });
  sup.onDidChangeState((s) => states.push(s));
  const starts = () => {
    try {
      return readFileSync(countFile, 'utf8').trim().split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  };
  const pids = () => readFileSync(countFile, 'utf8').trim().split('\n');
  const cleanup = async () => {
    await sup.dispose();
    rmSync(dir, { recursive: true, force: true });
  };
  return { sup, log, states, starts, pids, cleanup };
}

test('reads the ready line, reports ready with url and device, and redacts the token in the log', async (t) => {
  const h = make('stay', 0);
  t.after(h.cleanup);
  const ready = await h.sup.ensureStarted();
  assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(ready.device, 'cpu');
  assert.match(ready.token, /^sekret-\d+$/);
  assert.equal(h.sup.current.kind, 'ready');
  assert.ok(h.states.some((s) => s.kind === 'starting'));
  const text = h.log.join('\n');
  assert.match(text, /token=<redacted>/);
  assert.ok(!text.includes(ready.token), 'the token must not reach the log');
  // A second call reuses the running server.
  const again = await h.sup.ensureStarted();
  assert.equal(again.pid, ready.pid);
  assert.equal(h.starts(), 1);
});

test('a server that crashes after ready is restarted a bounded number of times, then reported as an error', async (t) => {
  const h = make('crash', 2);
  t.after(h.cleanup);
  await h.sup.ensureStarted();
  await until(() => h.sup.current.kind === 'error');
  // One start plus exactly two restarts.
  assert.equal(h.starts(), 3);
  const s = h.sup.current;
  assert.equal(s.kind, 'error');
  if (s.kind === 'error') assert.match(s.message, /exited with code 3.*gave up after 2 restarts/);
  assert.match(h.log.join('\n'), /simulated crash after ready/);
});

test('a server that fails before ready makes ensureStarted reject once the restart budget is spent', async (t) => {
  const h = make('fail', 1);
  t.after(h.cleanup);
  await assert.rejects(h.sup.ensureStarted(), (err: Error & { lastLines?: string[] }) => {
    assert.match(err.message, /exited with code 2 before it was ready/);
    assert.ok(err.lastLines?.some((l) => l.includes('model folder /nowhere does not exist')));
    return true;
  });
  assert.equal(h.starts(), 2);
  assert.equal(h.sup.current.kind, 'error');
  // A later request (a user action) tries again with a fresh budget.
  await assert.rejects(h.sup.ensureStarted());
  assert.equal(h.starts(), 4);
});

test('stop kills the whole process tree, including a grandchild that ignores SIGTERM', async (t) => {
  const h = make('stay', 3);
  t.after(h.cleanup);
  const ready = await h.sup.ensureStarted();
  const line = h.log.find((l) => l.startsWith('grandchild pid='));
  assert.ok(line, 'the fake server reports its grandchild');
  const grandchild = Number(line.split('=')[1]);
  assert.ok(alive(ready.pid) && alive(grandchild));
  await h.sup.stop();
  await until(() => !alive(ready.pid) && !alive(grandchild));
  assert.equal(h.sup.current.kind, 'stopped');
  // A stop is not a crash: nothing restarts it.
  assert.equal(h.starts(), 1);
});

test('restart gives a new process; dispose stops it', async (t) => {
  const h = make('stay', 3);
  t.after(h.cleanup);
  const a = await h.sup.ensureStarted();
  const b = await h.sup.restart();
  assert.notEqual(a.pid, b.pid);
  await until(() => !alive(a.pid));
  await h.sup.dispose();
  await until(() => !alive(b.pid));
  await assert.rejects(h.sup.ensureStarted(), /shut down/);
});

test('a server that never prints its ready line times out and is killed', async (t) => {
  const h = make('silent', 0, { readyTimeoutMs: 1500 });
  t.after(h.cleanup);
  await assert.rejects(h.sup.ensureStarted(), /did not become ready/);
  assert.equal(h.sup.current.kind, 'error');
  const pid = Number(h.pids()[0]);
  await until(() => !alive(pid));
});

test('an aborted wait rejects with AbortError without stopping the start', async (t) => {
  const h = make('stay', 0);
  t.after(h.cleanup);
  const ac = new AbortController();
  const p = h.sup.ensureStarted(ac.signal);
  ac.abort();
  await assert.rejects(p, { name: 'AbortError' });
  const ready = await h.sup.ensureStarted();
  assert.ok(ready.pid > 0);
});
