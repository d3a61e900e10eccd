/**
 * `valor`: the headless front end. Dispatches to the subcommands listed below; each is one file
 * in src/cli/commands/. Add a command by importing it and adding it to COMMANDS.
 */
import { closest } from '../core/suggest.js';
import { isConfigToolFailure } from '../core/toolClient.js';
import { type CliCommand, type CliIO, EXIT, UsageError } from './command.js';
import { runCommand } from './commands/run.js';
import { evalCommand } from './commands/eval.js';
import { evalMergeCommand } from './commands/evalMerge.js';
import { serveCommand } from './commands/serve.js';
import { modelsCommand, modelsPullCommand } from './commands/models.js';
import { modelsConvertCommand } from './commands/modelsConvert.js';
import { scoreCommand } from './commands/score.js';
import { verifyBoxesCommand } from './commands/verifyBoxes.js';
import { auditStatsCommand, auditOverrideCommand } from './commands/audit.js';
import { exportOdvgCommand, exportVerlCommand } from './commands/export.js';
import { serveRewardsCommand } from './commands/serveRewards.js';
import { rolloutsCommand } from './commands/rollouts.js';
import { judgesTestCommand } from './commands/judgesTest.js';
import { judgesCalibrateCommand } from './commands/judgesCalibrate.js';
import { doctorCommand } from './commands/doctor.js';
import { judgesCompareCommand } from './commands/judgesCompare.js';

const COMMANDS: CliCommand[] = [
  runCommand,
  evalCommand,
  evalMergeCommand,
  serveCommand,
  modelsCommand,
  modelsPullCommand,
  modelsConvertCommand,
  scoreCommand,
  verifyBoxesCommand,
  auditStatsCommand,
  auditOverrideCommand,
  exportOdvgCommand,
  exportVerlCommand,
  serveRewardsCommand,
  rolloutsCommand,
  judgesTestCommand,
  judgesCalibrateCommand,
  doctorCommand,
  judgesCompareCommand,
];

function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length), 4);
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `valor: VALOR Studio on the command line\n\nUsage: valor <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'valor <command> --help' for a command's options.\n`;
}

/** Finds the longest command name that prefixes argv (`eval merge` before `eval`). */
export function resolveCommand(argv: string[]): { command: CliCommand; rest: string[] } | undefined {
  const sorted = [...COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const c of sorted) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { command: c, rest: argv.slice(words.length) };
  }
  return undefined;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout.write(helpText());
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version') {
    io.stdout.write(`${process.env.VALOR_VERSION ?? '0.1.0'}\n`);
    return EXIT.ok;
  }
  const found = resolveCommand(argv);
  if (!found) {
    // A command group (`valor audit`, `valor export`): list its commands.
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length > 0) {
      const asked = argv.includes('--help') || argv.includes('-h');
      const width = Math.max(...group.map((c) => c.name.length));
      const extra = argv[1] && !argv[1].startsWith('-') ? `unknown command '${argv[0]} ${argv[1]}'.\n` : asked ? '' : `'valor ${argv[0]}' needs a subcommand.\n`;
      const out = asked && !extra ? io.stdout : io.stderr;
      out.write(`${extra}Usage: valor ${argv[0]} <command> [options]\n\nCommands:\n${group.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}\n\nRun 'valor ${argv[0]} <command> --help' for its options.\n`);
      return asked && !extra ? EXIT.ok : EXIT.usage;
    }
    const guess = closest(argv[0] as string, [...new Set(COMMANDS.map((c) => c.name.split(' ')[0] as string))]);
    io.stderr.write(`valor: unknown command '${argv[0]}'${guess ? ` (did you mean '${guess}'?)` : ''}. Run 'valor --help' for the list.\n`);
    return EXIT.usage;
  }
  if (found.rest.includes('--help') || found.rest.includes('-h')) {
    io.stdout.write(found.command.usage.endsWith('\n') ? found.command.usage : `${found.command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await found.command.run(found.rest, io);
  } catch (err) {
    if (err instanceof UsageError || isConfigToolFailure(err)) {
      io.stderr.write(`valor ${found.command.name}: ${(err as Error).message}\n`);
      if (err instanceof UsageError && err.showUsage) io.stderr.write(`\n${found.command.usage.trimEnd()}\n`);
      return EXIT.usage;
    }
    const e = err as Error;
    io.stderr.write(`valor ${found.command.name}: ${e?.name === 'AbortError' ? 'cancelled' : (e?.message ?? String(err))}\n`);
    if (process.env.VALOR_DEBUG) io.stderr.write(`${e?.stack ?? ''}\n`);
    return EXIT.failed;
  }
}

if (require.main === module) {
  const controller = new AbortController();
  let interrupted = 0;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      interrupted++;
      if (interrupted > 1) process.exit(130);
      controller.abort();
    });
  }
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    isTTY: Boolean(process.stdout.isTTY),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`valor: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
