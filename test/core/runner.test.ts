// The program runner with a real python3 child: what programs see and what comes back
// (trace, answers, errors with program lines, refusals, output capture).
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { ToolServerError } from '../../src/core/toolClient.js';
import { ToolError } from '../../src/core/tools.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';

const IMG = '/images/kitchen.jpg';
let runner: ProgramRunner;

before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

function run(program: string, tools = new ScriptedTools(), extra: { maxStdoutBytes?: number } = {}) {
  return runner.run({ program, imagePath: IMG, tools, ...extra });
}

describe('trace', () => {
  test('records each call with its line, variable, arguments, result and order', async () => {
    const tools = new ScriptedTools({
      gd_detect: (_img, prompt) => (prompt === 'mug'
        ? [{ bbox: [10.4, 20.6, 50, 80], label: 'mug', score: 0.81 }]
        : [{ bbox: [200, 30, 300, 90], label: 'laptop', score: 0.66 }]),
      depth: (_img, bbox) => (bbox[0] < 100 ? 1.25 : 2.5),
      vqa: () => ({ value: 'red', detail: { model: 'test-vlm' } }),
    });
    const program = [
      'mugs = gd_detect(img_pth, "mug")', // 1
      'laptops = gd_detect(img_pth,', // 2
      '                    "laptop")', // 3
      'def near(b):', // 4
      '    return depth(img_pth, b)', // 5
      'd_mug = depth(img_pth, mugs[0]["bbox"]); d_lap = near(laptops[0]["bbox"])', // 6
      'n = len(gd_detect(img_pth, "mug"))', // 7
      'colour = vqa(img_pth, mugs[0]["bbox"], "What colour is the mug?")', // 8
      'final_answer = "left" if mugs[0]["bbox"][0] < laptops[0]["bbox"][0] else "right"', // 9
    ].join('\n');
    const o = await run(program, tools);
    assert.equal(o.error, null);
    assert.equal(o.ok, true);
    assert.equal(o.final_answer, 'left');
    const summary = o.trace.map((e) => [e.index, e.tool, e.line, e.variable]);
    assert.deepEqual(summary, [
      [0, 'gd_detect', 1, 'mugs'],
      [1, 'gd_detect', 2, 'laptops'],
      [2, 'depth', 6, 'd_mug'],
      [3, 'depth', 5, null],
      [4, 'gd_detect', 7, null],
      [5, 'vqa', 8, 'colour'],
    ]);
    assert.deepEqual(o.trace[0]!.args, { img_pth: IMG, prompt: 'mug' });
    // Boxes reach the program as integer pixels.
    assert.deepEqual(o.trace[0]!.result, [{ bbox: [10, 21, 50, 80], label: 'mug', score: 0.81 }]);
    assert.deepEqual(o.trace[2]!.args, { img_pth: IMG, bbox: [10, 21, 50, 80] });
    assert.equal(o.trace[2]!.result, 1.25);
    assert.equal(o.trace[3]!.result, 2.5);
    assert.deepEqual(o.trace[5]!.args, { img_pth: IMG, bbox: [10, 21, 50, 80], prompt: 'What colour is the mug?' });
    assert.equal(o.trace[5]!.result, 'red');
    assert.deepEqual(o.trace[5]!.detail, { model: 'test-vlm' });
    for (const e of o.trace) {
      assert.equal(e.error, null);
      assert.ok(e.ms >= 0);
    }
    assert.deepEqual(tools.calls.map((c) => c.tool), ['gd_detect', 'gd_detect', 'depth', 'depth', 'gd_detect', 'vqa']);
  });

  test('detections are dicts with an int box, label and score; numpy works on them', async () => {
    const tools = new ScriptedTools({ gd_detect: () => [{ bbox: [0.2, 0, 10.7, 20], label: 'cup', score: 0.5 }] });
    const o = await run(
      [
        'd = gd_detect(img_pth, "cup")[0]',
        'b = np.array(d["bbox"])',
        'final_answer = [type(d["bbox"][0]).__name__, d["label"], d["score"], int(b.sum()), float(np.mean(b)), sorted(d.keys())]',
      ].join('\n'),
      tools,
    );
    assert.equal(o.error, null);
    assert.deepEqual(o.final_answer, ['int', 'cup', 0.5, 31, 7.75, ['bbox', 'label', 'score']]);
  });

  test('tool arguments given by keyword reach the tools by name', async () => {
    const tools = new ScriptedTools();
    const o = await run(
      [
        'ds = gd_detect(prompt="chair", img_pth=img_pth)',
        'z = depth(bbox=ds[0]["bbox"], img_pth=img_pth)',
        'a = vqa(img_pth=img_pth, prompt="how many?", bbox=None)',
        'final_answer = a',
      ].join('\n'),
      tools,
    );
    assert.equal(o.error, null);
    assert.deepEqual(o.trace.map((e) => e.args), [
      { img_pth: IMG, prompt: 'chair' },
      { img_pth: IMG, bbox: [10, 20, 90, 120] },
      { img_pth: IMG, bbox: null, prompt: 'how many?' },
    ]);
    assert.deepEqual(tools.calls.map((c) => [c.tool, c.prompt ?? null, c.bbox ?? null]), [
      ['gd_detect', 'chair', null],
      ['depth', null, [10, 20, 90, 120]],
      ['vqa', 'how many?', null],
    ]);
  });
});

