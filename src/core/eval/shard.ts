/**
 * Splitting a benchmark across machines: `--shard i/n` keeps the questions whose stable hash of
 * the question id falls in bucket i. The split depends on nothing but the ids, so every machine
 * computes the same partition without talking to the others, and `valor eval merge` can check
 * that the shards it is given cover the file exactly once.
 */
import { createHash } from 'node:crypto';

export interface Shard {
  /** 0-based shard index. */
  index: number;
  /** Number of shards. */
  count: number;
}

/** Parses `i/n` (0 <= i < n). Returns the problem as a message for a usage error. */
export function parseShard(text: string): Shard | string {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) return `--shard must look like i/n (e.g. 0/4 for the first of four shards), got '${text}'`;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) return `--shard ${text}: the number of shards must be at least 1`;
  if (index >= count) return `--shard ${text}: the index is 0-based, so it must be below ${count} (0/${count} ... ${count - 1}/${count})`;
  return { index, count };
}

/** The shard (0..count-1) a question id belongs to: the first 48 bits of sha256(id) modulo count. */
export function shardOf(id: string, count: number): number {
  const h = createHash('sha256').update(id, 'utf8').digest();
  return h.readUIntBE(0, 6) % count;
}

export function inShard(id: string, shard: Shard | null | undefined): boolean {
  return !shard || shard.count === 1 || shardOf(id, shard.count) === shard.index;
}
