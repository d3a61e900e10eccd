/** The shape of a tool-server route handler: the shared server context, the request, its reply. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../context.js';

export type Handler = (ctx: ServerContext, req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;
