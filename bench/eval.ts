/**
 * `valor eval` at scale, with local servers answering after fixed delays (so the numbers measure
 * our loop, not a model):
 * - throughput on 200 questions at concurrency 1, 4 and 16, as ratios to concurrency 1
 *   (target: near-linear up to the tool server's own limit; here the test tool server has none,
 *   so what bends the curve is this machine: the CLI, the python3 children and both servers
 *   share its cores);
 * - the eval process's memory on 800 vs 200 questions (concurrency 16): peak RSS, and the live
 *   heap right after full garbage collections (sampled by the loop itself). It should stay flat:
 *   records go to disk and only one small result per question is kept in memory.
 *
 * Each run is the real CLI (dist/cli.js, built by `npm run bench`) as a child process, a real
 * python3 child per program, a generator behind the local OpenAI-compatible server (delay
 * GEN_DELAY_MS) and a protocol tool server (delay TOOL_DELAY_MS, one vqa call per question).
 *
 * Run alone: `npx tsx bench/eval.ts`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EvalSummary } from '../src/core/eval/summary.js';
import { benchHandler, manyQuestions, writeBenchmark } from '../test/helpers/evalBench.js';
import { startOpenAIServer } from '../test/helpers/openaiServer.js';
import { startProtocolToolServer } from '../test/helpers/protocolToolServer.js';
import type { BenchResult } from './types.js';

const REPO = resolve(__dirname, '..');
const GEN_DELAY_MS = 100;
const TOOL_DELAY_MS = 50;

interface RunFigures {
  questions: number;
  concurrency: number;
  wallS: number;
  qps: number;
  rssMiB: number;
  heapMiB: number;
  liveMiB: number;
  correct: number;
  failed: number;
}

function runCli(cli: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string; wallS: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stderr, wallS: (performance.now() - t0) / 1000 }));
  });
}

export async function bench(): Promise<BenchResult[]> {
  const cli = join(REPO, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` (npm run bench does it first)');
  const work = await mkdtemp(join(tmpdir(), 'valor-bench-eval-'));
  const qs = manyQuestions(800);
  const file = await writeBenchmark(work, qs.slice(0, 200), []);
  const file50 = await writeBenchmark(join(work, 'small'), qs.slice(0, 50), []);
  const file800 = await writeBenchmark(join(work, 'large'), qs, []);
  const llm = await startOpenAIServer({ handler: benchHandler(qs, GEN_DELAY_MS) });
  const tools = await startProtocolToolServer({ delayMs: TOOL_DELAY_MS, vqa: () => 'yes', width: 64, height: 48 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    VALOR_LLM_BASE_URL: llm.url,
    VALOR_LLM_MODEL: 'bench-policy',
    VALOR_TOOLS_URL: tools.url,
    VALOR_TOOLS_TOKEN: tools.token,
    VALOR_NO_CACHE: '1',
    ...(process.env.VALOR_PYTHON ? { VALOR_PYTHON: process.env.VALOR_PYTHON } : {}),
  };
  let n = 0;
  const evalRun = async (input: string, concurrency: number): Promise<RunFigures> => {
    const out = join(work, `out-${n++}`);
    const r = await runCli(cli, ['eval', input, '--out', out, '--concurrency', String(concurrency), '--no-report'], env);
    if (r.code !== 0) throw new Error(`valor eval exited ${r.code}: ${r.stderr.slice(-800)}`);
    const s = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as EvalSummary;
    if (s.counts.failed > 0) throw new Error(`${s.counts.failed} questions failed: ${JSON.stringify(s.errors.by_kind)}`);
    return {
      questions: s.counts.done,
      concurrency,
      wallS: s.timings.wall_ms / 1000,
      qps: s.timings.questions_per_s ?? 0,
      rssMiB: s.timings.memory?.peak_rss_mb ?? Number.NaN,
      heapMiB: s.timings.memory?.peak_heap_mb ?? Number.NaN,
      liveMiB: s.timings.memory?.live_heap_mb ?? Number.NaN,
      correct: s.counts.correct,
      failed: s.counts.failed,
    };
  };

  try {
    // Warm-up: page cache, python3 + numpy import, first image uploads.
    await evalRun(file50, 4);
    const c1 = await evalRun(file, 1);
    const c4 = await evalRun(file, 4);
    const c16 = await evalRun(file, 16);
    const m800 = await evalRun(file800, 16);
    const ideal = 1000 / (GEN_DELAY_MS + TOOL_DELAY_MS);
    const setup = `200 questions, generator ${GEN_DELAY_MS} ms + one vqa call ${TOOL_DELAY_MS} ms per question (ideal ${ideal.toFixed(1)} q/s per slot)`;
    return [
      {
        name: 'eval throughput, concurrency 1',
        value: c1.qps,
        unit: 'questions/s',
        notes: `${setup}; ${c1.wallS.toFixed(1)} s in the loop; per-question overhead beyond the fixed delays ${(1000 / c1.qps - GEN_DELAY_MS - TOOL_DELAY_MS).toFixed(0)} ms`,
      },
      {
        name: 'eval throughput, concurrency 4 vs 1',
        value: c4.qps,
        unit: 'questions/s',
        baseline: { name: 'concurrency 1, questions/s', value: c1.qps },
        ratio: c4.qps / c1.qps,
        target: '>= 3.2 (near-linear: 80% of 4)',
        met: c4.qps / c1.qps >= 3.2,
        notes: `${c4.wallS.toFixed(1)} s`,
      },
      {
        name: 'eval throughput, concurrency 16 vs 1',
        value: c16.qps,
        unit: 'questions/s',
        baseline: { name: 'concurrency 1, questions/s', value: c1.qps },
        ratio: c16.qps / c1.qps,
        target: '>= 12.8 (near-linear: 80% of 16)',
        met: c16.qps / c1.qps >= 12.8,
        notes: `${c16.wallS.toFixed(1)} s; the tool server has no limit of its own here, so the bend comes from this machine's cores (CLI, python3 children and both servers share them)`,
      },
      {
        name: 'eval peak RSS, 800 vs 200 questions',
        value: m800.rssMiB,
        unit: 'MiB',
        baseline: { name: '200 questions, MiB', value: c16.rssMiB },
        ratio: m800.rssMiB / c16.rssMiB,
        target: '<= 1.2 (flat)',
        met: m800.rssMiB / c16.rssMiB <= 1.2,
        notes: `peak resident memory of the valor eval process (python3 children excluded), concurrency 16; peak heap ${c16.heapMiB} -> ${m800.heapMiB} MiB`,
      },
      {
        name: 'eval live heap after full GC, 800 vs 200 questions',
        value: m800.liveMiB,
        unit: 'MiB',
        baseline: { name: '200 questions, MiB', value: c16.liveMiB },
        ratio: m800.liveMiB / c16.liveMiB,
        target: '<= 1.2 (flat)',
        met: m800.liveMiB / c16.liveMiB <= 1.2,
        notes: 'largest heap right after a full garbage collection, i.e. what the process really holds (NaN: no full GC ran)',
      },
    ];
  } finally {
    await llm.close();
    await tools.close();
    await rm(work, { recursive: true, force: true });
  }
}

if (/bench[\\/]eval\.ts$/.test(process.argv[1] ?? '')) {
  bench().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
