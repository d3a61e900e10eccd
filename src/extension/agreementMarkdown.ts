/**
 * "VALOR: Show Judge Agreement Statistics" as a Markdown document: per reward (and for boxes)
 * how many items a person audited, how many of those the machine had a verdict for, how often
 * they agreed, and Cohen's kappa, from core's `agreementStats` over the audit log.
 */
import type { Override } from '../protocol/run.js';

export function agreementMarkdown(
  path: string,
  overrides: readonly Override[],
  report: { rewards: Record<string, { audited: number; compared: number; agree: number; agreement: number | null; kappa: number | null; kappa_note?: string }>; boxes: { audited: number; compared: number; agree: number; agreement: number | null; kappa: number | null; kappa_note?: string } },
  warnings: number,
): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  const k = (x: number | null, note?: string) => (x === null ? `n/a${note ? ` (${note})` : ''}` : x.toFixed(3));
  const rows = Object.entries(report.rewards).map(([name, s]) => `| ${name} | ${s.audited} | ${s.compared} | ${s.agree} | ${pct(s.agreement)} | ${k(s.kappa, s.kappa_note)} |`);
  const b = report.boxes;
  return [
    '# Judge agreement',
    '',
    `From ${overrides.length} audit record${overrides.length === 1 ? '' : 's'} in \`${path}\` (the latest decision per item counts)${warnings ? `; ${warnings} unreadable line${warnings === 1 ? '' : 's'} skipped` : ''}.`,
    '',
    '| reward | audited | compared | agree | agreement | Cohen\'s κ |',
    '|---|---:|---:|---:|---:|---:|',
    ...(rows.length ? rows : ['| (no reward audits yet) | 0 | 0 | 0 | n/a | n/a |']),
    `| boxes | ${b.audited} | ${b.compared} | ${b.agree} | ${pct(b.agreement)} | ${k(b.kappa, b.kappa_note)} |`,
    '',
  ].join('\n');
}
