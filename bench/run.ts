/**
 * The benchmark suite (`npm run bench`): runs every bench/*.ts module that exports
 * `bench(): Promise<BenchResult[]>`, each in its own child process (so one module's memory,
 * leftover handles or crash cannot affect the next, and a hung module can be stopped), prints
 * one table and writes bench/results.json with every figure, its baseline measured in the same
 * run, and the machine it ran on.
 *
 *   npm run bench                  all modules
 *   npm run bench -- eval server   only modules whose file name contains one of the words
 *   BENCH_TIMEOUT_S=1200           per-module time limit (default 900 s)
 *
 * A module that fails (throws, exits, times out) becomes a row with its error; the suite goes on.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, platform, release, tmpdir, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { BenchResult } from './types.js';

const BENCH_DIR = __dirname;
const NOT_MODULES = new Set(['run.ts', 'types.ts']);

interface ModuleOutcome {
  module: string;
  ms: number;
  results: BenchResult[];
  error?: string;
}

interface Row extends BenchResult {
  module: string;
  met?: boolean;
  error?: string;
}

/** Child mode: import one module, run its bench(), write the results as JSON to `outPath`. */
async function runOne(file: string, outPath: string): Promise<void> {
  try {
    const mod = (await import(resolve(file))) as { bench?: unknown };
    if (typeof mod.bench !== 'function') throw new Error(`${basename(file)} does not export bench()`);
    const results = (await (mod.bench as () => Promise<BenchResult[]>)()) ?? [];
    writeFileSync(outPath, JSON.stringify({ results }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    writeFileSync(outPath, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
}

function spawnOne(file: string, timeoutMs: number): Promise<ModuleOutcome> {
  const module = basename(file, '.ts');
  const dir = mkdtempSync(join(tmpdir(), 'valor-bench-'));
  const outPath = join(dir, 'results.json');
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--one', file, outPath], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: process.env,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      process.stderr.write(d);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      let results: BenchResult[] = [];
      let error: string | undefined;
      try {
        const doc = JSON.parse(readFileSync(outPath, 'utf8')) as { results?: BenchResult[]; error?: string };
        if (doc.error !== undefined) error = doc.error;
        results = doc.results ?? [];
      } catch {
        const last = stderr.trim().split('\n').slice(-3).join(' | ');
        error = timedOut
          ? `timed out after ${Math.round(timeoutMs / 1000)} s (raise BENCH_TIMEOUT_S)`
          : `exited with ${signal ?? `code ${code}`} without results${last ? `: ${last}` : ''}`;
      }
      rmSync(dir, { recursive: true, force: true });
      resolvePromise({ module, ms, results, ...(error ? { error } : {}) });
    });
  });
}

/**
 * Reads a target such as `<= 0.25`, `>= 3.2x`, `miss/hit >= 20` or `< 16 ms per frame`. The
 * number is compared with the value when the target names the row's unit or the value is itself
 * a fraction or ratio, otherwise with the ratio to the baseline. Undefined when it cannot tell.
 */
export function targetMet(r: BenchResult): boolean | undefined {
  if (typeof r.met === 'boolean') return r.met;
  if (!r.target) return undefined;
  const m = /(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(.*)$/.exec(r.target);
  if (!m) return undefined;
  const [, op, num, rest = ''] = m;
  const limit = Number(num);
  const unitWords = rest.trim().toLowerCase();
  const namesUnit = unitWords !== '' && unitWords.split(/\s+/)[0] === r.unit.toLowerCase();
  const dimensionless = ['fraction', 'ratio', 'x', '%'].includes(r.unit.toLowerCase());
  const subject = namesUnit || dimensionless || r.ratio === undefined ? r.value : r.ratio;
  if (!Number.isFinite(subject)) return undefined;
  switch (op) {
    case '<=':
      return subject <= limit;
    case '>=':
      return subject >= limit;
    case '<':
      return subject < limit;
    case '>':
      return subject > limit;
  }
  return undefined;
}

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(3);
}

