/**
 * The reward service (`valor serve-rewards`): VALOR's six rewards over HTTP, so reinforcement
 * learning on a cluster scores rollouts with the same judges, rubrics, caches and human
 * overrides people audit in the editor. API: src/protocol/reward.ts.
 *
 * - Bounded concurrency: at most `concurrency` replies are scored at once across all requests,
 *   and at most `judgeConcurrency` judge calls are in flight; extra work queues.
 * - Caching: one verdict cache for the service's lifetime (plus the language-model client's disk
 *   cache), so identical rollouts are judged once.
 * - Overrides: the audit log, when given, is re-read whenever it changes and applied to every
 *   result.
 * - A client that disconnects cancels its scoring.
 */
import type { ReferenceJudgeSet } from '../core/rewards/judgeSet.js';
import type { TotalRule } from '../core/rewards/total.js';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { RewardRequest, REWARD_ROUTES, type RewardResponse, type RewardResult, type RewardScores } from '../protocol/reward.js';
import { OverrideIndex, readAuditLog } from '../core/audit.js';
import type { ChatClient } from '../core/chat.js';
import { createSemaphore } from '../core/concurrency.js';
import { createVerdictCache, type StructuredMode, type VerdictCache } from '../core/rewards/judge.js';
import { scoreReply, type ScoredReply } from '../core/rewards/score.js';
import { resolveWeights, type RewardWeights } from '../core/rewards/total.js';
import type { ProgramRunnerLike } from '../core/runnerTypes.js';
import type { Tools } from '../core/tools.js';
import { HttpError } from './errors.js';
import { hardenServer, parseJson, readBody, sendError, sendJson, tokenMatches, type HttpLimits } from './http.js';

export interface RewardServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Bearer token clients must send; a random one when unset. */
  token?: string;
  judge: ChatClient;
  runner: ProgramRunnerLike;
  syntaxTools?: Tools;
  /** Replies scored at once across all requests. Default 16. */
  concurrency?: number;
  /** Judge calls in flight at once. Default 4 × concurrency. */
  judgeConcurrency?: number;
  weights?: Partial<RewardWeights>;
  /** Audit log whose overrides are applied (re-read when it changes). */
  auditPath?: string;
  visionJudge?: boolean;
  structured?: StructuredMode;
  /** VALOR-shaped judge prompts (src/core/rewards/judgeSet.ts); absent: ours. */
  judgeSet?: ReferenceJudgeSet;
  /** Judge replies whose format gate is 0 anyway (audits). Default false: no calls for them. */
  judgeWhenGated?: boolean;
  /** How format enters the total. Default `product`. */
  totalRule?: TotalRule;
  judgeTimeoutMs?: number;
  syntaxTimeoutMs?: number;
  cache?: VerdictCache;
  maxBodyBytes?: number;
  /** Client limits (timeouts, connection cap); defaults in src/server/http.ts. */
  httpLimits?: Partial<HttpLimits>;
  /**
   * Folders the items' `image` paths must lie in for the vision judge to read them (the requests
   * come from a policy under training: never an arbitrary file). Without it, items with an image
   * are refused when the vision judge is on.
   */
  imageRoots?: string[];
  log?: (line: string) => void;
}

export interface RewardServer {
  url: string;
  port: number;
  token: string;
  /** Stops listening, cancels scoring in flight and drops connections. */
  close(): Promise<void>;
}

const NAMES = ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'] as const;

export function toRewardResult(r: ScoredReply, id: string | number | undefined, verbose: boolean): RewardResult {
  const rewards = Object.fromEntries(NAMES.map((n) => [n, r.verdicts.find((v) => v.reward === n)?.value ?? null])) as RewardScores;
  const errors: Record<string, string> = {};
  for (const v of r.verdicts) if (v.state === 'error') errors[v.reward] = v.error ?? 'failed';
  const skipped = r.verdicts.filter((v) => v.state === 'skipped').map((v) => v.reward);
  return {
    ...(id !== undefined ? { id } : {}),
    total: r.total,
    incomplete: r.incomplete,
    rewards,
    errors,
    overridden: Object.keys(r.overridden ?? {}),
    ...(skipped.length ? { skipped } : {}),
    subject: r.subject,
    ms: r.ms,
    ...(verbose ? { verdicts: r.verdicts } : {}),
  };
}

