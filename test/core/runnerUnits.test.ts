// The runner's pure TypeScript parts in-process, without a python child: the checks and caps on
// what a program's process sends (childLimits.ts, wire.ts), a tool call's arguments, answer and
// trace entry (dispatch.ts, toolCall.ts), the environment programs get (env.ts) and what a
// finished run reports (runOutcome.ts). runner.test.ts and runnerLimits.test.ts drive the same
// code through real python3 children; this file pins the edges with values worked out by hand.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CallMessage, DoneMessage } from '../../src/protocol/programWire.js';
import type { TraceEntry } from '../../src/protocol/run.js';
import { CHILD_LIMITS, boundedAnswer, boundedError, depthWithin } from '../../src/core/runner/childLimits.js';
import { dispatch } from '../../src/core/runner/dispatch.js';
import { programEnv } from '../../src/core/runner/env.js';
import { readStdout, runOutcome, type FinishedRun } from '../../src/core/runner/runOutcome.js';
import { answerCall, recordAnswer, traceEntryFor } from '../../src/core/runner/toolCall.js';
import { lineSplitter } from '../../src/core/runner/wire.js';
import { ToolServerError } from '../../src/core/toolClient.js';
import { ToolError, type Tools } from '../../src/core/tools.js';

const IMG = '/data/desk.png';
const signal = new AbortController().signal;