describe('results', () => {
  test('a bare top-level return ends the program early with final_answer', async () => {
    const tools = new ScriptedTools({ gd_detect: () => [] });
    const o = await run(
      ['sofas = gd_detect(img_pth, "sofa")', 'if len(sofas) == 0:', '    final_answer = "no"', '    return', 'final_answer = depth(img_pth, sofas[0]["bbox"])'].join('\n'),
      tools,
    );
    assert.equal(o.error, null);
    assert.equal(o.final_answer, 'no');
    assert.equal(o.trace.length, 1);
  });

  test('numpy values, arrays and bools become plain JSON; other objects their repr', async () => {
    const o = await run(
      [
        'class Thing:',
        '    def __repr__(self):',
        '        return "Thing()"',
        'final_answer = {"f": np.float32(1.5), "i": np.int64(7), "b": np.bool_(True), "a": np.arange(3),',
        '                "m": np.array([[1.0, 2.0]]), "t": (1, 2), "nan": float("nan"), "obj": Thing(), 3: "key"}',
      ].join('\n'),
    );
    assert.equal(o.error, null);
    assert.deepEqual(o.final_answer, { f: 1.5, i: 7, b: true, a: [0, 1, 2], m: [[1, 2]], t: [1, 2], nan: 'nan', obj: 'Thing()', '3': 'key' });
  });

  test('final_answer None is an answer; an unset one is NoFinalAnswer', async () => {
    const none = await run('final_answer = None');
    assert.equal(none.ok, true);
    assert.equal(none.final_answer, null);

    const unset = await run('x = 1\nif x:\n    return\nfinal_answer = 2');
    assert.equal(unset.ok, false);
    assert.equal(unset.error?.type, 'NoFinalAnswer');
    assert.match(unset.error!.message, /final_answer/);
  });

  test('math and np are there without importing; whitelisted imports work', async () => {
    const o = await run('import statistics, collections\nfrom itertools import combinations\nfinal_answer = [math.sqrt(16), int(np.max([1, 5])), statistics.median([1, 3, 2]), len(list(combinations([1, 2, 3], 2)))]');
    assert.equal(o.error, null);
    assert.deepEqual(o.final_answer, [4, 5, 2, 3]);
  });

  test('print output is captured', async () => {
    const o = await run('print("hello", 1 + 1)\nfinal_answer = 0');
    assert.equal(o.stdout, 'hello 2\n');
    assert.equal(o.stdout_truncated, false);
  });

  test('megabytes of print are cut at the cap and the run still succeeds', async () => {
    const o = await run('for i in range(120000):\n    print("x" * 99)\nfinal_answer = "done"', undefined, { maxStdoutBytes: 64 * 1024 });
    assert.equal(o.error, null);
    assert.equal(o.final_answer, 'done');
    assert.equal(o.stdout_truncated, true);
    assert.ok(Buffer.byteLength(o.stdout) <= 64 * 1024);
    assert.ok(o.stdout.startsWith('x'.repeat(99) + '\n'));
  });
});

