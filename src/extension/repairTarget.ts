/**
 * Whether a document's last run is one "Fix with the Model" can repair (docs/debugger.md
 * "Repair"): the run is of the reply the document holds now, the tool server did not fail during
 * it (an outage is restarted and run again, never "repaired"), and core's `failureOf` finds a
 * failure of the program (raised, no final_answer, format or syntax 0). No `vscode` import: the
 * code lens, the run's outcome message and the command all ask this one function.
 */
import { failureOf, NO_FAILURE, type Failure } from '../core/repair/failure.js';
import type { RunRecord } from '../protocol/run.js';
import type { DocumentResults } from './resultsStore.js';

/** A call the tool server itself failed (the runner marks it), not a fault of the program. */
export function toolServerTrouble(record: RunRecord): boolean {
  return record.trace.some((t) => t.error?.tool_server === true);
}

export type RepairTarget =
  | { ok: true; record: RunRecord; failure: Failure }
  | { ok: false; why: 'no_run' | 'stale' | 'tool_server' | 'not_failed'; record?: RunRecord; failure: Failure };

/** What the last run (and its scores, when they are of the same reply) says about repairing `reply`. */
export function repairTarget(results: DocumentResults, reply: string): RepairTarget {
  const record = results.run?.record;
  if (!record) return { ok: false, why: 'no_run', failure: NO_FAILURE };
  if (record.reply !== reply) return { ok: false, why: 'stale', record, failure: NO_FAILURE };
  if (record.error && toolServerTrouble(record)) return { ok: false, why: 'tool_server', record, failure: NO_FAILURE };
  const scores = results.scores && results.scores.reply === record.reply ? results.scores.set : undefined;
  const failure = failureOf(record, scores);
  return failure.kind === 'none' ? { ok: false, why: 'not_failed', record, failure } : { ok: true, record, failure };
}
