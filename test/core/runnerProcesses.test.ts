/**
 * The runner's process helpers (src/core/runner/processes.ts) in-process: the isolation asked for,
 * what the worker is started with, signal names, the worker's fatal start-up lines and the set-up
 * error each failure becomes, word for word; and killing a real process group. Written for the
 * runner-processes mutation group (docs/testing.md), which otherwise reached these only through
 * real python children.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { describe, it } from 'node:test';
import {
  ISOLATION_HINT,
  isolationFrom,
  killGroup,
  parseFatal,
  pythonWorkerPath,
  RunnerSetupError,
  setupError,
  signalName,
  signalNumber,
  workerArgs,
  workerConfig,
} from '../../src/core/runner/processes.js';

const HINT = "Set the runner's `python` option or the VALOR_PYTHON environment variable to a Python 3.8+ executable with numpy installed.";

function setupFails(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RunnerSetupError && e.name === 'RunnerSetupError' && e.code === code && e.message === message);
}

describe('runner processes: the isolation asked for and what the worker is told', () => {
  it('the option first, then VALOR_ISOLATION (an empty one is unset), then the sandbox', () => {
    assert.equal(isolationFrom(undefined, {}), 'sandbox');
    assert.equal(isolationFrom(undefined, { VALOR_ISOLATION: 'process' }), 'process');
    assert.equal(isolationFrom(undefined, { VALOR_ISOLATION: '' }), 'sandbox');
    assert.equal(isolationFrom('process', { VALOR_ISOLATION: 'sandbox' }), 'process');
    assert.equal(isolationFrom('sandbox', { VALOR_ISOLATION: 'process' }), 'sandbox');
    setupFails(() => isolationFrom('docker', {}), 'start-failed', 'unknown isolation mode "docker": use "sandbox" (the default, the OS sandbox) or "process" (weaker, no OS confinement)');
    setupFails(() => isolationFrom(undefined, { VALOR_ISOLATION: 'none' }), 'start-failed', 'unknown isolation mode "none": use "sandbox" (the default, the OS sandbox) or "process" (weaker, no OS confinement)');
  });

  it('the worker config: the three tools with their parameters, the importable modules, the isolation', () => {
    const c = workerConfig('process');
    assert.deepEqual(c.tools, { gd_detect: ['img_pth', 'prompt'], depth: ['img_pth', 'bbox'], vqa: ['img_pth', 'bbox', 'prompt'] });
    assert.deepEqual([...c.allowed_modules].sort(), ['bisect', 'collections', 'copy', 'dataclasses', 'decimal', 'fractions', 'functools', 'heapq', 'itertools', 'json', 'math', 'numpy', 'operator', 'random', 're', 'statistics', 'string', 'typing']);
    assert.equal(c.isolation, 'process');
  });

  it('the worker is python/valor_worker/worker.py of this checkout, started with its mode and config', () => {
    const path = pythonWorkerPath();
    assert.ok(isAbsolute(path) && existsSync(path), path);
    assert.ok(path.endsWith('/python/valor_worker/worker.py'), path);
    assert.equal(pythonWorkerPath(), path, 'the same path again');
    for (const mode of ['warm', 'cold'] as const) {
      const args = workerArgs(mode, 'sandbox');
      assert.equal(args.length, 3);
      assert.equal(args[0], path);
      assert.equal(args[1], mode);
      assert.deepEqual(JSON.parse(args[2] as string), { tools: { gd_detect: ['img_pth', 'prompt'], depth: ['img_pth', 'bbox'], vqa: ['img_pth', 'bbox', 'prompt'] }, allowed_modules: [...workerConfig('sandbox').allowed_modules], isolation: 'sandbox' });
    }
  });

  it('signal names and numbers both ways; an unknown one is named by its number', () => {
    const pairs: [string, number][] = [['SIGHUP', 1], ['SIGINT', 2], ['SIGABRT', 6], ['SIGKILL', 9], ['SIGSEGV', 11], ['SIGTERM', 15], ['SIGXCPU', 24], ['SIGXFSZ', 25]];
    for (const [name, n] of pairs) {
      assert.equal(signalName(n), name);
      assert.equal(signalNumber(name as NodeJS.Signals), n);
    }
    assert.equal(signalName(null), '');
    assert.equal(signalName(10), 'signal 10');
    assert.equal(signalNumber('SIGUSR1'), 0);
  });
});

describe('runner processes: start-up failures', () => {
  it("the worker's fatal line: the last one that is ours, with a string message", () => {
    assert.equal(parseFatal(''), null);
    assert.equal(parseFatal('Traceback (most recent call last):\n  File "x"\nImportError: no'), null);
    const numpy = '{"fatal": "numpy-missing", "message": "numpy is not installed for /usr/bin/python3"}';
    const sandbox = '{"fatal": "sandbox-unavailable", "message": "Landlock is not available"}';
    assert.deepEqual(parseFatal(`noise\n${numpy}\n`), { code: 'numpy-missing', message: 'numpy is not installed for /usr/bin/python3' });
    // The last of two wins; lines that are not JSON, other fatal kinds and non-string messages are skipped.
    assert.deepEqual(parseFatal(`${numpy}\n${sandbox}\nbye`), { code: 'sandbox-unavailable', message: 'Landlock is not available' });
    assert.deepEqual(parseFatal(`${numpy}\n{not json\n{"fatal": "other", "message": "m"}\n{"fatal": "numpy-missing", "message": 3}`), { code: 'numpy-missing', message: 'numpy is not installed for /usr/bin/python3' });
    assert.equal(parseFatal(' {"fatal": "numpy-missing", "message": "indented is not ours"}'), null);
  });

  it('each failure becomes a set-up error that says what to do', () => {
    const enoent = Object.assign(new Error('spawn py3 ENOENT'), { code: 'ENOENT' });
    let e = setupError('py3', { spawnError: enoent });
    assert.deepEqual([e.code, e.message], ['python-missing', `The Python executable 'py3' was not found. ${HINT}`]);
    const eacces = Object.assign(new Error('spawn /opt/py EACCES'), { code: 'EACCES' });
    e = setupError('/opt/py', { spawnError: eacces });
    assert.deepEqual([e.code, e.message], ['python-missing', `The Python executable '/opt/py' could not be started (spawn /opt/py EACCES). ${HINT}`]);
    e = setupError('python3', { stderr: '{"fatal": "sandbox-unavailable", "message": "bubblewrap cannot create a user namespace"}' });
    assert.deepEqual([e.code, e.message], ['sandbox-unavailable', `bubblewrap cannot create a user namespace. Programs are not run without it. ${ISOLATION_HINT}`]);
    assert.equal(
      ISOLATION_HINT,
      'To run programs anyway with process isolation only (a separate python3 with limits and a scrubbed environment; a hostile program can read your files and reach the network), ' +
        'set the VS Code setting valor.run.isolation to "process", or pass --isolation process to valor (or set VALOR_ISOLATION=process).',
    );
    e = setupError('python3', { stderr: '{"fatal": "numpy-missing", "message": "numpy is not installed"}' });
    assert.deepEqual([e.code, e.message], ['numpy-missing', 'numpy is not installed. Install it with `python3 -m pip install numpy`, or point VALOR_PYTHON at a Python that has it.']);
    // Anything else: the exit and the last six lines of stderr.
    const stderr = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8'].join('\n') + '\n\n';
    e = setupError('python3', { stderr, exit: 'exit code 1' });
    assert.deepEqual([e.code, e.message], ['start-failed', `The Python worker (python3) failed to start (exit code 1):\nl3\nl4\nl5\nl6\nl7\nl8\n${HINT}`]);
    e = setupError('python3', { exit: 'SIGKILL' });
    assert.equal(e.message, `The Python worker (python3) failed to start (SIGKILL)\n${HINT}`);
    e = setupError('python3', { stderr: '  \n' });
    assert.equal(e.message, `The Python worker (python3) failed to start\n${HINT}`);
  });
});

describe('runner processes: killing a process group', () => {
  it('kills the leader and the children of its group; a process already gone is no error', async () => {
    // A shell leading its own group (as the runner starts programs) with a child sleeping in it.
    const leader = spawn('sh', ['-c', 'sleep 60 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const childPid = await new Promise<number>((resolve) => leader.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => leader.once('exit', (_code, sig) => resolve(sig)));
    killGroup(leader.pid as number);
    assert.equal(await exited, 'SIGKILL');
    // Gone, or a zombie waiting for whoever adopted it to reap it: either way no longer running.
    const alive = (pid: number): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(childPid), false, 'the sleeping child of the group is gone too');
    assert.doesNotThrow(() => killGroup(leader.pid as number));
  });
});
