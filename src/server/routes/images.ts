/** `POST /v1/images` (upload the bytes of an image) and `GET /v1/images/<sha256>` (is it here, and its size). */
import type { ServerResponse } from 'node:http';
import type { ImageUploadResponse } from '../../protocol/tools.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../errors.js';
import { readBody, sendJson } from '../http.js';
import type { Handler } from './handler.js';

export const uploadImage: Handler = async (ctx, req, res) => {
  const bytes = await readBody(req, ctx.opts.maxImageBytes, 'the image');
  if (bytes.length === 0) throw new HttpError(400, 'empty_body', 'POST /v1/images needs the image bytes as the body');
  const img = await ctx.store.put(bytes);
  const body: ImageUploadResponse = { sha256: img.sha256, width: img.width, height: img.height };
  sendJson(res, 200, body);
};

export async function imageInfo(ctx: ServerContext, res: ServerResponse, sha: string): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new HttpError(400, 'bad_hash', `'${sha.slice(0, 80)}' is not a sha256 (64 lowercase hex digits)`);
  const img = await ctx.store.resolve({ sha256: sha });
  sendJson(res, 200, { sha256: img.sha256, width: img.width, height: img.height } satisfies ImageUploadResponse);
}
