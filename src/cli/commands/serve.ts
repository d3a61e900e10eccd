/**
 * `valor serve`: the tool server in this process. Prints the ready line on stdout (the format in
 * src/protocol/tools.ts) and serves until interrupted.
 */
import { OptionsError, parseServeArgs, readyLine, SERVE_USAGE } from '../../server/options.js';
import { startServer } from '../../server/server.js';
import { type CliCommand, EXIT, UsageError } from '../command.js';

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the tool server (detection, depth, VQA) on this machine',
  usage: SERVE_USAGE,
  async run(argv, io) {
    let opts;
    try {
      opts = parseServeArgs(argv, io.env, io.cwd, (line) => io.stderr.write(`${line}\n`));
    } catch (err) {
      if (err instanceof OptionsError) throw new UsageError(err.message);
      throw err;
    }
    if (io.signal.aborted) return EXIT.failed;
    const server = await startServer(opts);
    io.stdout.write(`${readyLine(server.url, server.token, server.device)}\n`);
    if (opts.host !== '127.0.0.1' && opts.host !== 'localhost' && opts.host !== '::1') {
      io.stderr.write(`warning: listening on ${opts.host}: anyone who can reach this address and knows the token can use the server\n`);
    }
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    return EXIT.ok;
  },
};