describe('errors', () => {
  test('a runtime error names its type, message and program line, with a traceback of program frames only', async () => {
    const o = await run(['def ratio(a, b):', '    return a / b', '', 'x = 4', 'final_answer = ratio(x, 0)'].join('\n'));
    assert.equal(o.ok, false);
    assert.equal(o.error?.type, 'ZeroDivisionError');
    assert.equal(o.error?.message, 'division by zero');
    assert.equal(o.error?.line, 2);
    const tb = o.error!.traceback!;
    assert.match(tb, /line 5, in <program>\n {4}final_answer = ratio\(x, 0\)/);
    assert.match(tb, /line 2, in ratio\n {4}return a \/ b/);
    assert.match(tb, /ZeroDivisionError: division by zero$/);
    assert.doesNotMatch(tb, /<string>|__valor|_run_program|exec\(/);
  });

  test('a syntax error comes back as SyntaxError with the program line and column', async () => {
    const o = await run('a = 1\nb = (2,\nc = 3 +\n');
    assert.equal(o.ok, false);
    assert.equal(o.error?.type, 'SyntaxError');
    assert.equal(typeof o.error?.line, 'number');
    assert.ok(o.error!.line! >= 2 && o.error!.line! <= 4, `line ${o.error!.line}`);
    assert.match(o.error!.message, /line \d+, column \d+/);
    assert.equal(o.trace.length, 0);

    const indent = await run('x = 1\n  y = 2\nfinal_answer = x');
    assert.equal(indent.error?.type, 'SyntaxError');
    assert.equal(indent.error?.line, 2);
  });

  test('a tool error becomes a Python exception on the call line, catchable by the program', async () => {
    const tools = new ScriptedTools({
      depth: () => {
        throw new ToolError('the box is outside the image', 'ValueError');
      },
      vqa: () => {
        throw new ToolError('the VQA endpoint answered 503', 'ServiceUnavailable');
      },
    });
    const caught = await run(
      [
        'try:',
        '    z = depth(img_pth, [0, 0, 9999, 9999])',
        'except ValueError as e:',
        '    z = "caught: " + str(e)',
        'try:',
        '    v = vqa(img_pth, None, "q")',
        'except Exception as e:',
        '    v = type(e).__name__',
        'final_answer = [z, v]',
      ].join('\n'),
      tools,
    );
    assert.equal(caught.error, null);
    assert.deepEqual(caught.final_answer, ['caught: the box is outside the image', 'ServiceUnavailable']);
    assert.deepEqual(caught.trace[0]!.error, { type: 'ValueError', message: 'the box is outside the image' });
    assert.equal(caught.trace[0]!.result, null);

    const uncaught = await run('x = 1\nv = vqa(img_pth, None, "q")\nfinal_answer = v', tools);
    assert.equal(uncaught.error?.type, 'ServiceUnavailable');
    assert.equal(uncaught.error?.message, 'the VQA endpoint answered 503');
    assert.equal(uncaught.error?.line, 2);
    assert.doesNotMatch(uncaught.error!.traceback!, /_tool_call|<string>/);
  });

  test('an unexpected rejection from a tool is a ToolError in the program', async () => {
    const tools = new ScriptedTools({
      gd_detect: () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      },
    });
    const o = await run('a = 0\nd = gd_detect(img_pth, "cup")\nfinal_answer = d', tools);
    assert.equal(o.error?.type, 'ToolError');
    assert.match(o.error!.message, /ECONNREFUSED/);
    assert.equal(o.error?.line, 2);
  });

  test('a call the tool server itself failed is marked tool_server on its trace entry; a refused call is not', async () => {
    const tools = new ScriptedTools({
      gd_detect: () => {
        throw new ToolServerError('cannot reach the tool server at http://127.0.0.1:1 (ECONNREFUSED)', undefined, 'unreachable');
      },
      depth: () => {
        throw new ToolError('the box is outside the image', 'ValueError');
      },
    });
    const o = await run('try:\n    z = depth(img_pth, [0, 0, 9, 9])\nexcept ValueError:\n    z = 0\nd = gd_detect(img_pth, "cup")\nfinal_answer = d', tools);
    assert.equal(o.error?.type, 'ToolError');
    assert.equal(o.trace[0]!.error?.tool_server, undefined);
    assert.equal(o.trace[1]!.error?.tool_server, true);
    assert.equal(o.trace[1]!.error?.type, 'ToolError');
  });

  test('bad tool arguments fail the same way whatever the tools, with a message that says what to pass', async () => {
    const tools = new ScriptedTools();
    const o = await run('d = gd_detect(img_pth, "cup")[0]\nz = depth(img_pth, d)\nfinal_answer = z', tools);
    assert.equal(o.error?.type, 'TypeError');
    assert.equal(o.error?.line, 2);
    assert.match(o.error!.message, /bbox must be a list of 4 numbers.*det\['bbox'\]/);
    assert.equal(tools.calls.filter((c) => c.tool === 'depth').length, 0, 'a bad call never reaches the tool');

    const kw = await run('z = depth(img_pth, box=[1, 2, 3, 4])\nfinal_answer = z', tools);
    assert.equal(kw.error?.type, 'TypeError');
    assert.match(kw.error!.message, /unexpected keyword argument 'box'/);
    assert.equal(kw.error?.line, 1);
  });
});

