/**
 * Starting the tool server (dist/server.js on this Node, or on VS Code's Electron with
 * ELECTRON_RUN_AS_NODE=1) and waiting for its ready line, once for every front end:
 * `launchToolServer` spawns a command and resolves at the ready line; `startToolServer` is the
 * one-shot start `valor` commands, benches and tests use (no VALOR_TOOLS_URL: the embedded
 * default), and the extension's supervisor (src/extension/toolServerSupervisor.ts) is a restart
 * policy on top of `launchToolServer`.
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

/** What to run: the executable, its arguments (script first), the whole environment. */
export interface ServerCommand {
  executable: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The server's ready line, and the pid of the process that printed it. */
export interface ReadyInfo {
  url: string;
  token: string;
  device: string;
  pid: number;
}

/** Why a start failed; `lastLines` are the server's last output lines (token redacted). */
export class ToolServerStartError extends Error {
  constructor(
    message: string,
    readonly lastLines: string[] = [],
    /** spawn: the executable did not start; exit: it exited first; timeout: no ready line in time. */
    readonly reason?: 'spawn' | 'exit' | 'timeout',
  ) {
    super(message);
    this.name = 'ToolServerStartError';
  }
}

/** Hides the per-run bearer token in anything we log. */
export function redactServerLine(line: string): string {
  return line.replace(/token=\S+/g, 'token=<redacted>');
}

export interface LaunchOptions {
  /** Default TOOL_SERVER_READY_TIMEOUT_MS. */
  readyTimeoutMs?: number;
  /** Its own process group, so the caller can signal everything the server starts. */
  detached?: boolean;
  /** Every line the server prints, as printed (redact before logging), and which stream. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface LaunchedToolServer {
  child: ChildProcess;
  /**
   * Resolves at the ready line (on either stream); rejects with a ToolServerStartError when the
   * executable does not start, exits first, or prints no ready line in time. The child is not
   * stopped on a rejection: the caller decides how.
   */
  ready: Promise<ReadyInfo>;
}

export function launchToolServer(cmd: ServerCommand, opts: LaunchOptions = {}): LaunchedToolServer {
  const child = spawn(cmd.executable, cmd.args, {
    env: cmd.env,
    cwd: cmd.cwd,
    detached: Boolean(opts.detached) && process.platform !== 'win32',
    // stdin stays open as a lifeline: the server exits when it reads EOF (our process died).
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });
  // Ignore EPIPE on stdin when the child is already gone.
  child.stdin?.on('error', () => undefined);
  const tail: string[] = [];
  const ready = new Promise<ReadyInfo>((resolve, reject) => {
    let settled = false;
    const timeoutMs = opts.readyTimeoutMs ?? TOOL_SERVER_READY_TIMEOUT_MS;
    const fail = (message: string, reason: 'spawn' | 'exit' | 'timeout'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ToolServerStartError(message, [...tail], reason));
    };
    const timer = setTimeout(() => fail(`the tool server did not become ready within ${Math.round(timeoutMs / 1000)} s`, 'timeout'), timeoutMs);
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      opts.onLine?.(line, stream);
      if (settled) return;
      // The ready line format is the protocol's (src/protocol/tools.ts), printed once by the server.
      const m = parseReadyLine(line);
      if (m && child.pid !== undefined) {
        settled = true;
        clearTimeout(timer);
        resolve({ url: m.url.replace(/\/+$/, ''), token: m.token, device: m.device, pid: child.pid });
        return;
      }
      tail.push(redactServerLine(line));
      if (tail.length > 20) tail.shift();
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine('stdout'));
    if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine('stderr'));
    child.once('error', (err) => fail(`could not start the tool server (${err.message})`, 'spawn'));
    child.once('exit', (code, sig) => fail(`the tool server ${sig ? `was killed by ${sig}` : `exited with code ${code}`} before it was ready`, 'exit'));
  });
  return { child, ready };
}

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

export function defaultServerScript(): string | undefined {
  const candidates = [join(__dirname, 'server.js'), join(__dirname, '..', '..', 'dist', 'server.js'), join(__dirname, '..', 'dist', 'server.js')];
  return candidates.find((p) => existsSync(p));
}

/** Starts the server for the duration of one command (or test); aborting `signal` stops it. */
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

  let started = false;
  const { child, ready } = launchToolServer(
    { executable: opts.execPath ?? process.execPath, args, env },
    {
      readyTimeoutMs: opts.readyTimeoutMs,
      // stderr (warnings) always; stdout once the ready line is out.
      onLine: (line, stream) => {
        if (stream === 'stderr' || started) opts.onLog?.(line);
        else if (parseReadyLine(line)) started = true;
      },
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  opts.signal?.addEventListener('abort', () => void stop(), { once: true });
  const aborted = new Promise<never>((_, reject) => opts.signal?.addEventListener('abort', () => reject(abortError()), { once: true }));
  return Promise.race([ready, aborted]).then(
    (r) => {
      return { url: r.url, token: r.token, device: r.device, process: child, stop };
    },
    (err: unknown) => {
      void stop();
      if (err instanceof ToolServerStartError) throw new ToolServerStartError(`${err.message}${lastLines(err.lastLines)}`, err.lastLines, err.reason);
      throw err;
    },
  );
}

function lastLines(tail: string[]): string {
  const text = tail.join('\n');
  return text ? `; its last output:\n${text}` : '';
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}
