/**
 * transformers.js, set up for a server that must never reach the network: models load from
 * local folders only (an absolute folder path is not a hub id, so nothing is fetched).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as transformers from '@huggingface/transformers';

transformers.env.allowRemoteModels = false;
transformers.env.allowLocalModels = true;
transformers.env.useFSCache = false;

export { transformers };

/**
 * A model id for cache keys and replies: the folder name plus a short hash of its configuration
 * and the weights' size and mtime, so swapping the weights in a folder gives a new id.
 */
export function modelId(dir: string, files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    try {
      const p = join(dir, f);
      const st = statSync(p);
      h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
      if (f.endsWith('.json')) h.update(readFileSync(p));
    } catch {
      h.update(`${f}:missing\n`);
    }
  }
  return `${basename(dir)}@${h.digest('hex').slice(0, 12)}`;
}