export async function startRewardServer(o: RewardServerOptions): Promise<RewardServer> {
  const token = o.token ?? randomBytes(24).toString('base64url');
  const concurrency = Math.max(1, o.concurrency ?? 16);
  const replies = createSemaphore(concurrency);
  const judgeSemaphore = createSemaphore(Math.max(1, o.judgeConcurrency ?? concurrency * 4));
  const cache = o.cache ?? createVerdictCache();
  const defaultWeights = resolveWeights(o.weights);
  const maxBody = o.maxBodyBytes ?? 32 * 1024 * 1024;
  const log = o.log ?? (() => undefined);
  const lifetime = new AbortController();
  let served = 0;

  // The audit log, re-read when its size or mtime changes.
  let audit: { stamp: string; index: OverrideIndex } | undefined;
  const overrides = async (): Promise<OverrideIndex | undefined> => {
    if (!o.auditPath) return undefined;
    let stamp = 'missing';
    try {
      const st = await stat(o.auditPath);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      // no log yet: no overrides
    }
    if (audit?.stamp !== stamp) {
      const logData = await readAuditLog(o.auditPath);
      for (const w of logData.warnings) log(`audit log: ${w.message}`);
      audit = { stamp, index: new OverrideIndex(logData.overrides) };
    }
    return audit.index;
  };

  // Items name images by path, and the requests come from a policy under training: the vision
  // judge reads an image only inside the service's image folders, and a path outside them gets
  // the same answer whether or not it exists.
  const imageRoots = (o.imageRoots ?? []).map((r) => resolve(r));
  const realRoots = Promise.all(imageRoots.map((r) => realpath(r).catch(() => r)));
  const inside = (file: string, roots: readonly string[]) =>
    roots.some((root) => {
      const rel = relative(root, file);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.startsWith(`..${sep}`));
    });
  const checkImage = async (image: string, n: number): Promise<void> => {
    const forbidden = new HttpError(
      403,
      'image_forbidden',
      imageRoots.length === 0
        ? `item ${n}: the vision judge reads item images only from the service's image folders, and none is set: start it with --images DIR`
        : `item ${n}: image ${image} is outside the service's image folders (${imageRoots.join(', ')})`,
    );
    const abs = resolve(image);
    const roots = [...imageRoots, ...(await realRoots)];
    if (!inside(abs, roots)) throw forbidden;
    let real: string;
    try {
      real = await realpath(abs);
    } catch {
      throw new HttpError(404, 'image_not_found', `item ${n}: image ${abs} does not exist`);
    }
    if (!inside(real, await realRoots)) throw forbidden;
    if (!(await stat(real)).isFile()) throw new HttpError(400, 'bad_image', `item ${n}: image ${abs} is not a regular file`);
  };

  const handleReward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = parseJson(RewardRequest, await readBody(req, maxBody, 'the reward request'), `POST ${REWARD_ROUTES.reward}`);
    if (o.visionJudge) {
      for (const [i, item] of body.items.entries()) if (item.image !== undefined) await checkImage(item.image, i + 1);
    }
    let weights: RewardWeights;
    try {
      weights = body.weights ? resolveWeights(body.weights) : defaultWeights;
    } catch (err) {
      throw new HttpError(400, 'invalid_weights', (err as Error).message);
    }
    const started = performance.now();
    const ac = new AbortController();
    // One signal shared by every item and judge call of the request (each waiter listens).
    setMaxListeners(0, ac.signal);
    const onGone = (): void => {
      if (!res.writableFinished) ac.abort();
    };
    res.on('close', onGone);
    const abortAll = (): void => ac.abort();
    lifetime.signal.addEventListener('abort', abortAll, { once: true });
    try {
      const index = await overrides();
      const results = await Promise.all(
        body.items.map((item) =>
          replies.run(async () => {
            const r = await scoreReply({
              query: item.query,
              reply: item.reply,
              imagePath: item.image,
              judge: o.judge,
              runner: o.runner,
              syntaxTools: o.syntaxTools,
              weights,
              overrides: index,
              visionJudge: o.visionJudge && item.image !== undefined,
              structured: o.structured,
              judgeSet: o.judgeSet,
              judgeWhenGated: o.judgeWhenGated,
              totalRule: o.totalRule,
              cache,
              judgeSemaphore,
              judgeTimeoutMs: o.judgeTimeoutMs,
              syntaxTimeoutMs: o.syntaxTimeoutMs,
              signal: ac.signal,
            });
            return toRewardResult(r, item.id, body.verbose === true);
          }, ac.signal),
        ),
      );
      served += results.length;
      const out: RewardResponse = { results, judge_model: o.judge.model, ms: Math.round(performance.now() - started) };
      sendJson(res, 200, out);
    } finally {
      res.off('close', onGone);
      lifetime.signal.removeEventListener('abort', abortAll);
    }
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    void (async () => {
      try {
        if (!tokenMatches(req.headers.authorization, token)) {
          throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token: send Authorization: Bearer <token>, the token in the reward server\'s ready line (or VALOR_REWARD_TOKEN)');
        }
        if (req.method === 'POST' && path === REWARD_ROUTES.reward) return await handleReward(req, res);
        if (req.method === 'GET' && path === REWARD_ROUTES.health) {
          return sendJson(res, 200, {
            status: 'ok',
            judge: { base_url: o.judge.baseUrl, model: o.judge.model },
            weights: defaultWeights,
            concurrency: { replies: concurrency, judges: judgeSemaphore.limit, active: replies.active, waiting: replies.waiting },
            cache: { verdicts: cache.size },
            served,
            audit: o.auditPath ?? null,
          });
        }
        throw new HttpError(404, 'not_found', `no route ${req.method} ${path}: the reward server has POST ${REWARD_ROUTES.reward} and GET ${REWARD_ROUTES.health}`);
      } catch (err) {
        if (err instanceof HttpError) return sendError(res, err);
        const e = err as Error;
        if (e?.name === 'AbortError' || (e as { kind?: string })?.kind === 'cancelled') {
          if (!res.destroyed) sendError(res, new HttpError(503, 'cancelled', 'the scoring was cancelled (the server is stopping)'));
          return;
        }
        log(`internal error: ${e?.stack ?? String(err)}`);
        sendError(res, new HttpError(500, 'internal', `the reward server failed: ${e?.message ?? String(err)}`));
      }
    })();
  });
  hardenServer(server, o.httpLimits);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed = false;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    token,
    close: async () => {
      if (closed) return;
      closed = true;
      lifetime.abort();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
