/**
 * `valor models pull`: fetches the default models from the Hugging Face hub into the model cache
 * folder, in the layout the tool server loads.
 *
 * - The file list, sizes and hashes come from the hub's tree API
 *   (`GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true`): LFS files carry their
 *   sha256, small files their git blob id; both are checked after download.
 * - Bytes come from `GET {endpoint}/{repo}/resolve/{revision}/{path}` into `<file>.part`; an
 *   interrupted transfer resumes with an HTTP Range request (a server that ignores Range restarts
 *   the file), and the `.part` file is renamed only after its size and hash match.
 * - A machine without network gets one message naming the folders to fill and the files each needs.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { MODEL_SUBDIRS } from './options.js';

export interface ModelSpec {
  /** Subfolder of the models folder (`grounding-dino`, `depth`). */
  folder: string;
  repo: string;
  revision: string;
  /** Files to fetch, as paths in the repository (regular expressions on the whole path). */
  include: RegExp[];
  /** Files the server cannot work without (for the offline message). */
  required: string[];
  why: string;
}

const GD_STOCK: ModelSpec = {
  folder: MODEL_SUBDIRS.detector,
  repo: 'onnx-community/grounding-dino-tiny-ONNX',
  revision: 'main',
  include: [/^[^/]+\.json$/, /^vocab\.txt$/, /^onnx\/model\.onnx$/],
  required: ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'],
  why: 'GroundingDINO Swin-T with the stock IDEA weights (VALOR fine-tuned these), fp32 ONNX for transformers.js',
};

const moge = (size: 'l' | 'b' | 's', what: string): ModelSpec => ({
  folder: MODEL_SUBDIRS.depth,
  repo: `Ruicheng/moge-2-vit${size}-normal-onnx`,
  revision: 'main',
  include: [/^model\.onnx$/],
  required: ['model.onnx'],
  why: `MoGe-2 ViT-${size.toUpperCase()} (${what}), the authors' fp32 ONNX export; infer's post-processing runs in the server`,
});

/**
 * Depth models `valor models pull --depth NAME` can fetch. MoGe-2 (VALOR's depth model) is the
 * default: its authors publish ONNX exports of the raw forward pass (one `model.onnx` per
 * repository; the ViT-L file is about 1.3 GB, ViT-B about 0.4 GB, ViT-S about 0.15 GB by
 * third-party reports, the exact sizes come from the hub's listing before any download).
 * Depth Pro (onnx-community/DepthPro-ONNX, ~3.8 GB fp32 with external weights) stays available;
 * Depth Anything V2 metric has no ONNX repository and is exported with scripts/export.
 */
export const DEPTH_CHOICES: Readonly<Record<string, ModelSpec>> = {
  'moge-2-vitl': moge('l', "VALOR's depth model"),
  'moge-2-vitb': moge('b', 'smaller, for machines short of memory'),
  'moge-2-vits': moge('s', 'smallest'),
  'depth-pro': {
    folder: MODEL_SUBDIRS.depth,
    repo: 'onnx-community/DepthPro-ONNX',
    revision: 'main',
    include: [/^[^/]+\.json$/, /^onnx\/model\.onnx$/, /^onnx\/model\.onnx_data$/],
    required: ['config.json', 'preprocessor_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data'],
    why: 'Depth Pro, metric depth in metres, fp32 ONNX for transformers.js (not VALOR\'s model)',
  },
};
export const DEFAULT_DEPTH = 'moge-2-vitl';

/**
 * VALOR's verifier-trained detector as its authors publish it: the original GroundingDINO
 * checkpoint (IDEA format, config GroundingDINO_SwinT_OGC). It is fetched into its own folder and
 * turned into the server's ONNX layout by `valor models convert` (needs Python with PyTorch).
 */