/** Tools that record their calls and answer with what the test gives. */
function fakeTools(answers: { detect?: unknown; depth?: unknown; vqa?: unknown; detail?: TraceEntry['detail']; fail?: unknown } = {}): { tools: Tools; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const answer = async (v: unknown) => {
    if (answers.fail !== undefined) throw answers.fail;
    return { value: v, ...(answers.detail ? { detail: answers.detail } : {}) } as never;
  };
  return {
    calls,
    tools: {
      gd_detect: (img, prompt, s) => (calls.push(['gd_detect', img, prompt, s]), answer('detect' in answers ? answers.detect : [])),
      depth: (img, bbox, s) => (calls.push(['depth', img, bbox, s]), answer('depth' in answers ? answers.depth : 1)),
      vqa: (img, bbox, prompt, s) => (calls.push(['vqa', img, bbox, prompt, s]), answer('vqa' in answers ? answers.vqa : 'yes')),
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<{ type: string; message: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ToolError, `not a ToolError: ${String(e)}`);
    return { type: e.type, message: e.message };
  }
  assert.fail('accepted');
}

// ------------------------------------------------------------------ dispatch

test('dispatch: a detection call gets integer pixel boxes, the label and the score; the detail is kept', async () => {
  const { tools, calls } = fakeTools({
    detect: [
      { bbox: [1.4, 2.5, 3.6, 9.49], label: 'mug', score: 0.8 },
      { bbox: [10, 20, 30, 40], label: 'cup', score: 0.4 },
    ],
    detail: { box_threshold: 0.35 },
  });
  const r = await dispatch(tools, 'gd_detect', { img_pth: IMG, prompt: 'mug, cup' }, signal, IMG);
  assert.deepEqual(r, {
    value: [
      { bbox: [1, 3, 4, 9], label: 'mug', score: 0.8 },
      { bbox: [10, 20, 30, 40], label: 'cup', score: 0.4 },
    ],
    detail: { box_threshold: 0.35 },
  });
  assert.deepEqual(calls, [['gd_detect', IMG, 'mug, cup', signal]]);
  const plain = await dispatch(fakeTools({ detect: [] }).tools, 'gd_detect', { img_pth: IMG, prompt: 'x' }, signal, IMG);
  assert.deepEqual(plain, { value: [] });
  assert.equal('detail' in plain, false, 'no detail recorded: none in the answer');
});

test('dispatch: a detection answer of the wrong shape is a tool error, not passed to the program', async () => {
  for (const bad of [{ bbox: [1, 2, 3, 4] }, [{ bbox: [1, 2, 3], label: 'a', score: 1 }], [{ bbox: [1, 2, 3, 4], label: 'a' }], 'nothing']) {
    assert.deepEqual(await refusal(dispatch(fakeTools({ detect: bad }).tools, 'gd_detect', { img_pth: IMG, prompt: 'x' }, signal, IMG)), {
      type: 'ToolError',
      message: 'gd_detect: the tool returned detections of the wrong shape (expected a list of {bbox, label, score})',
    });
  }
});

test("dispatch: img_pth must be a string and exactly the run's own image", async () => {
  const { tools, calls } = fakeTools();
  assert.deepEqual(await refusal(dispatch(tools, 'gd_detect', { img_pth: 3, prompt: 'x' }, signal, IMG)), {
    type: 'TypeError',
    message: 'gd_detect: img_pth must be a string, got the number 3',
  });
  assert.deepEqual(await refusal(dispatch(tools, 'depth', { img_pth: '/etc/passwd', bbox: [0, 0, 1, 1] }, signal, IMG)), {
    type: 'ToolError',
    message: `depth: img_pth must be the run's own image, passed as given (the img_pth variable); got the string "/etc/passwd". Tools read no other file`,
  });
  assert.deepEqual(await refusal(dispatch(tools, 'vqa', { img_pth: `${IMG} `, bbox: null, prompt: 'q' }, signal, IMG)), {
    type: 'ToolError',
    message: `vqa: img_pth must be the run's own image, passed as given (the img_pth variable); got the string "${IMG} ". Tools read no other file`,
  });
  assert.deepEqual(calls, [], 'no tool was called');
});

test('dispatch: prompts must be strings', async () => {
  const { tools } = fakeTools();
  assert.deepEqual(await refusal(dispatch(tools, 'gd_detect', { img_pth: IMG, prompt: ['mug'] }, signal, IMG)), {
    type: 'TypeError',
    message: 'gd_detect: prompt must be a string, got a list of 1 item',
  });
  assert.deepEqual(await refusal(dispatch(tools, 'vqa', { img_pth: IMG, bbox: null }, signal, IMG)), {
    type: 'TypeError',
    message: 'vqa: prompt must be a string, got undefined undefined',
  });
});

test('dispatch: a depth call needs a box of 4 finite numbers, and its answer must be a finite number', async () => {
  const { tools, calls } = fakeTools({ depth: 2.75, detail: { region: [1, 1, 2, 2] } });
  assert.deepEqual(await dispatch(tools, 'depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, signal, IMG), { value: 2.75, detail: { region: [1, 1, 2, 2] } });
  assert.deepEqual(calls, [['depth', IMG, [1, 2, 3, 4], signal]]);
  const say = 'depth: bbox must be a list of 4 numbers [x1, y1, x2, y2], got';
  for (const [bbox, got] of [
    [null, 'None'],
    [[1, 2, 3], 'a list of 3 items'],
    [[], 'a list of 0 items'],
    [[1, 2, 3, 4, 5], 'a list of 5 items'],
    [[1, 2, 3, Number.NaN], 'a list of 4 items'],
    [[1, 2, Number.POSITIVE_INFINITY, 4], 'a list of 4 items'],
    [[1, '2', 3, 4], 'a list of 4 items'],
    [{ a: 1, b: 2 }, 'a dict with keys a, b'],
    [{}, 'a dict with keys (none)'],
    [5, 'the number 5'],
    [true, 'boolean true'],
    ['0, 0, 1, 1', 'the string "0, 0, 1, 1"'],
  ] as const) {
    assert.deepEqual(await refusal(dispatch(tools, 'depth', { img_pth: IMG, bbox }, signal, IMG)), { type: 'TypeError', message: `${say} ${got}` }, JSON.stringify(bbox));
  }
  // A whole detection passed where its box belongs: the message says what to pass.
  assert.deepEqual(await refusal(dispatch(tools, 'depth', { img_pth: IMG, bbox: { bbox: [1, 2, 3, 4], label: 'mug', score: 1 } }, signal, IMG)), {
    type: 'TypeError',
    message: `${say} a dict with keys bbox, label, score; this looks like a whole detection: pass its box, e.g. det['bbox']`,
  });
  // A long string is shown cut at 60 characters; 60 exactly is shown whole.
  const s60 = 'a'.repeat(60);
  assert.equal((await refusal(dispatch(tools, 'depth', { img_pth: IMG, bbox: s60 }, signal, IMG))).message, `${say} the string "${s60}"`);
  assert.equal((await refusal(dispatch(tools, 'depth', { img_pth: IMG, bbox: `${s60}b` }, signal, IMG))).message, `${say} the string "${s60}..."`);
  for (const [value, got] of [
    [Number.NaN, 'the number NaN'],
    [Number.POSITIVE_INFINITY, 'the number Infinity'],
    ['1.5', 'the string "1.5"'],
    [null, 'None'],
  ] as const) {
    assert.deepEqual(await refusal(dispatch(fakeTools({ depth: value }).tools, 'depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, signal, IMG)), {
      type: 'ToolError',
      message: `depth: the tool returned ${got} instead of a finite number`,
    });
  }
  assert.deepEqual(await dispatch(fakeTools({ depth: 0 }).tools, 'depth', { img_pth: IMG, bbox: [1, 2, 3, 4] }, signal, IMG), { value: 0 });
});

test('dispatch: a VQA call takes a box or None (the whole image), and its answer must be a string', async () => {
  const { tools, calls } = fakeTools({ vqa: 'red' });
  assert.deepEqual(await dispatch(tools, 'vqa', { img_pth: IMG, bbox: null, prompt: 'colour?' }, signal, IMG), { value: 'red' });
  assert.deepEqual(await dispatch(tools, 'vqa', { img_pth: IMG, bbox: [0, 0, 5, 5], prompt: 'colour?' }, signal, IMG), { value: 'red' });
  assert.deepEqual(calls, [
    ['vqa', IMG, null, 'colour?', signal],
    ['vqa', IMG, [0, 0, 5, 5], 'colour?', signal],
  ]);
  assert.deepEqual(await refusal(dispatch(tools, 'vqa', { img_pth: IMG, bbox: [0, 0, 5], prompt: 'q' }, signal, IMG)), {
    type: 'TypeError',
    message: 'vqa: bbox must be a list of 4 numbers [x1, y1, x2, y2] or None (whole image), got a list of 3 items',
  });
  assert.deepEqual(await refusal(dispatch(fakeTools({ vqa: 3 }).tools, 'vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, signal, IMG)), {
    type: 'ToolError',
    message: 'vqa: the tool returned the number 3 instead of a string',
  });
  assert.deepEqual(await refusal(dispatch(fakeTools({ vqa: ['a', 'b'] }).tools, 'vqa', { img_pth: IMG, bbox: null, prompt: 'q' }, signal, IMG)), {
    type: 'ToolError',
    message: 'vqa: the tool returned a list of 2 items instead of a string',
  });
});

// ------------------------------------------------------------------ toolCall

function callMsg(over: Partial<CallMessage> = {}): CallMessage {
  return { t: 'call', tool: 'depth', args: { img_pth: IMG, bbox: [1, 2, 3, 4] }, line: 3, variable: 'd', ...over };
}

test('toolCall: the trace entry keeps the call, a variable name of at most 200 characters, arguments of at most 64 KiB of JSON', () => {
  assert.deepEqual(traceEntryFor(callMsg(), 4), {
    entry: { index: 4, tool: 'depth', line: 3, variable: 'd', args: { img_pth: IMG, bbox: [1, 2, 3, 4] }, result: null, error: null, ms: 0 },
    argsBytes: null,
  });
  assert.equal(traceEntryFor(callMsg({ variable: 'v'.repeat(200) }), 0).entry.variable, 'v'.repeat(200));
  assert.equal(traceEntryFor(callMsg({ variable: 'v'.repeat(201) }), 0).entry.variable, null);
  assert.equal(traceEntryFor(callMsg({ variable: null }), 0).entry.variable, null);
  // {"prompt":"..."} is 13 characters around the text: 65,523 characters of prompt make exactly 65,536.
  const at = traceEntryFor(callMsg({ args: { prompt: 'x'.repeat(65_523) } }), 0);
  assert.equal(at.argsBytes, null);
  assert.equal((at.entry.args['prompt'] as string).length, 65_523);
  const over = traceEntryFor(callMsg({ args: { prompt: 'x'.repeat(65_524) } }), 1);
  assert.equal(over.argsBytes, 65_537);
  assert.deepEqual(over.entry.args, { too_large: '65537 bytes of JSON' });
});

test('toolCall: the answer of a call, and every failure as the error the program receives', async () => {
  const ok = await answerCall(fakeTools({ depth: 1.25 }).tools, callMsg(), null, signal, IMG);
  assert.deepEqual(ok, { ok: true, r: { value: 1.25 } });
  const { tools, calls } = fakeTools();
  assert.deepEqual(await answerCall(tools, callMsg({ tool: 'gd_detect' }), 70_000, signal, IMG), {
    ok: false,
    type: 'ValueError',
    message: 'gd_detect: its arguments are 70000 bytes of JSON; a tool call takes at most 65536 (pass img_pth, a short prompt and a box)',
    outage: false,
  });
  assert.deepEqual(calls, [], 'arguments over the cap: the tool is not called');
  assert.deepEqual(await answerCall(fakeTools({ fail: new ToolError('no such phrase', 'ValueError') }).tools, callMsg(), null, signal, IMG), {
    ok: false,
    type: 'ValueError',
    message: 'no such phrase',
    outage: false,
  });
  assert.deepEqual(await answerCall(fakeTools({ fail: new ToolServerError('tool server unreachable', 503) }).tools, callMsg(), null, signal, IMG), {
    ok: false,
    type: 'ToolError',
    message: 'tool server unreachable',
    outage: true,
  });
  assert.deepEqual(await answerCall(fakeTools({ fail: new RangeError('boom') }).tools, callMsg(), null, signal, IMG), { ok: false, type: 'ToolError', message: 'boom', outage: false });
  assert.deepEqual(await answerCall(fakeTools({ fail: 'a string' }).tools, callMsg(), null, signal, IMG), { ok: false, type: 'ToolError', message: 'a string', outage: false });
  // A refused argument is the same kind of answer.
  assert.deepEqual(await answerCall(tools, callMsg({ args: { img_pth: IMG, bbox: null } }), null, signal, IMG), {
    ok: false,
    type: 'TypeError',
    message: 'depth: bbox must be a list of 4 numbers [x1, y1, x2, y2], got None',
    outage: false,
  });
});

test('toolCall: recording an answer fills the entry and gives the result line for the program', () => {
  const { entry } = traceEntryFor(callMsg(), 0);
  const line = recordAnswer(entry, { ok: true, r: { value: 2.5, detail: { region: [1, 1, 2, 2] } } }, 42);
  assert.equal(line, '{"t":"result","ok":true,"value":2.5}\n');
  assert.equal(entry.ms, 42);
  assert.equal(entry.result, 2.5);
  assert.deepEqual(entry.detail, { region: [1, 1, 2, 2] });
  assert.equal(entry.error, null);
  const plain = traceEntryFor(callMsg(), 1).entry;
  recordAnswer(plain, { ok: true, r: { value: [] } }, 1);
  assert.equal('detail' in plain, false);
  const failed = traceEntryFor(callMsg(), 2).entry;
  assert.equal(recordAnswer(failed, { ok: false, type: 'ValueError', message: 'bad box', outage: false }, 7), '{"t":"result","ok":false,"type":"ValueError","message":"bad box"}\n');
  assert.deepEqual(failed.error, { type: 'ValueError', message: 'bad box' });
  assert.equal(failed.ms, 7);
  assert.equal(failed.result, null);
  const outage = traceEntryFor(callMsg(), 3).entry;
  assert.equal(recordAnswer(outage, { ok: false, type: 'ToolError', message: 'down', outage: true }, 1), '{"t":"result","ok":false,"type":"ToolError","message":"down"}\n');
  assert.deepEqual(outage.error, { type: 'ToolError', message: 'down', tool_server: true }, 'an outage is marked as one in the trace');
});

// ------------------------------------------------------------------ childLimits

test('childLimits: the caps on what a program sends', () => {
  assert.deepEqual(CHILD_LIMITS, {
    maxLine: 2_097_152,
    maxToolCalls: 1000,
    maxCallArgs: 65_536,
    maxAnswerJson: 1_048_576,
    maxErrorMessage: 8192,
    maxTraceback: 65_536,
    maxVariable: 200,
    maxDepth: 100,
  });
});

test('childLimits: depthWithin counts nesting of arrays and objects only', () => {
  assert.equal(depthWithin(5, 0), true);
  assert.equal(depthWithin(null, 0), true);
  assert.equal(depthWithin('deep', 0), true);
  assert.equal(depthWithin([], 0), false);
  assert.equal(depthWithin([], 1), true);
  assert.equal(depthWithin([[1]], 1), false);
  assert.equal(depthWithin([[1]], 2), true);
  assert.equal(depthWithin([1, null, 'x'], 1), true, 'scalars and null inside add no level');
  assert.equal(depthWithin({ a: { b: {} } }, 2), false);
  assert.equal(depthWithin({ a: { b: {} } }, 3), true);
  assert.equal(depthWithin([1, { a: [2, [3]] }], 3), false);
  assert.equal(depthWithin([1, { a: [2, [3]] }], 4), true);
  // The deepest branch counts, not the first or the last.
  assert.equal(depthWithin([[], [[[]]], []], 3), false);
  assert.equal(depthWithin([[], [[[]]], []], 4), true);
  let v: unknown = 1;
  for (let i = 0; i < 100; i++) v = [v];
  assert.equal(depthWithin(v, 100), true, '100 levels at the cap of 100');
  assert.equal(depthWithin([v], 100), false);
});

test('childLimits: an answer is kept as given up to 1 MiB of JSON, else a marker with its start', () => {
  const value = { answer: 'yes', n: [1, 2] };
  assert.equal(boundedAnswer(value), value);
  assert.equal(boundedAnswer(undefined), null);
  assert.equal(boundedAnswer(() => 1), null);
  const loop: Record<string, unknown> = {};
  loop['self'] = loop;
  assert.equal(boundedAnswer(loop), '<final_answer could not be read>');
  assert.equal(boundedAnswer(1n), '<final_answer could not be read>');
  // A string's JSON is two characters longer than the string.
  const atCap = 'x'.repeat(1_048_574);
  assert.equal(boundedAnswer(atCap), atCap);
  const over = 'y'.repeat(1_048_575);
  assert.equal(boundedAnswer(over), `<final_answer too large: 1048577 bytes of JSON> "${'y'.repeat(4095)}`);
});

test('childLimits: error texts are cut to their caps, saying how much was cut', () => {
  assert.equal(boundedError(null), null);
  assert.equal(boundedError(undefined), null);
  assert.deepEqual(boundedError({ type: 'ValueError', message: 'bad', line: 3 }), { type: 'ValueError', message: 'bad', line: 3 });
  assert.deepEqual(boundedError({ type: 'E', message: 'm', line: null, traceback: 'tb' }), { type: 'E', message: 'm', line: null, traceback: 'tb' });
  const e = boundedError({ type: 'T'.repeat(101), message: 'm'.repeat(8192 + 5), line: 1, traceback: 't'.repeat(65_536 + 10) })!;
  assert.equal(e.type, `${'T'.repeat(100)}… (1 more characters cut by the runner)`);
  assert.equal(e.message, `${'m'.repeat(8192)}… (5 more characters cut by the runner)`);
  assert.equal(e.traceback, `${'t'.repeat(65_536)}… (10 more characters cut by the runner)`);
  const exact = boundedError({ type: 'T'.repeat(100), message: 'm'.repeat(8192), line: 1, traceback: 't'.repeat(65_536) })!;
  assert.deepEqual([exact.type.length, exact.message.length, exact.traceback?.length], [100, 8192, 65_536]);
});

// ------------------------------------------------------------------ wire

test('wire: lines are split across chunks, blank lines skipped, a line over the cap dropped with a notice', () => {
  const lines: string[] = [];
  let overflows = 0;
  const feed = lineSplitter(
    (l) => lines.push(l),
    () => overflows++,
    5,
  );
  feed('\nab');
  feed(Buffer.from('c\n \n\t\n d \n'));
  assert.deepEqual(lines, ['abc', ' d '], 'a line at the very start of a chunk, one split over two chunks; not trimmed');
  feed('abcde');
  assert.equal(overflows, 0, 'five characters buffered: at the cap, not over');
  feed('\n');
  assert.deepEqual(lines, ['abc', ' d ', 'abcde']);
  feed('xy\nabcdef');
  assert.equal(overflows, 1);
  assert.deepEqual(lines, ['abc', ' d ', 'abcde', 'xy'], 'the lines before it still arrive');
  feed('gh\n');
  assert.deepEqual(lines.at(-1), 'gh', 'the overlong part was dropped, the next line is whole');
  feed('1\n2\n3\n');
  assert.deepEqual(lines.slice(-3), ['1', '2', '3']);
  assert.equal(overflows, 1);
});

test('wire: a line in many pieces is joined in order, and the pieces count together toward the cap', () => {
  const lines: string[] = [];
  let overflows = 0;
  const feed = lineSplitter(
    (l) => lines.push(l),
    () => overflows++,
    5,
  );
  for (const piece of ['a', 'b', 'c', 'd', 'e']) feed(piece);
  assert.equal(overflows, 0, 'five one-character pieces: at the cap');
  feed('\nf');
  assert.deepEqual(lines, ['abcde']);
  feed('gh');
  feed('ijk');
  assert.equal(overflows, 1, 'f + gh + ijk is six characters still open');
  feed('l\n');
  assert.deepEqual(lines, ['abcde', 'l'], 'what was open when the cap was passed is dropped');
});

test('wire: by default a line may be long', () => {
  const lines: string[] = [];
  let overflows = 0;
  const feed = lineSplitter(
    (l) => lines.push(l),
    () => overflows++,
  );
  feed('z'.repeat(3_000_000));
  feed('\n');
  assert.equal(overflows, 0);
  assert.equal(lines[0]?.length, 3_000_000);
});

// ------------------------------------------------------------------ env

test('env: programs get the allow-listed essentials minus anything named like a credential, plus one-thread settings', () => {
  const env = programEnv({
    PATH: '/usr/bin',
    home: '/home/u',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    LC_AUTH_TOKEN: 'x',
    LC_SESSION: 'y',
    PYTHONPATH: '/lib',
    OPENAI_API_KEY: 'sk',
    VALOR_TOOLS_TOKEN: 't',
    AWS_SECRET_ACCESS_KEY: 's',
    PATHX: '1',
    XPATH: '2',
    EDITOR: 'vi',
    TMPDIR: undefined,
    PYTHONHASHSEED: 'random',
    OMP_NUM_THREADS: '16',
  });
  assert.deepEqual(env, {
    PATH: '/usr/bin',
    home: '/home/u',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    PYTHONPATH: '/lib',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
    PYTHONHASHSEED: '0',
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
    MKL_NUM_THREADS: '1',
    NUMEXPR_NUM_THREADS: '1',
  });
  // Every name on the allow-list passes; each credential-like word stops even an allow-listed name.
  const kept = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TEMP', 'TMP', 'PYTHONHOME', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'CONDA_DEFAULT_ENV', 'LD_LIBRARY_PATH', 'DYLD_LIBRARY_PATH', 'SYSTEMROOT', 'WINDIR', 'COMSPEC', 'PATHEXT'];
  const all = programEnv(Object.fromEntries(kept.map((k) => [k, 'v'])));
  for (const k of kept) assert.equal(all[k], 'v', k);
  const words = ['KEY', 'TOKEN', 'SECRET', 'PASSWORD', 'PASSWD', 'CREDENTIAL', 'AUTH', 'COOKIE', 'SESSION'];
  const none = programEnv(Object.fromEntries(words.map((w) => [`LC_${w}`, 'v'])));
  assert.deepEqual(Object.keys(none).filter((k) => k.startsWith('LC_')), []);
  assert.equal(programEnv({ LC_token: 'v' })['LC_token'], undefined, 'case does not matter');
  assert.equal(programEnv()['PATH'], process.env['PATH'], "by default, this process's environment");
});

// ------------------------------------------------------------------ runOutcome

function finished(over: Partial<FinishedRun> = {}): FinishedRun {
  return { done: null, verdict: null, trace: [], stdout: { text: 'out', truncated: false }, ms: 12, isolation: 'sandbox', lineTrace: false, ...over };
}

function done(over: Partial<DoneMessage> = {}): DoneMessage {
  return { t: 'done', ok: true, final_answer: 'yes', ...over };
}

const TRACE_OK = { version: 1, statement_lines: [1], lines: [[1, 1]], steps: [{ line: 1, hit: 1 }], dropped_steps: 0, truncated: false, max_hits_kept: 3 };

test('runOutcome: a run that sent done reports its answer, error and flags', () => {
  assert.deepEqual(runOutcome(finished({ done: done() })), {
    ok: true,
    final_answer: 'yes',
    error: null,
    trace: [],
    stdout: 'out',
    stdout_truncated: false,
    img_pth_reassigned: false,
    ms: 12,
    isolation: 'sandbox',
  });
  const err = { type: 'ZeroDivisionError', message: 'division by zero', line: 4 };
  const failed = runOutcome(finished({ done: done({ ok: false, error: err, final_answer: 'ignored' }) }));
  assert.equal(failed.ok, false);
  assert.equal(failed.final_answer, null, 'a failed program has no answer');
  assert.deepEqual(failed.error, err);
  const okWithError = runOutcome(finished({ done: done({ ok: true, error: err }) }));
  assert.equal(okWithError.ok, false, 'an error makes the run not ok even if ok was sent');
  assert.equal(runOutcome(finished({ done: done({ final_answer: undefined }) })).final_answer, null);
  assert.equal(runOutcome(finished({ done: done({ final_answer: 0 }) })).final_answer, 0);
  assert.equal(runOutcome(finished({ done: done({ final_answer: false }) })).final_answer, false);
  assert.equal(runOutcome(finished({ done: done({ stdout_truncated: true }) })).stdout_truncated, true);
  assert.equal(runOutcome(finished({ done: done(), stdout: { text: '', truncated: true } })).stdout_truncated, true);
  assert.equal(runOutcome(finished({ done: done({ img_pth_reassigned: true }) })).img_pth_reassigned, true);
  assert.equal(runOutcome(finished({ done: done(), isolation: 'process', ms: 99 })).isolation, 'process');
});

test('runOutcome: the line trace only when asked for and well formed', () => {
  assert.deepEqual(runOutcome(finished({ done: done({ line_trace: TRACE_OK }), lineTrace: true })).line_trace, TRACE_OK);
  assert.equal('line_trace' in runOutcome(finished({ done: done({ line_trace: TRACE_OK }), lineTrace: false })), false);
  assert.equal('line_trace' in runOutcome(finished({ done: done({ line_trace: { version: 2 } }), lineTrace: true })), false);
  assert.equal('line_trace' in runOutcome(finished({ done: done(), lineTrace: true })), false);
});

test("runOutcome: a run that ended without done reports the runner's verdict, or a crash", () => {
  const timeout = { type: 'Timeout', message: 'over 10 s', line: null };
  const entry: TraceEntry = { index: 0, tool: 'depth', line: 1, args: {}, result: 1, ms: 1 };
  assert.deepEqual(runOutcome(finished({ verdict: { error: timeout }, trace: [entry], stdout: { text: 'partial', truncated: true }, lineTrace: true })), {
    ok: false,
    final_answer: null,
    error: timeout,
    trace: [entry],
    stdout: 'partial',
    stdout_truncated: true,
    img_pth_reassigned: false,
    ms: 12,
    isolation: 'sandbox',
  });
  assert.deepEqual(runOutcome(finished()).error, { type: 'WorkerCrash', message: 'the run ended without a result', line: null });
  assert.equal(runOutcome(finished()).stdout_truncated, false);
});

test("runOutcome: the program's output is read up to the byte cap", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'valor-stdout-'));
  try {
    const f = join(dir, 'out.txt');
    await writeFile(f, 'hello world');
    assert.deepEqual(await readStdout(f, 5), { text: 'hello', truncated: true });
    assert.deepEqual(await readStdout(f, 10), { text: 'hello worl', truncated: true });
    assert.deepEqual(await readStdout(f, 11), { text: 'hello world', truncated: false });
    assert.deepEqual(await readStdout(f, 100), { text: 'hello world', truncated: false });
    assert.deepEqual(await readStdout(join(dir, 'missing.txt'), 10), { text: '', truncated: false });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
