/**
 * `valor judges calibrate`: per reward, how a judge's verdicts agree with the human decisions in
 * the audit log, and with a second judge's on the same items (src/core/audit/calibration.ts).
 */
import { resolve } from 'node:path';
import { DEFAULT_AUDIT_PATH, OverrideIndex, readAuditLog } from '../../core/audit.js';
import { calibrate, type CalibrationReport } from '../../core/audit/calibration.js';
import type { KappaInterval } from '../../core/review/agreement.js';
import { openReviewSource } from '../../core/review/source.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';

const usage = `Usage: valor judges calibrate ITEMS [--compare ITEMS2] [--audit FILE] [--json]

ITEMS: an eval output folder (valor eval --score), a folder of run records, or a JSONL file of
replies with their verdicts (a line's "compare" holds a second judge's; see docs/audit.md).
--compare ITEMS2: the same items scored by a second judge (paired by question id / record id).

For each reward: how many items a person decided (audit log, default .valor/audits.jsonl), and
agreement with Cohen's kappa and its 95% interval between the judge and the people; with a
second judge also second judge vs people and judge vs judge. Failed verdicts are left out and
counted. Exit codes: 0 reported; 2 bad usage.
`;

function cell(k: KappaInterval | undefined): string {
  if (!k) return '';
  if (k.n === 0) return 'n=0';
  const ag = k.agreement === null ? '-' : `${(k.agreement * 100).toFixed(0)}%`;
  const kappa = k.kappa === null ? 'kappa undefined' : `kappa ${k.kappa.toFixed(2)} [${(k.lo ?? 0).toFixed(2)}, ${(k.hi ?? 0).toFixed(2)}]`;
  return `n=${k.n} ${ag} ${kappa}`;
}

export function printCalibration(r: CalibrationReport, out: NodeJS.WritableStream): void {
  out.write(`${r.source}: ${r.items} items\n`);
  const head = ['reward', 'reviewed', 'failed', 'judge vs people', ...(r.compared ? ['2nd judge vs people', 'judge vs 2nd judge'] : [])];
  const rows = r.rewards.map((x) => [
    x.reward,
    String(x.reviewed),
    r.compared ? `${x.failed.first}/${x.failed.second}` : String(x.failed.first),
    cell(x.first_vs_human),
    ...(r.compared ? [cell(x.second_vs_human), cell(x.first_vs_second)] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd();
  out.write(`${line(head)}\n`);
  for (const row of rows) out.write(`${line(row)}\n`);
}

export const judgesCalibrateCommand: CliCommand = {
  name: 'judges calibrate',
  summary: "agreement per reward between a judge's verdicts and people's decisions (and a second judge)",
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCliArgs(argv, {
      allowPositionals: true,
      options: { compare: { type: 'string' }, audit: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (positionals.length !== 1) throw new UsageError(`expected one ITEMS path\n\n${usage}`);
    let source;
    try {
      source = await openReviewSource(resolve(io.cwd, positionals[0]!), { compare: values.compare ? resolve(io.cwd, values.compare) : undefined });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const path = resolve(io.cwd, values.audit ?? DEFAULT_AUDIT_PATH);
    const log = await readAuditLog(path);
    for (const w of [...log.warnings.map((x) => x.message), ...source.warnings]) io.stderr.write(`warning: ${w}\n`);
    const report = await calibrate(source, new OverrideIndex(log.overrides), io.signal);
    if (values.json) io.stdout.write(`${JSON.stringify({ audit: path, ...report })}\n`);
    else printCalibration(report, io.stdout);
    return EXIT.ok;
  },
};
