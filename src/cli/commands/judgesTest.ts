/**
 * `valor judges test`: the built-in judge test set against a judge endpoint, with accuracy per
 * reward and the cases it got wrong (src/core/audit/judgeTest.ts).
 */
import { runJudgeTest, type JudgeTestReport } from '../../core/audit/judgeTest.js';
import { JUDGE_TEST_SET } from '../../core/audit/judgeTestSet.js';
import { JUDGE_REWARDS, type JudgeReward } from '../../core/rewards/rubrics.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { endpointFromEnv } from '../config.js';

const usage = `Usage: valor judges test [options]

Sends the built-in judge test set (${JUDGE_TEST_SET.length} plans and programs of our own with known correct verdicts:
a relation pushed into the detector prompt, a depth relation read from 2D boxes, a height asserted
without tools, an answer stated without tools, no fallback for an empty detection, a hard-coded
answer, a skipped step, degenerate text, and good ones) to the judge endpoint with VALOR's
rubrics, and reports accuracy per reward and every case the judge got wrong or failed on.

Options:
  --reward R           only this reward (spatial, attribute, logic, adherence); repeatable
  --min-accuracy X     exit 1 when any reward's accuracy is below X (0..1, default 1)
  --concurrency N      judge calls in flight (default 8)
  --json               one JSON object (per-reward accuracy, failed cases, every outcome)
  --base-url URL       judge endpoint (else VALOR_JUDGE_BASE_URL)
  --model NAME         judge model (else VALOR_JUDGE_MODEL)

A judge call that gives no usable verdict counts as a miss (shown as ERROR).
Exit codes: 0 every reward reached --min-accuracy; 1 some did not; 2 bad usage or configuration.
`;

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function printJudgeTest(r: JudgeTestReport, out: NodeJS.WritableStream): void {
  out.write(`judge: ${r.judge.model} at ${r.judge.base_url}\n`);
  out.write(`  ${'reward'.padEnd(10)} ${'cases'.padStart(5)} ${'correct'.padStart(7)} ${'wrong'.padStart(5)} ${'errors'.padStart(6)} ${'accuracy'.padStart(8)}\n`);
  const row = (name: string, a: { cases: number; correct: number; wrong: number; errors: number; accuracy: number }): string =>
    `  ${name.padEnd(10)} ${String(a.cases).padStart(5)} ${String(a.correct).padStart(7)} ${String(a.wrong).padStart(5)} ${String(a.errors).padStart(6)} ${pct(a.accuracy).padStart(8)}\n`;
  for (const [name, a] of Object.entries(r.rewards)) out.write(row(name, a));
  out.write(row('all', r.overall));
  if (r.failed.length === 0) {
    out.write('every case got its correct verdict\n');
    return;
  }
  out.write('failed cases:\n');
  for (const f of r.failed) {
    const what = f.got === null ? `ERROR: ${f.error ?? 'no usable verdict'}` : `said ${f.got}, correct is ${f.expected}: ${f.rationale.replace(/\s+/g, ' ').trim()}`;
    out.write(`  ${f.case} / ${f.reward} (${f.title}): ${what}\n`);
  }
}

export const judgesTestCommand: CliCommand = {
  name: 'judges test',
  summary: 'accuracy per reward of a judge endpoint on the built-in judge test set',
  usage,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, {
      options: {
        reward: { type: 'string', multiple: true },
        'min-accuracy': { type: 'string' },
        concurrency: { type: 'string' },
        json: { type: 'boolean' },
        'base-url': { type: 'string' },
        model: { type: 'string' },
      },
    });
    const rewards = (values.reward as string[] | undefined) ?? undefined;
    for (const r of rewards ?? []) {
      if (!(JUDGE_REWARDS as readonly string[]).includes(r)) throw new UsageError(`--reward ${r}: the judged rewards are ${JUDGE_REWARDS.join(', ')}`);
    }
    const min = values['min-accuracy'] === undefined ? 1 : Number(values['min-accuracy']);
    if (!(min >= 0 && min <= 1)) throw new UsageError(`--min-accuracy must be a number from 0 to 1, got '${values['min-accuracy']}'`);
    const concurrency = values.concurrency === undefined ? 8 : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a whole number ≥ 1, got '${values.concurrency}'`);
    const judge = endpointFromEnv('judge', io.env, { baseUrl: values['base-url'], model: values.model });
    const report = await runJudgeTest({ judge, rewards: rewards as JudgeReward[] | undefined, concurrency, signal: io.signal });
    if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
    else printJudgeTest(report, io.stdout);
    const below = Object.values(report.rewards).some((a) => a.accuracy < min);
    return below ? EXIT.failed : EXIT.ok;
  },
};