export const VALOR_DETECTOR_CHECKPOINT: ModelSpec = {
  folder: 'valor-grounding-dino-checkpoint',
  repo: 'glab-caltech/VALOR-GroundingDINO',
  revision: 'main',
  include: [/^VALOR-GroundingDINO\.pth$/],
  required: ['VALOR-GroundingDINO.pth'],
  why: "VALOR's verifier-trained GroundingDINO Swin-T, original PyTorch checkpoint (convert with 'valor models convert')",
};

/** The defaults: the stock detector (ONNX) and MoGe-2 ViT-L. */
export const DEFAULT_MODELS: readonly ModelSpec[] = [GD_STOCK, DEPTH_CHOICES[DEFAULT_DEPTH] as ModelSpec];

/** VALOR's configuration: its detector checkpoint (to convert) and MoGe-2 ViT-L. */
export const VALOR_MODELS: readonly ModelSpec[] = [VALOR_DETECTOR_CHECKPOINT, DEPTH_CHOICES[DEFAULT_DEPTH] as ModelSpec];

export interface HubFile {
  path: string;
  size: number;
  /** sha256 of the content (LFS files). */
  sha256?: string;
  /** git blob id (sha1 of "blob <size>\0" + content) for small files. */
  gitOid?: string;
}

export interface PullProgress {
  model: string;
  file: string;
  done: number;
  total: number;
  /** `start`, `data`, `resume` (with `done` = bytes already there), `skip` (already complete), `verified`. */
  event: 'start' | 'data' | 'resume' | 'skip' | 'verified' | 'retry';
}

export interface PullOptions {
  /** Hub endpoint (default $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  token?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /** Called with the hub's file list (sizes, hashes) before anything is downloaded. */
  onListed?: (spec: ModelSpec, files: HubFile[]) => void;
  /** Attempts per file when a transfer breaks (default 5). */
  attempts?: number;
  /** Delay before a retry (default 1000 ms, doubled each time). */
  retryDelayMs?: number;
}

export class HubOfflineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubOfflineError';
  }
}

export class HubError extends Error {
  /** A transfer that arrived damaged (wrong size or hash): downloading it again may succeed. */
  readonly damaged: boolean;
  constructor(message: string, o: { damaged?: boolean } = {}) {
    super(message);
    this.name = 'HubError';
    this.damaged = o.damaged ?? false;
  }
}

const isNetworkError = (err: unknown): boolean => {
  const e = err as { name?: string; code?: unknown; cause?: { code?: string; name?: string } };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return e.name === 'TimeoutError';
  // fetch fails with a TypeError (its cause carries the socket's code); a broken body stream with the socket's error code.
  return e?.name === 'TypeError' || Boolean(e?.cause?.code) || (typeof e?.code === 'string' && /^(E[A-Z]+|UND_ERR_\w+)$/.test(e.code));
};

function headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { 'user-agent': 'valor-studio', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

/** The repository's files (recursive listing) with sizes and hashes. */
export async function listHubFiles(spec: ModelSpec, opts: PullOptions = {}): Promise<HubFile[]> {
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const url = `${endpoint}/api/models/${spec.repo}/tree/${encodeURIComponent(spec.revision)}?recursive=true`;
  let res: Response;
  try {
    res = await doFetch(url, { headers: headers(opts.token), signal: opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000) });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new HubOfflineError(`cannot reach ${endpoint} (${describe(err)})`);
  }
  if (res.status === 401 || res.status === 403) throw new HubError(`${endpoint} refused to list ${spec.repo} (${res.status}): set HF_TOKEN to a token that can read it`);
  if (res.status === 404) throw new HubError(`${spec.repo}@${spec.revision} does not exist on ${endpoint}`);
  if (!res.ok) throw new HubError(`${endpoint} answered ${res.status} when listing ${spec.repo}`);
  const entries = (await res.json()) as Array<{ type?: string; path?: string; size?: number; oid?: string; lfs?: { oid?: string; sha256?: string; size?: number } }>;
  const files: HubFile[] = [];
  for (const e of entries) {
    if (e.type !== 'file' || typeof e.path !== 'string') continue;
    if (!spec.include.some((re) => re.test(e.path as string))) continue;
    const size = e.lfs?.size ?? e.size ?? -1;
    const sha256 = e.lfs?.oid ?? e.lfs?.sha256;
    files.push({ path: e.path, size, sha256: sha256 ?? undefined, gitOid: sha256 ? undefined : e.oid });
  }
  const missing = spec.required.filter((r) => !files.some((f) => f.path === r));
  if (missing.length > 0) throw new HubError(`${spec.repo}@${spec.revision} has no ${missing.join(', ')}; it is not in the layout the tool server loads`);
  return files;
}

