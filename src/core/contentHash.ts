/**
 * Content hashes for cache keys and records: sha256 of strings/bytes, of files (streamed, so a
 * large image never sits in memory twice), and a stable JSON encoding so that two equal objects
 * built in a different key order give the same key.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Lower-case hex sha256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Lower-case hex sha256 of a file's bytes, read as a stream. Rejects with the fs error (ENOENT, ...) or an AbortError. */
export function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(path, { signal });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * JSON with object keys sorted at every depth. Same rules as JSON.stringify otherwise
 * (undefined and functions dropped from objects, null in arrays; non-finite numbers become null;
 * `toJSON` honoured), so the output parses back to the same data. Throws a TypeError on cycles
 * and on BigInt, like JSON.stringify.
 */
export function stableStringify(value: unknown): string {
  const seen = new Set<object>();
  const enc = (v: unknown, inArray: boolean): string | undefined => {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      v = (v as { toJSON: () => unknown }).toJSON();
    }
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
        return JSON.stringify(v);
      case 'number':
        return Number.isFinite(v) ? JSON.stringify(v) : 'null';
      case 'boolean':
        return v ? 'true' : 'false';
      case 'bigint':
        throw new TypeError('stableStringify: BigInt values cannot be encoded as JSON');
      case 'undefined':
      case 'function':
      case 'symbol':
        return inArray ? 'null' : undefined;
    }
    const obj = v as object;
    if (seen.has(obj)) throw new TypeError('stableStringify: the value contains a cycle');
    seen.add(obj);
    let out: string;
    if (Array.isArray(obj)) {
      out = `[${obj.map((x) => enc(x, true) ?? 'null').join(',')}]`;
    } else {
      const rec = obj as Record<string, unknown>;
      const parts: string[] = [];
      for (const k of Object.keys(rec).sort()) {
        const e = enc(rec[k], false);
        if (e !== undefined) parts.push(`${JSON.stringify(k)}:${e}`);
      }
      out = `{${parts.join(',')}}`;
    }
    seen.delete(obj);
    return out;
  };
  return enc(value, false) ?? 'null';
}

/** sha256 of the stable JSON of `value`: the cache key of a request-like object. */
export function hashJson(value: unknown): string {
  return sha256Hex(stableStringify(value));
}
