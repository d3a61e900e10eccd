// Turns Stryker's JSON reports (reports/mutation/<group>.json) into a score per module group:
// killed / (killed + survived), timeouts counted as killed, and mutants no test reached counted as
// survived (they are bugs no test would catch). Compile errors (dropped by the TypeScript checker)
// and ignored mutants are not counted. Prints a table with every surviving mutant and writes the
// figures under `mutation` in bench/results.json, keeping the rest of that file as the bench wrote it.
// Usage: node scripts/mutation/score.mjs [group ...]   (no group: every report present)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GROUPS } from './groups.mjs';

const REPORTS = 'reports/mutation';
const RESULTS = 'bench/results.json';

/** Counts of one Stryker report, and its surviving mutants as `file:line  mutator  replacement`. */
export function scoreReport(report) {
  const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, compileError: 0, ignored: 0, other: 0 };
  const survivors = [];
  for (const [file, f] of Object.entries(report.files ?? {})) {
    for (const m of f.mutants ?? []) {
      switch (m.status) {
        case 'Killed':
          c.killed++;
          break;
        case 'Timeout':
          c.timeout++;
          break;
        case 'Survived':
        case 'NoCoverage':
          if (m.status === 'Survived') c.survived++;
          else c.noCoverage++;
          survivors.push(`${relative(process.cwd(), file) || file}:${m.location?.start?.line ?? '?'}  ${m.status === 'NoCoverage' ? '(no test reaches it) ' : ''}${m.mutatorName}  ${JSON.stringify(m.replacement ?? '').slice(0, 80)}`);
          break;
        case 'CompileError':
          c.compileError++;
          break;
        case 'Ignored':
          c.ignored++;
          break;
        default:
          c.other++;
      }
    }
  }
  const detected = c.killed + c.timeout;
  const undetected = c.survived + c.noCoverage;
  const score = detected + undetected === 0 ? null : Number(((100 * detected) / (detected + undetected)).toFixed(1));
  return { ...c, score, survivors };
}

export function main(wanted = []) {
  const names = wanted.length > 0 ? wanted : existsSync(REPORTS) ? readdirSync(REPORTS).filter((f) => /^[\w-]+\.json$/.test(f) && !f.endsWith('.run.json')).map((f) => f.replace(/\.json$/, '')) : [];
  const rows = [];
  for (const name of names) {
    const path = `${REPORTS}/${name}.json`;
    if (!existsSync(path)) {
      rows.push({ group: name, error: `no report at ${path}: run npm run mutation -- ${name}` });
      continue;
    }
    const r = scoreReport(JSON.parse(readFileSync(path, 'utf8')));
    const runPath = `${REPORTS}/${name}.run.json`;
    const run = existsSync(runPath) ? JSON.parse(readFileSync(runPath, 'utf8')) : {};
    rows.push({ group: name, files: GROUPS[name]?.mutate ?? [], ...r, seconds: run.seconds ?? null, measured: run.finished ?? null, note: GROUPS[name]?.note });
  }
  const line = (cols) => cols.map((c, i) => String(c).padEnd([16, 8, 9, 10, 8, 9, 8][i] ?? 8)).join('');
  process.stdout.write(`${line(['module', 'killed', 'timeout', 'survived', 'no cov', 'score %', 'secs'])}\n`);
  for (const r of rows) {
    if (r.error) {
      process.stdout.write(`${r.group.padEnd(16)}${r.error}\n`);
      continue;
    }
    process.stdout.write(`${line([r.group, r.killed, r.timeout, r.survived, r.noCoverage, r.score ?? '-', r.seconds ?? '?'])}\n`);
  }
  for (const r of rows.filter((x) => x.survivors?.length)) {
    process.stdout.write(`\nsurviving in ${r.group}:\n${r.survivors.map((s) => `  ${s}`).join('\n')}\n`);
  }
  const doc = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
  const before = doc.mutation?.modules ?? {};
  const modules = { ...before };
  for (const r of rows) {
    if (r.error) continue;
    const { survivors, group, ...figures } = r;
    modules[group] = { ...figures, surviving: survivors };
  }
  doc.mutation = {
    formula: 'killed / (killed + survived); timeouts count as killed, mutants no test reaches count as survived',
    command: 'npm run mutation -- <group>',
    modules,
  };
  writeFileSync(RESULTS, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`\nwrote the mutation figures to ${RESULTS}\n`);
  return rows.some((r) => r.error) ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2));
