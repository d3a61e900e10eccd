/**
 * Auditing benchmarks:
 *
 * 1. Review queue, time to the first item: an eval output folder of 5,000 scored items
 *    (summary.json + runs/) opened as a queue (index, sampling, audit log read) until the first
 *    item is ready to show, against reading the same 5,000 in full (the runs/ folder without its
 *    summary: every record read), which is what a queue without paging must do (target <= 0.1).
 *    Also 5,000 against 50 items, to show how it scales (no target).
 * 2. Rollout group of 5: wall time of `scoreRolloutGroup` (draw 5 replies, score each with the six
 *    rewards) against the sum of its 20 judge latencies, with judges answering after 200 ms
 *    (target <= 0.15: every judge of every reply in flight at once; 1/20 = 0.05 is the floor).
 *
 * Run alone: `npx tsx bench/audit.ts`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChatClient } from '../src/core/llmClient.js';
import { scoreRolloutGroup } from '../src/core/audit/rolloutGroup.js';
import { ReviewSession } from '../src/core/review/session.js';
import { openReviewSource } from '../src/core/review/source.js';
import { ProgramRunner } from '../src/core/runner/index.js';
import { GOOD_REPLY } from '../test/helpers/judgeReplies.js';
import { startOpenAIServer } from '../test/helpers/openaiServer.js';
import { writeReviewEval } from '../test/helpers/reviewFixture.js';
import { JUDGE_DELAY_MS, middleValue as median, startDelayedJudges, wallVsJudgeSum } from './judges.js';
import type { BenchResult } from './types.js';

async function timeToFirstItem(path: string, audit: string): Promise<number> {
  const t0 = performance.now();
  const source = await openReviewSource(path);
  const session = await ReviewSession.open({ source, sample: { order: 'random', seed: 3 }, auditPath: audit });
  const first = await session.item(0);
  if (first.item.verdicts.length !== 6) throw new Error('queue bench: the first item has no verdicts');
  return performance.now() - t0;
}

export async function bench(): Promise<BenchResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'valor-bench-audit-'));
  const results: BenchResult[] = [];
  try {
    const image = join(work, 'scene.png');
    await writeFile(image, Buffer.alloc(0));
    await writeReviewEval(join(work, 'big'), 5000, { imagePath: image });
    await writeReviewEval(join(work, 'small'), 50, { imagePath: image });
    const audit = join(work, 'audits.jsonl');
    await timeToFirstItem(join(work, 'small'), audit); // warm up module loading and the file cache
    const big: number[] = [];
    const small: number[] = [];
    for (let i = 0; i < 5; i++) {
      small.push(await timeToFirstItem(join(work, 'small'), audit));
      big.push(await timeToFirstItem(join(work, 'big'), audit));
    }
    const b = median(big);
    const s = median(small);
    const runsOnly = median([
      await timeToFirstItem(join(work, 'big', 'runs'), audit),
      await timeToFirstItem(join(work, 'big', 'runs'), audit),
      await timeToFirstItem(join(work, 'big', 'runs'), audit),
    ]);
    results.push({
      name: 'review queue: time to first item, 5,000 items',
      value: Math.round(b),
      unit: 'ms',
      baseline: { name: 'the same queue read in full (every run record, no summary.json)', value: Math.round(runsOnly) },
      ratio: Number((b / runsOnly).toFixed(3)),
      target: '<= 0.1',
      notes: 'eval output folder: the index from summary.json, only the shown record read; random order with a seed; median of 5 (full read: median of 3)',
    });
    results.push({
      name: 'review queue: time to first item, 5,000 vs 50 items',
      value: Math.round(b),
      unit: 'ms',
      baseline: { name: '50 items', value: Number(s.toFixed(1)) },
      ratio: Number((b / s).toFixed(1)),
      notes: 'how the paged queue scales: parsing summary.json and sampling are linear, one record is read either way; no target',
    });

    // 2. The rollout group.
    const gen = await startOpenAIServer();
    const { server: judges, judge } = await startDelayedJudges();
    let round = 0;
    // Every sample differs in its plan and program, so all 20 judge calls are real (no shared verdicts).
    gen.setHandler((req) => {
      const tag = `round ${round} sample ${String(req.json.seed)}`;
      return { text: GOOD_REPLY.replace('4. Answer "yes" or "no".', `4. Answer "yes" or "no" (${tag}).`).replace('dets = gd_detect', `# ${tag}\ndets = gd_detect`) };
    });
    const generator = createChatClient({ baseUrl: gen.url, model: 'bench-policy', cacheDir: false, maxRetries: 0 });
    const runner = new ProgramRunner();
    try {
      const walls: number[] = [];
      const sums: number[] = [];
      for (round = 0; round < 6; round++) {
        const g = await scoreRolloutGroup({ query: `Is the mug left of the laptop? (bench round ${round})`, n: 5, seed: 1000 * round, generator, judge, runner });
        if (g.members.some((m) => m.total !== 1)) throw new Error('rollout bench: a member was not scored 1');
        if (round === 0) continue; // warm-up
        walls.push(g.timings.wall_ms);
        sums.push(g.timings.judge_ms_sum);
      }
      results.push(
        wallVsJudgeSum({
          name: 'rollout group of 5: wall time',
          walls,
          sums,
          sumName: 'sum of its 20 judge latencies',
          target: '<= 0.15',
          notes: `judges answer after ${JUDGE_DELAY_MS} ms; includes drawing the 5 replies and 5 syntax runs (python3, placeholders); median of 5`,
        }),
      );
    } finally {
      await runner.dispose();
      await gen.close();
      await judges.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return results;
}

if (require.main === module) {
  bench().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
