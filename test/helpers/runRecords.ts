/**
 * A run record with nothing run (no reply, no program, no trace), for tests that only need
 * records to exist in a runs folder (exports read their queries, images and grounding results).
 */
import type { RunRecord } from '../../src/protocol/run.js';

/** Run `id` asking `query` of `/imgs/a.jpg` (sha256 'a' x 64); `over` changes any field. */
export const blankRunRecord = (id: string, over: Partial<RunRecord> = {}): RunRecord => ({
  version: 1,
  id,
  created: '2026-01-01T00:00:00Z',
  query: 'q',
  image: { path: '/imgs/a.jpg', sha256: 'a'.repeat(64) },
  tools: { url: 'x' },
  reply: '',
  plan: null,
  program: null,
  format: { score: 0, diagnostics: [] },
  trace: [],
  final_answer: null,
  error: null,
  timings: { total_ms: 1 },
  ...over,
});
