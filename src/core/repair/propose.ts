/**
 * One repair proposal (issue #15, "Repair"): send the failed reply, what went wrong and where to
 * the generator with our repair prompt (./repairPrompt.ts), read its answer with the reply parser
 * (src/core/reply.ts), and return the new reply with a line diff of the program. Nothing is run
 * here; the caller shows the diff (the extension) or runs the new reply (./loop.ts).
 */
import type { ChatClient, Sampling } from '../chat.js';
import { VALOR_SAMPLING } from '../chat.js';
import type { GenerationPrompt, PromptRef } from '../promptSource.js';
import { parseReply } from '../reply.js';
import type { FormatResult } from '../../protocol/run.js';
import { needsRepair, type Failure } from './failure.js';
import { lineDiff, type DiffLine } from './lineDiff.js';
import { REPAIR_PROMPT, repairMessages, type FailedTurn } from './repairPrompt.js';

export interface RepairInput {
  query: string;
  /** The failed reply to repair. */
  reply: string;
  /** Why it failed (./failure.ts `failureOf`). */
  failure: Failure;
  /** Replies that failed before this one, oldest first (a loop's earlier attempts), so the model sees them all. */
  earlier?: readonly FailedTurn[];
  /** The program the diff's old side shows; default: the failed reply's program ('' when it has none). */
  diffAgainst?: string;
}

export interface RepairDeps {
  /** The generator endpoint (src/core/llmClient.ts). */
  generator: ChatClient;
  /** The generation prompt the reply was written with (default: ours). */
  prompt?: GenerationPrompt;
  /** Default: VALOR's generation sampling (src/core/chat.ts). */
  sampling?: Sampling;
  /** Neither read nor write the reply cache. */
  noCache?: boolean;
  signal?: AbortSignal;
}

export interface RepairProposal {
  /** The generator's whole new reply. */
  reply: string;
  plan: string | null;
  program: string;
  /** The failed program (old) against the proposed one (new), line by line. */
  diff: DiffLine[];
  /** Which repair prompt asked (never its text). */
  prompt: PromptRef;
  model: string;
  ms: number;
  cached: boolean;
}

/** The generator's reply to a repair request has no program to run. */
export class RepairParseError extends Error {
  constructor(
    message: string,
    /** What the model answered. */
    readonly reply: string,
    readonly format: FormatResult,
  ) {
    super(message);
    this.name = 'RepairParseError';
  }
}

/**
 * Asks the generator for a corrected reply. Throws `RepairParseError` when the answer holds no
 * program (format 0, or an empty `<answer>`), a `ChatError` when the endpoint fails, and a
 * `RangeError` when the input needs no repair.
 */
export async function proposeRepair(input: RepairInput, deps: RepairDeps): Promise<RepairProposal> {
  if (!needsRepair(input.failure)) throw new RangeError('this run needs no repair (failureOf gave kind "none")');
  const turns = [...(input.earlier ?? []), { reply: input.reply, failure: input.failure }];
  const messages = repairMessages(input.query, turns, deps.prompt);
  const sampling = { ...VALOR_SAMPLING, ...deps.sampling };
  const res = await deps.generator.complete(
    {
      messages,
      sampling,
      ...(deps.noCache ? { noCache: true } : {}),
      // A reply without a program is not worth replaying from the cache.
      accept: (text) => hasProgram(parseReply(text)),
    },
    deps.signal,
  );
  const parsed = parseReply(res.text);
  if (!hasProgram(parsed)) {
    const why = parsed.format.diagnostics.find((d) => d.severity === 'error')?.message;
    throw new RepairParseError(
      `the generator's repair holds no program to run (format ${parsed.format.score}${why ? `: ${why}` : ''}); ask again, or fix the program by hand`,
      res.text,
      parsed.format,
    );
  }
  const old = input.diffAgainst ?? parseReply(input.reply).program ?? '';
  return {
    reply: res.text,
    plan: parsed.plan,
    program: parsed.program!,
    diff: lineDiff(old, parsed.program!),
    prompt: REPAIR_PROMPT,
    model: res.model,
    ms: res.ms,
    cached: res.cached,
  };
}

function hasProgram(p: ReturnType<typeof parseReply>): boolean {
  return p.format.score !== 0 && p.program !== null && p.program.trim() !== '';
}
