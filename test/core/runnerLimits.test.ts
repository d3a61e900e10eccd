// The program runner's limits and process lifecycle with real python3 processes: timeouts,
// memory cap, cancellation, concurrency and isolation, worker crash and hang recovery, the
// scrubbed environment and scratch directory, cold mode, a missing python3.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ProgramRunner, RunnerSetupError, type ProgramRunnerOptions } from '../../src/core/runner/index.js';
import { ScriptedTools, deferred, eventually, processAlive } from '../helpers/scriptedTools.js';

const IMG = '/images/room.png';
const LINUX = process.platform === 'linux';
const runners: ProgramRunner[] = [];

function makeRunner(opts: ProgramRunnerOptions & { pids?: number[]; workers?: number[] } = {}): ProgramRunner {
  const { pids, workers, ...rest } = opts;
  const r = new ProgramRunner({
    ...rest,
    onProcess: (e) => (e.kind === 'program' ? pids : workers)?.push(e.pid),
  });
  runners.push(r);
  return r;
}

after(async () => {
  await Promise.all(runners.map((r) => r.dispose()));
});

describe('timeouts', () => {
  test('an infinite loop ends as Timeout on its line and its process is gone', async () => {
    const pids: number[] = [];
    const runner = makeRunner({ pids });
    const o = await runner.run({ program: 'x = 0\nwhile True:\n    x += 1', imagePath: IMG, tools: new ScriptedTools(), timeoutMs: 1000 });
    assert.equal(o.ok, false);
    assert.equal(o.error?.type, 'Timeout');
    assert.ok(o.error!.line === 2 || o.error!.line === 3, `line ${o.error!.line}`);
    assert.match(o.error!.message, /time limit/);
    assert.equal(pids.length, 1);
    assert.equal(processAlive(pids[0]!), false);
  });

  test('a program that swallows the timeout is killed from outside', async () => {
    const pids: number[] = [];
    const runner = makeRunner({ pids, killGraceMs: 500 });
    const program = 'while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass';
    const o = await runner.run({ program, imagePath: IMG, tools: new ScriptedTools(), timeoutMs: 800 });
    assert.equal(o.error?.type, 'Timeout');
    assert.equal(processAlive(pids[0]!), false);
    // The worker survives and serves the next run.
    const next = await runner.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(next.final_answer, 1);
  });

  test('a tool that never answers is cut off by the time limit, its call marked', async () => {
    const runner = makeRunner();
    let toolSignal: AbortSignal | undefined;
    const tools = new ScriptedTools({
      vqa: (_i, _b, _p, signal) => {
        toolSignal = signal;
        return new Promise<string>(() => undefined);
      },
    });
    const o = await runner.run({ program: 'a = 1\nans = vqa(img_pth, None, "q")\nfinal_answer = ans', imagePath: IMG, tools, timeoutMs: 1000 });
    assert.equal(o.error?.type, 'Timeout');
    assert.equal(o.error?.line, 2);
    assert.equal(o.trace.length, 1);
    assert.equal(o.trace[0]!.error?.type, 'Timeout');
    assert.equal(toolSignal?.aborted, true, 'the tool call is told to stop');
  });
});

