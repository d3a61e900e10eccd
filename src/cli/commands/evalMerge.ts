/**
 * `valor eval merge`: one summary and report from the outputs of `valor eval --shard i/n` runs
 * (each possibly on another machine; copy their --out folders next to each other first).
 */
import { resolve } from 'node:path';
import { EvalSetupError } from '../../core/eval/loop.js';
import { mergeEvalOutputs } from '../../core/eval/merge.js';
import { summaryLines } from '../../core/eval/summary.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';

const usage = `Usage:
  valor eval merge OUT1 OUT2 ... --out DIR [options]

Combines the output folders of 'valor eval --shard i/n' runs into DIR/summary.json and
DIR/report.html, equal to what one unsharded run would have written. The shards must come from
the same benchmark file, shard count, generator model and settings; each shard once. Run records
stay where they are; the merged summary and report link to them by relative path.

Options:
  --out DIR          folder for the merged summary.json and report.html (required)
  --allow-partial    merge even when shards are missing or unfinished (the summary says incomplete)
  --no-report        do not write report.html

Exit codes: 0 merged a complete run; 1 merged, but incomplete; 2 bad usage or the shards do not fit together.
`;

export const evalMergeCommand: CliCommand = {
  name: 'eval merge',
  summary: "combine the outputs of 'valor eval --shard i/n' runs into one summary and report",
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      allowPositionals: true,
      options: { out: { type: 'string' }, 'allow-partial': { type: 'boolean' }, 'no-report': { type: 'boolean' } },
    });
    const { values, positionals } = parsed;
    if (!values.out) throw new UsageError('--out DIR is required: the folder for the merged summary.json and report.html');
    if (positionals.length === 0) throw new UsageError(`give the output folders of the shard runs\n\n${usage}`);
    let outcome;
    try {
      outcome = await mergeEvalOutputs({
        inputs: positionals.map((p) => resolve(io.cwd, p)),
        outDir: resolve(io.cwd, values.out),
        allowPartial: values['allow-partial'],
        report: !values['no-report'],
      });
    } catch (err) {
      if (err instanceof EvalSetupError) throw new UsageError(err.message);
      throw err;
    }
    for (const line of summaryLines(outcome.summary)) io.stdout.write(`${line}\n`);
    io.stdout.write(`summary: ${outcome.summaryPath}\n`);
    if (outcome.reportPath) io.stdout.write(`report: ${outcome.reportPath}\n`);
    return outcome.summary.complete ? EXIT.ok : EXIT.failed;
  },
};
