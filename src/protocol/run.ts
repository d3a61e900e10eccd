/**
 * Run records: what one run of a VALOR program leaves behind (docs/architecture.md "Run records"), and the
 * pieces it is made of (trace entries, format result, reward verdicts, grounding results).
 * Written as JSON under `.valor/runs/` (or a chosen folder) and read by the CLI, the extension
 * and the webview, so the schema lives here and is validated when a record is read back.
 */
import { z } from 'zod';
import { LineTrace } from './lineTrace.js';
import { SensitivityReport } from './sensitivity.js';
import { BBox, Detection } from './tools.js';

export const ToolName = z.enum(['gd_detect', 'depth', 'vqa']);
export type ToolName = z.infer<typeof ToolName>;

/** One tool call made by a program, in call order. */
export const TraceEntry = z.object({
  /** 0-based position in the program's call order. */
  index: z.number().int(),
  tool: ToolName,
  /** 1-based line in the program text (the `<answer>` body, fences removed); null if unknown. */
  line: z.number().int().nullable(),
  /** Name the call's result was assigned to on that line (`mugs = gd_detect(...)`), when known. */
  variable: z.string().nullable().optional(),
  /** Arguments by the tool's parameter names (`img_pth`, `prompt`, `bbox`). */
  args: z.record(z.string(), z.unknown()),
  /** What the program received (null when the call failed). */
  result: z.unknown(),
  /**
   * Set when the tool call failed; the program then sees a Python exception. `tool_server` is
   * true when the tool server itself failed (unreachable, timed out, refused the token, 5xx):
   * an outage, not a fault of the program's call.
   */
  error: z.object({ type: z.string(), message: z.string(), tool_server: z.boolean().optional() }).nullable().optional(),
  ms: z.number(),
  /**
   * Extra facts for viewers: `candidates` (low-threshold detections with scores) for gd_detect,
   * `region` sampled for depth, `crop` sent for vqa, `cached`, `model`.
   */
  detail: z
    .object({
      candidates: z.array(Detection).optional(),
      box_threshold: z.number().optional(),
      text_threshold: z.number().optional(),
      region: BBox.optional(),
      crop: BBox.optional(),
      cached: z.boolean().optional(),
      model: z.string().optional(),
    })
    .passthrough()
    .optional(),
});
export type TraceEntry = z.infer<typeof TraceEntry>;

/** A problem a person can act on, located in the reply or program text. */
export const TextDiagnostic = z.object({
  severity: z.enum(['error', 'warning', 'info']),
  message: z.string(),
  /** Where the problem is: 1-based line and column in the text it belongs to. */
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  /** Which text the position is in. */
  in: z.enum(['reply', 'program']).default('reply'),
  code: z.string().optional(),
});
export type TextDiagnostic = z.infer<typeof TextDiagnostic>;

/** VALOR's format reward: 1 both tags once, 0.5 one repeated, 0 one missing (docs/valor.md §3). */
export const FormatResult = z.object({
  score: z.union([z.literal(0), z.literal(0.5), z.literal(1)]),
  diagnostics: z.array(TextDiagnostic),
});
export type FormatResult = z.infer<typeof FormatResult>;

/** A program failure, located in the program's own lines. */
export const ProgramError = z.object({
  /** Python exception type, or one of ours: `Timeout`, `MemoryLimit`, `Cancelled`, `NoProgram`, `WorkerCrash`. */
  type: z.string(),
  message: z.string(),
  /** 1-based line in the program text, when the error is inside it. */
  line: z.number().int().nullable(),
  /** Traceback with frames of the program only (lines relative to the program). */
  traceback: z.string().optional(),
});
export type ProgramError = z.infer<typeof ProgramError>;

/**
 * How a program's process is confined (docs/threat-model.md): `sandbox` (the default) is the OS
 * layer (Landlock + seccomp + rlimits, the run refused where it is missing); `process` is only a
 * separate python3 with rlimits and a scrubbed environment, which a hostile program can escape.
 */
