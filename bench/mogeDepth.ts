/**
 * MoGe-2 depth in the tool server, on the tiny real-architecture fixture
 * (test/fixtures/models/moge-2-tiny), measured in this one run:
 *
 * - server overhead per depth call (miss): client latency (image read by path, hashed, decoded,
 *   fed at full size, run, infer's post-processing in TypeScript, the box read, HTTP both ways)
 *   minus the `session.run` time inside it (Server-Timing `model`), relative to that time; like
 *   the detector row of bench/server.ts;
 * - the post-processing alone (mask, focal/shift solve, metric depth) relative to session.run.
 *
 * The fixture's network is tiny, so its session.run is far cheaper than MoGe-2 ViT-L's (which
 * runs DINOv2-L on 3,600 tokens): the ratios here are an upper bound on the real model's overhead.
 * Run alone: `npx tsx bench/mogeDepth.ts`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startToolServer, type ToolServerProcess } from '../src/host/toolServerProcess.js';
import { DepthResponse, TOOL_ROUTES } from '../src/protocol/tools.js';
import { decodeRgb } from '../src/server/images.js';
import { MoGeDepthModel } from '../src/server/mogeDepth.js';
import { mogeDepth } from '../src/server/mogePost.js';
import { distinctImages, median, runAlone } from './common.js';
import type { BenchResult } from './types.js';

const ROOT = resolve(__dirname, '..');
const MOGE = join(ROOT, 'test', 'fixtures', 'models', 'moge-2-tiny');
const IMAGE = join(ROOT, 'test', 'fixtures', 'images', 'scene-640x480.jpg');

/** session.run and the post-processing alone, in this process, on the same picture. */
async function inProcess(n: number): Promise<{ run: number; post: number }> {
  const model = await MoGeDepthModel.load(MOGE, 'cpu', () => undefined);
  const d = await decodeRgb(readFileSync(IMAGE), 1e8);
  const input = await model.pixelInput({ sha256: '', ...d });
  for (let i = 0; i < 2; i++) await model.run(input);
  const runs: number[] = [];
  const posts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const out = await model.run(input);
    const t1 = performance.now();
    mogeDepth({ points: out.points?.data as Float32Array, mask: out.mask?.data as Float32Array, metricScale: Number(out.metric_scale?.data[0]), width: d.width, height: d.height });
    posts.push(performance.now() - t1);
    runs.push(t1 - t0);
  }
  await model.release();
  return { run: median(runs), post: median(posts) };
}

export async function bench(): Promise<BenchResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'valor-bench-moge-'));
  let server: ToolServerProcess | undefined;
  try {
    const N = 20;
    const paths = await distinctImages(IMAGE, work, N);
    server = await startToolServer({
      serverScript: join(ROOT, 'dist', 'server.js'),
      depth: MOGE,
      args: ['--allow-root', work],
      env: { ...process.env, VALOR_TOOLS_TOKEN: undefined },
    });
    const srv = server;
    const depth = async (path: string): Promise<{ ms: number; model: number; cached: boolean }> => {
      const t0 = performance.now();
      const res = await fetch(`${srv.url}${TOOL_ROUTES.depth}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ image: { path }, bbox: [100, 100, 400, 300] }),
      });
      const body = DepthResponse.parse(await res.json());
      const ms = performance.now() - t0;
      const m = /model;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
      return { ms, model: m ? Number(m[1]) : NaN, cached: body.cached };
    };
    for (let i = 0; i < 3; i++) await depth(paths[N - 1 - i] as string);
    const overheads: number[] = [];
    const misses: number[] = [];
    const models: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await depth(paths[i] as string);
      if (r.cached) throw new Error('expected a miss');
      overheads.push((r.ms - r.model) / r.model);
      misses.push(r.ms);
      models.push(r.model);
    }
    const local = await inProcess(10);
    return [
      {
        name: 'MoGe-2 (tiny fixture) tool server overhead per depth call (miss), relative to the session.run inside it',
        value: median(overheads),
        unit: 'fraction',
        baseline: { name: 'session.run of the same call (Server-Timing model), ms', value: median(models) },
        ratio: median(misses) / median(models),
        notes: `640x480 picture fed at full size; median miss ${median(misses).toFixed(1)} ms end to end; the tiny network makes session.run small, so this bounds the real ViT-L overhead from above`,
      },
      {
        name: "MoGe-2 infer post-processing (mask, focal/shift solve, metric depth) relative to session.run",
        value: local.post,
        unit: 'ms',
        baseline: { name: 'session.run in this process, ms', value: local.run },
        ratio: local.post / local.run,
        notes: '640x480 map; in-process, no HTTP',
      },
    ];
  } finally {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) runAlone(bench);
