/**
 * `report.html` of an eval run: one self-contained page (inline CSS, no scripts, no external
 * resources) that opens from disk or a CI artifact. Metrics per answer type, errors by kind, a
 * table of questions per answer type, and every failure with its plan, program, tool trace and
 * error, each linking to its run record by relative path. Everything taken from the run (model
 * output above all) is HTML-escaped.
 */
import type { RunRecord } from '../../protocol/run.js';
import { type EvalResult, type EvalSummary, incompleteLine, metricsScope, rewardTotalText } from './summary.js';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const e = (v: unknown): string => escapeHtml(typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v) ?? String(v));
const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}… (${s.length - n} more characters in the record)` : s);
const pct = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
/** A relative link to a record: each path segment URI-encoded, then escaped for the attribute. */
const href = (rel: string): string => escapeHtml(rel.split('/').map(encodeURIComponent).join('/'));

/** Most failures shown in full; the rest are listed in the tables with links to their records. */
export const MAX_DETAILED_FAILURES = 300;
/** Most rows per answer-type table. */
export const MAX_TABLE_ROWS = 5000;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.ok td.st{color:#1a7f37}tr.bad td.st{color:#cf222e}tr.err td.st{color:#9a6700}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:8px;overflow:auto;max-height:420px;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}
details{border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;margin:8px 0}
summary{cursor:pointer;font-weight:600}.muted{color:#57606a}.warn{color:#9a6700}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:6px 0}dt{color:#57606a}dd{margin:0}
`;

function kv(rows: [string, string][]): string {
  return `<dl>${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function status(r: EvalResult): { cls: string; text: string } {
  if (r.error_kind) return { cls: 'err', text: `${r.error_kind}${r.error_type ? `: ${r.error_type}` : ''}` };
  if (r.correct) return { cls: 'ok', text: 'correct' };
  if (r.type === 'float' && r.score > 0) return { cls: 'bad', text: 'partly' };
  return { cls: 'bad', text: r.invalid ? `wrong (${r.invalid})` : 'wrong' };
}

/** The compared prediction, with the program's own answer beside it when they differ ("a", answered "tv"). */
function predictionCell(r: EvalResult): string {
  const p = r.prediction === null ? '<span class="muted">none</span>' : e(clip(r.prediction, 200));
  return r.answer !== undefined ? `${p} <span class="muted">(program answered ${e(JSON.stringify(r.answer))})</span>` : p;
}

function resultsTable(rows: readonly EvalResult[]): string {
  const shown = rows.slice(0, MAX_TABLE_ROWS);
  const body = shown
    .map((r) => {
      const st = status(r);
      return `<tr class="${st.cls}"><td class="n">${r.line}</td><td>${e(r.id)}</td><td>${e(clip(r.question, 300))}</td><td>${e(r.ground_truth)}</td><td>${predictionCell(r)}</td><td class="n">${r.score.toFixed(2)}</td><td class="st">${e(st.text)}</td><td><a href="${href(r.record)}">record</a></td></tr>`;
    })
    .join('\n');
  const more = rows.length > shown.length ? `<p class="muted">${rows.length - shown.length} more rows: see summary.json.</p>` : '';
  return `<table><thead><tr><th>line</th><th>id</th><th>question</th><th>ground truth</th><th>prediction</th><th>score</th><th>status</th><th></th></tr></thead><tbody>\n${body}\n</tbody></table>${more}`;
}

function numbered(program: string): string {
  const lines = program.split('\n');
  const w = String(lines.length).length;
  return lines.map((l, i) => `${String(i + 1).padStart(w)}  ${l}`).join('\n');
}

function traceTable(rec: RunRecord): string {
  if (rec.trace.length === 0) return '<p class="muted">No tool calls.</p>';
  const rows = rec.trace
    .map(
      (t) =>
        `<tr><td class="n">${t.index}</td><td>${e(t.tool)}</td><td class="n">${t.line ?? ''}</td><td>${e(clip(JSON.stringify(t.args), 400))}</td><td>${t.error ? `<span class="warn">${e(`${t.error.type}: ${t.error.message}`)}</span>` : e(clip(JSON.stringify(t.result) ?? 'null', 600))}</td><td class="n">${Math.round(t.ms)}</td></tr>`,
    )
    .join('\n');
  return `<table><thead><tr><th>#</th><th>tool</th><th>line</th><th>arguments</th><th>result</th><th>ms</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function failureDetail(r: EvalResult, rec: RunRecord | undefined): string {
  const st = status(r);
  const head = `line ${r.line} · ${r.id} · ${st.text}`;
  const facts = kv([
    ['question', e(r.question)],
    ['image', e(r.image)],
    ['ground truth', e(r.ground_truth)],
    ['prediction', predictionCell(r)],
    ['score', r.score.toFixed(2)],
    ['record', `<a href="${href(r.record)}">${e(r.record)}</a>`],
  ]);
  if (!rec) return `<details><summary>${e(head)}</summary>${facts}<p class="warn">The run record could not be read.</p></details>`;
  const parts = [facts];
  if (rec.error) {
    parts.push(
      `<h3>Error</h3><pre>${e(`${rec.error.type}${rec.error.line ? ` (program line ${rec.error.line})` : ''}: ${rec.error.message}`)}${rec.error.traceback ? `\n\n${e(clip(rec.error.traceback, 6000))}` : ''}</pre>`,
    );
  }
  parts.push(`<h3>Plan</h3>${rec.plan ? `<pre>${e(clip(rec.plan, 8000))}</pre>` : '<p class="muted">No plan.</p>'}`);
  parts.push(`<h3>Program</h3>${rec.program ? `<pre>${e(clip(numbered(rec.program), 12000))}</pre>` : '<p class="muted">No program.</p>'}`);
  if (!rec.plan && !rec.program && rec.reply) parts.push(`<h3>Reply</h3><pre>${e(clip(rec.reply, 8000))}</pre>`);
  parts.push(`<h3>Tool calls</h3>${traceTable(rec)}`);
  if (rec.stdout) parts.push(`<h3>Output</h3><pre>${e(clip(rec.stdout, 4000))}</pre>`);
  parts.push(`<p class="muted">Final answer: ${e(JSON.stringify(rec.final_answer ?? null) ?? 'null')}</p>`);
  return `<details><summary>${e(head)}</summary>${parts.join('\n')}</details>`;
}

