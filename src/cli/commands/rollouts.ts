/**
 * `valor rollouts`: the rollout group GRPO sees for one query (src/core/audit/rolloutGroup.ts):
 * N replies with VALOR's sampling settings, the six rewards of each, the total and the
 * group-relative advantage, best first, and which rewards separate the best from the worst.
 */
import { resolve } from 'node:path';
import { scoreRolloutGroup, REWARD_ORDER, type RolloutGroup } from '../../core/audit/rolloutGroup.js';
import { ProgramRunner } from '../../core/runner/index.js';
import { resolveImagePath } from '../../core/vprog.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { endpointFromEnv } from '../config.js';
import { loadOverrides, SCORING_OPTIONS, weightsFrom } from '../scoringOptions.js';
import { readVprogFile, requireQuery } from '../vprogFile.js';

const usage = `Usage:
  valor rollouts --image IMG --query TEXT [options]
  valor rollouts FILE.vprog [options]          the query and image of a .vprog document

Draws N replies for the query with VALOR's sampling settings (temperature 0.7, top_p 0.8,
top_k 20), scores each with the six rewards (all judges at once) and prints them side by side,
best first, with the GRPO group-relative advantage (r - mean) / (std + 1e-6), std unbiased as
verl computes it. A reply whose judge failed keeps the failure and has no total and no advantage
(it is left out of the group's mean and std; never counted as 0).

Options:
  --n N                group size (default 5, VALOR's rollouts per prompt)
  --seed S             sample i gets seed S+i (reproducible on servers that honour seed);
                       without it every sample is a fresh draw (response cache bypassed)
  --json               one JSON object (members with verdicts, advantage statistics, timings)
  --weights SPEC       e.g. logic=0.4,adherence=0.1
  --vision-judge       the judges also see the image
  --audit FILE / --no-audit   overrides applied (default .valor/audits.jsonl when present)
  --base-url URL, --model NAME               generator (else VALOR_LLM_*)
  --judge-base-url URL, --judge-model NAME   judges (else VALOR_JUDGE_*)

Exit codes: 0 every reply scored; 1 a generation or a judge failed (shown as such); 2 bad usage.
`;

function fmt(x: number | null, digits = 3): string {
  return x === null ? '-' : String(Number(x.toFixed(digits)));
}

function signed(x: number | null): string {
  if (x === null) return 'none';
  const s = x.toFixed(3);
  return x > 0 ? `+${s}` : s === '-0.000' ? '0.000' : s;
}

export function printGroup(g: RolloutGroup, out: NodeJS.WritableStream): void {
  out.write(`query: ${g.query}\n${g.image ? `image: ${g.image}\n` : ''}`);
  const head = ['rank', 'sample', ...REWARD_ORDER, 'total', 'advantage'];
  const rows = g.members.map((m) => [
    m.rank === null ? '-' : String(m.rank),
    `#${m.index + 1}`,
    ...REWARD_ORDER.map((r) => (m.errors[r] ? 'ERROR' : m.reply === null ? '-' : fmt(m.components[r]))),
    m.total === null ? 'none' : fmt(m.total),
    signed(m.advantage),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd();
  out.write(`${line(head)}\n`);
  for (const r of rows) out.write(`${line(r)}\n`);
  const a = g.advantage;
  out.write(
    `group: ${a.counted} of ${g.n} counted, mean ${fmt(a.mean, 4)}, std ${fmt(a.std, 4)} (unbiased, n-1, as torch.std); advantage = (total - mean) / (std + ${a.epsilon})\n`,
  );
  if (a.note) out.write(`note: ${a.note}\n`);
  if (g.best !== null && g.worst !== null) {
    const parts = g.separating.map((s) => `${s.reward} (${s.best} vs ${s.worst}${s.weight === null ? ', the format gate' : `, weight ${s.weight}`})`);
    out.write(`best #${g.best + 1} vs worst #${g.worst + 1}: ${parts.length ? `separated by ${parts.join(', ')}` : 'no single component differs'}\n`);
  }
  for (const m of g.members) {
    if (m.generation_error) out.write(`  #${m.index + 1}: ${m.generation_error}\n`);
    for (const [r, e] of Object.entries(m.errors)) if (m.reply !== null) out.write(`  #${m.index + 1} ${r}: ${e}\n`);
  }
  out.write(`time: generate ${(g.timings.generate_ms / 1000).toFixed(1)} s, score ${(g.timings.score_ms / 1000).toFixed(1)} s (judge latencies sum ${(g.timings.judge_ms_sum / 1000).toFixed(1)} s)\n`);
}

export const rolloutsCommand: CliCommand = {
  name: 'rollouts',
  summary: 'the GRPO rollout group of one query: N sampled replies, their six rewards, totals and advantages',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCliArgs(argv, {
      allowPositionals: true,
      options: {
        image: { type: 'string' },
        query: { type: 'string' },
        n: { type: 'string' },
        seed: { type: 'string' },
        ...SCORING_OPTIONS,
        'base-url': { type: 'string' },
        model: { type: 'string' },
        'judge-base-url': { type: 'string' },
        'judge-model': { type: 'string' },
      },
    });
    let query: string;
    let imagePath: string | undefined;
    if (positionals.length > 1) throw new UsageError(`expected at most one .vprog file, got ${positionals.length}`);
    if (positionals[0]) {
      if (values.image || values.query) throw new UsageError('give either a .vprog file or --image and --query, not both');
      const { path: docPath, doc } = await readVprogFile(io.cwd, positionals[0]);
      query = requireQuery(positionals[0], doc);
      imagePath = doc.image ? resolveImagePath(docPath, doc.image) : undefined;
    } else {
      if (!values.query) throw new UsageError(`give a .vprog file, or --query (and --image)\n\n${usage}`);
      query = values.query;
      imagePath = values.image ? resolve(io.cwd, values.image) : undefined;
    }
    const n = values.n === undefined ? 5 : Number(values.n);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--n must be a whole number from 1 to 64, got '${values.n}'`);
    const seed = values.seed === undefined ? undefined : Number(values.seed);
    if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError(`--seed must be a whole number, got '${values.seed}'`);
    const weights = weightsFrom(values);
    if (values['vision-judge'] && !imagePath) throw new UsageError('--vision-judge needs the image: give --image (or an # image: header)');
    const generator = endpointFromEnv('generator', io.env, { baseUrl: values['base-url'], model: values.model });
    const judge = endpointFromEnv('judge', io.env, { baseUrl: values['judge-base-url'], model: values['judge-model'] });
    const overrides = await loadOverrides(values, io);
    const runner = new ProgramRunner();
    let group: RolloutGroup;
    try {
      group = await scoreRolloutGroup({ query, imagePath, n, seed, generator, judge, runner, weights, overrides, visionJudge: values['vision-judge'], signal: io.signal });
    } finally {
      await runner.dispose();
    }
    if (values.json) io.stdout.write(`${JSON.stringify(group)}\n`);
    else printGroup(group, io.stdout);
    const failed = group.members.some((m) => m.reply === null || m.total === null);
    return failed ? EXIT.failed : EXIT.ok;
  },
};