describe('refusals', () => {
  test('import os is refused on its line and nothing runs', async () => {
    const marker = `/tmp/valor-runner-test-${process.pid}-pwned`;
    rmSync(marker, { force: true });
    const o = await run(`x = 1\nimport os\nos.system("touch ${marker}")\nfinal_answer = 1`);
    assert.equal(o.error?.type, 'ImportError');
    assert.match(o.error!.message, /module 'os' is not available to VALOR programs/);
    assert.equal(o.error?.line, 2);
    assert.equal(existsSync(marker), false);

    for (const [program, line] of [
      ['from subprocess import run', 1],
      ['import numpy\nimport socket', 2],
      ['m = __import__("os")', 1],
    ] as const) {
      const r = await run(program);
      assert.equal(r.error?.type, 'ImportError', program);
      assert.equal(r.error?.line, line, program);
    }
  });

  test('open, eval, exec, compile and input are not there', async () => {
    for (const name of ['open("/etc/passwd")', 'eval("1")', 'exec("x = 1")', 'compile("1", "f", "eval")', 'input()', 'breakpoint()']) {
      const o = await run(`a = 1\nb = ${name}\nfinal_answer = b`);
      assert.equal(o.error?.type, 'NameError', name);
      assert.equal(o.error?.line, 2, name);
    }
  });

  test('introspection paths to the worker are refused', async () => {
    const stat = await run('import random\nx = random._os');
    assert.equal(stat.error?.type, 'ForbiddenAttribute');
    assert.equal(stat.error?.line, 2);
    const dyn = await run('import random\nx = getattr(random, "_" + "os")');
    assert.equal(dyn.error?.type, 'AttributeError');
    assert.equal(dyn.error?.line, 2);
    const frame = await run('g = (i for i in [1])\nf = g.gi_frame');
    assert.equal(frame.error?.type, 'ForbiddenAttribute');
  });

  test('reassigning img_pth is detected and reported on its line', async () => {
    const tools = new ScriptedTools();
    for (const [program, line] of [
      ['x = 1\nimg_pth = "other.jpg"\nfinal_answer = gd_detect(img_pth, "cup")', 2],
      ['for img_pth in ["a", "b"]:\n    pass\nfinal_answer = 1', 1],
      ['x = 1\nif x:\n    img_pth += "x"\nfinal_answer = 1', 3],
      ['def f():\n    nonlocal_dummy = 1\n    return 1\n(img_pth := "z")\nfinal_answer = 1', 4],
    ] as const) {
      const o = await run(program, tools);
      assert.equal(o.ok, false, program);
      assert.equal(o.img_pth_reassigned, true, program);
      assert.equal(o.error?.type, 'ImgPthReassigned', program);
      assert.equal(o.error?.line, line, program);
    }
    assert.equal(tools.calls.length, 0, 'a program that reassigns img_pth is not run');

    const fine = await run('path = img_pth\nfinal_answer = path == img_pth');
    assert.equal(fine.img_pth_reassigned, false);
    assert.equal(fine.final_answer, true);
  });

  test('exit() and SystemExit end the program as errors, not the worker', async () => {
    const o = await run('x = 1\nraise SystemExit(3)');
    assert.equal(o.error?.type, 'SystemExit');
    assert.equal(o.error?.line, 2);
    const again = await run('final_answer = 5');
    assert.equal(again.final_answer, 5);
  });
});
