// Hostile programs against the runner's OS sandbox (python/valor_worker/sandbox.py, the parent's
// checks in src/core/runner/). Each program first escapes the in-process restrictions the way an
// attacker would (typing.sys.modules['os'], numpy's own submodules, operator.attrgetter,
// string.Formatter) -- showing those are no boundary -- and then tries to do harm; the test
// asserts the specific error the kernel or the parent gave. One contrast test runs the same
// attack with isolation "process" and sees it succeed, so these tests can fail.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProgramRunner, RunnerSetupError } from '../../src/core/runner/index.js';
import type { ProgramOutcome } from '../../src/protocol/run.js';
import { ScriptedTools, eventually, processAlive } from '../helpers/scriptedTools.js';

const LINUX = process.platform === 'linux';
const IMG = '/images/room.png';
const work = mkdtempSync(join(tmpdir(), 'valor-hostile-'));
const SECRET = join(work, 'secret.txt');
writeFileSync(SECRET, 'the-secret-content');

/** Program text that gets `os` through typing (the escape named in the issue), then runs `body`, reporting what happened. */
function hostile(body: string): string {
  return [
    'import typing',
    "os = typing.sys.modules['os']",
    'try:',
    ...body.split('\n').map((l) => `    ${l}`),
    "    final_answer = 'NOT BLOCKED: ' + repr(result)[:200]",
    'except BaseException as e:',
    "    final_answer = type(e).__name__ + ': ' + str(e)",
  ].join('\n');
}

const runners: ProgramRunner[] = [];
function runner(opts: ConstructorParameters<typeof ProgramRunner>[0] = {}): ProgramRunner {
  const r = new ProgramRunner(opts);
  runners.push(r);
  return r;
}
let sandboxed: ProgramRunner;
const pids: number[] = [];

before(() => {
  sandboxed = runner({ onProcess: (e) => e.kind === 'program' && pids.push(e.pid) });
});
after(async () => {
  await Promise.all(runners.map((r) => r.dispose()));
  rmSync(work, { recursive: true, force: true });
});

async function run(program: string, tools = new ScriptedTools(), r = sandboxed): Promise<ProgramOutcome> {
  return r.run({ program, imagePath: IMG, tools, timeoutMs: 20_000 });
}

function answer(o: ProgramOutcome): string {
  assert.equal(o.error, null, `the program itself failed: ${JSON.stringify(o.error)}`);
  return String(o.final_answer);
}

describe('the in-process restrictions are no boundary (the OS layer is)', { skip: !LINUX && 'the OS sandbox is Linux only' }, () => {
  test('typing.sys.modules, numpy submodules, operator.attrgetter and string.Formatter all reach forbidden objects', async () => {
    const o = await run(
      [
        'import typing, operator, string',
        "a = typing.sys.modules['os'].__name__",
        'b = np.ctypeslib.ctypes.__name__',
        "c = operator.attrgetter('_private.extbuild.subprocess')(np.testing).__name__",
        "d = operator.attrgetter('__globals__')(gd_detect)['_tool_call'] is not None",
        "e = string.Formatter().get_field('0.__globals__', [gd_detect], {})[0]['_tool_call'] is not None",
        'final_answer = [a, b, c, d, e]',
      ].join('\n'),
    );
    assert.equal(o.error, null, JSON.stringify(o.error));
    // The AST check refuses `x._attr` only as syntax: each of these gets through, so the OS layer is what holds.
    assert.deepEqual(o.final_answer, ['os', 'ctypes', 'subprocess', true, true]);
  });
});

