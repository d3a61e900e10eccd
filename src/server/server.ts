/**
 * The tool server: `gd_detect`, `depth` and `vqa` (docs/valor.md §2) over loopback HTTP, with the
 * models on onnxruntime-node and VQA forwarded to an OpenAI-compatible vision model.
 *
 * Every route needs the bearer token. Every failure a client can cause is a JSON error with a
 * message a person can act on, and the server keeps serving afterwards. Models load in the
 * background once the server listens, so the ready line comes fast and health can tell a
 * missing or broken model apart from one still loading.
 *
 * This file starts and stops the server; the shared state is context.ts, the route table and the
 * dispatch routes/index.ts, one handler a module in routes/, the HTTP plumbing http.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServerContext } from './context.js';
import { hardenServer } from './http.js';
import type { Device } from './onnx.js';
import type { ServerOptions } from './options.js';
import { handleRequest } from './routes/index.js';

export { SERVER_VERSION } from './routes/health.js';

export interface ToolServer {
  url: string;
  token: string;
  /** What the models run on (after any CUDA fallback). */
  device: Device;
  port: number;
  http: Server;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<ToolServer> {
  const ctx = await createServerContext(opts);
  const http = createServer((req, res) => void handleRequest(ctx, req, res));
  hardenServer(http, opts.httpLimits);
  http.maxRequestsPerSocket = 0;

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  const addr = http.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${addr.port}`;

  // Load in the background: requests wait for a loading model; health says loaded: false meanwhile.
  for (const slot of [ctx.detector, ctx.depth]) {
    slot.load()?.catch((err: unknown) => opts.log(`warning: ${(err as Error).message}`));
  }

  let closed: Promise<void> | undefined;
  return {
    url,
    token: ctx.token,
    device: ctx.device,
    port: addr.port,
    http,
    close: () => {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        await Promise.all([ctx.detector.release(), ctx.depth.release()]);
        ctx.cache.clear();
        ctx.results.clear();
        await ctx.store.close();
      })();
      return closed;
    },
  };
}
