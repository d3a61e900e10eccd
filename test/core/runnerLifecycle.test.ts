/**
 * The ProgramRunner's own life cycle with real python3 children (src/core/runner/index.ts): warm or
 * cold, the environment it reads, set-up problems reported by warmUp and run, the scratch folder
 * (its place, its cap on depth, its removal), cancellation before a start, and dispose with a run
 * in progress. Written for the runner-processes mutation group (docs/testing.md), whose other test
 * files reached none of these.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_SOCKET_PATH, ProgramRunner, RunnerSetupError, type RunnerProcessEvent } from '../../src/core/runner/index.js';
import { PlaceholderTools } from '../../src/core/placeholderTools.js';

const tools = new PlaceholderTools();
const req = (program: string) => ({ program, imagePath: '/nonexistent/img.png', tools });

function scratch(t: { after: (fn: () => void) => void }, name = 'valor-life-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('ProgramRunner life cycle', () => {
  it('warm by default (one parent python3, then a process per program); cold when asked, with no parent', async (t) => {
    const events: RunnerProcessEvent['kind'][] = [];
    const warm = new ProgramRunner({ isolation: 'process', onProcess: (e) => events.push(e.kind) });
    t.after(() => warm.dispose());
    assert.equal(warm.warm, true);
    assert.equal(warm.workerPid, null, 'nothing started before the first use');
    await warm.warmUp();
    assert.equal(typeof warm.workerPid, 'number');
    assert.deepEqual(events, ['worker']);
    const o = await warm.run(req('final_answer = 6 * 7'));
    assert.equal(o.final_answer, 42);

    const coldEvents: RunnerProcessEvent['kind'][] = [];
    const cold = new ProgramRunner({ isolation: 'process', warm: false, onProcess: (e) => coldEvents.push(e.kind) });
    t.after(() => cold.dispose());
    assert.equal(cold.warm, false);
    await cold.warmUp();
    assert.deepEqual(coldEvents, [], 'warmUp starts nothing for a cold runner');
    assert.equal(cold.workerPid, null);
    assert.equal((await cold.run(req('final_answer = "cold"'))).final_answer, 'cold');
    assert.deepEqual(coldEvents, ['program']);
  });

  it('cold: a python3 that says something on stderr as it starts, then is stopped by us, is Cancelled, not a set-up error', async (t) => {
    // A python3 behind a wrapper that prints a warning first, as a site hook or a distribution's
    // python might. Once we stop the run, the killed worker's exit with that stderr is ours.
    const dir = scratch(t);
    const python = join(dir, 'python3-noisy');
    writeFileSync(python, '#!/bin/sh\necho "warning: something in site-packages" >&2\nexec python3 "$@"\n');
    chmodSync(python, 0o755);
    const cold = new ProgramRunner({ isolation: 'process', warm: false, python });
    t.after(() => cold.dispose());
    assert.equal((await cold.run(req('final_answer = 5'))).final_answer, 5, 'a run that ends well is a run');
    const ctl = new AbortController();
    const pending = cold.run(req('while True:\n    pass'), ctl.signal);
    setTimeout(() => ctl.abort(), 500);
    const o = await pending;
    assert.equal(o.error?.type, 'Cancelled');
  });

  it('a bad VALOR_ISOLATION in the environment given is reported by warmUp and run, not by the constructor', async (t) => {
    const events: string[] = [];
    const r = new ProgramRunner({ env: { ...process.env, VALOR_ISOLATION: 'chroot' }, onProcess: (e) => events.push(e.kind) });
    t.after(() => r.dispose());
    const bad = (e: unknown) => e instanceof RunnerSetupError && e.code === 'start-failed' && e.message.startsWith('unknown isolation mode "chroot"');
    await assert.rejects(r.warmUp(), bad);
    await assert.rejects(r.run(req('final_answer = 1')), bad);
    assert.deepEqual(events, [], 'no python3 was started');
    // The environment given is read, not ours: the same option with our environment is fine.
    assert.equal(new ProgramRunner({ env: { VALOR_ISOLATION: 'process' } }).isolation, 'process');
  });

  it('python3 is found on the PATH of the environment given, not of ours', async (t) => {
    const r = new ProgramRunner({ isolation: 'process', warm: false, env: { PATH: '/nonexistent-valor-path' } });
    t.after(() => r.dispose());
    await assert.rejects(r.run(req('final_answer = 1')), (e: unknown) => e instanceof RunnerSetupError && e.code === 'python-missing' && e.message.startsWith("The Python executable 'python3' was not found. "));
  });

  it('scratch folders go under tmpDir, named valor-*, and are removed by dispose', async (t) => {
    const base = scratch(t);
    const r = new ProgramRunner({ isolation: 'process', tmpDir: base });
    assert.equal((await r.run(req('final_answer = 1'))).final_answer, 1);
    const made = readdirSync(base);
    assert.equal(made.length, 1);
    assert.match(made[0] as string, /^valor-/);
    await r.dispose();
    assert.deepEqual(readdirSync(base), [], 'dispose removed it');
  });

  it('a scratch folder too deep for the Unix socket is refused with what to do, one byte short of it runs', async (t) => {
    // The socket is <tmpDir>/valor-XXXXXX/run-XXXXXX/s: 26 bytes after tmpDir.
    const root = scratch(t, 'v-');
    const deep = (len: number): string => {
      const d = join(root, 'd'.repeat(len - root.length - 1));
      mkdirSync(d, { recursive: true });
      return d;
    };
    const fits = new ProgramRunner({ isolation: 'process', tmpDir: deep(MAX_SOCKET_PATH - 26) });
    t.after(() => fits.dispose());
    assert.equal((await fits.run(req('final_answer = "fits"'))).final_answer, 'fits');
    const tooDeep = new ProgramRunner({ isolation: 'process', tmpDir: deep(MAX_SOCKET_PATH - 25) });
    t.after(() => tooDeep.dispose());
    await assert.rejects(tooDeep.run(req('final_answer = 1')), (e: unknown) => {
      assert.ok(e instanceof RunnerSetupError && e.code === 'start-failed');
      assert.match(e.message, new RegExp(`is too deep for the program's Unix socket \\(${MAX_SOCKET_PATH + 1} bytes, at most ${MAX_SOCKET_PATH}\\): point TMPDIR \\(or the runner's tmpDir\\) at a shorter folder$`));
      return true;
    });
  });

  it('a run cancelled before it starts is Cancelled at once, with no process started', async (t) => {
    const events: string[] = [];
    const r = new ProgramRunner({ isolation: 'process', warm: false, onProcess: (e) => events.push(e.kind) });
    t.after(() => r.dispose());
    const ac = new AbortController();
    ac.abort();
    const o = await r.run(req('final_answer = 1'), ac.signal);
    assert.deepEqual(o, { ok: false, final_answer: null, error: { type: 'Cancelled', message: 'the run was cancelled before it started', line: null }, trace: [], stdout: '', ms: 0 });
    assert.deepEqual(events, []);
  });

  it('records a line trace by default, none when turned off', async (t) => {
    const on = new ProgramRunner({ isolation: 'process', warm: false });
    const off = new ProgramRunner({ isolation: 'process', warm: false, lineTrace: false });
    t.after(() => Promise.all([on.dispose(), off.dispose()]));
    assert.ok((await on.run(req('x = 2\nfinal_answer = x'))).line_trace, 'a line trace by default');
    assert.equal((await off.run(req('x = 2\nfinal_answer = x'))).line_trace, undefined);
  });

  it('dispose ends a run in progress as Cancelled before it resolves; later runs are refused; a second dispose is harmless', async () => {
    let started!: () => void;
    const programStarted = new Promise<void>((resolve) => (started = resolve));
    const r = new ProgramRunner({ isolation: 'process', warm: false, onProcess: (e) => e.kind === 'program' && started() });
    let settled = false;
    const running = r.run(req('import time\ntime.sleep(30)\nfinal_answer = 1')).then((o) => {
      settled = true;
      return o;
    });
    await programStarted;
    await r.dispose();
    assert.equal(settled, true, 'the run had ended when dispose resolved');
    const o = await running;
    assert.deepEqual([o.ok, o.error?.type, o.error?.message], [false, 'Cancelled', 'the runner was shut down']);
    await assert.rejects(r.run(req('final_answer = 1')), /^Error: ProgramRunner\.run was called after dispose\(\); create a new runner$/);
    await r.dispose();
  });

  it('a run asked for just before dispose ends as shut down, without starting a program', async () => {
    const events: string[] = [];
    const r = new ProgramRunner({ isolation: 'process', warm: false, onProcess: (e) => events.push(e.kind) });
    const p = r.run(req('final_answer = 1'));
    await r.dispose();
    const o = await p;
    assert.deepEqual(o, { ok: false, final_answer: null, error: { type: 'Cancelled', message: 'the runner was shut down', line: null }, trace: [], stdout: '', ms: 0 });
    assert.deepEqual(events, []);
  });
});
