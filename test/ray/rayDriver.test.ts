/**
 * The Ray driver (python/valor_ray) on a real local Ray instance, started by the driver itself
 * (`ray.init(address="local")` with its own temp folder) and stopped when it exits. Real tool
 * servers (dist/server.js) with the fixture models on the CPU run as actors; the generator and
 * the vision model are the scripted OpenAI-compatible test server. Checks: a 40-question eval
 * over 2 tool-server actors and 4 shards gives the summary of one single-process run; killing a
 * tool-server actor mid-run still ends with that summary; a node whose `node` is too old is
 * refused with a message naming the node. After every driver run no Ray process is left.
 *
 * Skipped (with the reason) where python3 has no ray; under CI=true a missing ray fails instead.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EvalSummary } from '../../src/core/eval/summary.js';
import { cleanEnv, ensureBuilt, REPO, runCli, type CliResult } from '../helpers/cli.js';
import { benchHandler, comparable, writeBenchmark, type BenchQuestion } from '../helpers/evalBench.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { startOpenAIServer, type OpenAIServer, type RecordedRequest, type Reply } from '../helpers/openaiServer.js';
import { FIXTURES, startTestToolServer } from '../helpers/toolServer.js';

const probe = spawnSync('python3', ['-c', 'import ray; print(ray.__version__)'], { encoding: 'utf8' });
const HAS_RAY = probe.status === 0;
const SKIP = !HAS_RAY && process.env.CI !== 'true' ? 'python3 has no ray (python3 -m pip install ray==2.58.0; .ci/run installs it)' : false;
const MODELS = join(REPO, 'examples', 'models');

const program = (plan: string, code: string): string => `<plan>\n${plan}\n</plan>\n<answer>\n\`\`\`python\n${code}\n\`\`\`\n</answer>`;

/** 40 questions that use every tool of the real server (detector, depth, vqa) and none. */
function questions(): BenchQuestion[] {
  return Array.from({ length: 40 }, (_, i) => {
    const id = `q-${i}`;
    const image = i % 2 ? 'red.png' : 'blue.png';
    const kinds: Array<[Record<string, unknown>, string]> = [
      [{ answer: i % 3 ? 'yes' : 'no', answer_type: 'yes/no' }, program('1. Ask vqa.', 'final_answer = vqa(img_pth, None, "yes or no: is it red?")')],
      [{ answer: 2, answer_type: 'count' }, program('1. Detect mugs.\n2. Count.', 'final_answer = len(gd_detect(img_pth, "mug"))')],
      [{ answer: 3, answer_type: 'float' }, program('1. Depth of the centre.', 'final_answer = depth(img_pth, [8, 8, 40, 30])')],
      [{ answer: 'yes', answer_type: 'yes/no' }, program('1. Answer.', `final_answer = ${i % 8 === 3 ? '"yes"' : '1 / 0'}`)],
    ];
    const [gt, reply] = kinds[i % 4]!;
    return { id, line: { id, question: `Question ${i}? [${id}]`, image, ...gt }, reply };
  });
}

/** Generator replies by question id; the vision model (asked by the tool server) says yes. */
function handler(qs: BenchQuestion[], delayMs: number): (req: RecordedRequest) => Reply {
  const gen = benchHandler(qs, delayMs);
  return (req) => (req.json.model === 'test-vlm' ? { text: 'yes' } : gen(req));
}

interface Run extends CliResult {
  pids: number[];
}

