/**
 * The shape of one `valor` subcommand. Each lives in src/cli/commands/<name>.ts and is listed
 * once in src/cli/main.ts. Commands write to the given streams (not to `console`) so tests can
 * run them in-process, and return the exit code:
 *   0 success, 1 the work failed (program error, timeout, judge failure), 2 bad usage or configuration.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../core/suggest.js';

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

/**
 * A usage or configuration error: printed without a stack trace, exit code 2. `showUsage`: the
 * command line itself was malformed, so the command's usage follows the message.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * `node:util` parseArgs for a subcommand's argv, with its errors (unknown flag, missing value,
 * stray argument) turned into a UsageError in our words, with a "did you mean" for a near miss,
 * so they print with the command's usage and exit 2.
 */
export function parseCliArgs<T extends Omit<ParseArgsConfig, 'args'>>(argv: string[], config: T): ParsedResults<T & { args: string[] }> {
  try {
    return parseArgs({ ...config, args: argv });
  } catch (err) {
    throw new UsageError(describeParseError(err as Error & { code?: string }, config.options ?? {}), true);
  }
}

function describeParseError(err: Error & { code?: string }, declared: NonNullable<ParseArgsConfig['options']>): string {
  const options = Object.keys(declared);
  // parseArgs names the flag only inside its message, quoted; which error it is comes from `code`.
  const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const typed = quoted.replace(/=.*$/, '');
    const name = typed.replace(/^-+/, '');
    const guess = closest(name, options);
    return `unknown option '${typed}'${guess ? ` (did you mean '--${guess}'?)` : ''}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = quoted.split(' ')[0] ?? quoted;
    // A string option without its value, or a value given to a boolean one: the declaration says which.
    const type = declared[flag.replace(/^-+/, '')]?.type;
    if (type === 'string') return `${flag} needs a value`;
    if (type === 'boolean') return `${flag} is a switch and takes no value`;
    return err.message;
  }
  if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument '${quoted}'`;
  return err.message;
}