/**
 * Renders the report. `loadRecord` reads a run record by its path relative to the report's
 * folder (undefined when it cannot), so the report shows plans and programs without holding
 * every record in memory.
 */
export async function renderReport(s: EvalSummary, loadRecord: (relPath: string) => Promise<RunRecord | undefined>): Promise<string> {
  const out: string[] = [];
  const title = `VALOR eval: ${s.input.path.split(/[\\/]/).pop() ?? s.input.path}`;
  out.push(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`);
  out.push(`<h1>${escapeHtml(title)}</h1>`);
  const inc = incompleteLine(s);
  const pending = s.counts.pending > 0 ? (s.interrupted ? `interrupted: ${s.counts.pending} questions pending` : `${s.counts.pending} questions pending`) : '';
  const state = [inc, pending].filter(Boolean).join('; ');
  const resume = s.resume_command ? ` Run them with: <code>${e(s.resume_command)}</code>` : ' Run them with --resume.';
  out.push(
    kv([
      ['status', s.complete ? 'complete' : `<span class="warn">${escapeHtml(state || 'incomplete')}.</span>${resume}`],
      ['input', `${e(s.input.path)} <span class="muted">sha256 ${e(s.input.sha256)}</span>`],
      ['images', e(s.images)],
      ['shard', s.shard ? `${s.shard.index}/${s.shard.count}` : s.merged_from ? `merged from ${s.merged_from.length} outputs` : 'whole file'],
      ['generator', `${e(s.models.generator.model)} at ${e(s.models.generator.base_url)}${s.models.generator.reported.length ? ` <span class="muted">(reported: ${e(s.models.generator.reported.join(', '))})</span>` : ''}`],
      ['tools', e(s.models.tools.url)],
      ...(s.models.judges ? ([['judges', `${e(s.models.judges.model)} at ${e(s.models.judges.base_url)}`]] as [string, string][]) : []),
      ['settings', e(JSON.stringify(s.settings))],
      ['created', e(s.created)],
    ]),
  );

  out.push(`<h2>Metrics${escapeHtml(metricsScope(s))}</h2>`);
  const rows = [...Object.entries(s.metrics.by_type), ['overall', s.metrics.overall] as const];
  out.push(
    `<table><thead><tr><th>answer type</th><th>questions</th><th>correct</th><th>score</th><th>failed</th><th>unreadable answers</th></tr></thead><tbody>${rows
      .map(
        ([t, g]) =>
          `<tr><td>${escapeHtml(t)}${t === 'float' ? ' <span class="muted">(mean relative accuracy)</span>' : ''}</td><td class="n">${g.n}</td><td class="n">${g.correct}</td><td class="n">${pct(g.score)}</td><td class="n">${g.failed}</td><td class="n">${g.invalid}</td></tr>`,
      )
      .join('')}</tbody></table>`,
  );
  out.push(
    `<p class="muted">Macro average over answer types: ${pct(s.metrics.macro)}. Questions done: ${s.counts.done} of ${s.counts.selected}` +
      `${(s.counts.not_evaluated ?? 0) > 0 ? `; ${s.counts.not_evaluated} not evaluated (infrastructure failures, left out of the metrics)` : ''}.</p>`,
  );

  out.push('<h2>Errors</h2>');
  const kinds = Object.entries(s.errors.by_kind).filter(([, n]) => n > 0);
  out.push(
    kinds.length === 0
      ? '<p>No failures.</p>'
      : `<table><thead><tr><th>kind</th><th>questions</th></tr></thead><tbody>${kinds.map(([k, n]) => `<tr><td>${escapeHtml(k)}</td><td class="n">${n}</td></tr>`).join('')}</tbody></table>`,
  );
  const types = Object.entries(s.errors.program_types);
  if (types.length) {
    out.push(
      `<h3>Program errors by type</h3><table><thead><tr><th>type</th><th>questions</th></tr></thead><tbody>${types.map(([k, n]) => `<tr><td>${e(k)}</td><td class="n">${n}</td></tr>`).join('')}</tbody></table>`,
    );
  }
  if (s.input.problems.length) {
    out.push(
      `<h3>Input lines skipped (${s.input.problems.length})</h3><table><thead><tr><th>line</th><th>problem</th></tr></thead><tbody>${s.input.problems
        .slice(0, 1000)
        .map((p) => `<tr><td class="n">${p.line}</td><td>${e(p.message)}</td></tr>`)
        .join('')}</tbody></table>`,
    );
  }

  if (s.rewards) {
    const r = s.rewards;
    out.push(
      `<h2>Rewards</h2><table><thead><tr><th>reward</th><th>mean</th><th>judge failures</th></tr></thead><tbody>${Object.entries(r.means)
        .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td class="n">${v === null ? '–' : v.toFixed(3)}</td><td class="n">${r.errors[k as keyof typeof r.errors] ?? 0}</td></tr>`)
        .join('')}<tr><td>total</td><td class="n">${r.total_mean === null ? 'incomplete' : r.total_mean.toFixed(3)}</td><td class="n">${r.incomplete} incomplete</td></tr></tbody></table><p class="muted">${escapeHtml(rewardTotalText(r))}.</p>`,
    );
  }

  out.push('<h2>Questions by answer type</h2>');
  for (const t of Object.keys(s.metrics.by_type)) {
    const list = s.results.filter((r) => r.type === t);
    out.push(`<h3>${escapeHtml(t)} (${list.length}, score ${pct(s.metrics.by_type[t as keyof typeof s.metrics.by_type]?.score ?? null)})</h3>`);
    out.push(resultsTable(list));
  }

  const failures = s.results.filter((r) => !r.correct);
  // Errors first (something broke), then wrong answers; input order within each.
  failures.sort((a, b) => Number(!a.error_kind) - Number(!b.error_kind) || a.line - b.line);
  out.push(`<h2>Failures (${failures.length})</h2>`);
  if (failures.length === 0) out.push('<p>Every answer was correct.</p>');
  for (const r of failures.slice(0, MAX_DETAILED_FAILURES)) out.push(failureDetail(r, await loadRecord(r.record)));
  if (failures.length > MAX_DETAILED_FAILURES) {
    out.push(`<p class="muted">${failures.length - MAX_DETAILED_FAILURES} more failures: follow the record links in the tables above.</p>`);
  }
  out.push('</body></html>\n');
  return out.join('\n');
}
