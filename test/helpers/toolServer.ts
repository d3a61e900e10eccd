/**
 * Starts the real tool server (src/server/main.ts, through tsx) as a child process on loopback
 * for tests, and talks to it with plain fetch. One server per test file: start it in `before`,
 * stop it in `after`.
 */
import { resolve } from 'node:path';
import { startToolServer, type ToolServerProcess } from '../../src/host/toolServerProcess.js';
import { ErrorResponse } from '../../src/protocol/tools.js';

/** The `{ code, message }` of an error reply; throws when the body is not the protocol's error shape. */
export function errorOf(r: { status: number; body: unknown }): { code: string; message: string } {
  const e = ErrorResponse.safeParse(r.body);
  if (!e.success) throw new Error(`expected an error body, got ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return e.data.error;
}

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const FIXTURES = resolve(REPO_ROOT, 'test', 'fixtures');
export const SERVER_ENTRY = resolve(REPO_ROOT, 'src', 'server', 'main.ts');

export interface TestToolServer extends ToolServerProcess {
  /** Lines the server wrote to stderr (warnings). */
  log: string[];
  /** JSON request with the server's token (or `token` when given); resolves status and parsed body. */
  call(method: string, route: string, body?: unknown, opts?: { token?: string | null; raw?: Buffer; headers?: Record<string, string> }): Promise<{ status: number; body: unknown }>;
}

/** Environment without the developer's own VALOR_/OPENAI_ settings. */
export function cleanServerEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VALOR_|OPENAI_)/.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export async function startTestToolServer(opts: { args?: string[]; env?: Record<string, string | undefined>; token?: string } = {}): Promise<TestToolServer> {
  const log: string[] = [];
  const server = await startToolServer({
    serverScript: SERVER_ENTRY,
    nodeArgs: ['--import', 'tsx'],
    args: opts.args ?? [],
    env: cleanServerEnv(opts.env),
    token: opts.token,
    readyTimeoutMs: 60_000,
    onLog: (line) => log.push(line),
  });
  const call: TestToolServer['call'] = async (method, route, body, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? server.token : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let payload: BodyInit | undefined;
    if (o.raw) payload = new Uint8Array(o.raw);
    else if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${server.url}${route}`, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: res.status, body: parsed };
  };
  return Object.assign(server, { log, call });
}
