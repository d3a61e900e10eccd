/**
 * `valor audit stats` and `valor audit override`: agreement between the machine verdicts and
 * people's overrides, and appending an override from a script.
 */
import { resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { agreementStats, appendOverride, boxSubject, DEFAULT_AUDIT_PATH, readAuditLog, rewardSubject, type AgreementStat } from '../../core/audit.js';
import { sha256File } from '../../core/contentHash.js';
import { parseVprog } from '../../core/vprog.js';
import { RewardName, type Override } from '../../protocol/run.js';
import { type CliCommand, EXIT, parseCliArgs, UsageError } from '../command.js';
import { requireQuery } from '../vprogFile.js';

const statsUsage = `Usage: valor audit stats [--audit FILE] [--json]

For each reward and for boxes, from the latest override of each verdict in the audit log
(default .valor/audits.jsonl): how many were audited, how often the machine agreed with the
person, and Cohen's kappa (undefined when both gave one value to everything).
`;

function pct(x: number | null): string {
  return x === null ? '-' : `${(x * 100).toFixed(1)}%`;
}

function row(name: string, s: AgreementStat): string {
  const kappa = s.kappa === null ? (s.compared > 0 ? 'undefined' : '-') : s.kappa.toFixed(3);
  return `  ${name.padEnd(10)} ${String(s.audited).padStart(7)} ${String(s.compared).padStart(8)} ${pct(s.agreement).padStart(9)} ${kappa.padStart(9)}${s.kappa === null && s.kappa_note && s.compared > 0 ? `  (${s.kappa_note})` : ''}`;
}

export const auditStatsCommand: CliCommand = {
  name: 'audit stats',
  summary: "agreement and Cohen's kappa between judges/verifier and human overrides",
  usage: statsUsage,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, { options: { audit: { type: 'string' }, json: { type: 'boolean' } } });
    const path = resolve(io.cwd, (values.audit as string | undefined) ?? DEFAULT_AUDIT_PATH);
    const log = await readAuditLog(path);
    for (const w of log.warnings) io.stderr.write(`warning: ${w.message}\n`);
    const stats = agreementStats(log.overrides);
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ audit: path, records: log.overrides.length, warnings: log.warnings, ...stats })}\n`);
      return EXIT.ok;
    }
    io.stdout.write(`audit log: ${path} (${log.overrides.length} record${log.overrides.length === 1 ? '' : 's'})\n`);
    io.stdout.write(`  ${'verdict'.padEnd(10)} ${'audited'.padStart(7)} ${'compared'.padStart(8)} ${'agreement'.padStart(9)} ${'kappa'.padStart(9)}\n`);
    for (const name of RewardName.options) {
      const s = stats.rewards[name];
      io.stdout.write(`${row(name, s ?? { audited: 0, compared: 0, agree: 0, agreement: null, kappa: null })}\n`);
    }
    io.stdout.write(`${row('boxes', stats.boxes)}\n`);
    return EXIT.ok;
  },
};

const overrideUsage = `Usage: valor audit override --kind reward|box --target T --value V --note TEXT
                            (--subject KEY | --vprog FILE | --image IMG --prompt P) [options]

Appends one override to the audit log (default .valor/audits.jsonl).

  --kind reward|box     what is overridden
  --target T            reward name (format, syntax, spatial, attribute, logic, adherence) or box index
  --value V             the person's verdict: 1 or 0 (format also 0.5); boxes: 1 keep, 0 drop
  --machine V           the machine's verdict being overridden (for agreement statistics)
  --note TEXT           why
  --subject KEY         the subject key, or let it be computed:
  --vprog FILE          rewards: the subject of the reply in a .vprog document
  --image IMG --prompt P  boxes: the subject of this image and detector prompt
  --author NAME         who (default $USER)
  --audit FILE          the log to append to
`;

export const auditOverrideCommand: CliCommand = {
  name: 'audit override',
  summary: 'append a human override of a reward or box verdict to the audit log',
  usage: overrideUsage,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, {
      options: {
        kind: { type: 'string' },
        subject: { type: 'string' },
        vprog: { type: 'string' },
        image: { type: 'string' },
        prompt: { type: 'string' },
        target: { type: 'string' },
        value: { type: 'string' },
        machine: { type: 'string' },
        note: { type: 'string' },
        author: { type: 'string' },
        audit: { type: 'string' },
      },
    });
    const kind = values.kind;
    if (kind !== 'reward' && kind !== 'box') throw new UsageError(`--kind must be reward or box\n\n${overrideUsage}`);
    if (!values.target) throw new UsageError('give --target (a reward name or a box index)');
    if (kind === 'reward' && !RewardName.safeParse(values.target).success) throw new UsageError(`--target must be one of ${RewardName.options.join(', ')} for rewards`);
    if (kind === 'box' && !/^\d+$/.test(values.target)) throw new UsageError('--target must be the box index (0, 1, ...) for boxes');
    const value = Number(values.value);
    if (values.value === undefined || !Number.isFinite(value)) throw new UsageError('give --value (1 or 0)');
    let machine: number | null = null;
    if (values.machine !== undefined && values.machine !== 'null') {
      machine = Number(values.machine);
      if (!Number.isFinite(machine)) throw new UsageError(`--machine must be a number, got '${values.machine}'`);
    }
    let subject = values.subject;
    if (!subject && values.vprog) {
      const doc = parseVprog(await readFile(resolve(io.cwd, values.vprog), 'utf8'));
      subject = rewardSubject(requireQuery(values.vprog, doc), doc.reply);
    }
    if (!subject && values.image && values.prompt) subject = boxSubject(await sha256File(resolve(io.cwd, values.image)), values.prompt);
    if (!subject) throw new UsageError('give --subject, or --vprog FILE (rewards), or --image and --prompt (boxes)');
    const record: Override = {
      kind,
      subject,
      target: values.target,
      value,
      machine_value: machine,
      note: values.note ?? '',
      author: values.author ?? io.env.USER ?? undefined,
      at: new Date().toISOString(),
    };
    const path = resolve(io.cwd, values.audit ?? DEFAULT_AUDIT_PATH);
    try {
      await appendOverride(path, record);
    } catch (err) {
      if (err instanceof RangeError) throw new UsageError(err.message);
      throw err;
    }
    io.stdout.write(`appended to ${path}: ${kind} ${values.target} = ${value} (subject ${subject})\n`);
    return EXIT.ok;
  },
};
