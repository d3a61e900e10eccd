/**
 * Where an eval run keeps its per-question run records, and turning a record back into a scored
 * result. Each question's record is named after its id, so a resumed run finds the questions
 * already done by looking for their files, and a record written atomically (runStore) is either
 * whole or absent after a kill.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RepairInfo, RunRecord } from '../../protocol/run.js';
import type { EvalQuestion } from './dataset.js';
import { scoreAnswer } from './metrics.js';
import { type ErrorKind, type EvalResult, ERROR_KINDS, EVAL_RUNS_SUBDIR, type ResultRepair } from './summary.js';

/**
 * The record id (and file name without `.json`) of a question: a readable part of the id plus a
 * hash of the whole id, so ids that differ only in characters unsafe for file names
 * (`a/b` vs `a_b`) still get different files.
 */
export function recordName(questionId: string): string {
  const safe = questionId.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80) || 'q';
  const hash = createHash('sha256').update(questionId, 'utf8').digest('hex').slice(0, 10);
  return `${safe}-${hash}`;
}

export function recordPath(outDir: string, questionId: string): string {
  return join(outDir, EVAL_RUNS_SUBDIR, `${recordName(questionId)}.json`);
}

/** The record's path as the summary lists it: relative to the output folder, forward slashes. */
export function recordRelPath(questionId: string): string {
  return `${EVAL_RUNS_SUBDIR}/${recordName(questionId)}.json`;
}

/** Removes temporary files an interrupted atomic write left behind (ours: `*.tmp` in runs/). */
export async function removeStaleTemps(runsDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(runsDir);
  } catch {
    return 0;
  }
  const stale = names.filter((n) => n.endsWith('.tmp'));
  await Promise.all(stale.map((n) => rm(join(runsDir, n), { force: true })));
  return stale.length;
}

const clip = (s: string, n = 300): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function isErrorKind(k: unknown): k is ErrorKind {
  return typeof k === 'string' && (ERROR_KINDS as readonly string[]).includes(k);
}

/**
 * The summary line of a question from its record. The score is recomputed from the record's
 * final answer with the current metrics (not copied from the record), so a resumed run and a
 * fresh one always agree.
 */
export function resultFromRecord(q: EvalQuestion, record: RunRecord, relPath: string): EvalResult {
  const kind = record.eval && isErrorKind(record.eval.error_kind) ? record.eval.error_kind : record.error ? (record.error.type === 'NoProgram' ? 'no_program' : 'program') : null;
  const s = kind ? { score: 0, correct: false, prediction: null, invalid: undefined } : scoreAnswer(q.type, record.final_answer, q.answer, q.options);
  const rw = record.rewards;
  const repair = record.repair ? resultRepair(q, record.repair, { prediction: s.prediction, score: s.score, correct: s.correct, error_kind: kind, invalid: s.invalid ?? null }) : undefined;
  // The program's own answer, when the compared prediction is something else (an option it was mapped to).
  const own = kind || record.final_answer === null || record.final_answer === undefined ? null : typeof record.final_answer === 'string' ? record.final_answer : JSON.stringify(record.final_answer);
  return {
    id: q.id,
    line: q.line,
    type: q.type,
    ...(q.category !== undefined ? { category: q.category } : {}),
    ...(q.benchmark !== undefined ? { benchmark: q.benchmark } : {}),
    question: q.question,
    image: q.image,
    ground_truth: q.answer,
    prediction: s.prediction,
    score: s.score,
    correct: s.correct,
    invalid: s.invalid ?? null,
    error_kind: kind,
    error_type: record.error?.type ?? null,
    error_message: record.error ? clip(record.error.message) : null,
    ...(own !== null && own !== s.prediction ? { answer: clip(own, 200) } : {}),
    record: relPath,
    ms: {
      ...(record.timings.generate_ms !== undefined ? { generate: Math.round(record.timings.generate_ms) } : {}),
      ...(record.timings.run_ms !== undefined ? { run: Math.round(record.timings.run_ms) } : {}),
      total: Math.round(record.timings.total_ms),
    },
    ...(record.generator?.model ? { model: record.generator.model } : {}),
    ...(rw
      ? { rewards: { total: rw.total, values: Object.fromEntries(rw.verdicts.map((v) => [v.reward, v.state === 'error' ? null : v.value])) } }
      : {}),
    ...(repair ? { repair } : {}),
  };
}

/**
 * The repair part of a result. The first attempt is scored again from its recorded answer (as
 * the final one is), so a resumed run reports the same figures without repair; a question that
 * needed no repair (no attempts listed) scored the same without it.
 */
function resultRepair(q: EvalQuestion, rp: RepairInfo, final: ResultRepair['original']): ResultRepair {
  const first = rp.attempts[0];
  let original = final;
  if (first) {
    const kind = isErrorKind(rp.original.error_kind) ? rp.original.error_kind : null;
    const s = kind ? { score: 0, correct: false, prediction: null, invalid: undefined } : scoreAnswer(q.type, first.final_answer, q.answer, q.options);
    original = { prediction: s.prediction, score: s.score, correct: s.correct, error_kind: kind, invalid: s.invalid ?? null };
  }
  return { max_repairs: rp.max_repairs, repairs: rp.repairs, stopped: rp.stopped, original };
}