export const IsolationMode = z.enum(['sandbox', 'process']);
export type IsolationMode = z.infer<typeof IsolationMode>;

/** Outcome of running one program. */
export const ProgramOutcome = z.object({
  ok: z.boolean(),
  final_answer: z.unknown(),
  error: ProgramError.nullable(),
  trace: z.array(TraceEntry),
  /** Captured stdout of the program (bounded; `stdout_truncated` says when cut). */
  stdout: z.string(),
  stdout_truncated: z.boolean().optional(),
  /** Whether `img_pth` was reassigned by the program. */
  img_pth_reassigned: z.boolean().optional(),
  ms: z.number(),
  /** The isolation the program ran under (absent in records made before it was recorded). */
  isolation: IsolationMode.optional(),
  /** Line-level trace (src/protocol/lineTrace.ts), when the runner recorded one. */
  line_trace: LineTrace.optional(),
});
export type ProgramOutcome = z.infer<typeof ProgramOutcome>;

export const RewardName = z.enum(['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence']);
export type RewardName = z.infer<typeof RewardName>;

/**
 * One reward verdict. `state: 'error'` is a failed judge (never silently 0); `skipped` is a judge
 * not called because the format gate was 0 (the total is 0 whatever it would say).
 */
export const Verdict = z.object({
  reward: RewardName,
  state: z.enum(['pass', 'fail', 'error', 'skipped']),
  /** 1 pass, 0 fail, 0.5 only for format's repeated tag; null when state is error or skipped. */
  value: z.number().nullable(),
  rationale: z.string(),
  /** Judge model id, or `parser` / `runner` for the rule-based rewards. */
  judge: z.string(),
  /** Exact prompt messages sent (judges only). */
  prompt: z.unknown().optional(),
  raw_reply: z.string().optional(),
  ms: z.number().optional(),
  cached: z.boolean().optional(),
  /** Whether the judge saw the image (optional vision judges). */
  saw_image: z.boolean().optional(),
  error: z.string().optional(),
  /** Program line a syntax failure points at. */
  line: z.number().int().nullable().optional(),
  /**
   * What a language-model judge says its verdict rests on (src/core/rewards/cites.ts): 1-based
   * plan step numbers and 1-based lines of the PROGRAM text (not of the `.vprog` document; map
   * them with `shownLine` or the document's program-line mapping). Checked against the material
   * judged: numbers outside it are dropped, the rest de-duplicated and sorted. Absent when the
   * judge gave none, and in reference mode (VALOR's prompts do not ask for it).
   */
  cites: z.object({ plan_steps: z.array(z.number().int()), program_lines: z.array(z.number().int()) }).optional(),
});
export type Verdict = z.infer<typeof Verdict>;

/** A human override of a judge verdict or a box decision (one line of the audit log). */
export const Override = z.object({
  kind: z.enum(['reward', 'box']),
  /** Which run / document / program the verdict belongs to (content key). */
  subject: z.string(),
  /** Reward name, or the box's candidate index as a string. */
  target: z.string(),
  /** Human verdict: 1/0 for rewards, 1 keep / 0 drop for boxes. */
  value: z.number(),
  /** The machine verdict being overridden (for agreement statistics). */
  machine_value: z.number().nullable(),
  note: z.string(),
  author: z.string().optional(),
  at: z.string(),
  /**
   * An undo: this record withdraws the latest standing override of the same (kind, subject,
   * target); the one before it, if any, stands again. The log itself is never rewritten.
   */
  retracts: z.boolean().optional(),
});
export type Override = z.infer<typeof Override>;

