/**
 * `valor serve-rewards`: the reward service (src/server/rewardServer.ts) in this process. Prints
 * the ready line (src/protocol/reward.ts) and serves until interrupted.
 */
import { resolve } from 'node:path';
import { ProgramRunner } from '../../core/runner/index.js';
import { rewardReadyLine } from '../../protocol/reward.js';
import { startRewardServer } from '../../server/rewardServer.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { ISOLATION_OPTION, ISOLATION_USAGE, isolationFromCli } from '../isolation.js';
import { weightsFrom } from '../scoringOptions.js';
import { endpointFromEnv } from '../config.js';
import { describeJudgeSet, judgeSetRef } from '../../core/rewards/judgeSet.js';
import { judgeSetFrom, JUDGE_PROMPT_OPTIONS, JUDGE_PROMPT_USAGE } from '../promptOptions.js';

const usage = `Usage: valor serve-rewards [options]

Serves VALOR's six rewards over HTTP (POST /v1/reward, GET /v1/health) for a trainer such as
verl (python/valor_reward.py), and prints one line:
  valor reward server ready at http://HOST:PORT token=TOKEN judge=MODEL

Options:
  --host HOST             address to bind (default 127.0.0.1; anything else exposes the service)
  --port N                port (default 0: a free one)
  --token TOKEN           bearer token (default: $VALOR_REWARD_TOKEN, else random)
  --concurrency N         replies scored at once (default 16)
  --judge-concurrency N   judge calls in flight at once (default 4 x concurrency)
  --weights SPEC          e.g. logic=0.4,adherence=0.1 (default VALOR's)
  --audit FILE            apply the overrides in this audit log (re-read when it changes)
  --vision-judge          judges also see the image (items must carry "image")
  --total-rule RULE       product (default: format x weighted sum) or gate (VALOR's code: format
                          only as a zero / non-zero gate, a repeated tag scores like a single one)
  --judge-gated           judge replies whose format is 0 too (audits; default: no judge calls for
                          them, as in VALOR's code; the total is 0 either way)
${JUDGE_PROMPT_USAGE}
  --images DIR            the only folder item images are read from (needed with --vision-judge)
  --base-url URL          judge endpoint (else VALOR_JUDGE_BASE_URL)
  --model NAME            judge model (else VALOR_JUDGE_MODEL); key: VALOR_JUDGE_API_KEY or OPENAI_API_KEY
${ISOLATION_USAGE}`;

function positiveInt(name: string, v: string | undefined, fallback: number | undefined): number | undefined {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

export const serveRewardsCommand: CliCommand = {
  name: 'serve-rewards',
  summary: 'serve the six rewards over HTTP for RL trainers (verl custom_reward_function)',
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      options: {
        ...ISOLATION_OPTION,
        host: { type: 'string' },
        images: { type: 'string' },
        port: { type: 'string' },
        token: { type: 'string' },
        concurrency: { type: 'string' },
        'judge-concurrency': { type: 'string' },
        weights: { type: 'string' },
        audit: { type: 'string' },
        'vision-judge': { type: 'boolean' },
        'total-rule': { type: 'string' },
        'judge-gated': { type: 'boolean' },
        ...JUDGE_PROMPT_OPTIONS,
        'base-url': { type: 'string' },
        model: { type: 'string' },
      },
    });
    const { values } = parsed;
    const isolation = isolationFromCli(values.isolation, io.env);
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got '${values.port}'`);
    const weights = weightsFrom(values);
    const totalRule = values['total-rule'] ?? 'product';
    if (totalRule !== 'product' && totalRule !== 'gate') throw new UsageError(`--total-rule must be 'product' or 'gate', got '${totalRule}'`);
    const judge = endpointFromEnv('judge', io.env, { baseUrl: values['base-url'], model: values.model });
    const judgeSet = await judgeSetFrom(values, io);
    const host = values.host ?? '127.0.0.1';
    // Reward runs are scored, never debugged: no line trace (it costs about 8 % of a warm run).
    const runner = new ProgramRunner({ isolation, lineTrace: false });
    const server = await startRewardServer({
      host,
      port,
      token: values.token ?? (io.env.VALOR_REWARD_TOKEN || undefined),
      judge,
      runner,
      concurrency: positiveInt('concurrency', values.concurrency, 16),
      judgeConcurrency: positiveInt('judge-concurrency', values['judge-concurrency'], undefined),
      weights,
      auditPath: values.audit ? resolve(io.cwd, values.audit) : undefined,
      visionJudge: values['vision-judge'],
      judgeSet,
      judgeWhenGated: values['judge-gated'],
      totalRule,
      imageRoots: values.images ? [resolve(io.cwd, values.images)] : undefined,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${rewardReadyLine(server.url, server.token, judge.model.replace(/\s+/g, '_'))}\n`);
    io.stderr.write(`judges: ${describeJudgeSet(judgeSetRef(judgeSet))}; total rule: ${totalRule}; format-0 replies ${values['judge-gated'] ? 'judged' : 'not judged'}\n`);
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
      io.stderr.write(`warning: listening on ${host}: anyone who can reach this address and knows the token can spend your judge's budget\n`);
    }
    await new Promise<void>((resolveWait) => {
      if (io.signal.aborted) resolveWait();
      else io.signal.addEventListener('abort', () => resolveWait(), { once: true });
    });
    await server.close();
    await runner.dispose();
    return EXIT.ok;
  },
};
