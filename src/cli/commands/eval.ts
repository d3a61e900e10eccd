/**
 * `valor eval`: a benchmark file end to end. Each question is generated, run and scored against
 * its ground truth; the records, summary.json and report.html go to --out. Resumable, shardable
 * (`--shard i/n`, then `valor eval merge`). See docs/eval.md.
 */
import { dirname, join, resolve } from 'node:path';
import { createSemaphore } from '../../core/concurrency.js';
import { loadDataset } from '../../core/eval/dataset.js';
import { EvalSetupError, runEval, type EvalDeps } from '../../core/eval/loop.js';
import { createProgress } from '../../core/eval/progress.js';
import { parseShard } from '../../core/eval/shard.js';
import { incompleteLine, summaryLines } from '../../core/eval/summary.js';
import { scoreReply } from '../../core/rewards/score.js';
import { ProgramRunner } from '../../core/runner/index.js';
import { listRunRecords, writeFileAtomic } from '../../core/runStore.js';
import { flipShare, type FlipShare } from '../../core/sensitivity.js';
import { EVAL_RUNS_SUBDIR } from '../../core/eval/summary.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { ISOLATION_OPTION, ISOLATION_USAGE, isolationFromCli } from '../isolation.js';
import { endpointFromEnv, toolsFromEnv } from '../config.js';
import { generationPromptFrom, judgeSetFrom, JUDGE_PROMPT_USAGE, JUDGE_PROMPT_OPTIONS, PROMPT_OPTIONS, PROMPT_USAGE } from '../promptOptions.js';
import { describePrompt } from '../../core/promptSource.js';
import { describeJudgeSet, judgeSetRef } from '../../core/rewards/judgeSet.js';

const usage = `Usage:
  valor eval FILE.jsonl --out DIR [options]

Runs every question of a benchmark file: generate a plan and program, run it, compare the answer
with the ground truth, write one run record per question under DIR/runs/, then DIR/summary.json
and DIR/report.html. Input format, metrics and outputs: docs/eval.md.

Options:
  --images DIR       folder the image paths in FILE are relative to (default: FILE's folder)
  --out DIR          output folder (required)
  --concurrency N    questions in flight at once (default 4)
  --limit N          only the first N questions (after --shard)
  --shard i/n        only shard i of n (0-based), split by a stable hash of the question ids;
                     combine the shard outputs with 'valor eval merge'
  --resume           continue the run in --out: questions with a record are not run again
                     (outage failures are); on a finished run only the summary is rewritten
  --score            also score each reply with the six rewards (needs VALOR_JUDGE_BASE_URL, VALOR_JUDGE_MODEL)
  --strict           stop before running anything when a line of FILE cannot be read
                     (default: skip such lines, list them in the summary and report)
  --timeout SEC      wall-clock limit per program (default 60)
  --tool-retries N   extra attempts of a tool call when the tool server does not answer (default 3)
  --regenerate       ask the generator again instead of using its response cache
  --repair N         when a program fails (raises, sets no final_answer, or has format or syntax
                     0), send it back to the generator with the error up to N times (default 0:
                     VALOR's single attempt; VADAR uses 5); the summary reports both with and
                     without repair. Tool-server outages are never repaired
  --no-report        do not write report.html
  --sensitivity      after the run, replay each answered question from its record with the box
                     threshold moved within ±0.05 (recorded candidates only, no model called
                     again) and report the share of answers that flip; writes DIR/sensitivity.json
  --base-url URL     generator endpoint (else VALOR_LLM_BASE_URL)
  --model NAME       generator model (else VALOR_LLM_MODEL)
  --tools-url URL    tool server (else VALOR_TOOLS_URL; unset: start one on the CPU)
  --tools-token TOK  tool server token (else VALOR_TOOLS_TOKEN)
  --models DIR       model folder for the embedded tool server (else VALOR_MODELS_DIR)
${PROMPT_USAGE}
${JUDGE_PROMPT_USAGE.split('\n')[0]}
${JUDGE_PROMPT_USAGE.split('\n')[1]}
${ISOLATION_USAGE}
Exit codes: 0 every selected question was evaluated (wrong answers and program errors included);
1 incomplete: interrupted, stopped early, or questions not evaluated because the generator, the
tool server or our own parts failed (the summary says how many; run them again with the printed
--resume command); 2 bad usage or configuration (also when the generator refuses the key or
the tool server the token: the run stops, its records are kept).
`;