describe('valor_ray on a local Ray cluster', { skip: SKIP }, () => {
  let work: string;
  let file: string;
  let llm: OpenAIServer;
  const children = new Set<ChildProcess>();
  const tempDirs: string[] = [];

  before(async () => {
    if (!HAS_RAY) throw new Error(`CI=true but python3 cannot import ray (${probe.stderr.trim().split('\n').at(-1)}): .ci/run must install ray==2.58.0`);
    ensureBuilt();
    work = await mkdtemp(join(tmpdir(), 'valor-ray-'));
    file = await writeBenchmark(join(work, 'bench'), questions(), []);
    llm = await startOpenAIServer({ handler: handler(questions(), 0) });
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const d of tempDirs) {
      for (const pid of rayPidsUnder(d)) process.kill(pid, 'SIGKILL');
      await rm(d, { recursive: true, force: true });
    }
    await llm?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const env = (url: string): NodeJS.ProcessEnv => {
    const e = cleanEnv({
      VALOR_LLM_BASE_URL: url,
      VALOR_LLM_MODEL: 'valor-policy',
      VALOR_VLM_BASE_URL: url,
      VALOR_VLM_MODEL: 'test-vlm',
      VALOR_NO_CACHE: '1',
      PYTHONPATH: join(REPO, 'python'),
    });
    delete e.RAY_ADDRESS;
    return e;
  };

  /** Pids of processes whose command line names `dir` (the Ray instance's temp folder). */
  function rayPidsUnder(dir: string): number[] {
    const pids: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(dir)) pids.push(Number(name));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  }
  /** python3 with python/ importable, asynchronously (the test servers live in this process). */
  function pythonRun(code: string, extra: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((res, rej) => {
      const child = spawn('python3', ['-c', code], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONPATH: join(REPO, 'python'), ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('error', rej);
      child.on('close', (c) => {
        clearTimeout(timer);
        res({ code: c, stdout, stderr });
      });
    });
  }
  const alive = (pid: number): boolean => {
    try {
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
    } catch {
      return false;
    }
  };

  /** Starts the driver; `onLine` sees each stdout line as it comes. Resolves when it exits. */
  const driver = (args: string[], url: string, onLine?: (line: string, child: ChildProcess) => void): Promise<Run> => driverWith(env(url), args, onLine);

  async function driverWith(childEnv: NodeJS.ProcessEnv, args: string[], onLine?: (line: string, child: ChildProcess) => void): Promise<Run> {
    const temp = await mkdtemp('/tmp/vr-');
    tempDirs.push(temp);
    const child = spawn('python3', ['-m', 'valor_ray', ...args, '--local-cpus', '4', '--ray-temp-dir', temp], { cwd: work, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine?.(l, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 300_000);
    const r = await new Promise<CliResult>((res, rej) => {
      child.on('error', rej);
      child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
    });
    clearTimeout(timer);
    children.delete(child);
    const pids = [...stdout.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1]));
    // Nothing of the Ray instance or of the servers outlives the driver.
    const deadline = Date.now() + 20_000;
    while ((rayPidsUnder(temp).length > 0 || pids.some(alive)) && Date.now() < deadline) await new Promise((s) => setTimeout(s, 200));
    const left = rayPidsUnder(temp);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    assert.deepEqual(left, [], `Ray processes left after the driver exited:\n${left.map((p) => `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`).join('\n')}`);
    assert.deepEqual(pids.filter(alive), [], 'tool servers left after the driver exited');
    return { ...r, pids };
  }

  const evalArgs = (out: string): string[] => [
    'eval', file, '--images', join(work, 'bench'), '--out', out, '--tool-servers', '2', '--shards', '4', '--models', MODELS,
    '--bind', '127.0.0.1', '--shard-cpus', '0.5', '--concurrency', '2',
  ];
  const summaryOf = async (dir: string): Promise<EvalSummary> => JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as EvalSummary;

  /** The single-process run (`valor eval` with its embedded tool server), once for the file. */
  let wholeRun: Promise<EvalSummary> | undefined;
  const wholeSummary = (): Promise<EvalSummary> =>
    (wholeRun ??= (async () => {
      // Asynchronously: the generator lives in this process and must keep answering.
      const single = await runCli(['eval', file, '--images', join(work, 'bench'), '--out', join(work, 'whole'), '--concurrency', '2'], {
        cwd: work,
        env: { ...env(llm.url), VALOR_MODELS_DIR: MODELS },
        timeoutMs: 240_000,
      });
      assert.equal(single.code, 0, single.stderr);
      const whole = await summaryOf(join(work, 'whole'));
      assert.equal(whole.counts.done, 40);
      // Every tool answered (no outage); the only failures are the five programs that divide by zero.
      assert.deepEqual(Object.entries(whole.errors.by_kind).filter(([, n]) => n > 0), [['program', 5]]);
      assert.deepEqual(whole.errors.program_types, { ZeroDivisionError: 5 });
      assert.equal(whole.metrics.by_type.count?.answered, 10, 'the detector answered');
      assert.equal(whole.metrics.by_type.float?.answered, 10, 'depth answered');
      return whole;
    })());

  it('40 questions over 2 tool-server actors and 4 shards: the summary of one single-process run', async () => {
    const whole = await wholeSummary();
    const out = join(work, 'ray');
    // --ship-results: each shard writes on its node and sends its folder back in the task's result.
    const r = await driver([...evalArgs(out), '--ship-results'], llm.url);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(comparable(await summaryOf(out)), comparable(whole));
    const merged = await summaryOf(out);
    assert.equal(merged.merged_from?.length, 4);
    assert.ok(existsSync(join(out, 'report.html')));
    // Progress: the whole job and every shard, and the summary lines of `valor eval merge`.
    assert.match(r.stdout, /tool server 0: http:\/\/127\.0\.0\.1:\d+ .*device cpu/);
    assert.match(r.stdout, /tool server 1: http:\/\/127\.0\.0\.1:\d+/);
    assert.match(r.stdout, /40\/40 questions done/);
    for (let i = 0; i < 4; i++) assert.match(r.stdout, new RegExp(`shard ${i}/4: done (\\d+)/\\1 on tool server ${i % 2}`));
    assert.match(r.stdout, /overall: /);
    const job = JSON.parse(await readFile(join(out, 'ray-job.json'), 'utf8')) as { tool_servers: number; questions: number; servers: Array<Record<string, unknown>> };
    assert.equal(job.tool_servers, 2);
    assert.equal(job.questions, 40);
    assert.ok(job.servers.every((s) => !('token' in s)), 'no token in ray-job.json');
    for (let i = 0; i < 4; i++) assert.match(r.stdout, new RegExp(`shard ${i}/4: copied its output back from node`));

    // The same command again: every shard is already finished, nothing is generated, same summary.
    const asked = llm.chatRequests().length;
    const again = await driver([...evalArgs(out), '--ship-results'], llm.url);
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    for (let i = 0; i < 4; i++) assert.match(again.stdout, new RegExp(`shard ${i}/4: already finished in `));
    assert.equal(llm.chatRequests().length, asked);
    assert.deepEqual(comparable(await summaryOf(out)), comparable(whole));
  });

  it('a tool-server actor killed mid-run, and a hung one, are replaced and the job ends with the same summary', async () => {
    const whole = await wholeSummary();
    const slow = await startOpenAIServer({ handler: handler(questions(), 700) });
    try {
      const out = join(work, 'ray-kill');
      let actorPid: number | undefined;
      let serverPid: number | undefined;
      let killed = false;
      const r = await driver(evalArgs(out), slow.url, (line) => {
        const m = /tool server 0: .*actor pid (\d+)/.exec(line);
        if (m) actorPid = Number(m[1]);
        const h = /tool server 1: .*\(pid (\d+)/.exec(line);
        if (h) serverPid = Number(h[1]);
        const p = /(\d+)\/40 questions done/.exec(line);
        if (!killed && actorPid && serverPid && p && Number(p[1]) >= 6 && Number(p[1]) < 30) {
          killed = true;
          // Server 0: its actor dies. Server 1: its process hangs (alive, answering nothing).
          process.kill(actorPid, 'SIGKILL');
          process.kill(serverPid, 'SIGSTOP');
        }
      });
      assert.ok(killed, `the actor was killed mid-run:\n${r.stdout}`);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /tool server 0 was restarted by Ray: now http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)/);
      assert.match(r.stdout, /tool server 1 failed its health check 3 times .*; killing it so Ray restarts it/);
      assert.match(r.stdout, /tool server 1 was restarted by Ray/);
      assert.deepEqual(comparable(await summaryOf(out)), comparable(whole));
    } finally {
      await slow.close();
    }
  });

  it('a node whose Node.js is too old is named, with what to do, before anything starts', async () => {
    const bin = join(work, 'old-node-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'node'), '#!/bin/sh\necho v18.19.0\n');
    chmodSync(join(bin, 'node'), 0o755);
    const runtimeEnv = JSON.stringify({ env_vars: { PATH: `${bin}:${process.env.PATH}` } });
    const before = llm.chatRequests().length;
    const r = await driver([...evalArgs(join(work, 'ray-old')), '--runtime-env-json', runtimeEnv], llm.url);
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /the cluster cannot run VALOR Studio yet/);
    assert.match(r.stderr, /node \d+\.\d+\.\d+\.\d+ \([0-9a-f]+\): Node\.js v18\.19\.0 at \S+old-node-bin\/node is too old: 20 or newer is needed/);
    assert.doesNotMatch(r.stdout, /tool server 0:/, 'no tool server was started');
    assert.equal(llm.chatRequests().length, before, 'nothing was generated');
  });
  it('serve-rewards: replicas behind one address that valor_reward.py uses, batches split over them', async () => {
    const judge = await startOpenAIServer({ handler: (req) => ({ text: jsonVerdict(judgeOf(req) === 'spatial' ? 0 : 1) }) });
    try {
      let py: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
      const e = { ...env(llm.url), VALOR_JUDGE_BASE_URL: judge.url, VALOR_JUDGE_MODEL: 'judge-m' };
      const r = await driverWith(e, ['serve-rewards', '--replicas', '2', '--bind', '127.0.0.1'], (line, child) => {
        const m = /^valor reward server ready at (http:\/\/\S+) token=(\S+) judge=judge-m$/.exec(line);
        if (!m || py) return;
        const extra = JSON.stringify({ query: GOOD_QUERY });
        const code = `import json, valor_reward\nout = valor_reward.compute_score_batch(["valor"] * 4, [${JSON.stringify(GOOD_REPLY)}, "no tags", ${JSON.stringify(GOOD_REPLY)}, "no tags"], [""] * 4, [${extra}] * 4)\nprint(json.dumps([o["score"] for o in out]))`;
        py = pythonRun(code, { VALOR_REWARD_URL: m[1]!, VALOR_REWARD_TOKEN: m[2]! }).finally(() => child.kill('SIGTERM'));
      });
      assert.ok(py, `the front printed its ready line:\n${r.stdout}\n${r.stderr}`);
      const got = await py;
      assert.equal(got.code, 0, got.stderr);
      assert.deepEqual(JSON.parse(got.stdout), [0.8, 0, 0.8, 0]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /reward replica 0: http:\/\/127\.0\.0\.1:\d+/);
      assert.match(r.stdout, /reward replica 1: http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await judge.close();
    }
  });
  it('ground: verify-boxes shards over Ray give the ODVG export of one verify-boxes run per image', async () => {
    // The verifier keeps every candidate it is shown (whatever numbering the prompts use).
    const listed = (req: RecordedRequest): number[] => {
      const parts = req.json.messages[1].content as Array<{ type: string; text?: string }>;
      return [...parts.map((p) => p.text ?? '').join('\n').matchAll(/^(\d+): /gm)].map((m) => Number(m[1]));
    };
    const vlm = await startOpenAIServer({
      handler: (req) => {
        const sys = String(req.json.messages[0].content);
        if (sys.startsWith('You check one detection')) return { text: JSON.stringify({ keep: true, reason: 'a clear object' }) };
        return { text: JSON.stringify({ keep: listed(req), drop: [] }) };
      },
    });
    const tools = await startTestToolServer({ args: ['--models', MODELS] });
    try {
      const images = ['scene-112x112.png', 'scene-224x224.png', 'scene-240x320.png', 'scene-320x240.png'].map((n) => join(FIXTURES, 'images', n));
      const input = join(work, 'ground.jsonl');
      const lines5 = [...images.map((image, i) => JSON.stringify({ image, prompt: i % 2 ? 'mug, laptop' : 'chair' })), JSON.stringify({ image: 'gone.png', prompt: 'chair' })];
      await writeFile(input, lines5.join('\n') + '\n');
      const e = { ...env(llm.url), VALOR_VLM_BASE_URL: vlm.url, VALOR_VLM_MODEL: 'vlm-test' };
      // One process per image against one server, then one export: the reference.
      const files: string[] = [];
      for (const [i, image] of images.entries()) {
        const f = join(work, `single-ground-${i}.json`);
        const r = await runCli(['verify-boxes', '--image', image, '--prompt', i % 2 ? 'mug, laptop' : 'chair', '--out', f], { cwd: work, env: { ...e, VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token } });
        assert.equal(r.code, 0, r.stderr);
        files.push(f);
      }
      const ref = await runCli(['export', 'odvg', ...files, '--out', join(work, 'single-odvg')], { cwd: work, env: e });
      assert.equal(ref.code, 0, ref.stderr);

      const out = join(work, 'ray-ground');
      const r = await driverWith(e, ['ground', input, '--out', out, '--tool-servers', '1', '--shards', '2', '--models', MODELS, '--bind', '127.0.0.1', '--shard-cpus', '0.5']);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /4\/5 images verified/);
      // The line whose image is missing is reported with its line number, not retried, not exported.
      assert.match(r.stdout, /ground\.jsonl:5 skipped: .*gone\.png/);
      const lines = async (d: string): Promise<string[]> => (await readFile(join(d, 'odvg.jsonl'), 'utf8')).split('\n').filter(Boolean).sort();
      const got = await lines(join(out, 'odvg'));
      assert.equal(got.length, 4);
      assert.deepEqual(got, await lines(join(work, 'single-odvg')));
      assert.deepEqual(JSON.parse(await readFile(join(out, 'odvg', 'label_map.json'), 'utf8')), JSON.parse(await readFile(join(work, 'single-odvg', 'label_map.json'), 'utf8')));
      // Each shard wrote its own file, one line per image.
      const shardLines = await Promise.all([0, 1].map(async (i) => (await readFile(join(out, 'grounding', `grounding-shard-${i}.jsonl`), 'utf8')).split('\n').filter(Boolean).length));
      assert.deepEqual(shardLines, [2, 2]);
    } finally {
      await tools.stop();
      await vlm.close();
    }
  });
});
