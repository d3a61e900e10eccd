/**
 * A small tool server for tests that speaks the real HTTP protocol of src/protocol/tools.ts
 * (routes, auth, upload-by-hash, error bodies) over a real socket, with answers the test
 * chooses: a "scene" of objects with labels, boxes, scores and depths. It lets CLI and pipeline
 * tests run without the ONNX fixtures, and counts what it received (uploads, calls) so tests can
 * check the client's behaviour (images sent once, by hash afterwards).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DepthRequest, DetectRequest, TOOL_ROUTES, VqaRequest, type Detection } from '../../src/protocol/tools.js';

export interface SceneObject {
  label: string;
  bbox: [number, number, number, number];
  score: number;
  /** Metres, returned by depth for a box whose centre falls inside this object. */
  depth?: number;
}

export interface ProtocolToolServerOptions {
  token?: string;
  objects?: SceneObject[];
  /** Answer for vqa; default 'unknown'. */
  vqa?: (prompt: string, bbox: number[] | null) => string;
  /** Delay every tool answer by this many ms (benchmarks, overlap tests). */
  delayMs?: number;
  width?: number;
  height?: number;
}

export interface ProtocolToolServer {
  url: string;
  token: string;
  uploads: number;
  calls: { route: string; body: unknown }[];
  /** Answer every tool route with 503 while true (outage tests). */
  down: boolean;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const fail = (res: ServerResponse, status: number, code: string, message: string) => send(res, status, { error: { code, message } });

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startProtocolToolServer(opts: ProtocolToolServerOptions = {}): Promise<ProtocolToolServer> {
  const token = opts.token ?? 'test-token';
  const objects = opts.objects ?? [];
  const known = new Set<string>();
  const width = opts.width ?? 320;
  const height = opts.height ?? 240;
  const state: ProtocolToolServer = {
    url: '',
    token,
    uploads: 0,
    calls: [],
    down: false,
    close: async () => {},
  };

  const server = createServer((req, res) => {
    void (async () => {
      if (req.headers.authorization !== `Bearer ${token}`) return fail(res, 401, 'unauthorized', 'missing or wrong bearer token');
      const route = (req.url ?? '').split('?')[0] ?? '';
      const raw = await readBody(req);
      if (route === TOOL_ROUTES.health) {
        return send(res, 200, { status: 'ok', device: 'test', models: {}, versions: {}, cache: {} });
      }
      if (state.down) return fail(res, 503, 'unavailable', 'test server is down');
      if (route === TOOL_ROUTES.images && req.method === 'POST') {
        state.uploads++;
        const sha256 = createHash('sha256').update(raw).digest('hex');
        known.add(sha256);
        return send(res, 200, { sha256, width, height });
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return fail(res, 400, 'bad_json', 'body is not JSON');
      }
      state.calls.push({ route, body });
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const imageKnown = (img: { sha256?: string }) => img.sha256 !== undefined && known.has(img.sha256);
      const meta = { model: 'test', cached: false, ms: 1 };
      if (route === TOOL_ROUTES.detect) {
        const p = DetectRequest.safeParse(body);
        if (!p.success) return fail(res, 400, 'bad_request', p.error.issues[0]?.message ?? 'bad request');
        if (!imageKnown(p.data.image as { sha256?: string })) return fail(res, 404, 'unknown_image', 'upload the image first');
        const phrases = p.data.prompt.split(',').map((s) => s.trim()).filter(Boolean);
        const pick = (th: number): Detection[] =>
          objects.filter((o) => phrases.includes(o.label) && o.score >= th).map((o) => ({ bbox: o.bbox, label: o.label, score: o.score }));
        return send(res, 200, {
          detections: pick(p.data.box_threshold ?? 0.35),
          ...(p.data.candidate_threshold !== undefined ? { candidates: pick(p.data.candidate_threshold) } : {}),
          width,
          height,
          ...meta,
        });
      }
      if (route === TOOL_ROUTES.depth) {
        const p = DepthRequest.safeParse(body);
        if (!p.success) return fail(res, 400, 'bad_request', p.error.issues[0]?.message ?? 'bad request');
        if (!imageKnown(p.data.image as { sha256?: string })) return fail(res, 404, 'unknown_image', 'upload the image first');
        const [x1, y1, x2, y2] = p.data.bbox;
        const cx = (x1 + x2) / 2;
        const cy = (y1 + y2) / 2;
        const hit = objects.find((o) => cx >= o.bbox[0] && cx <= o.bbox[2] && cy >= o.bbox[1] && cy <= o.bbox[3]);
        return send(res, 200, { depth: hit?.depth ?? 10, region: p.data.bbox, ...meta });
      }
      if (route === TOOL_ROUTES.vqa) {
        const p = VqaRequest.safeParse(body);
        if (!p.success) return fail(res, 400, 'bad_request', p.error.issues[0]?.message ?? 'bad request');
        if (!imageKnown(p.data.image as { sha256?: string })) return fail(res, 404, 'unknown_image', 'upload the image first');
        const answer = opts.vqa ? opts.vqa(p.data.prompt, p.data.bbox) : 'unknown';
        return send(res, 200, { answer, crop: p.data.bbox ?? [0, 0, width, height], ...meta });
      }
      return fail(res, 404, 'not_found', `no route ${route}`);
    })().catch((err) => fail(res, 500, 'internal', String(err)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
