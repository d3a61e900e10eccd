/**
 * The Ray driver (python/valor_ray) with 1, 2 and 4 tool-server actors on a local Ray instance:
 * eval throughput as ratios to one server. Each run is `python -m valor_ray eval` with 4 shards
 * (4 questions in flight each) on 96 questions that each make one gd_detect call (each with its
 * own prompt, so that the server's detection cache never answers).
 *
 * What limits throughput here is made to be the tool server, as on a real deployment where each
 * server owns one GPU: every detector inference holds its model queue for MODEL_MS extra (the
 * server's --debug-delay-ms hook; the fixture detector itself takes a few ms on the CPU), and a
 * server runs one inference per model at a time. The generator answers after GEN_DELAY_MS. The
 * figure is the shard phase only (from `ray-job.json`), not Ray's start-up or the servers' model
 * loading. Everything shares this machine's cores, which caps the 4-server figure.
 *
 * Skipped (one row saying why) when python3 has no ray. Run alone: `npx tsx bench/ray.ts`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchHandler, writeBenchmark, type BenchQuestion } from '../test/helpers/evalBench.js';
import { startOpenAIServer } from '../test/helpers/openaiServer.js';
import type { BenchResult } from './types.js';

const REPO = resolve(__dirname, '..');
const MODEL_MS = 400;
const GEN_DELAY_MS = 50;
const QUESTIONS = 96;

function questions(): BenchQuestion[] {
  return Array.from({ length: QUESTIONS }, (_, i) => ({
    id: `q-${i}`,
    line: { id: `q-${i}`, question: `How many mugs? [q-${i}]`, image: i % 2 ? 'red.png' : 'blue.png', answer: 2, answer_type: 'count' },
    // A prompt of its own per question: the server's detection cache must not answer it.
    reply: `<plan>\n1. Detect mugs.\n</plan>\n<answer>\n\`\`\`python\nfinal_answer = len(gd_detect(img_pth, "mug number ${i}"))\n\`\`\`\n</answer>`,
  }));
}

function driver(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn('python3', ['-m', 'valor_ray', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code, out }));
  });
}

export async function bench(): Promise<BenchResult[]> {
  if (spawnSync('python3', ['-c', 'import ray']).status !== 0) {
    return [{ name: 'ray driver: eval throughput', value: 0, unit: 'skipped', notes: 'python3 has no ray (python3 -m pip install ray==2.58.0)' }];
  }
  if (!existsSync(join(REPO, 'dist', 'server.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does it first)');
  const work = await mkdtemp(join(tmpdir(), 'valor-bench-ray-'));
  const file = await writeBenchmark(join(work, 'bench'), questions(), []);
  const llm = await startOpenAIServer({ handler: benchHandler(questions(), GEN_DELAY_MS) });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VALOR_|OPENAI_|RAY_ADDRESS$)/.test(k)) env[k] = v;
  Object.assign(env, { VALOR_LLM_BASE_URL: llm.url, VALOR_LLM_MODEL: 'valor-policy', VALOR_NO_CACHE: '1', PYTHONPATH: join(REPO, 'python') });
  const qps: Record<number, number> = {};
  try {
    for (const servers of [1, 2, 4]) {
      const temp = await mkdtemp('/tmp/vrb-');
      const out = join(work, `out-${servers}`);
      const r = await driver(
        [
          'eval', file, '--out', out, '--tool-servers', String(servers), '--shards', '4', '--concurrency', '4', '--models', join(REPO, 'examples', 'models'),
          '--bind', '127.0.0.1', '--shard-cpus', '0.5', '--local-cpus', '8', '--ray-temp-dir', temp, `--server-arg=--debug-delay-ms=${MODEL_MS}`,
        ],
        env,
      );
      await rm(temp, { recursive: true, force: true });
      if (r.code !== 0) throw new Error(`valor_ray eval with ${servers} tool server(s) exited ${r.code}: ${r.out.slice(-2000)}`);
      const job = JSON.parse(await readFile(join(out, 'ray-job.json'), 'utf8')) as { questions: number; questions_per_second: number };
      if (job.questions !== QUESTIONS) throw new Error(`expected ${QUESTIONS} questions, the job did ${job.questions}`);
      qps[servers] = job.questions_per_second;
    }
  } finally {
    await llm.close();
    await rm(work, { recursive: true, force: true });
  }
  const base = { name: '1 tool-server actor', value: qps[1]! };
  const notes = `${QUESTIONS} questions, 4 shards x 4 in flight, one gd_detect each holding the model ${MODEL_MS} ms; shard phase only`;
  return [
    { name: 'ray driver: eval throughput, 1 tool-server actor', value: qps[1]!, unit: 'questions/s', notes },
    { name: 'ray driver: eval throughput, 2 tool-server actors vs 1', value: qps[2]!, unit: 'questions/s', baseline: base, ratio: qps[2]! / qps[1]!, target: '-', notes },
    { name: 'ray driver: eval throughput, 4 tool-server actors vs 1', value: qps[4]!, unit: 'questions/s', baseline: base, ratio: qps[4]! / qps[1]!, target: '-', notes: `${notes}; 2 cores shared by 4 servers, 4 shards and their python3 children` },
  ];
}

if (require.main === module) {
  bench().then((r) => console.log(JSON.stringify(r, null, 2)), (e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