/** Quotes an argument for a POSIX shell when it needs it, so the printed resume command can be pasted. */
function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Model ids the tool server reports on /v1/health, or undefined when it cannot say. */
async function toolModelIds(tools: object, signal: AbortSignal): Promise<Record<string, string> | undefined> {
  const health = (tools as { health?: (s?: AbortSignal) => Promise<{ models: Record<string, { id: string }> }> }).health;
  if (typeof health !== 'function') return undefined;
  try {
    const h = await health.call(tools, AbortSignal.any([signal, AbortSignal.timeout(10_000)]));
    const ids = Object.fromEntries(Object.entries(h.models).map(([k, m]) => [k, m.id]));
    return Object.keys(ids).length > 0 ? ids : undefined;
  } catch {
    return undefined;
  }
}

/** The most repairs per question `--repair` accepts. */
const MAX_REPAIRS = 20;

function positiveInt(name: string, v: string | undefined, dflt: number | null, min = 1): number | null {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got '${v}'`);
  return n;
}

export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'evaluate a benchmark file (JSONL questions with ground truth): metrics, records, report',
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      allowPositionals: true,
      options: {
        ...ISOLATION_OPTION,
        images: { type: 'string' },
        out: { type: 'string' },
        concurrency: { type: 'string' },
        limit: { type: 'string' },
        shard: { type: 'string' },
        resume: { type: 'boolean' },
        score: { type: 'boolean' },
        strict: { type: 'boolean' },
        timeout: { type: 'string' },
        'tool-retries': { type: 'string' },
        regenerate: { type: 'boolean' },
        repair: { type: 'string' },
        'no-report': { type: 'boolean' },
        sensitivity: { type: 'boolean' },
        'base-url': { type: 'string' },
        model: { type: 'string' },
        'tools-url': { type: 'string' },
        'tools-token': { type: 'string' },
        models: { type: 'string' },
        ...PROMPT_OPTIONS,
        ...JUDGE_PROMPT_OPTIONS,
      },
    });
    const { values, positionals } = parsed;
    const isolation = isolationFromCli(values.isolation, io.env);
    if (positionals.length !== 1) throw new UsageError(`expected one benchmark file, got ${positionals.length}\n\n${usage}`);
    if (!values.out) throw new UsageError('--out DIR is required: the folder for run records, summary.json and report.html');
    const input = resolve(io.cwd, positionals[0] as string);
    const outDir = resolve(io.cwd, values.out);
    const imagesDir = values.images ? resolve(io.cwd, values.images) : dirname(input);
    const concurrency = positiveInt('concurrency', values.concurrency, 4) as number;
    const limit = positiveInt('limit', values.limit, null);
    const toolRetries = positiveInt('tool-retries', values['tool-retries'], 3, 0) as number;
    const repair = positiveInt('repair', values.repair, 0, 0) as number;
    if (repair > MAX_REPAIRS) throw new UsageError(`--repair must be at most ${MAX_REPAIRS} (repairs per failed question; VADAR uses 5), got '${values.repair}'`);
    const timeoutSec = values.timeout === undefined ? 60 : Number(values.timeout);
    if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${values.timeout}'`);
    let shard = null;
    if (values.shard !== undefined) {
      const s = parseShard(values.shard);
      if (typeof s === 'string') throw new UsageError(s);
      shard = s;
    }

    let dataset;
    try {
      dataset = await loadDataset(input);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    for (const p of dataset.problems.slice(0, 20)) io.stderr.write(`valor eval: ${positionals[0]}:${p.line}: ${p.message}\n`);
    if (dataset.problems.length > 20) io.stderr.write(`valor eval: ... and ${dataset.problems.length - 20} more input problems (all listed in summary.json)\n`);
    if (dataset.problems.length > 0) {
      if (values.strict) throw new UsageError(`${dataset.problems.length} line(s) of ${input} cannot be read (see above); fix them or drop --strict to skip them`);
      io.stderr.write(`valor eval: skipping ${dataset.problems.length} unreadable line(s); they are counted in summary.json, not scored\n`);
    }
    if (dataset.questions.length === 0) throw new UsageError(`${input} holds no usable questions`);

    // Endpoints first: a missing configuration is a quick exit 2 before any server starts.
    const generator = endpointFromEnv('generator', io.env, { baseUrl: values['base-url'], model: values.model });
    const judge = values.score ? endpointFromEnv('judge', io.env) : undefined;
    const prompt = await generationPromptFrom(values, io);
    const judgeSet = judge ? await judgeSetFrom(values, io) : undefined;
    io.stderr.write(`valor eval: generation prompt: ${describePrompt(prompt)}\n`);
    if (judge) io.stderr.write(`valor eval: judges: ${describeJudgeSet(judgeSetRef(judgeSet))}\n`);

    const tools = await toolsFromEnv(
      io.env,
      { url: values['tools-url'], token: values['tools-token'], models: values.models, cwd: io.cwd, document: input, note: (line) => io.stderr.write(`valor eval: ${line}\n`) },
      io.signal,
    );
    // The tool server's model ids belong in the summary (which detector and depth model scored this).
    const toolModels = await toolModelIds(tools.tools, io.signal);
    const runner = new ProgramRunner({ isolation });
    const judgeSemaphore = createSemaphore(Math.max(4, concurrency * 4));
    const deps: EvalDeps = {
      generator,
      tools: tools.tools,
      toolsUrl: tools.url,
      ...(toolModels ? { toolModels } : {}),
      runner,
      ...(judge
        ? {
            scorer: (i, signal) => scoreReply({ ...i, judge, runner, judgeSemaphore, judgeSet, signal }),
            judges: { base_url: judge.baseUrl, model: judge.model, set: judgeSetRef(judgeSet) },
          }
        : {}),
    };
    const progress = createProgress({ out: io.stderr, tty: io.isTTY });
    const resumeCmd = `valor eval ${argv.filter((a) => a !== '--resume').map(shellQuote).join(' ')} --resume`;
    let outcome;
    let flips: FlipShare | undefined;
    try {
      outcome = await runEval(
        {
          dataset,
          imagesDir,
          outDir,
          shard,
          limit,
          concurrency,
          resume: values.resume,
          timeoutMs: timeoutSec * 1000,
          toolRetries,
          regenerate: values.regenerate,
          repair,
          prompt,
          report: !values['no-report'],
          resumeCommand: resumeCmd,
          signal: io.signal,
          onEvent: (e) => progress.onEvent(e),
        },
        deps,
      );
      if (values.sensitivity && outcome.status === 'complete') {
        const listed = await listRunRecords(join(outDir, EVAL_RUNS_SUBDIR));
        const records = listed.flatMap((l) => (l.record ? [l.record] : []));
        flips = await flipShare(records, { runner, window: 0.05, timeoutMs: timeoutSec * 1000, signal: io.signal });
        await writeFileAtomic(join(outDir, 'sensitivity.json'), `${JSON.stringify(flips, null, 2)}\n`);
      }
    } catch (err) {
      if (err instanceof EvalSetupError) throw new UsageError(err.message);
      throw err;
    } finally {
      progress.finish();
      await runner.dispose();
      await tools.close();
    }

    const s = outcome.summary;
    if (values.resume && outcome.ran === 0 && outcome.status === 'complete') {
      io.stdout.write(`nothing to do: all ${s.counts.selected} questions already have records; summary rewritten\n`);
    }
    for (const line of summaryLines(s)) io.stdout.write(`${line}\n`);
    io.stdout.write(`summary: ${outcome.summaryPath}\n`);
    if (outcome.reportPath) io.stdout.write(`report: ${outcome.reportPath}\n`);
    if (flips) {
      const share = flips.share === null ? 'no answer had recorded candidates to vary' : `${flips.flipped} of ${flips.analysed} answers (${(flips.share * 100).toFixed(1)} %) flip within ±${flips.window} of the box threshold`;
      io.stdout.write(`sensitivity: ${share}; ${flips.unknown} unknown (a call the record lacks), ${flips.skipped} not analysed (no answer or no candidates); ${join(outDir, 'sensitivity.json')}\n`);
    }

    if (outcome.status === 'complete') return EXIT.ok;
    if (outcome.status === 'fatal') {
      io.stderr.write(`valor eval: stopped: ${outcome.fatal}\nFix the cause, then continue with: ${resumeCmd}\n`);
      return outcome.fatalConfig ? EXIT.usage : EXIT.failed;
    }
    const inc = incompleteLine(s);
    if (outcome.status === 'incomplete' && inc && s.counts.pending === 0) {
      io.stderr.write(`valor eval: ${inc}: the metrics above are over the ${s.counts.evaluated} evaluated questions only. Fix the cause, then run them again with: ${resumeCmd}\n`);
      return EXIT.failed;
    }
    io.stderr.write(
      `valor eval: ${outcome.status === 'interrupted' ? 'interrupted' : 'not finished'}: ${s.counts.done} of ${s.counts.selected} questions done; ` +
        `the records are kept. Continue with: ${resumeCmd}\n`,
    );
    return EXIT.failed;
  },
};
