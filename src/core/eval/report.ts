/**
 * `report.html` of an eval run: one self-contained page (inline CSS and one script of ours, both
 * under a nonce Content-Security-Policy, images only as `data:`, no external resources) that
 * opens from disk or a CI artifact. Metrics per answer type, errors by kind and rewards are
 * rendered here; the questions are a browser (src/core/eval/reportApp.ts) over JSON: per
 * question a thumbnail with its detections, the answer against the ground truth, the failure
 * kind, and on opening the program with the lines that ran, the calls and the plan; filters by
 * benchmark, outcome and failure kind. Thumbnails are one small JPEG per distinct image.
 * Everything taken from the run is HTML-escaped here and set as text by the script; the JSON
 * cannot close its element (`<` is written as \u003c).
 */
import { randomBytes } from 'node:crypto';
import type { RunRecord } from '../../protocol/run.js';
import { PALETTE } from '../../protocol/callColors.js';
import { mapLimit } from '../concurrency.js';
import { REPORT_APP_CSS, REPORT_APP_JS, type ReportData, type ReportRow } from './reportApp.js';
import { thumbnailDataUrl } from './reportThumbs.js';
import { type EvalResult, type EvalSummary, incompleteLine, metricsScope, notEvaluated, rewardTotalText } from './summary.js';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const e = (v: unknown): string => escapeHtml(typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v) ?? String(v));
const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}… (${s.length - n} more characters in the record)` : s);
const pct = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);

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

/** A question's outcome for the browser: correct, partly, wrong, failed (no answer) or not evaluated (outage). */
function outcome(r: EvalResult): string {
  if (notEvaluated(r)) return 'not_evaluated';
  if (r.error_kind) return 'failed';
  if (r.correct) return 'correct';
  return r.type === 'float' && r.score > 0 ? 'partly' : 'wrong';
}

const short = (v: unknown, n: number): string => clip(typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null'), n);

/** The browser's row for a question, from its result and (when readable) its run record. */
export function reportRow(r: EvalResult, rec: RunRecord | undefined, img: number): ReportRow {
  const boxes: ReportRow['boxes'] = [];
  let ordinal = 0;
  for (const t of rec?.trace ?? []) {
    if (t.tool !== 'gd_detect') continue;
    const k = ordinal++;
    if (!Array.isArray(t.result)) continue;
    for (const d of t.result as { bbox?: unknown; label?: unknown }[]) {
      const b = d?.bbox;
      if (Array.isArray(b) && b.length === 4 && b.every((x) => typeof x === 'number')) {
        const [x1, y1, x2, y2] = b as number[];
        boxes.push([x1 as number, y1 as number, x2 as number, y2 as number, k, String(d.label ?? '')]);
      }
    }
  }
  const ran = [...new Set((rec?.trace ?? []).flatMap((t) => (t.line !== null && !t.error ? [t.line] : [])))].sort((a, b) => a - b);
  const err = rec?.error ? `${rec.error.type}${rec.error.line ? ` (program line ${rec.error.line})` : ''}: ${rec.error.message}${rec.error.traceback ? `\n\n${clip(rec.error.traceback, 4000)}` : ''}` : r.error_message ? `${r.error_type ?? 'error'}: ${r.error_message}` : undefined;
  return {
    id: r.id,
    line: r.line,
    type: r.type,
    bench: r.benchmark ?? r.category ?? '',
    q: clip(r.question, 1000),
    gt: typeof r.ground_truth === 'string' ? r.ground_truth : JSON.stringify(r.ground_truth),
    pred: r.prediction === null ? null : clip(r.prediction, 300),
    ...(r.answer !== undefined ? { ans: r.answer } : {}),
    score: r.score,
    st: outcome(r),
    kind: r.error_kind,
    ...(err ? { err } : {}),
    rec: r.record.split('/').map(encodeURIComponent).join('/'),
    img,
    w: rec?.image.width ?? 0,
    h: rec?.image.height ?? 0,
    boxes,
    ...(rec?.program ? { prog: clip(rec.program, 8000) } : {}),
    ran,
    ...(rec?.error?.line ? { errLine: rec.error.line } : {}),
    ...(rec?.plan ? { plan: clip(rec.plan, 3000) } : {}),
    calls: (rec?.trace ?? []).map((t) => [t.tool, t.line, short(t.args, 200), t.error ? `${t.error.type}: ${t.error.message}` : short(t.result, 300)]),
  };
}

/** JSON safe inside `<script type="application/json">`. */
function inlineJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export interface ReportOptions {
  /** A thumbnail data URL for an image path (default: sharp, 128 px JPEG); undefined for none. */
  thumbnail?: (imagePath: string) => Promise<string | undefined>;
  /** Records and thumbnails read at once (default 8). */
  concurrency?: number;
}

/**
 * Renders the report. `loadRecord` reads a run record by its path relative to the report's
 * folder (undefined when it cannot), so the report shows plans and programs without holding
 * every record in memory.
 */
export async function renderReport(s: EvalSummary, loadRecord: (relPath: string) => Promise<RunRecord | undefined>, opts: ReportOptions = {}): Promise<string> {
  const out: string[] = [];
  const nonce = randomBytes(16).toString('base64url');
  const csp = `default-src 'none'; img-src data:; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'`;
  const title = `VALOR eval: ${s.input.path.split(/[\\/]/).pop() ?? s.input.path}`;
  out.push(
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${CSS}${REPORT_APP_CSS}</style></head><body>`,
  );
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

  if (s.repair) {
    // --repair N: VALOR's single attempt against the run with repair, overall and per benchmark.
    const r = s.repair;
    const bench = Object.entries(r.by_benchmark);
    out.push(
      `<h2>Repair (--repair ${r.max_repairs})</h2><p>${r.repaired} of ${r.needed} failed question${r.needed === 1 ? '' : 's'} repaired; ${r.attempts} repair${r.attempts === 1 ? '' : 's'} asked of the generator.</p>` +
        `<table><thead><tr><th>benchmark</th><th>questions</th><th>without repair</th><th>with repair</th><th>repaired</th></tr></thead><tbody>${bench
          .map(([k, b]) => `<tr><td>${escapeHtml(k)}</td><td class="n">${b.n}</td><td class="n">${pct(b.without)}</td><td class="n">${pct(b.with)}</td><td class="n">${b.repaired}</td></tr>`)
          .join('')}<tr><td>overall</td><td class="n">${r.with.overall.n}</td><td class="n">${pct(r.without.overall.score)}</td><td class="n">${pct(r.with.overall.score)}</td><td class="n">${r.repaired}</td></tr></tbody></table>`,
    );
  }

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

  // The question browser: rows from results and records, one thumbnail per distinct image.
  const thumb = opts.thumbnail ?? thumbnailDataUrl;
  const records = await mapLimit(s.results, opts.concurrency ?? 8, (r) => loadRecord(r.record));
  const thumbIndex = new Map<string, Promise<number>>();
  const thumbs: string[] = [];
  const imageOf = (rec: RunRecord | undefined): Promise<number> => {
    const p = rec?.image.path;
    if (!p) return Promise.resolve(-1);
    let got = thumbIndex.get(p);
    if (!got) {
      got = thumb(p).then((url) => (url ? thumbs.push(url) - 1 : -1));
      thumbIndex.set(p, got);
    }
    return got;
  };
  const imgs = await mapLimit(records, opts.concurrency ?? 8, (rec) => imageOf(rec));
  const data: ReportData = { palette: PALETTE, thumbs, rows: s.results.map((r, i) => reportRow(r, records[i], imgs[i] ?? -1)) };
  const unreadable = records.filter((x) => !x).length;
  out.push(`<h2>Questions (${s.results.length})</h2>`);
  if (unreadable) out.push(`<p class="warn">${unreadable} run record${unreadable === 1 ? '' : 's'} could not be read: those questions show no program or detections.</p>`);
  out.push('<div id="questions"><noscript>The question browser needs JavaScript; every result is also in summary.json.</noscript></div>');
  out.push(`<script type="application/json" id="report-data">${inlineJson(data)}</script>`);
  out.push(`<script nonce="${nonce}">${REPORT_APP_JS.replace(/<\/(script)/gi, '<\\/$1')}</script>`);
  out.push('</body></html>\n');
  return out.join('\n');
}