export const RewardSet = z.object({
  verdicts: z.array(Verdict),
  /** `format × Σ wᵢ·rᵢ` with overrides applied; null if any needed verdict is in error. */
  total: z.number().nullable(),
  incomplete: z.boolean(),
  weights: z.record(z.string(), z.number()),
  /** `product` (format × weighted sum, ours) or `gate` (format only as a 0/non-0 gate, VALOR's code). */
  total_rule: z.enum(['product', 'gate']).optional(),
  /** Which judge prompts scored it: ours, or a VALOR-shaped prompts folder (by path and hash). */
  judges: z.object({ kind: z.enum(['ours', 'reference']), dir: z.string().optional(), sha256: z.string().optional() }).optional(),
  /** Overrides that were applied, by reward. */
  overridden: z.record(z.string(), Override).optional(),
});
export type RewardSet = z.infer<typeof RewardSet>;

export const BoxStage = z.enum(['coarse', 'crop', 'dedup']);
export type BoxStage = z.infer<typeof BoxStage>;

/** The grounding verifier's decision on one candidate box. */
export const BoxFate = z.object({
  index: z.number().int(),
  bbox: BBox,
  label: z.string(),
  score: z.number(),
  kept: z.boolean(),
  /** Stage that dropped it (absent when kept). */
  dropped_at: BoxStage.optional(),
  reason: z.string().optional(),
  overridden: z.boolean().optional(),
});
export type BoxFate = z.infer<typeof BoxFate>;

export const GroundingResult = z.object({
  image: z.object({ path: z.string(), sha256: z.string(), width: z.number(), height: z.number() }),
  prompt: z.string(),
  boxes: z.array(BoxFate),
  verifier_model: z.string(),
  ms: z.number(),
});
export type GroundingResult = z.infer<typeof GroundingResult>;

/** A benchmark question's ground truth and score, as `valor eval` recorded them. */
export const EvalInfo = z.object({
  /** The question's id in the benchmark file (or `line-N`). */
  question_id: z.string(),
  /** 1-based line of the benchmark file. */
  line: z.number().int(),
  answer_type: z.enum(['yesno', 'option', 'count', 'float', 'text']),
  ground_truth: z.union([z.string(), z.number(), z.boolean()]),
  options: z.array(z.string()).optional(),
  /** The answer as it was compared (normalised), or null when there was none. */
  prediction: z.string().nullable(),
  /** 1/0, or the mean relative accuracy for floats. */
  score: z.number(),
  correct: z.boolean(),
  /** Why the answer could not be read (`empty`, `not_a_number`, ...), when it could not. */
  invalid: z.string().nullable().optional(),
  /** `program`, `no_program`, `tool_outage`, `endpoint_outage`, `endpoint_error`, `image`, `internal`; null when an answer was produced. */
  error_kind: z.string().nullable(),
});
export type EvalInfo = z.infer<typeof EvalInfo>;

/**
 * Set on eval records of `valor eval --repair N` (docs/eval.md "Repair"): the question's
 * attempts (0 the original reply, 1..N the model's repairs), how the loop stopped, and the
 * question scored without repair. The record itself is the result with repair (its last attempt
 * that ran).
 */
/**
 * Program error types that are not the program's fault (a cancelled run, a crashed worker, a
 * replayed call with no recorded result): a new program would not help, so neither "Fix with the
 * Model" nor `valor eval --repair` repairs them (src/core/repair/failure.ts; the run view reads it
 * to offer the fix only where it can help).
 */
export const NOT_REPAIRABLE_ERRORS: ReadonlySet<string> = new Set(['Cancelled', 'WorkerCrash', 'WorkerError', 'NoRecordedResult']);

