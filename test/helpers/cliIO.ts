/** An in-process `CliIO` for running one `valor` subcommand object from a test, capturing its output. */
import { Writable } from 'node:stream';
import type { CliIO } from '../../src/cli/command.js';

export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export function cliIO(env: Record<string, string | undefined>, cwd: string, signal: AbortSignal = new AbortController().signal): CliIO & { out: Capture; err: Capture } {
  const out = new Capture();
  const err = new Capture();
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VALOR_|OPENAI_)/.test(k)) clean[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return { stdout: out, stderr: err, out, err, env: clean, cwd, signal, isTTY: false };
}
