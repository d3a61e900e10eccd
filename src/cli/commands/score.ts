/**
 * `valor score FILE.vprog`: VALOR's six rewards for the reply in a `.vprog` document, with each
 * verdict's rationale and the weighted total. The judges are the endpoint in VALOR_JUDGE_*;
 * overrides in the audit log are applied.
 */
import { ProgramRunner } from '../../core/runner/index.js';
import { scoreReply, type ScoredReply } from '../../core/rewards/score.js';
import { JUDGE_REWARDS, type JudgeReward } from '../../core/rewards/rubrics.js';
import { WEIGHTED_REWARDS } from '../../core/rewards/total.js';
import { programLineToDocumentLine, resolveImagePath } from '../../core/vprog.js';
import type { Verdict } from '../../protocol/run.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { ISOLATION_OPTION, ISOLATION_USAGE, isolationFromCli } from '../isolation.js';
import { endpointFromEnv } from '../config.js';
import { formatFailingCites } from '../format.js';
import { judgeSetFrom, JUDGE_PROMPT_OPTIONS, JUDGE_PROMPT_USAGE } from '../promptOptions.js';
import { loadOverrides, SCORING_OPTIONS, weightsFrom } from '../scoringOptions.js';
import { describeJudgeSet } from '../../core/rewards/judgeSet.js';
import { readVprogFile, requireQuery } from '../vprogFile.js';

const usage = `Usage: valor score FILE.vprog [options]

Scores the reply in FILE.vprog with VALOR's six rewards: format (parser), syntax (the program run
with placeholder tools) and four language-model judges (spatial, attribute, logic, adherence),
then the total  format x (0.3 logic + 0.1 syntax + 0.2 attribute + 0.2 spatial + 0.2 adherence).

Options:
  --json               print one JSON object (verdicts with prompts and raw replies, total)
  --weights SPEC       e.g. logic=0.4,adherence=0.1 (unnamed rewards keep VALOR's weights; the five sum to 1)
  --vision-judge       the judges also see the image (needs a vision model)
  --audit FILE         audit log whose overrides are applied (default .valor/audits.jsonl when present)
  --no-audit           ignore the audit log
  --base-url URL       judge endpoint (else VALOR_JUDGE_BASE_URL)
  --model NAME         judge model (else VALOR_JUDGE_MODEL); key: VALOR_JUDGE_API_KEY or OPENAI_API_KEY
  --syntax-timeout SEC time limit of the placeholder run (default 10)
  --total-rule RULE    product (default: format x weighted sum, a repeated tag halves it) or gate
                       (VALOR's code: format only as a zero / non-zero gate)
  --judge-gated        call the judges even when format is 0 (for audits; the total is 0 either way)
${JUDGE_PROMPT_USAGE}
  --refresh            ask every judge again, even when its verdict is cached (new verdicts are cached)
  --rejudge LIST       ask only these judges again (e.g. logic or spatial,adherence); the others
                       answer from the cache, as without the option
  --no-cache           neither read nor write the reply cache (else VALOR_NO_CACHE=1)

Only validated verdicts are cached: a judge that failed or gave an unreadable reply is asked
again on the next run.

${ISOLATION_USAGE}
Exit codes: 0 scored; 1 a judge failed (the total is incomplete); 2 bad usage or configuration.
`;

function fmtValue(v: Verdict): string {
  if (v.state === 'error') return 'ERROR';
  if (v.state === 'skipped') return '-';
  return String(v.value);
}

export function printScore(file: string, r: ScoredReply, out: NodeJS.WritableStream, documentLine?: (programLine: number) => number | null): void {
  out.write(`${file}\n`);
  for (const v of r.verdicts) {
    const who = v.judge === 'parser' || v.judge === 'runner' || v.judge === 'rule' || v.judge === 'gate' ? v.judge : `${v.judge}${v.cached ? ', cached' : ''}${v.ms !== undefined ? `, ${(v.ms / 1000).toFixed(1)} s` : ''}`;
    const o = r.overridden?.[v.reward];
    const text = v.state === 'error' ? (v.error ?? 'failed') : v.rationale;
    out.write(`  ${v.reward.padEnd(10)} ${fmtValue(v).padEnd(5)} ${`[${who}]`} ${text.replace(/\s+/g, ' ').trim()}\n`);
    const cites = formatFailingCites(v, documentLine);
    if (cites) out.write(`  ${''.padEnd(10)} ${''.padEnd(5)} ${cites}\n`);
    if (o) out.write(`  ${''.padEnd(10)} ${''.padEnd(5)} overridden by ${o.author ?? 'a person'} (machine said ${o.machine_value ?? 'nothing'}): ${o.note}\n`);
  }
  const formula = `${r.total_rule === 'gate' ? '[format > 0]' : 'format'} x (${WEIGHTED_REWARDS.map((k) => `${r.weights[k]} ${k}`).join(' + ')})`;
  if (r.judges) out.write(`judges: ${describeJudgeSet(r.judges)}\n`);
  if (r.total === null) out.write(`total: incomplete (a judge failed; nothing was counted as 0)  ${formula}\n`);
  else out.write(`total: ${Number(r.total.toFixed(4))}  ${formula}\n`);
}

