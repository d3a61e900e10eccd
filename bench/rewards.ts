/**
 * Reward scoring benchmarks, with the local OpenAI-compatible test server answering every judge
 * after a fixed delay (200 ms) and the real program runner for the syntax reward:
 *
 * 1. One program: wall time of `scoreReply` relative to the sum of its four judge latencies
 *    (target <= 0.35; VALOR's reference code calls the judges one after another, ratio ~1).
 * 2. The reward service: throughput of POST /v1/reward for a batch of distinct replies at
 *    concurrency 16 relative to concurrency 1.
 *
 * Every scored reply is distinct, so no verdict comes from a cache. Run alone: `npx tsx bench/rewards.ts`.
 */
import { ProgramRunner } from '../src/core/runner/index.js';
import { createVerdictCache } from '../src/core/rewards/judge.js';
import { scoreReply } from '../src/core/rewards/score.js';
import { startRewardServer } from '../src/server/rewardServer.js';
import { GOOD_QUERY, GOOD_REPLY } from '../test/helpers/judgeReplies.js';
import { JUDGE_DELAY_MS, startDelayedJudges, wallVsJudgeSum } from './judges.js';
import type { BenchResult } from './types.js';

function variant(i: number): { query: string; reply: string } {
  return { query: `${GOOD_QUERY} (variant ${i})`, reply: GOOD_REPLY.replace('dets = gd_detect', `# variant ${i}\ndets = gd_detect`) };
}

export async function bench(): Promise<BenchResult[]> {
  const { server: srv, judge } = await startDelayedJudges();
  const runner = new ProgramRunner();
  const results: BenchResult[] = [];
  try {
    // Warm up the runner and the HTTP connections.
    await scoreReply({ ...variant(-1), judge, runner, cache: createVerdictCache() });

    const walls: number[] = [];
    const sums: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const set = await scoreReply({ ...variant(i), judge, runner, cache: createVerdictCache() });
      walls.push(performance.now() - t0);
      sums.push(set.verdicts.filter((v) => v.judge === 'bench-judge').reduce((s, v) => s + (v.ms ?? 0), 0));
    }
    results.push(
      wallVsJudgeSum({
        name: 'rewards: one program, wall time',
        walls,
        sums,
        sumName: 'sum of its four judge latencies',
        target: '<= 0.35',
        notes: `judges answer after ${JUDGE_DELAY_MS} ms; median of 7; includes the syntax run (python3, placeholders)`,
      }),
    );

    const N = 32;
    const throughput = async (concurrency: number, offset: number): Promise<number> => {
      const service = await startRewardServer({ judge, runner, concurrency });
      try {
        const items = Array.from({ length: N }, (_, i) => variant(offset + i));
        const t0 = performance.now();
        const res = await fetch(`${service.url}/v1/reward`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${service.token}` },
          body: JSON.stringify({ items }),
        });
        const body = (await res.json()) as { results: Array<{ total: number | null }> };
        const ms = performance.now() - t0;
        if (res.status !== 200 || body.results.some((r) => r.total !== 1)) throw new Error(`reward service bench: unexpected answer ${res.status}`);
        return (N / ms) * 1000;
      } finally {
        await service.close();
      }
    };
    const one = await throughput(1, 1000);
    const sixteen = await throughput(16, 2000);
    results.push({
      name: 'rewards: /v1/reward throughput at concurrency 16',
      value: Number(sixteen.toFixed(2)),
      unit: 'replies/s',
      baseline: { name: 'concurrency 1', value: Number(one.toFixed(2)) },
      ratio: Number((sixteen / one).toFixed(2)),
      notes: `${N} distinct replies in one request; judges answer after ${JUDGE_DELAY_MS} ms`,
    });
  } finally {
    await runner.dispose();
    await srv.close();
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
