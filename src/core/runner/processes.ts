/**
 * The python3 processes of the runner: how the worker is started (its script and arguments), how
 * a process group is killed, and how start-up failures become RunnerSetupError.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ALLOWED_MODULES } from '../../protocol/programWire.js';
import { IsolationMode } from '../../protocol/run.js';
import { TOOL_PARAMS } from '../../protocol/tools.js';

/** A python process the runner started (the warm parent, or a program's own process). */
export interface RunnerProcessEvent {
  kind: 'worker' | 'program';
  pid: number;
}

/** What the worker is told: the tools, the importable modules, the isolation (start-up argument and every run request). */
export function workerConfig(isolation: IsolationMode): { tools: Record<string, readonly string[]>; allowed_modules: readonly string[]; isolation: IsolationMode } {
  return { tools: TOOL_PARAMS, allowed_modules: ALLOWED_MODULES, isolation };
}

/** How to opt out of the OS layer; said wherever the sandbox is refused or missing. */
export const ISOLATION_HINT =
  'To run programs anyway with process isolation only (a separate python3 with limits and a scrubbed environment; a hostile program can read your files and reach the network), ' +
  'set the VS Code setting valor.run.isolation to "process", or pass --isolation process to valor (or set VALOR_ISOLATION=process).';

/** The isolation asked for: the option, else VALOR_ISOLATION, else `sandbox`; anything else is a set-up error. */
export function isolationFrom(option: string | undefined, env: NodeJS.ProcessEnv): IsolationMode {
  const raw = option ?? (env.VALOR_ISOLATION || 'sandbox');
  const r = IsolationMode.safeParse(raw);
  if (!r.success) throw new RunnerSetupError(`unknown isolation mode ${JSON.stringify(raw)}: use "sandbox" (the default, the OS sandbox) or "process" (weaker, no OS confinement)`, 'start-failed');
  return r.data;
}

const WORKER_RELATIVE = join('python', 'valor_worker', 'worker.py');
let cached: string | null = null;

/**
 * Absolute path of worker.py. The code runs from `src/core/runner/` (tests, tsx), from `dist/` (the
 * CLI and the extension bundles) or from an installed VSIX (`<extension>/dist/`); in each the
 * `python/` folder is a few levels up, so the nearest one up the tree is used.
 */
export function pythonWorkerPath(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, WORKER_RELATIVE);
    if (existsSync(candidate)) return (cached = candidate);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`the Python worker (${WORKER_RELATIVE}) was not found above ${__dirname}; the installation is incomplete: reinstall VALOR Studio or rebuild with npm run build`);
}

export type RunnerSetupErrorCode = 'python-missing' | 'numpy-missing' | 'sandbox-unavailable' | 'start-failed';

/**
 * python3 could not be started or set up (missing executable, numpy not installed, start-up
 * failed). `run` rejects with it: it is a configuration problem, not a program failure.
 */
export class RunnerSetupError extends Error {
  constructor(
    message: string,
    readonly code: RunnerSetupErrorCode,
  ) {
    super(message);
    this.name = 'RunnerSetupError';
  }
}

/** python3's arguments for the worker in one mode; a missing worker file is a set-up error. */
export function workerArgs(mode: 'warm' | 'cold', isolation: IsolationMode): string[] {
  let script: string;
  try {
    script = pythonWorkerPath();
  } catch (err) {
    throw new RunnerSetupError((err as Error).message, 'start-failed');
  }
  return [script, mode, JSON.stringify(workerConfig(isolation))];
}

export function killGroup(pid: number): void {
  // The program's process leads its own process group (setsid); kill the group, and the process
  // itself in case it has not got that far yet.
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function signalName(sig: number | null): string {
  if (sig === null) return '';
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ' };
  return names[sig] ?? `signal ${sig}`;
}

export function parseFatal(stderr: string): { code: RunnerSetupErrorCode; message: string } | null {
  for (const line of stderr.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as { fatal?: unknown; message?: unknown };
      if ((v.fatal === 'numpy-missing' || v.fatal === 'sandbox-unavailable') && typeof v.message === 'string') return { code: v.fatal, message: v.message };
    } catch {
      // not ours
    }
  }
  return null;
}

export function setupError(python: string, how: { spawnError?: NodeJS.ErrnoException; stderr?: string; exit?: string }): RunnerSetupError {
  const hint = 'Set the runner\'s `python` option or the VALOR_PYTHON environment variable to a Python 3.8+ executable with numpy installed.';
  if (how.spawnError?.code === 'ENOENT') {
    return new RunnerSetupError(`The Python executable '${python}' was not found. ${hint}`, 'python-missing');
  }
  if (how.spawnError) {
    return new RunnerSetupError(`The Python executable '${python}' could not be started (${how.spawnError.message}). ${hint}`, 'python-missing');
  }
  const fatal = parseFatal(how.stderr ?? '');
  if (fatal?.code === 'sandbox-unavailable') return new RunnerSetupError(`${fatal.message}. Programs are not run without it. ${ISOLATION_HINT}`, fatal.code);
  if (fatal) {
    return new RunnerSetupError(`${fatal.message}. Install it with \`${python} -m pip install numpy\`, or point VALOR_PYTHON at a Python that has it.`, fatal.code);
  }
  const tail = (how.stderr ?? '').trim().split('\n').slice(-6).join('\n');
  return new RunnerSetupError(`The Python worker (${python}) failed to start${how.exit ? ` (${how.exit})` : ''}${tail ? `:\n${tail}` : ''}\n${hint}`, 'start-failed');
}

export function signalNumber(sig: NodeJS.Signals): number {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25 };
  return map[sig] ?? 0;
}