interface Manifest {
  repo: string;
  revision: string;
  files: Record<string, { size: number; sha256?: string; gitOid?: string; mtimeMs: number }>;
}

const MANIFEST = '.valor-pull.json';

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

async function hashFile(path: string, kind: 'sha256' | 'git', size: number): Promise<string> {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function verify(path: string, f: HubFile): Promise<void> {
  const st = await stat(path);
  if (f.size >= 0 && st.size !== f.size) throw new HubError(`${f.path}: got ${st.size} bytes, the hub says ${f.size}`, { damaged: true });
  if (f.sha256) {
    const got = await hashFile(path, 'sha256', st.size);
    if (got !== f.sha256) throw new HubError(`${f.path}: sha256 ${got} does not match the hub's ${f.sha256}`, { damaged: true });
  } else if (f.gitOid) {
    const got = await hashFile(path, 'git', st.size);
    if (got !== f.gitOid) throw new HubError(`${f.path}: git blob id ${got} does not match the hub's ${f.gitOid}`, { damaged: true });
  }
}

/** Downloads one file into `dest` through `dest.part`, resuming what is there. */
async function downloadFile(spec: ModelSpec, f: HubFile, dest: string, opts: PullOptions): Promise<void> {
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const part = `${dest}.part`;
  const attempts = opts.attempts ?? 5;
  const url = `${endpoint}/${spec.repo}/resolve/${encodeURIComponent(spec.revision)}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
  await mkdir(dirname(dest), { recursive: true });
  let lastErr: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      opts.onProgress?.({ model: spec.folder, file: f.path, done: 0, total: f.size, event: 'retry' });
      await sleep((opts.retryDelayMs ?? 1000) * 2 ** (attempt - 1), opts.signal);
    }
    let have = existsSync(part) ? (await stat(part)).size : 0;
    if (f.size >= 0 && have > f.size) {
      await rm(part, { force: true });
      have = 0;
    }
    try {
      if (f.size >= 0 && have === f.size) {
        // A complete .part from an earlier run: only the check is left.
      } else {
        const res = await doFetch(url, { headers: headers(opts.token, have > 0 ? { range: `bytes=${have}-` } : {}), signal: opts.signal, redirect: 'follow' });
        if (res.status === 416 && have > 0) {
          // Nothing more to send: the .part is whole (or wrong); the check decides.
        } else if (res.status === 200 || res.status === 206) {
          const append = res.status === 206 && have > 0;
          if (!append) have = 0;
          opts.onProgress?.({ model: spec.folder, file: f.path, done: have, total: f.size, event: append ? 'resume' : 'start' });
          if (!res.body) throw new HubError(`${f.path}: empty response body`);
          let done = have;
          const counter = async function* (source: AsyncIterable<Uint8Array>) {
            for await (const chunk of source) {
              done += chunk.length;
              opts.onProgress?.({ model: spec.folder, file: f.path, done, total: f.size, event: 'data' });
              yield chunk;
            }
          };
          await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), counter, createWriteStream(part, { flags: append ? 'a' : 'w' }));
        } else if (res.status === 401 || res.status === 403) {
          throw new HubError(`${endpoint} refused ${f.path} of ${spec.repo} (${res.status}): accept the model's licence on the hub and set HF_TOKEN`);
        } else {
          throw new HubError(`${endpoint} answered ${res.status} for ${f.path} of ${spec.repo}`);
        }
      }
      try {
        await verify(part, f);
      } catch (err) {
        // A wrong file is not resumable: start it again from zero.
        await rm(part, { force: true });
        throw err;
      }
      await rename(part, dest);
      opts.onProgress?.({ model: spec.folder, file: f.path, done: f.size, total: f.size, event: 'verified' });
      return;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      lastErr = err;
      if (err instanceof HubError && !err.damaged) throw err;
      if (!(err instanceof HubError) && !isNetworkError(err)) throw err;
    }
  }
  if (lastErr instanceof HubError) throw lastErr;
  throw new HubError(`${f.path} of ${spec.repo}: the transfer kept breaking (${describe(lastErr)}); run 'valor models pull' again to resume`);
}

