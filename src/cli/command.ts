/**
 * The shape of one `valor` subcommand. Each lives in src/cli/commands/<name>.ts and is listed
 * once in src/cli/main.ts. Commands write to the given streams (not to `console`) so tests can
 * run them in-process, and return the exit code:
 *   0 success, 1 the work failed (program error, timeout, judge failure), 2 bad usage or configuration.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParsedResults<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Whether stdout is an interactive terminal (progress bars, colours). */
  isTTY: boolean;
}

export interface CliCommand {
  /** Name as typed: `run`, `serve`, `eval merge` (a space for nested commands). */
  name: string;
  /** One line for `valor --help`. */
  summary: string;
  /** Full usage text for `valor <name> --help`. */
  usage: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

/** A usage or configuration error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * `node:util` parseArgs for a subcommand's argv, with its errors (unknown flag, missing value)
 * turned into a UsageError so they print without a stack trace and exit 2.
 */
export function parseCliArgs<T extends Omit<ParseArgsConfig, 'args'>>(argv: string[], config: T): ParsedResults<T & { args: string[] }> {
  try {
    return parseArgs({ ...config, args: argv });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
