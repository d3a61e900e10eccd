/**
 * Entry of dist/server.js: the tool server as its own process (what `startToolServer` in
 * src/host/toolServerProcess.ts, the CLI's embedded default and the extension's supervisor spawn).
 * Same flags as `valor serve`. Prints the ready line on stdout, warnings on stderr; exits on
 * SIGINT/SIGTERM after closing the listener, and when its parent goes away (stdin closes) if
 * started with --exit-with-stdin.
 */
import { OptionsError, parseServeArgs, readyLine, SERVE_USAGE } from './options.js';
import { startServer } from './server.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const exitWithStdin = argv.includes('--exit-with-stdin');
  const args = argv.filter((a) => a !== '--exit-with-stdin');
  let opts;
  try {
    opts = parseServeArgs(args, process.env, process.cwd(), (line) => process.stderr.write(`${line}\n`));
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`valor tool server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const server = await startServer(opts);
  process.stdout.write(`${readyLine(server.url, server.token, server.device)}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void server.close().finally(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (exitWithStdin) {
      process.stdin.on('end', stop);
      process.stdin.on('close', stop);
      process.stdin.resume();
    }
  });
  return 0;
}

// A bug in one request must not take the server down: log it and keep serving.
process.on('unhandledRejection', (err) => {
  process.stderr.write(`error: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
});

main().then(
  (code) => {
    process.exitCode = code;
    // Native thread pools can keep the loop alive after close; the work is done.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`valor tool server: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
