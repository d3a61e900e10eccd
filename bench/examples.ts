/**
 * Wall time of whole runs of the worked examples (the generator prompt's example programs and
 * examples/desk.vprog), through `runQuery` as `valor run` does it: the real tool server on a detector
 * fixture (grounding-dino-tiny, or $BENCH_EXAMPLES_DETECTOR, e.g. grounding-dino-bench) and the depth
 * fixture, the HTTP tool client, a warm python3 worker.
 * Each run gets a fresh image (a 640×480 PNG no other run used), so every run pays upload,
 * decoding and preprocessing; vqa answers at once from a local stand-in (it is a remote vision
 * model in real use, and no model time of ours).
 *
 * Three setups, interleaved example by example so machine load hits them alike:
 * - before: model inputs recomputed on every call (VALOR_TOOLS_DEBUG_NO_INPUT_CACHE=1), no hint;
 * - per-image work: the model input kept per image (a program's second and third gd_detect skip
 *   decoding and preprocessing), no hint;
 * - + early start: also the prefetch hint, so the upload, the detector input and the depth map
 *   are made while the python3 child starts and runs up to its first call.
 *
 * Run alone: `npx tsx bench/examples.ts` (after `npm run build`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { runQuery } from '../src/core/pipeline.js';
import { ProgramRunner } from '../src/core/runner/index.js';
import { createToolClient } from '../src/core/toolClient.js';
import type { Tools } from '../src/core/tools.js';
import { startToolServer, type ToolServerProcess } from '../src/host/toolServerProcess.js';
import { median, runAlone } from './common.js';
import type { BenchResult } from './types.js';

const ROOT = resolve(__dirname, '..');
const MODELS = join(ROOT, 'test', 'fixtures', 'models');
const IMAGE = join(ROOT, 'test', 'fixtures', 'images', 'scene-640x480.jpg');
const ROUNDS = 4;
/** The small detector: its model time (ms) leaves the per-call costs this module is about visible. */
const EXAMPLES_DETECTOR = process.env.BENCH_EXAMPLES_DETECTOR ?? 'grounding-dino-tiny';

/** The worked examples: the generator prompt's (when that module still exports them) and the desk example. */
async function examples(): Promise<Array<{ query: string; reply: string }>> {
  const out: Array<{ query: string; reply: string }> = [];
  const prompt = (await import('../src/core/prompt.js')) as { PROMPT_EXAMPLES?: ReadonlyArray<{ query: string; reply: string }> };
  for (const e of prompt.PROMPT_EXAMPLES ?? []) out.push({ query: e.query, reply: e.reply });
  const desk = readFileSync(join(ROOT, 'examples', 'desk.vprog'), 'utf8');
  out.push({ query: /^# query: (.*)$/m.exec(desk)?.[1] ?? 'desk', reply: desk.replace(/^#.*\n/gm, '') });
  return out;
}

export async function bench(): Promise<BenchResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'valor-bench-examples-'));
  const servers: ToolServerProcess[] = [];
  const runner = new ProgramRunner();
  try {
    const start = (env: Record<string, string | undefined>): Promise<ToolServerProcess> =>
      startToolServer({ serverScript: join(ROOT, 'dist', 'server.js'), detector: join(MODELS, EXAMPLES_DETECTOR), depth: join(MODELS, 'depth-anything-tiny'), args: ['--allow-root', work], env: { ...process.env, VALOR_TOOLS_TOKEN: undefined, ...env } });
    const [before, after] = await Promise.all([start({ VALOR_TOOLS_DEBUG_NO_INPUT_CACHE: '1' }), start({})]);
    servers.push(before, after);
    const base = await sharp(IMAGE).raw().toBuffer({ resolveWithObject: true });
    let n = 0;
    const freshImage = async (): Promise<string> => {
      const px = Buffer.from(base.data);
      px[n] = (px[n] as number) ^ 0x01;
      const p = join(work, `img-${n++}.png`);
      writeFileSync(p, await sharp(px, { raw: { width: base.info.width, height: base.info.height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer());
      return p;
    };
    const toolsOf = (srv: ToolServerProcess): Tools => {
      const client = createToolClient({ url: srv.url, token: srv.token });
      return { gd_detect: client.gd_detect, depth: client.depth, prefetch: client.prefetch, vqa: async () => ({ value: 'yes' }) };
    };
    const setups = [
      { name: 'before', tools: toolsOf(before), prefetch: false },
      { name: 'per-image work', tools: toolsOf(after), prefetch: false },
      { name: 'per-image work + early start', tools: toolsOf(after), prefetch: true },
    ];
    const list = await examples();
    const times: Record<string, number[]> = Object.fromEntries(setups.map((s) => [s.name, []]));
    const calls: number[] = [];
    // Warm-up: model loads, worker start.
    for (const s of setups) await runQuery({ query: 'warm', imagePath: await freshImage(), reply: list[0]?.reply ?? '', tools: s.tools, toolsUrl: 'bench', runner, prefetch: s.prefetch });
    for (let round = 0; round < ROUNDS; round++) {
      for (const ex of list) {
        for (const s of setups) {
          const imagePath = await freshImage();
          const record = await runQuery({ query: ex.query, imagePath, reply: ex.reply, tools: s.tools, toolsUrl: 'bench', runner, prefetch: s.prefetch });
          if (record.error) throw new Error(`${s.name}: "${ex.query}" failed: ${record.error.type}: ${record.error.message}`);
          (times[s.name] as number[]).push(record.timings.total_ms);
          if (s.name === 'before') calls.push(record.trace.length);
        }
      }
    }
    const total = (name: string): number => (times[name] as number[]).reduce((a, b) => a + b, 0);
    const med = (name: string): number => median(times[name] as number[]);
    const notes = `${list.length} examples × ${ROUNDS} rounds, interleaved; ${median(calls)} tool calls per run (median); totals ms: before ${total('before').toFixed(0)}, per-image ${total('per-image work').toFixed(0)}, + early start ${total('per-image work + early start').toFixed(0)}; detector ${EXAMPLES_DETECTOR}, depth fixture, vqa stand-in`;
    return [
      {
        name: 'worked examples: run wall time with per-image work, relative to before',
        value: med('per-image work'),
        unit: 'ms',
        baseline: { name: 'model inputs recomputed per call, median run ms', value: med('before') },
        ratio: total('per-image work') / total('before'),
        target: '< 1',
        notes: `ratio of the summed run times; ${notes}`,
      },
      {
        name: 'worked examples: run wall time with per-image work + early start (prefetch), relative to before',
        value: med('per-image work + early start'),
        unit: 'ms',
        baseline: { name: 'model inputs recomputed per call, median run ms', value: med('before') },
        ratio: total('per-image work + early start') / total('before'),
        target: '< 1',
        notes: 'ratio of the summed run times; on 2 shared cores the early depth map competes with the detector for the same cores: the gain is the overlap with the python3 start and the first call',
      },
    ];
  } finally {
    await runner.dispose();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) runAlone(bench);