describe('memory', () => {
  test('a memory bomb ends as MemoryLimit with its line, and the runner carries on', async () => {
    const runner = makeRunner({ memoryMB: 768 });
    const bomb = await runner.run({ program: 'keep = []\nwhile True:\n    keep.append(bytearray(10 ** 7))', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(bomb.error?.type, 'MemoryLimit');
    assert.equal(bomb.error?.line, 3);
    assert.match(bomb.error!.message, /768 MiB/);

    const big = await runner.run({ program: 'x = 1\na = np.ones((60000, 60000))', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(big.error?.type, 'MemoryLimit');
    assert.equal(big.error?.line, 2);

    const fine = await runner.run({ program: 'final_answer = int(np.ones((100, 100)).sum())', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(fine.final_answer, 10000);
  });
});

describe('cancellation', () => {
  test('aborting during a tool call resolves Cancelled, aborts the tool and kills the process', async () => {
    const pids: number[] = [];
    const runner = makeRunner({ pids });
    const entered = deferred();
    let toolSignal: AbortSignal | undefined;
    const tools = new ScriptedTools({
      gd_detect: (_i, _p, signal) => {
        toolSignal = signal;
        entered.resolve();
        return new Promise(() => undefined);
      },
    });
    const ac = new AbortController();
    const pending = runner.run({ program: 'cups = gd_detect(img_pth, "cup")\nfinal_answer = cups', imagePath: IMG, tools }, ac.signal);
    await entered.promise;
    ac.abort();
    const o = await pending;
    assert.equal(o.error?.type, 'Cancelled');
    assert.equal(o.trace[0]?.error?.type, 'Cancelled');
    assert.equal(toolSignal?.aborted, true);
    assert.equal(processAlive(pids[0]!), false);
  });

  test('aborting a busy loop resolves Cancelled; an already aborted signal runs nothing', async () => {
    const pids: number[] = [];
    const runner = makeRunner({ pids });
    const ac = new AbortController();
    const pending = runner.run({ program: 'while True:\n    pass', imagePath: IMG, tools: new ScriptedTools(), timeoutMs: 60_000 }, ac.signal);
    await eventually(() => pids.length === 1, 30_000, 'the program process');
    ac.abort();
    const o = await pending;
    assert.equal(o.error?.type, 'Cancelled');
    assert.equal(processAlive(pids[0]!), false);

    const pre = await runner.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() }, AbortSignal.abort());
    assert.equal(pre.error?.type, 'Cancelled');
    assert.equal(pids.length, 1);
  });
});

describe('concurrency and isolation', () => {
  test('six runs at once each get their own tool answers and results', async () => {
    const runner = makeRunner();
    const n = 6;
    const all = deferred();
    let arrived = 0;
    const tools = new ScriptedTools({
      // Every detection call waits until all six are in flight: the runs really overlap.
      gd_detect: async (img, prompt) => {
        arrived += 1;
        if (arrived === n) all.resolve();
        let timer: NodeJS.Timeout | undefined;
        const overlap = new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error('runs did not overlap')), 30_000);
        });
        await Promise.race([all.promise, overlap]).finally(() => clearTimeout(timer));
        return [{ bbox: [Number(prompt.slice(4)), 0, 10, 10], label: img, score: 1 }];
      },
      depth: (_img, bbox) => bbox[0] * 10,
    });
    const program = (i: number) =>
      [`secret = ${i}`, `d = gd_detect(img_pth, "obj ${i}")`, 'z = depth(img_pth, d[0]["bbox"])', 'final_answer = [secret, d[0]["label"], z]'].join('\n');
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => runner.run({ program: program(i), imagePath: `/img/${i}.png`, tools })));
    outcomes.forEach((o, i) => {
      assert.equal(o.error, null);
      assert.deepEqual(o.final_answer, [i, `/img/${i}.png`, i * 10]);
      assert.deepEqual(o.trace.map((e) => e.args.img_pth), [`/img/${i}.png`, `/img/${i}.png`]);
    });
  });

  test('nothing a program does is visible to the next one', async () => {
    const runner = makeRunner();
    const tools = new ScriptedTools();
    const first = await runner.run({ program: 'import collections\ncollections.LEAK = 42\nmath.pi = 3\nsecret = "s1"\nfinal_answer = math.pi', imagePath: IMG, tools });
    assert.equal(first.final_answer, 3);
    const second = await runner.run({
      program: 'import collections\ntry:\n    s = secret\nexcept NameError:\n    s = None\nfinal_answer = [hasattr(collections, "LEAK"), math.pi, s]',
      imagePath: IMG,
      tools,
    });
    assert.equal(second.error, null);
    assert.deepEqual(second.final_answer, [false, Math.PI, null]);
  });
});

