/**
 * The `--isolation` flag shared by every command that runs programs (run, score, eval,
 * serve-rewards): `sandbox` (default; else VALOR_ISOLATION) or `process`.
 */
import { IsolationMode } from '../protocol/run.js';
import { UsageError } from './command.js';

export const ISOLATION_OPTION = { isolation: { type: 'string' } } as const;

export const ISOLATION_USAGE =
  '  --isolation MODE   sandbox (default, else VALOR_ISOLATION): programs run in the OS sandbox and are refused where it is missing;\n' +
  '                     process: no OS confinement (weaker, for machines without Landlock/seccomp)\n';

/** The mode asked for on the command line or in VALOR_ISOLATION; a bad value is a usage error. */
export function isolationFromCli(flag: unknown, env: NodeJS.ProcessEnv): IsolationMode {
  const raw = typeof flag === 'string' ? flag : env.VALOR_ISOLATION || 'sandbox';
  const r = IsolationMode.safeParse(raw);
  if (!r.success) throw new UsageError(`${typeof flag === 'string' ? '--isolation' : 'VALOR_ISOLATION'} must be "sandbox" or "process", got ${JSON.stringify(raw)}`);
  return r.data;
}
