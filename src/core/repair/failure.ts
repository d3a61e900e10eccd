/**
 * Whether a run needs repair, and why (issue #15, "Repair"): the facts a repair prompt sends
 * back to the generator, taken from the run record and, when it was scored, its rewards.
 *
 * In order, the first that holds:
 *   - `format`: the format reward is 0 (no single `<plan>` and `<answer>`): nothing can run;
 *   - `runtime_error`: the program raised (or ran out of time or memory), with the program line;
 *   - `no_final_answer`: it finished without setting `final_answer` (or left it None);
 *   - `syntax`: the syntax reward is 0 (the placeholder run failed where the real one did not, or
 *     the answer block is empty);
 *   - `none`: nothing to repair.
 * Failures that are not the program's (the run was cancelled, the worker crashed, a replay had
 * no recorded result, an eval record marked as an outage) are `none`: a new program would not
 * help, and repairing them would hide an outage. A tool server that fails mid-run reaches the
 * program as a Python `ToolError`, the same type a bad call gets; the runner marks that call's
 * trace entry `error.tool_server`, and such a run is `none` too.
 */
import { NOT_REPAIRABLE_ERRORS, type RewardSet, type RunRecord } from '../../protocol/run.js';

export type FailureKind = 'runtime_error' | 'no_final_answer' | 'format' | 'syntax' | 'none';

export interface Failure {
  kind: FailureKind;
  /** What went wrong, in one or a few sentences (empty for `none`). */
  message: string;
  /** Python exception type (or ours: `Timeout`, `MemoryLimit`) for runtime errors. */
  errorType?: string;
  /** 1-based program line the failure is on, when known. */
  line: number | null;
  /** That line's text, when known. */
  lineText: string | null;
  /** The program-only traceback, for runtime errors. */
  traceback?: string;
}

/** Error types that are not the program's fault: a repair would not help (declared in the protocol, which the run view reads too). */
export { NOT_REPAIRABLE_ERRORS };

/** Eval error kinds that are outages or our own faults, not the program's. */
const NOT_REPAIRABLE_KINDS: ReadonlySet<string> = new Set(['tool_outage', 'endpoint_outage', 'endpoint_error', 'image', 'internal']);

export const NO_FAILURE: Failure = Object.freeze({ kind: 'none', message: '', line: null, lineText: null });

function programLine(program: string | null, line: number | null | undefined): string | null {
  if (!program || line === null || line === undefined || line < 1) return null;
  return program.split('\n')[line - 1] ?? null;
}

type RecordFacts = Pick<RunRecord, 'program' | 'format' | 'error' | 'final_answer'> & {
  trace?: RunRecord['trace'] | undefined;
  rewards?: Pick<RewardSet, 'verdicts'> | undefined;
  eval?: { error_kind: string | null } | undefined;
};

/** Why `record` needs repair (`kind: 'none'` when it does not). `rewards` wins over `record.rewards`. */
export function failureOf(record: RecordFacts, rewards?: Pick<RewardSet, 'verdicts'>): Failure {
  if (record.eval?.error_kind && NOT_REPAIRABLE_KINDS.has(record.eval.error_kind)) return NO_FAILURE;
  if (record.trace?.some((t) => t.error?.tool_server === true)) return NO_FAILURE;
  const verdicts = (rewards ?? record.rewards)?.verdicts ?? [];
  const format = verdicts.find((v) => v.reward === 'format');
  const formatScore = format && format.state !== 'error' && format.value !== null ? format.value : record.format.score;
  if (formatScore === 0) {
    const problems = record.format.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
    return {
      kind: 'format',
      message: `The reply does not have exactly one <plan> block and one <answer> block${problems.length ? `: ${problems.join(' ')}` : '.'}`,
      line: null,
      lineText: null,
    };
  }
  const err = record.error;
  if (err && NOT_REPAIRABLE_ERRORS.has(err.type)) return NO_FAILURE;
  if (err?.type === 'NoFinalAnswer' || (!err && (record.final_answer === null || record.final_answer === undefined))) {
    return { kind: 'no_final_answer', message: err?.message ?? 'The program finished without setting final_answer (or left it None).', line: null, lineText: null };
  }
  if (err && err.type !== 'NoProgram') {
    return {
      kind: 'runtime_error',
      message: `${err.type}: ${err.message}`,
      errorType: err.type,
      line: err.line,
      lineText: programLine(record.program, err.line),
      ...(err.traceback ? { traceback: err.traceback } : {}),
    };
  }
  const syntax = verdicts.find((v) => v.reward === 'syntax');
  if ((syntax && syntax.state === 'fail') || err?.type === 'NoProgram') {
    const line = syntax?.line ?? null;
    return {
      kind: 'syntax',
      message: syntax?.state === 'fail' ? syntax.rationale : `${err!.type}: ${err!.message}`,
      line,
      lineText: programLine(record.program, line),
    };
  }
  return NO_FAILURE;
}

/** Whether a failure calls for a repair. */
export function needsRepair(f: Failure): boolean {
  return f.kind !== 'none';
}
