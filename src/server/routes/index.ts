/**
 * The tool server's route table, in one place, and the dispatch of one request: the bearer token
 * first, then the route and method, then the handler; every failure a client can cause becomes a
 * JSON error, anything else a logged 500, and the server keeps serving.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TOOL_ROUTES } from '../../protocol/tools.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../errors.js';
import { sendError, tokenMatches } from '../http.js';
import { depthMapRoute, depthRoute } from './depth.js';
import { detect } from './detect.js';
import type { Handler } from './handler.js';
import { health } from './health.js';
import { imageInfo, uploadImage } from './images.js';
import { prefetch } from './prefetch.js';
import { vqa } from './vqa.js';

export const ROUTES: Readonly<Record<string, { method: string; handler: Handler }>> = {
  [TOOL_ROUTES.health]: { method: 'GET', handler: health },
  [TOOL_ROUTES.images]: { method: 'POST', handler: uploadImage },
  [TOOL_ROUTES.detect]: { method: 'POST', handler: detect },
  [TOOL_ROUTES.depth]: { method: 'POST', handler: depthRoute },
  [TOOL_ROUTES.depthMap]: { method: 'POST', handler: depthMapRoute },
  [TOOL_ROUTES.vqa]: { method: 'POST', handler: vqa },
  [TOOL_ROUTES.prefetch]: { method: 'POST', handler: prefetch },
};

/** Answers one request (never rejects). */
export async function handleRequest(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  ctx.counters.requests++;
  const controller = new AbortController();
  // A client that goes away mid-request: queued work for it is skipped.
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!tokenMatches(req.headers.authorization, ctx.token)) {
      throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token: send Authorization: Bearer <token>, the token the server printed in its ready line (or VALOR_TOOLS_TOKEN)');
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const imagePrefix = `${TOOL_ROUTES.images}/`;
    if (path.startsWith(imagePrefix) && req.method === 'GET') {
      await imageInfo(ctx, res, path.slice(imagePrefix.length));
      return;
    }
    const route = ROUTES[path];
    if (!route) throw new HttpError(404, 'not_found', `no route ${path}; the tool server serves ${Object.entries(ROUTES).map(([p, r]) => `${r.method} ${p}`).join(', ')}`);
    if (req.method !== route.method) throw new HttpError(405, 'method_not_allowed', `${path} takes ${route.method}, not ${req.method}`);
    await route.handler(ctx, req, res, controller.signal);
  } catch (err) {
    if (controller.signal.aborted || res.destroyed) return;
    if (err instanceof HttpError) {
      ctx.counters.errors++;
      // A refused body (too large, or no token) is not read: close the connection instead of draining it.
      sendError(res, err, err.code === 'body_too_large' || err.code === 'unauthorized' ? { connection: 'close' } : {});
      return;
    }
    if ((err as Error)?.name === 'AbortError') return;
    ctx.counters.errors++;
    ctx.opts.log(`error: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
    sendError(res, new HttpError(500, 'internal', `the tool server failed unexpectedly: ${(err as Error)?.message ?? String(err)} (details in the server's log)`));
  }
}