function table(rows: Row[]): string {
  const head = ['module', 'name', 'value', 'unit', 'baseline', 'ratio', 'target', 'met?'];
  const cells = rows.map((r) =>
    r.error
      ? [r.module, r.name, 'ERROR', '', '', '', '', r.error]
      : [
          r.module,
          r.name,
          fmt(r.value),
          r.unit,
          r.baseline ? `${fmt(r.baseline.value)} (${r.baseline.name})` : '',
          r.ratio === undefined ? '' : fmt(r.ratio),
          r.target ?? '',
          r.met === undefined ? (r.target ? '?' : '') : r.met ? 'yes' : 'NO',
        ],
  );
  const limits: Record<number, number> = { 1: 70, 4: 48, 7: 100 };
  const clip = (s: string, i: number): string => {
    const max = limits[i];
    return max !== undefined && s.length > max ? `${s.slice(0, max - 1)}…` : s;
  };
  const all = [head, ...cells].map((row) => row.map(clip));
  const widths = head.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 2 || i === 5 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(all[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpu_model: cpu[0]?.model ?? 'unknown',
    total_memory_gib: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${platform()} ${release()}`,
    host: hostname(),
    date: new Date().toISOString(),
  };
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--one') {
    await runOne(argv[1] as string, argv[2] as string);
    // Leftover handles (servers a module forgot) must not keep the child alive.
    process.exit(0);
  }
  const filters = argv.filter((a) => !a.startsWith('-'));
  const files = readdirSync(BENCH_DIR)
    .filter((n) => n.endsWith('.ts') && !n.endsWith('.d.ts') && !NOT_MODULES.has(n))
    .filter((n) => filters.length === 0 || filters.some((f) => n.includes(f)))
    .sort()
    .map((n) => join(BENCH_DIR, n));
  if (files.length === 0) {
    process.stderr.write(`no benchmark modules match ${filters.join(' ')}\n`);
    return 2;
  }
  const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 900) * 1000;
  const started = new Date();
  const outcomes: ModuleOutcome[] = [];
  for (const f of files) {
    process.stderr.write(`bench: ${basename(f)} ...\n`);
    const o = await spawnOne(f, timeoutMs);
    process.stderr.write(`bench: ${basename(f)} ${o.error ? `FAILED: ${o.error}` : `${o.results.length} figure(s)`} in ${(o.ms / 1000).toFixed(1)} s\n`);
    outcomes.push(o);
  }
  const rows: Row[] = outcomes.flatMap((o): Row[] => {
    const rs: Row[] = o.results.map((r) => ({ ...r, module: o.module, met: targetMet(r) }));
    if (o.error) rs.push({ module: o.module, name: '(module failed)', value: Number.NaN, unit: '', error: o.error });
    return rs;
  });
  process.stdout.write(`\n${table(rows)}\n`);
  const out = join(BENCH_DIR, 'results.json');
  const doc = {
    machine: machine(),
    started: started.toISOString(),
    finished: new Date().toISOString(),
    modules: outcomes.map((o) => ({ module: o.module, seconds: Number((o.ms / 1000).toFixed(1)), figures: o.results.length, ...(o.error ? { error: o.error } : {}) })),
    results: rows.map((r) => ({ ...r, value: Number.isFinite(r.value) ? r.value : null })),
    // Mutation scores are measured by `npm run mutation` (scripts/mutation/score.mjs), not here: kept as they were.
    ...previousMutation(out),
  };
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  const failed = outcomes.filter((o) => o.error).length;
  process.stdout.write(`\nwrote ${out}${failed ? ` (${failed} module(s) failed)` : ''}\n`);
  return failed ? 1 : 0;
}

/** The `mutation` figures of an existing results file, to carry over into the new one. */
function previousMutation(path: string): { mutation?: unknown } {
  try {
    const prev = JSON.parse(readFileSync(path, 'utf8')) as { mutation?: unknown };
    return prev.mutation === undefined ? {} : { mutation: prev.mutation };
  } catch {
    return {};
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
