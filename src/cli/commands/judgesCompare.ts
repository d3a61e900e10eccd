/**
 * `valor judges compare`: score the same replies with our judge rubrics and with a VALOR-shaped
 * prompt folder, and report per reward how often the two agree (src/core/rewards/judgeAgreement.ts).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ProgramRunner } from '../../core/runner/index.js';
import { judgeAgreement } from '../../core/rewards/judgeAgreement.js';
import { describeJudgeSet, judgeSetRef } from '../../core/rewards/judgeSet.js';
import { scoreBatch, type BatchItem } from '../../core/rewards/score.js';
import { parseVprog } from '../../core/vprog.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { endpointFromEnv } from '../config.js';
import { judgeSetFrom, JUDGE_PROMPT_OPTIONS } from '../promptOptions.js';
import { requireQuery } from '../vprogFile.js';

const usage = `Usage: valor judges compare --judge-prompts DIR (--in REPLIES.jsonl | FILE.vprog...) [options]

Scores every reply twice, with the built-in judge rubrics and with the judge prompts in DIR (laid
out like VALOR's valor/prompts/), on the judge endpoint in VALOR_JUDGE_*, and prints per reward
(spatial, attribute, logic, adherence) the number of replies both judged, the share where they
agree, Cohen's kappa and each side's pass rate. Verdicts scored by rule (degenerate text), skipped
by the format gate or failed on either side are left out and counted, never taken as 0.

  --judge-prompts DIR  the second judge set (else VALOR_JUDGE_PROMPTS, or --preset valor --valor-repo DIR)
  --in FILE            JSONL, one {"query" (or "problem"/"question"), "reply"} a line
  --json               print one JSON object
  --concurrency N      replies scored at once (default 8)

Exit codes: 0 compared; 1 a judge failed on some reply (counted in the output); 2 bad usage.
`;

async function readReplies(path: string): Promise<BatchItem[]> {
  const text = await readFile(path, 'utf8');
  const out: BatchItem[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UsageError(`${path} line ${i + 1} is not JSON`);
    }
    const query = [o.query, o.problem, o.question].find((v): v is string => typeof v === 'string' && v.trim() !== '');
    if (!query || typeof o.reply !== 'string') throw new UsageError(`${path} line ${i + 1} needs a "query" string and a "reply" string`);
    out.push({ query, reply: o.reply });
  });
  return out;
}

export const judgesCompareCommand: CliCommand = {
  name: 'judges compare',
  summary: 'agreement between the built-in judges and VALOR-shaped judge prompts on a set of replies',
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      allowPositionals: true,
      options: { in: { type: 'string' }, json: { type: 'boolean' }, concurrency: { type: 'string' }, ...JUDGE_PROMPT_OPTIONS },
    });
    const { values, positionals } = parsed;
    const reference = await judgeSetFrom(values, io);
    if (!reference) throw new UsageError(`give --judge-prompts DIR (the judge set to compare with ours)\n\n${usage}`);
    const items: BatchItem[] = [];
    if (values.in) items.push(...(await readReplies(resolve(io.cwd, values.in))));
    for (const f of positionals) {
      let text: string;
      try {
        text = await readFile(resolve(io.cwd, f), 'utf8');
      } catch {
        throw new UsageError(`cannot read ${f}: check the path`);
      }
      const doc = parseVprog(text);
      items.push({ query: requireQuery(f, doc), reply: doc.reply });
    }
    if (items.length === 0) throw new UsageError(`give replies: --in REPLIES.jsonl or .vprog files\n\n${usage}`);
    const concurrency = values.concurrency === undefined ? 8 : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer, got '${values.concurrency}'`);
    const judge = endpointFromEnv('judge', io.env);
    const runner = new ProgramRunner();
    let ours;
    let theirs;
    try {
      ours = await scoreBatch(items, { judge, runner, concurrency, signal: io.signal });
      theirs = await scoreBatch(items, { judge, runner, concurrency, judgeSet: reference, signal: io.signal });
    } finally {
      await runner.dispose();
    }
    const rows = judgeAgreement(ours, theirs);
    const sets = { a: describeJudgeSet(judgeSetRef(undefined)), b: describeJudgeSet(judgeSetRef(reference)) };
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ replies: items.length, judge_model: judge.model, sets: { a: judgeSetRef(undefined), b: judgeSetRef(reference) }, rewards: rows })}\n`);
    } else {
      const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
      io.stdout.write(`${items.length} replies, judge ${judge.model}\n  a: ${sets.a}\n  b: ${sets.b}\n`);
      io.stdout.write(`  ${'reward'.padEnd(10)} ${'compared'.padStart(8)} ${'agree'.padStart(7)} ${'kappa'.padStart(6)} ${'pass a'.padStart(7)} ${'pass b'.padStart(7)}  left out\n`);
      for (const r of rows) {
        io.stdout.write(
          `  ${r.reward.padEnd(10)} ${String(r.compared).padStart(8)} ${pct(r.rate).padStart(7)} ${(r.kappa === null ? '-' : r.kappa.toFixed(2)).padStart(6)} ${pct(r.pass_rate.a).padStart(7)} ${pct(r.pass_rate.b).padStart(7)}  ${r.not_judged} not judged, errors a ${r.errors.a} / b ${r.errors.b}\n`,
        );
      }
    }
    return rows.some((r) => r.errors.a + r.errors.b > 0) ? EXIT.failed : EXIT.ok;
  },
};
