/**
 * Memory of this process while an eval loop runs (the benchmark checks it stays flat): peak RSS
 * and heap, and the live heap right after each full garbage collection, which unlike the peak
 * does not depend on when the collector happened to run.
 */
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';

export interface MemoryFigures {
  peak_rss_mb: number;
  peak_heap_mb: number;
  /** Null when no full collection ran during the loop. */
  live_heap_mb: number | null;
}

export interface MemorySampler {
  /** Stops sampling (takes one last sample). */
  stop(): void;
  figures(): MemoryFigures;
}

export function startMemorySampler(intervalMs = 200): MemorySampler {
  let peakRss = 0;
  let peakHeap = 0;
  let liveHeap = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  const gcWatch = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR)) {
      liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
    }
  });
  gcWatch.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      clearInterval(timer);
      gcWatch.disconnect();
      sample();
    },
    figures: () => ({
      peak_rss_mb: Math.round(peakRss / 2 ** 20),
      peak_heap_mb: Math.round(peakHeap / 2 ** 20),
      live_heap_mb: liveHeap ? Math.round((liveHeap / 2 ** 20) * 10) / 10 : null,
    }),
  };
}
