/**
 * A reward service for tests: the real `startRewardServer` with the real runner, judging through
 * the real language-model client against the OpenAI-compatible test server.
 */
import { createChatClient } from '../../src/core/llmClient.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { startRewardServer, type RewardServer, type RewardServerOptions } from '../../src/server/rewardServer.js';
import { startOpenAIServer, type OpenAIServer } from './openaiServer.js';

export interface RewardServiceFixture {
  judgeServer: OpenAIServer;
  service: RewardServer;
  runner: ProgramRunner;
  close(): Promise<void>;
}

export async function startRewardService(opts: Partial<RewardServerOptions> = {}): Promise<RewardServiceFixture> {
  const judgeServer = await startOpenAIServer();
  const judge = createChatClient({ baseUrl: judgeServer.url, model: 'judge-m', cacheDir: false, maxRetries: 0 });
  const runner = new ProgramRunner({ timeoutMs: 30_000 });
  const service = await startRewardServer({ judge, runner, ...opts });
  return {
    judgeServer,
    service,
    runner,
    close: async () => {
      await service.close();
      await judgeServer.close();
      await runner.dispose();
    },
  };
}

export async function postReward(service: RewardServer, body: unknown, token: string | null = service.token): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${service.url}/v1/reward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}