describe('hostile programs, by category', { skip: !LINUX && 'the OS sandbox is Linux only' }, () => {
  test('reading files: a secret file, the home folder, the workspace, numpy loaders: Permission denied', async () => {
    const cases: [string, RegExp][] = [
      [`result = open(${JSON.stringify(SECRET)}).read()`, /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = os.listdir(os.path.expanduser("~"))', /^PermissionError: \[Errno 13\] Permission denied/],
      [`result = os.listdir(${JSON.stringify(resolve('.'))})`, /^PermissionError: \[Errno 13\] Permission denied/],
      [`result = np.loadtxt(${JSON.stringify(SECRET)}, dtype=str)`, /^PermissionError: \[Errno 13\] Permission denied/],
      // numpy's C loader turns the refused open into a SystemError (no exception set): still no bytes.
      [`result = np.fromfile(${JSON.stringify(SECRET)}, dtype=np.uint8)`, /^(PermissionError: \[Errno 13\] Permission denied|SystemError: <built-in function fromfile> returned NULL)/],
      ['result = open("/etc/passwd").read()', /^PermissionError: \[Errno 13\] Permission denied/],
      [`result = np.memmap(${JSON.stringify(SECRET)}, mode="r")`, /^PermissionError: \[Errno 13\] Permission denied/],
    ];
    for (const [body, want] of cases) {
      assert.match(answer(await run(hostile(body.replace(/\bopen\(/g, 'typing.sys.modules["builtins"].open(')))), want, body);
    }
  });

  test('writing files: outside the scratch folder and even new files inside it are refused', async () => {
    const target = join(work, 'planted.sh');
    const cases: [string, RegExp][] = [
      [`result = np.save(${JSON.stringify(target)}, np.ones(3))`, /^PermissionError: \[Errno 13\] Permission denied/],
      [`result = np.savetxt(${JSON.stringify(join(work, 'x.txt'))}, np.ones(3))`, /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = os.open(os.path.expanduser("~/.bashrc"), os.O_WRONLY | os.O_APPEND)', /^PermissionError: \[Errno 13\] Permission denied/],
      // The scratch folder (the working directory) takes no new files: the disk quota is zero files.
      ['result = os.open("new-file", os.O_WRONLY | os.O_CREAT, 0o600)', /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = os.mkdir("d")', /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = os.mkfifo("f")', /^PermissionError: \[Errno (13\] Permission denied|1\] Operation not permitted)/],
      ['result = os.symlink("/etc/passwd", "l")', /^PermissionError: \[Errno 13\] Permission denied/],
    ];
    for (const [body, want] of cases) {
      const got = answer(await run(hostile(body)));
      assert.match(got, want, `${body}: ${got}`);
    }
    assert.equal(existsSync(target), false);
    assert.deepEqual(readdirSync(work).sort(), ['secret.txt']);
  });

  test('processes and exec: fork, posix_spawn, exec, os.system, subprocess, raw syscalls through ctypes: Operation not permitted', async () => {
    const cases: [string, RegExp][] = [
      ['result = os.fork()', /^PermissionError: \[Errno 1\] Operation not permitted/],
      ['result = os.posix_spawn("/bin/sh", ["sh", "-c", "true"], {})', /^PermissionError: \[Errno 1\] Operation not permitted/],
      ['result = os.execv("/bin/sh", ["sh", "-c", "true"])', /^PermissionError: \[Errno 1\] Operation not permitted/],
      ['result = os.system("touch /tmp/valor-pwned")', /NOT BLOCKED: -1|NOT BLOCKED: 32512|PermissionError/],
      // subprocess, reached through numpy's own test helpers.
      ["import operator\nsp = operator.attrgetter('_private.extbuild.subprocess')(np.testing)\nresult = sp.run(['id'])", /^PermissionError: \[Errno 1\] Operation not permitted/],
      // ctypes from numpy's own submodule: raw fork (57) and execve (59) answer -1.
      ['libc = np.ctypeslib.ctypes.CDLL(None, use_errno=True)\nresult = [libc.syscall(57), np.ctypeslib.ctypes.get_errno()]', /NOT BLOCKED: \[-1, 1\]/],
    ];
    for (const [body, want] of cases) {
      assert.match(answer(await run(hostile(body))), want, body);
    }
    assert.equal(existsSync('/tmp/valor-pwned'), false);
  });

  test('network: raw sockets of every family and numpy DataSource reach nothing; a local listener sees no connection', async () => {
    let connections = 0;
    const server: Server = createTcpServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const cases: [string, RegExp][] = [
        [`s = typing.sys.modules['socket']\nresult = s.create_connection(('127.0.0.1', ${port}))`, /^PermissionError: \[Errno 1\] Operation not permitted/],
        ["s = typing.sys.modules['socket']\nresult = s.socket(s.AF_UNIX, s.SOCK_STREAM)", /^PermissionError: \[Errno 1\] Operation not permitted/],
        ["s = typing.sys.modules['socket']\nresult = s.socket(s.AF_INET6, s.SOCK_DGRAM)", /^PermissionError: \[Errno 1\] Operation not permitted/],
        ["s = typing.sys.modules['socket']\nresult = s.socketpair()", /^PermissionError: \[Errno 1\] Operation not permitted/],
        ["s = typing.sys.modules['socket']\nresult = s.socket(16, s.SOCK_RAW, 0)", /^PermissionError: \[Errno 1\] Operation not permitted/],
        // DataSource hides the refused socket behind "not found"; the listener's count shows nothing arrived.
        [`result = np.lib.npyio.DataSource('.').open('http://127.0.0.1:${port}/x.txt').read()`, /^FileNotFoundError: http:\/\/127\.0\.0\.1:\d+\/x\.txt not found/],
      ];
      for (const [body, want] of cases) {
        assert.match(answer(await run(hostile(body))), want, body);
      }
      assert.equal(connections, 0, 'the listener saw a connection');
    } finally {
      server.close();
    }
  });

  test('secrets: the parent processes\' /proc entries (environment, memory, command line) are unreadable; the tool server token never reaches the child', async () => {
    const r = runner({ env: { ...process.env, VALOR_TOOLS_TOKEN: 'tok-should-not-leak', OPENAI_API_KEY: 'sk-should-not-leak' } });
    const cases: [string, RegExp][] = [
      [`result = open('/proc/${process.pid}/environ', 'rb').read()`, /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = open("/proc/%d/environ" % os.getppid(), "rb").read()', /^PermissionError: \[Errno 13\] Permission denied/],
      [`result = open('/proc/${process.pid}/mem', 'rb')`, /^PermissionError: \[Errno 13\] Permission denied/],
      [`result = open('/proc/${process.pid}/cmdline', 'rb').read()`, /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = os.listdir("/proc")', /^PermissionError: \[Errno 13\] Permission denied/],
      ['result = dict(os.environ)', /NOT BLOCKED/],
    ];
    for (const [body, want] of cases) {
      const got = answer(await run(hostile(body.replace(/\bopen\(/g, 'typing.sys.modules["builtins"].open(')), new ScriptedTools(), r));
      assert.match(got, want, body);
      assert.ok(!got.includes('should-not-leak'), `a secret leaked: ${got}`);
    }
  });

  test('outliving the run: setsid, a double fork and signals to other processes are refused; nothing of the run remains', async () => {
    const before = pids.length;
    const cases: [string, RegExp][] = [
      ['result = os.setsid()', /^PermissionError: \[Errno 1\] Operation not permitted/],
      ['pid = os.fork()\nresult = pid', /^PermissionError: \[Errno 1\] Operation not permitted/],
      ['result = os.kill(os.getppid(), 9)', /^PermissionError: \[Errno 1\] Operation not permitted/],
      [`result = os.kill(${process.pid}, 0)`, /^PermissionError: \[Errno 1\] Operation not permitted/],
    ];
    for (const [body, want] of cases) {
      assert.match(answer(await run(hostile(body))), want, body);
    }
    // Every program process of these runs is gone.
    for (const pid of pids.slice(before)) assert.equal(processAlive(pid), false, `program process ${pid} outlived its run`);
    assert.ok(sandboxed.workerPid !== null && processAlive(sandboxed.workerPid), 'the worker survived the kill attempt');
  });

  test('exhausting: a fork bomb gets no second process, a file bomb no file, a memory bomb ends as MemoryLimit', async () => {
    const forkBomb = answer(await run(hostile('n = 0\nwhile n < 100000:\n    os.fork()\n    n += 1\nresult = n')));
    assert.match(forkBomb, /^PermissionError: \[Errno 1\] Operation not permitted/);
    const fileBomb = answer(await run(hostile('n = 0\nwhile n < 100000:\n    os.close(os.open("f%d" % n, os.O_WRONLY | os.O_CREAT, 0o600))\n    n += 1\nresult = n')));
    assert.match(fileBomb, /^PermissionError: \[Errno 13\] Permission denied/);
    // The limits cannot be raised again (capabilities are dropped even when started as root), and
    // memory outside the address-space limit (memfd) is refused.
    const raise = answer(await run(hostile("res = typing.sys.modules['resource']\nresult = res.setrlimit(res.RLIMIT_AS, (res.RLIM_INFINITY, res.RLIM_INFINITY))")));
    assert.match(raise, /^ValueError: not allowed to raise maximum limit/);
    const memfd = answer(await run(hostile("result = os.memfd_create('x')")));
    assert.match(memfd, /^PermissionError: \[Errno 1\] Operation not permitted/);
    const r = runner({ memoryMB: 512 });
    const mem = await r.run({ program: 'keep = []\nwhile True:\n    keep.append(bytearray(10 ** 7))', imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(mem.error?.type, 'MemoryLimit');
    // Big output is cut at its limit (RLIMIT_FSIZE backs the bounded writer).
    const out = await run(hostile("w = os.write\nresult = [w(1, b'x' * 65536) for _ in range(100)]"));
    assert.match(answer(out), /NOT BLOCKED|OSError|File too large/);
    assert.ok(out.stdout.length <= 64 * 1024);
  });

  test('forging protocol messages: a forged done ends the run at once, parallel calls and oversized lines stop it, the answer cap holds', async () => {
    const chan = "import operator\nch = operator.attrgetter('_State.chan')(typing.sys.modules['program'])";
    // A forged `done` is just the program's answer: the process is killed at once, not left running.
    const forged = await run(`import typing\n${chan}\nch.send({'t': 'done', 'ok': True, 'final_answer': 'forged'})\nwhile True:\n    pass`);
    assert.equal(forged.final_answer, 'forged');
    assert.equal(processAlive(pids[pids.length - 1]!), false);
    assert.deepEqual(forged.trace, []);

    // Two calls without waiting for the answer: not what the worker does.
    const parallel = await run(
      `import typing\n${chan}\nm = {'t': 'call', 'tool': 'vqa', 'args': {'img_pth': img_pth, 'bbox': None, 'prompt': 'q'}, 'line': 1, 'variable': None}\nch.send(m)\nch.send(m)\nch.send(m)\nwhile True:\n    pass`,
      new ScriptedTools({ vqa: () => new Promise<string>((r) => setTimeout(() => r('late'), 500)) }),
    );
    assert.equal(parallel.error?.type, 'ProtocolViolation');
    assert.ok(parallel.trace.length <= 1);

    // Nesting that would overflow the host's JSON.stringify (and crash the CLI or the editor) is refused.
    const deep = await run(`import typing\n${chan}\nch.sock.sendall(b'{"t":"call","tool":"vqa","args":{"a":' + b'[' * 400000 + b']' * 400000 + b'},"line":1,"variable":null}\\n')\nwhile True:\n    pass`);
    assert.equal(deep.error?.type, 'ProtocolViolation');
    assert.match(deep.error!.message, /nested deeper than 100 levels/);

    const huge = await run(`import typing\n${chan}\nch.sock.sendall(b'{' + b' ' * (3 * 1024 * 1024))\nwhile True:\n    pass`);
    assert.equal(huge.error?.type, 'ProtocolViolation');
    assert.match(huge.error!.message, /over 2097152 bytes/);

    // A done whose answer is past the 1 MiB cap keeps only a marker.
    const big = await run(`import typing\n${chan}\nch.send({'t': 'done', 'ok': True, 'final_answer': 'x' * (1500 * 1024)})`);
    assert.match(String(big.final_answer), /^<final_answer too large: \d+ bytes of JSON>/);
    assert.ok(String(big.final_answer).length < 10_000);

    // Forged trace entries: the trace is what the parent served, capped in number and size.
    const many = await run('i = 0\nwhile True:\n    depth(img_pth, [0, 0, 1, 1])\n    i += 1');
    assert.equal(many.error?.type, 'ToolCallLimit');
    assert.equal(many.trace.length, 1000);
    const fat = await run("try:\n    gd_detect(img_pth, 'x' * 100000)\nexcept Exception as e:\n    final_answer = type(e).__name__ + ': ' + str(e)");
    assert.match(String(fat.final_answer), /^ValueError: gd_detect: its arguments are \d+ bytes of JSON/);
    assert.deepEqual(Object.keys(fat.trace[0]!.args), ['too_large']);
  });

  test('misusing the tool channel: any path but the run\'s own image (FIFO, /dev/zero, other files) is refused by name, and no tool is called', async () => {
    const fifoDir = mkdtempSync(join(tmpdir(), 'valor-fifo-'));
    try {
      const tools = new ScriptedTools();
      for (const p of ['/etc/passwd', '/dev/zero', join(fifoDir, 'fifo'), SECRET, `${IMG}/../room.png`, 'room.png']) {
        const o = await run(`try:\n    gd_detect(${JSON.stringify(p)}, 'cup')\nexcept Exception as e:\n    final_answer = type(e).__name__ + ': ' + str(e)`, tools);
        assert.match(String(o.final_answer), /^ToolError: gd_detect: img_pth must be the run's own image, passed as given \(the img_pth variable\); got the string/, p);
      }
      assert.equal(tools.calls.length, 0, 'no tool ever saw another path');
      // The run's own image goes through.
      const ok = await run("final_answer = len(gd_detect(img_pth, 'cup'))", tools);
      assert.equal(ok.final_answer, 1);
    } finally {
      rmSync(fifoDir, { recursive: true, force: true });
    }
  });
});

describe('the mode in force', { skip: !LINUX && 'the OS sandbox is Linux only' }, () => {
  test('outcomes record the isolation; with isolation "process" the same attack succeeds (so the tests above can fail)', async () => {
    const o = await run('final_answer = 1');
    assert.equal(o.isolation, 'sandbox');
    const weak = runner({ isolation: 'process' });
    const read = await weak.run({ program: hostile(`result = typing.sys.modules["builtins"].open(${JSON.stringify(SECRET)}).read()`), imagePath: IMG, tools: new ScriptedTools() });
    assert.equal(read.isolation, 'process');
    assert.match(String(read.final_answer), /NOT BLOCKED: 'the-secret-content'/);
  });

  test('with isolation "process" a run that double-forks into a new session still leaves nothing behind', async () => {
    const weak = runner({ isolation: 'process' });
    const o = await weak.run({
      program: [
        'import typing, operator',
        "os = typing.sys.modules['os']",
        "leave = operator.attrgetter('_exit')(os)",
        'r, w = os.pipe()',
        'if os.fork() == 0:',
        '    os.setsid()',
        '    if os.fork() == 0:',
        '        os.write(w, str(os.getpid()).encode())',
        "        typing.sys.modules['time'].sleep(300)",
        '    leave(0)',
        'os.close(w)',
        'final_answer = int(os.read(r, 100))',
      ].join('\n'),
      imagePath: IMG,
      tools: new ScriptedTools(),
    });
    assert.equal(o.isolation, 'process');
    const pid = o.final_answer as number;
    assert.equal(typeof pid, 'number', JSON.stringify(o));
    await eventually(() => !processAlive(pid), 10_000, 'the grandchild in its own session to be killed');
  });

  test('without Landlock the default refuses to run, saying what is missing and how to opt into a weaker mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'valor-nolandlock-'));
    try {
      const wrapper = join(dir, 'python3-without-landlock');
      writeFileSync(wrapper, `#!/bin/sh\nexec python3 ${JSON.stringify(resolve('test/helpers/python_without_landlock.py'))} "$@"\n`);
      chmodSync(wrapper, 0o755);
      for (const warm of [true, false]) {
        const r = runner({ python: wrapper, warm });
        await assert.rejects(
          r.run({ program: 'final_answer = 1', imagePath: IMG, tools: new ScriptedTools() }),
          (err: unknown) =>
            err instanceof RunnerSetupError &&
            err.code === 'sandbox-unavailable' &&
            /missing Landlock/.test(err.message) &&
            /valor\.run\.isolation/.test(err.message) &&
            /--isolation process/.test(err.message),
        );
        const weak = runner({ python: wrapper, warm, isolation: 'process' });
        const o = await weak.run({ program: 'final_answer = 2', imagePath: IMG, tools: new ScriptedTools() });
        assert.equal(o.final_answer, 2);
        assert.equal(o.isolation, 'process');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('ordinary programs still run: numpy maths, an early return, helper functions, tool results', async () => {
    const o = await run(
      [
        'import math, collections, statistics, json, re, random, fractions, decimal, heapq, itertools, functools',
        'a = np.array([[1.0, 2.0], [3.0, 4.0]])',
        'inv = np.linalg.inv(a)',
        'f = np.fft.fft(np.ones(4)).real.tolist()',
        'det = gd_detect(img_pth, "cup, plate")',
        'def centre(b):',
        '    return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)',
        'z = depth(img_pth, det[0]["bbox"])',
        'final_answer = [round(float(inv[0][0]), 3), f, centre(det[1]["bbox"]), z, statistics.mean([1, 2, 3]), json.dumps({"a": 1})]',
        'if z > 1:',
        '    return',
        'final_answer = "not reached"',
      ].join('\n'),
    );
    assert.equal(o.error, null);
    assert.deepEqual(o.final_answer, [-2, [4, 0, 0, 0], [150, 70], 3, 2, '{"a": 1}']);
  });
});