export const RepairInfo = z.object({
  max_repairs: z.number().int().nonnegative(),
  /** Repairs asked of the model (0 when the original needed none). */
  repairs: z.number().int().nonnegative(),
  /** `refused`: the generator refused a repair request for good (e.g. too long); `refusal` says why. */
  stopped: z.enum(['not_needed', 'passed', 'max_attempts', 'refused']),
  refusal: z.string().optional(),
  /** Every attempt when a repair was asked for; empty when the original needed none. */
  attempts: z.array(
    z.object({
      attempt: z.number().int().nonnegative(),
      reply: z.string(),
      /** Whether the reply's program ran (a repair answer without a program did not). */
      ran: z.boolean(),
      /** Why the attempt still needed repair (`none`: it did not). */
      failure: z.object({ kind: z.string(), message: z.string(), line: z.number().int().nullable() }),
      final_answer: z.unknown(),
      error: z.object({ type: z.string(), message: z.string(), line: z.number().int().nullable() }).nullable(),
      /** The previous program against this one, line by line (`-`, `+`, two spaces), for repairs that parsed. */
      diff: z.string().optional(),
      model: z.string().optional(),
      ms: z.number().optional(),
    }),
  ),
  /** The question as it scored without repair (attempt 0). */
  original: z.object({ prediction: z.string().nullable(), score: z.number(), correct: z.boolean(), error_kind: z.string().nullable() }),
});
export type RepairInfo = z.infer<typeof RepairInfo>;

export const RunRecord = z.object({
  version: z.literal(1),
  id: z.string(),
  created: z.string(),
  query: z.string(),
  image: z.object({ path: z.string(), sha256: z.string(), width: z.number().optional(), height: z.number().optional() }),
  /** Where the reply came from; absent when the program was taken from a `.vprog` document. */
  generator: z
    .object({
      base_url: z.string(),
      model: z.string(),
      settings: z.record(z.string(), z.unknown()),
      /** The system prompt sent: ours (`builtin`) or a prompt file, by sha256 of its text. */
      prompt: z.object({ source: z.enum(['builtin', 'file']), path: z.string().nullable(), sha256: z.string() }).optional(),
    })
    .nullable()
    .optional(),
  /** The `.vprog` document the program was taken from, when it was. */
  document: z.string().nullable().optional(),
  /**
   * 1-based line of that document on which program line 1 stood when the run was made, so
   * trace entries and errors (located in program lines) can be shown as document lines.
   */
  program_document_line: z.number().int().positive().nullable().optional(),
  tools: z.object({ url: z.string(), models: z.record(z.string(), z.string()).optional() }),
  reply: z.string(),
  plan: z.string().nullable(),
  program: z.string().nullable(),
  format: FormatResult,
  trace: z.array(TraceEntry),
  final_answer: z.unknown(),
  error: ProgramError.nullable(),
  stdout: z.string().optional(),
  /** How the program's process was confined (absent in older records and when nothing ran). */
  isolation: IsolationMode.optional(),
  /** Line-level trace of the run (src/protocol/lineTrace.ts): values per program line, hits, order. */
  line_trace: LineTrace.optional(),
  /** Set on records made by replay (src/core/replay.ts): the record replayed and calls it had no result for. */
  replay: z
    .object({ of: z.string(), missing: z.array(z.object({ tool: ToolName, args: z.record(z.string(), z.unknown()), line: z.number().int().nullable() })) })
    .optional(),
  /** The what-if analysis of `valor run --sensitivity` (src/core/sensitivity.ts), when it was asked for. */
  sensitivity: SensitivityReport.optional(),
  timings: z.object({ generate_ms: z.number().optional(), run_ms: z.number().optional(), total_ms: z.number() }),
  rewards: RewardSet.optional(),
  grounding: z.array(GroundingResult).optional(),
  /** Set on records written by `valor eval`: the benchmark question and how the answer scored. */
  eval: EvalInfo.optional(),
  /** Set on records of `valor eval --repair N` with N > 0 (RepairInfo). */
  repair: RepairInfo.optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/**
 * The line a person sees for a program line of a run: the `.vprog` document's line when the
 * program came from a document (`program_document_line`), else the program line itself.
 */
export function shownLine(record: { program_document_line?: number | null | undefined }, programLine: number): number;
export function shownLine(record: { program_document_line?: number | null | undefined }, programLine: number | null): number | null;
export function shownLine(record: { program_document_line?: number | null | undefined }, programLine: number | null): number | null {
  if (programLine === null) return null;
  const first = record.program_document_line;
  return typeof first === 'number' && first >= 1 ? first + programLine - 1 : programLine;
}
