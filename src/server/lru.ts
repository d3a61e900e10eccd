/**
 * A least-recently-used cache with a byte budget. Decoded images, depth maps and raw detector
 * outputs share one budget (`--cache-mb`), so memory stays bounded whatever stream of images
 * arrives; entries are keyed by content (image sha256 + model id + arguments), never by path.
 *
 * `getOrCompute` also merges concurrent misses on the same key: two requests for the depth map
 * of one image run the model once.
 */
export interface CacheStats {
  entries: number;
  bytes: number;
}

interface Entry<V> {
  value: V;
  bytes: number;
  kind: string;
}

export class ByteLru<V> {
  private readonly map = new Map<string, Entry<V>>();
  private readonly inflight = new Map<string, Promise<V>>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly budgetBytes: number,
    private readonly onEvict?: (key: string, value: V) => void,
  ) {}

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Stores `value`; an entry larger than the whole budget is not kept (the caller still has it). */
  set(key: string, value: V, bytes: number, kind = 'default'): void {
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.total -= old.bytes;
    }
    if (bytes > this.budgetBytes) {
      if (old && this.onEvict) this.onEvict(key, old.value);
      return;
    }
    this.map.set(key, { value, bytes, kind });
    this.total += bytes;
    this.evict();
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.total -= e.bytes;
  }

  private evict(): void {
    while (this.total > this.budgetBytes) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      const e = this.map.get(oldest.value);
      this.map.delete(oldest.value);
      if (e) {
        this.total -= e.bytes;
        this.onEvict?.(oldest.value, e.value);
      }
    }
  }

  /**
   * The cached value, or the result of `compute` (stored with the size it reports). Concurrent
   * callers of one missing key share one computation. `hit` says whether no computation ran for
   * this caller (a shared in-flight computation counts as a miss for the one that started it only).
   */
  async getOrCompute(
    key: string,
    kind: string,
    compute: () => Promise<{ value: V; bytes: number }>,
  ): Promise<{ value: V; hit: boolean }> {
    const found = this.get(key);
    if (found !== undefined) {
      this.hits++;
      return { value: found, hit: true };
    }
    const pending = this.inflight.get(key);
    if (pending) return { value: await pending, hit: true };
    this.misses++;
    const p = compute().then((r) => {
      this.set(key, r.value, r.bytes, kind);
      return r.value;
    });
    this.inflight.set(key, p);
    try {
      return { value: await p, hit: false };
    } finally {
      this.inflight.delete(key);
    }
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.map.size;
  }

  /** Entries and bytes per kind (for `/v1/health`). */
  statsByKind(): Record<string, CacheStats> {
    const out: Record<string, CacheStats> = {};
    for (const e of this.map.values()) {
      const s = (out[e.kind] ??= { entries: 0, bytes: 0 });
      s.entries++;
      s.bytes += e.bytes;
    }
    return out;
  }

  clear(): void {
    if (this.onEvict) for (const [k, e] of this.map) this.onEvict(k, e.value);
    this.map.clear();
    this.total = 0;
  }
}
