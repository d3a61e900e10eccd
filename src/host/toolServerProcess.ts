/**
 * Starts the tool server as a child process (dist/server.js on this Node, or on VS Code's
 * Electron with ELECTRON_RUN_AS_NODE=1) and waits for its ready line. Used by `valor run` when no
 * VALOR_TOOLS_URL is set (the embedded default); the extension's supervisor spawns the same script.
 *
 * The token travels in the child's environment (not its argv, which other users can list), and
 * the child exits when our end of its stdin closes, so it never outlives the process that
 * started it, even after a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseReadyLine } from '../protocol/tools.js';

/**
 * How long a tool server may take to print its ready line (loading the models can be slow on a
 * cold disk). One limit for `valor` commands, the tests and the extension's supervisor.
 */
export const TOOL_SERVER_READY_TIMEOUT_MS = 180_000;

export interface StartToolServerOptions {
  /** Default: dist/server.js next to the running bundle (or the repository's dist/ when run from source). */
  serverScript?: string;
  /** Folder with grounding-dino/ and depth/ (default: the server's own default). */
  models?: string;
  detector?: string;
  depth?: string;
  /** `cpu` (default) or `cuda`. */
  device?: string;
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Default: a fresh random token. */
  token?: string;
  /** The child's whole environment (default process.env). Inside VS Code add ELECTRON_RUN_AS_NODE=1. */
  env?: NodeJS.ProcessEnv;
  /** Extra `valor serve` flags (e.g. ['--allow-root', dir, '--cache-mb', '256']). */
  args?: string[];
  /** Executable that runs the script (default process.execPath). */
  execPath?: string;
  /** Node options before the script (tests run the TypeScript entry with ['--import', 'tsx']). */
  nodeArgs?: string[];
  /** How long to wait for the ready line (default TOOL_SERVER_READY_TIMEOUT_MS). */
  readyTimeoutMs?: number;
  /** Every line the server prints after the ready line, and its stderr (warnings). */
  onLog?: (line: string) => void;
  /** Aborting stops the server (and a start in progress). */
  signal?: AbortSignal;
}

export interface ToolServerProcess {
  url: string;
  token: string;
  device: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the child has exited. */
  stop(): Promise<void>;
}

/** A start that failed; the message carries the server's last lines. */
export class ToolServerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolServerStartError';
  }
}

export function defaultServerScript(): string | undefined {
  const candidates = [join(__dirname, 'server.js'), join(__dirname, '..', '..', 'dist', 'server.js'), join(__dirname, '..', 'dist', 'server.js')];
  return candidates.find((p) => existsSync(p));
}

export function startToolServer(opts: StartToolServerOptions = {}): Promise<ToolServerProcess> {
  const script = opts.serverScript ?? defaultServerScript();
  if (!script || !existsSync(script)) {
    return Promise.reject(new ToolServerStartError(`the tool server script ${script ?? 'dist/server.js'} is missing: build it with 'npm run build' (or pass serverScript)`));
  }
  if (opts.signal?.aborted) return Promise.reject(abortError());
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const args = [...(opts.nodeArgs ?? []), script, '--exit-with-stdin', '--port', String(opts.port ?? 0)];
  if (opts.host) args.push('--host', opts.host);
  if (opts.device) args.push('--device', opts.device);
  if (opts.models) args.push('--models', opts.models);
  if (opts.detector) args.push('--detector', opts.detector);
  if (opts.depth) args.push('--depth', opts.depth);
  args.push(...(opts.args ?? []));
  const env = { ...(opts.env ?? process.env), VALOR_TOOLS_TOKEN: token };

  const child = spawn(opts.execPath ?? process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  const tail: string[] = [];
  const remember = (line: string): void => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  // Ignore EPIPE on stdin when the child is already gone.
  child.stdin?.on('error', () => undefined);
  createInterface({ input: child.stderr! }).on('line', (line) => {
    remember(line);
    opts.onLog?.(line);
  });

  return new Promise<ToolServerProcess>((resolve, reject) => {
    let settled = false;
    const timeoutMs = opts.readyTimeoutMs ?? TOOL_SERVER_READY_TIMEOUT_MS;
    const finish = (err?: Error, value?: ToolServerProcess): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        void stop();
        reject(err);
      } else resolve(value as ToolServerProcess);
    };
    const timer = setTimeout(() => {
      finish(new ToolServerStartError(`the tool server printed no ready line within ${Math.round(timeoutMs / 1000)} s${lastLines(tail)}`));
    }, timeoutMs);
    opts.signal?.addEventListener('abort', () => {
      if (!settled) finish(abortError());
      else void stop();
    }, { once: true });
    child.once('error', (err) => finish(new ToolServerStartError(`could not start ${opts.execPath ?? process.execPath} ${script}: ${err.message}`)));
    child.once('exit', (code, sig) => {
      finish(new ToolServerStartError(`the tool server exited (${sig ?? `code ${code}`}) before it was ready${lastLines(tail)}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (settled) {
        opts.onLog?.(line);
        return;
      }
      const ready = parseReadyLine(line);
      if (!ready) {
        remember(line);
        return;
      }
      finish(undefined, { url: ready.url, token: ready.token, device: ready.device, process: child, stop });
    });
  });
}

function lastLines(tail: string[]): string {
  const text = tail.map((l) => l.replace(/token=\S+/g, 'token=<redacted>')).join('\n');
  return text ? `; its last output:\n${text}` : '';
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}
