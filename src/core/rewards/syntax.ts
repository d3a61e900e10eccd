/**
 * The syntax reward (docs/valor.md §3): run the program with placeholder tools, in the same python3
 * runner as real runs (time-limited, out of process). 1 when it finishes, sets a non-None
 * `final_answer` and leaves `img_pth` alone; the verdict says why and where when it is 0.
 *
 * A program's own faults (exceptions, timeouts, the memory cap) are a fail (0). A fault of the
 * machinery (python3 missing, the worker crashing, the runner throwing) is an `error`, because
 * it says nothing about the program.
 */
import type { Verdict } from '../../protocol/run.js';
import type { ProgramRunnerLike } from '../runnerTypes.js';
import type { Tools } from '../tools.js';

/** Placeholder runs touch no model, so a short limit is plenty; an endless loop fails fast. */
export const SYNTAX_TIMEOUT_MS = 10_000;

/** Error types that are the machinery's fault, not the program's. */
const INFRASTRUCTURE_ERRORS = new Set(['WorkerCrash', 'Cancelled']);

export interface SyntaxOptions {
  program: string | null;
  /** Value of `img_pth` inside the program; placeholders never read it. */
  imagePath?: string;
  runner: ProgramRunnerLike;
  tools: Tools;
  timeoutMs?: number;
  signal?: AbortSignal;
}

function fail(rationale: string, extra: Partial<Verdict> = {}): Verdict {
  return { reward: 'syntax', state: 'fail', value: 0, rationale, judge: 'runner', ...extra };
}

export async function syntaxVerdict(o: SyntaxOptions): Promise<Verdict> {
  const started = performance.now();
  if (o.program === null || o.program.trim() === '') {
    return fail('There is no program to run (the <answer> block is missing or empty).', { ms: 0, line: null });
  }
  let outcome;
  try {
    outcome = await o.runner.run(
      { program: o.program, imagePath: o.imagePath ?? '/valor/placeholder-image.jpg', tools: o.tools, timeoutMs: o.timeoutMs ?? SYNTAX_TIMEOUT_MS },
      o.signal,
    );
  } catch (err) {
    if (o.signal?.aborted) throw err;
    return {
      reward: 'syntax',
      state: 'error',
      value: null,
      rationale: '',
      judge: 'runner',
      error: `the program runner failed, so the syntax reward could not be computed: ${(err as Error)?.message ?? String(err)}`,
      ms: Math.round(performance.now() - started),
    };
  }
  const ms = Math.round(outcome.ms);
  const err = outcome.error;
  if (err && INFRASTRUCTURE_ERRORS.has(err.type)) {
    if (err.type === 'Cancelled' && o.signal?.aborted) {
      const e = new Error('syntax check cancelled');
      e.name = 'AbortError';
      throw e;
    }
    return { reward: 'syntax', state: 'error', value: null, rationale: '', judge: 'runner', error: `${err.type}: ${err.message}`, ms };
  }
  if (err || !outcome.ok) {
    const where = err?.line ? ` on line ${err.line}` : '';
    const what = err ? `${err.type}: ${err.message}` : 'the program did not finish';
    return fail(`The program failed with placeholder tools${where}: ${what}`, { ms, line: err?.line ?? null, error: err?.traceback });
  }
  if (outcome.img_pth_reassigned) {
    return fail('The program reassigns img_pth, which must stay the image path.', { ms, line: null });
  }
  if (outcome.final_answer === null || outcome.final_answer === undefined) {
    return fail('The program finished without setting final_answer (or left it None).', { ms, line: null });
  }
  return {
    reward: 'syntax',
    state: 'pass',
    value: 1,
    rationale: `The program ran to the end with placeholder tools and set final_answer (${JSON.stringify(outcome.final_answer)?.slice(0, 80)}).`,
    judge: 'runner',
    ms,
    line: null,
  };
}