describe('worker lifecycle', () => {
  test('a killed worker fails its runs in flight with WorkerCrash and is replaced on the next run', async () => {
    const pids: number[] = [];
    const workers: number[] = [];
    const runner = makeRunner({ pids, workers });
    const entered = deferred();
    const tools = new ScriptedTools({
      depth: () => {
        entered.resolve();
        return new Promise<number>(() => undefined);
      },
    });
    const pending = runner.run({ program: 'z = depth(img_pth, [1, 2, 3, 4])\nfinal_answer = z', imagePath: IMG, tools });
    await entered.promise;
    const parent = runner.workerPid;
    assert.ok(parent !== null);
    process.kill(parent, 'SIGKILL');
    const o = await pending;
    assert.equal(o.error?.type, 'WorkerCrash');
    await eventually(() => !processAlive(pids[0]!), 10_000, 'the orphaned program process to die');

    const next = await runner.run({ program: 'final_answer = "back"', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(next.error, null);
    assert.equal(next.final_answer, 'back');
    assert.notEqual(runner.workerPid, parent);
    assert.equal(workers.length, 2);
  });

  test('a hung worker is replaced and the run goes through', async () => {
    const workers: number[] = [];
    // The hang is detected by the start timeout, and the replacement must start within it too:
    // size it from how long a worker takes to start on this machine now (a loaded 2-core CI
    // machine can take several seconds), never below 1.5 s.
    const probe = makeRunner();
    const t0 = Date.now();
    await probe.warmUp();
    const startMs = Date.now() - t0;
    await probe.dispose();
    const runner = makeRunner({ workers, startTimeoutMs: Math.max(1500, 4 * startMs) });
    await runner.warmUp();
    const stuck = runner.workerPid!;
    process.kill(stuck, 'SIGSTOP');
    try {
      const o = await runner.run({ program: 'final_answer = 7', imagePath: IMG, tools: new ScriptedTools() });
      assert.equal(o.error, null);
      assert.equal(o.final_answer, 7);
      assert.notEqual(runner.workerPid, stuck);
      await eventually(() => !processAlive(stuck), 10_000, 'the hung worker to be killed');
    } finally {
      try {
        process.kill(stuck, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  test('dispose ends runs in progress as Cancelled and kills every process', async () => {
    const pids: number[] = [];
    const workers: number[] = [];
    const runner = makeRunner({ pids, workers });
    const pending = runner.run({ program: 'while True:\n    pass', imagePath: IMG, tools: new ScriptedTools() });
    await eventually(() => pids.length === 1, 30_000, 'the program process');
    await runner.dispose();
    const o = await pending;
    assert.equal(o.error?.type, 'Cancelled');
    await eventually(() => !processAlive(pids[0]!) && !processAlive(workers[0]!), 10_000, 'all processes to end');
    await assert.rejects(runner.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() }), /after dispose/);
  });
});

describe('environment and scratch directory', { skip: !LINUX && 'needs /proc' }, () => {
  test('the program process has no secrets in its environment and works in a scratch directory that is removed', async () => {
    const pids: number[] = [];
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      OPENAI_API_KEY: 'sk-should-not-leak',
      VALOR_LLM_API_KEY: 'v1',
      VALOR_TOOLS_URL: 'http://x',
      MY_SERVICE_TOKEN: 't',
      DB_PASSWORD: 'p',
      HF_HOME: '/hf',
      AWS_REGION: 'eu',
      GOOGLE_APPLICATION_CREDENTIALS: '/c.json',
      ANTHROPIC_BASE: 'a',
      UNRELATED_SETTING: 'u',
    };
    const runner = makeRunner({ pids, env });
    let seen: { environ: Record<string, string>; cwd: string } | undefined;
    const tools = new ScriptedTools({
      vqa: () => {
        const pid = pids[pids.length - 1]!;
        const environ = Object.fromEntries(
          readFileSync(`/proc/${pid}/environ`, 'utf8')
            .split('\0')
            .filter(Boolean)
            .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
        );
        seen = { environ, cwd: readlinkSync(`/proc/${pid}/cwd`) };
        return 'ok';
      },
    });
    const o = await runner.run({ program: 'final_answer = vqa(img_pth, None, "q")', imagePath: IMG, tools });
    assert.equal(o.final_answer, 'ok');
    assert.ok(seen);
    const names = Object.keys(seen.environ);
    for (const leaked of ['OPENAI_API_KEY', 'VALOR_LLM_API_KEY', 'VALOR_TOOLS_URL', 'MY_SERVICE_TOKEN', 'DB_PASSWORD', 'HF_HOME', 'AWS_REGION', 'GOOGLE_APPLICATION_CREDENTIALS', 'ANTHROPIC_BASE', 'UNRELATED_SETTING']) {
      assert.ok(!names.includes(leaked), `${leaked} leaked into the program's environment`);
    }
    assert.ok(!Object.values(seen.environ).some((v) => v.includes('sk-should-not-leak')));
    // A version-manager shim (pyenv) may put its own directories in front.
    assert.ok(seen.environ.PATH?.endsWith(process.env.PATH ?? ''), 'PATH is kept');
    assert.equal(seen.environ.LANG, 'C.UTF-8');
    assert.match(seen.cwd, /valor-.*run-.*work$/);
    assert.equal(existsSync(seen.cwd), false, 'the scratch directory is removed after the run');
  });
});

describe('cold mode and set-up errors', () => {
  test('cold mode runs programs, traces calls and enforces the time limit', async () => {
    const pids: number[] = [];
    const runner = makeRunner({ warm: false, pids });
    const o = await runner.run({ program: 'd = gd_detect(img_pth, "a, b")\nfinal_answer = len(d)', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(o.error, null);
    assert.equal(o.final_answer, 2);
    assert.equal(o.trace[0]?.variable, 'd');
    assert.equal(runner.workerPid, null);
    const loop = await runner.run({ program: 'while True:\n    pass', imagePath: IMG, tools: new ScriptedTools(), timeoutMs: 1500 });
    assert.equal(loop.error?.type, 'Timeout');
    assert.equal(pids.length, 2);
    assert.equal(processAlive(pids[1]!), false);
  });

  test('a missing python3 rejects with a RunnerSetupError naming the setting', async () => {
    for (const warm of [true, false]) {
      const runner = makeRunner({ warm, python: '/nonexistent/python3-for-valor' });
      await assert.rejects(
        runner.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() }),
        (err: unknown) => err instanceof RunnerSetupError && err.code === 'python-missing' && /VALOR_PYTHON/.test(err.message) && /python3-for-valor/.test(err.message),
      );
    }
  });

  test('a python3 without numpy rejects with a RunnerSetupError saying how to install it', async (t) => {
    const probe = spawnSync('python3', ['-S', '-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.status === 0) {
      t.skip('numpy is importable even without site-packages here');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'valor-nonumpy-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const wrapper = join(dir, 'python-no-site');
    writeFileSync(wrapper, '#!/bin/sh\nexec python3 -S "$@"\n');
    chmodSync(wrapper, 0o755);
    for (const warm of [true, false]) {
      const runner = makeRunner({ warm, python: wrapper });
      await assert.rejects(
        runner.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() }),
        (err: unknown) => err instanceof RunnerSetupError && err.code === 'numpy-missing' && /pip install numpy/.test(err.message),
      );
    }
  });
});