/** `--rejudge spatial,logic`: the judge rewards named, each once. */
export function parseRejudge(text: string): JudgeReward[] {
  const names = text.split(',').map((n) => n.trim()).filter((n) => n.length > 0);
  if (names.length === 0) throw new UsageError(`--rejudge needs one or more of ${JUDGE_REWARDS.join(', ')}, comma-separated`);
  for (const n of names) {
    if (n === 'format') throw new UsageError("--rejudge format: the format reward comes from the parser, not a judge: edit the document and score it again");
    if (n === 'syntax') throw new UsageError('--rejudge syntax: the syntax reward is never cached; every valor score runs the program again');
    if (!(JUDGE_REWARDS as readonly string[]).includes(n)) throw new UsageError(`--rejudge: unknown reward '${n}'; the judges are ${JUDGE_REWARDS.join(', ')}`);
  }
  return [...new Set(names)] as JudgeReward[];
}

export const scoreCommand: CliCommand = {
  name: 'score',
  summary: "score a .vprog reply with VALOR's six rewards (format, syntax, four judges) and the total",
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      allowPositionals: true,
      options: {
        ...ISOLATION_OPTION,
        ...SCORING_OPTIONS,
        'base-url': { type: 'string' },
        model: { type: 'string' },
        'syntax-timeout': { type: 'string' },
        'total-rule': { type: 'string' },
        'judge-gated': { type: 'boolean' },
        ...JUDGE_PROMPT_OPTIONS,
        refresh: { type: 'boolean' },
        rejudge: { type: 'string' },
        'no-cache': { type: 'boolean' },
      },
    });
    const { values, positionals } = parsed;
    const isolation = isolationFromCli(values.isolation, io.env);
    if (positionals.length !== 1) throw new UsageError(`expected one .vprog file\n\n${usage}`);
    const { path: docPath, doc } = await readVprogFile(io.cwd, positionals[0]!);
    const query = requireQuery(positionals[0]!, doc);
    const imagePath = doc.image ? resolveImagePath(docPath, doc.image) : undefined;
    if (values['vision-judge'] && !imagePath) throw new UsageError(`--vision-judge needs the image: add a '# image: <path>' header to ${positionals[0]}`);
    const weights = weightsFrom(values);
    const syntaxSec = values['syntax-timeout'] === undefined ? 10 : Number(values['syntax-timeout']);
    if (!(syntaxSec > 0)) throw new UsageError(`--syntax-timeout must be a positive number of seconds, got '${values['syntax-timeout']}'`);
    const totalRule = values['total-rule'] ?? 'product';
    if (totalRule !== 'product' && totalRule !== 'gate') throw new UsageError(`--total-rule must be 'product' or 'gate', got '${totalRule}'`);
    const rejudge = values.rejudge === undefined ? undefined : parseRejudge(values.rejudge);
    if (rejudge && values.refresh) throw new UsageError('--refresh already asks every judge again: give --refresh or --rejudge, not both');
    const judge = endpointFromEnv('judge', io.env, { baseUrl: values['base-url'], model: values.model, noCache: values['no-cache'] });
    const judgeSet = await judgeSetFrom(values, io);
    const overrides = await loadOverrides(values, io);
    const runner = new ProgramRunner({ isolation });
    let result: ScoredReply;
    try {
      result = await scoreReply({
        query,
        reply: doc.reply,
        imagePath,
        judge,
        runner,
        weights,
        overrides,
        visionJudge: values['vision-judge'],
        judgeSet,
        judgeWhenGated: values['judge-gated'],
        totalRule,
        syntaxTimeoutMs: syntaxSec * 1000,
        refresh: rejudge ?? values.refresh,
        signal: io.signal,
      });
    } finally {
      await runner.dispose();
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ file: docPath, query, image: imagePath ?? null, ...result })}\n`);
    } else {
      printScore(positionals[0]!, result, io.stdout, (n) => programLineToDocumentLine(doc, n));
    }
    if (result.incomplete) {
      const failed = result.verdicts.filter((v) => v.state === 'error').map((v) => v.reward);
      io.stderr.write(`valor score: ${failed.join(', ')} failed; nothing of ${failed.length === 1 ? 'it' : 'them'} was cached: run the same command again to ask again (--refresh also re-asks the judges that answered)\n`);
      return EXIT.failed;
    }
    return EXIT.ok;
  },
};
