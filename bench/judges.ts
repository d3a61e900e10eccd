/** The judge stand-in the reward benchmarks share: every verdict a pass, after a fixed delay. */
import { createChatClient } from '../src/core/llmClient.js';
import type { ChatClient } from '../src/core/chat.js';
import { jsonVerdict } from '../test/helpers/judgeReplies.js';
import { type OpenAIServer, startOpenAIServer } from '../test/helpers/openaiServer.js';
import type { BenchResult } from './types.js';

export const JUDGE_DELAY_MS = 200;

/** A local OpenAI-compatible server answering every judge call with a pass after `JUDGE_DELAY_MS`, and a client for it. */
export async function startDelayedJudges(): Promise<{ server: OpenAIServer; judge: ChatClient }> {
  const server = await startOpenAIServer();
  // The wait lives in the handler (the helper's own delay reply does not fire for handler replies).
  server.setHandler(async () => {
    await new Promise((r) => setTimeout(r, JUDGE_DELAY_MS));
    return { text: jsonVerdict(1) };
  });
  return { server, judge: createChatClient({ baseUrl: server.url, model: 'bench-judge', cacheDir: false, maxRetries: 0 }) };
}

/** The middle value of the sorted list (the upper one of the two for an even count). */
export function middleValue(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A row comparing a wall time with the sum of the judge latencies inside it (middle values of the samples). */
export function wallVsJudgeSum(o: { name: string; walls: number[]; sums: number[]; sumName: string; target: string; notes: string }): BenchResult {
  const w = middleValue(o.walls);
  const sum = middleValue(o.sums);
  return {
    name: o.name,
    value: Math.round(w),
    unit: 'ms',
    baseline: { name: o.sumName, value: Math.round(sum) },
    ratio: Number((w / sum).toFixed(3)),
    target: o.target,
    notes: o.notes,
  };
}