/** Pulls one model into `<modelsDir>/<spec.folder>`; already-verified files are skipped. */
export async function pullModel(spec: ModelSpec, modelsDir: string, opts: PullOptions = {}): Promise<{ dir: string; files: HubFile[]; fetched: number }> {
  const files = await listHubFiles(spec, opts);
  opts.onListed?.(spec, files);
  const dir = join(modelsDir, spec.folder);
  await mkdir(dir, { recursive: true });
  const manifest: Manifest = (await readManifest(dir)) ?? { repo: spec.repo, revision: spec.revision, files: {} };
  if (manifest.repo !== spec.repo) {
    // Another model was pulled here before (e.g. Depth Pro, now MoGe-2): its files would confuse
    // the layout detection, so the ones that pull wrote go.
    for (const old of Object.keys(manifest.files)) await rm(join(dir, ...old.split('/')), { force: true });
    manifest.files = {};
  }
  manifest.repo = spec.repo;
  manifest.revision = spec.revision;
  let fetched = 0;
  for (const f of files) {
    const dest = join(dir, ...f.path.split('/'));
    const known = manifest.files[f.path];
    if (existsSync(dest)) {
      const st = await stat(dest);
      if (known && known.size === st.size && known.mtimeMs === st.mtimeMs && known.sha256 === f.sha256 && known.gitOid === f.gitOid) {
        opts.onProgress?.({ model: spec.folder, file: f.path, done: st.size, total: f.size, event: 'skip' });
        continue;
      }
      try {
        await verify(dest, f);
        manifest.files[f.path] = { size: st.size, sha256: f.sha256, gitOid: f.gitOid, mtimeMs: st.mtimeMs };
        opts.onProgress?.({ model: spec.folder, file: f.path, done: st.size, total: f.size, event: 'skip' });
        continue;
      } catch {
        // Stale or damaged: fetch it again.
      }
    }
    await downloadFile(spec, f, dest, opts);
    const st = await stat(dest);
    manifest.files[f.path] = { size: st.size, sha256: f.sha256, gitOid: f.gitOid, mtimeMs: st.mtimeMs };
    await writeFile(join(dir, MANIFEST), JSON.stringify(manifest, null, 2));
    fetched++;
  }
  await writeFile(join(dir, MANIFEST), JSON.stringify(manifest, null, 2));
  return { dir, files, fetched };
}

/** What to tell a person on a machine that cannot reach the hub. */
export function offlineHelp(modelsDir: string, specs: readonly ModelSpec[] = DEFAULT_MODELS): string {
  const lines = [`Fill the model folders by hand (copy them from a machine with internet access):`];
  for (const s of specs) {
    lines.push(`  ${join(modelsDir, s.folder)}/  from https://huggingface.co/${s.repo} (${s.why}):`);
    for (const r of s.required) lines.push(`    ${r}`);
  }
  lines.push(`or point the server at other folders with 'valor serve --detector DIR --depth DIR'.`);
  return lines.join('\n');
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  if (e?.cause?.code) return `${e.cause.code}${e.cause.message ? `: ${e.cause.message}` : ''}`;
  return e?.message ?? String(err);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      const e = new Error('The operation was aborted');
      e.name = 'AbortError';
      reject(e);
    }, { once: true });
  });
}
