/**
 * Replay (issue #15): re-runs a program (the recorded one, or an edited reply) against a run
 * record's tool results, with no tool server and no model. A call the record has a result for
 * gets that result (or its recorded error); any other call fails in the program with
 * `NoRecordedResult` and is listed in the new record's `replay.missing`. Used by `valor run
 * --replay`, the extension and the what-if analysis (src/core/sensitivity.ts), which overrides
 * chosen calls' results.
 */
import type { RunRecord, TraceEntry } from '../protocol/run.js';
import type { Detection } from '../protocol/tools.js';
import { parseReply } from './reply.js';
import { newRunId } from './runStore.js';
import type { ProgramRunnerLike } from './runnerTypes.js';
import { ToolError, type BBox, type ToolResult, type Tools } from './tools.js';

export const NO_RECORDED_RESULT = 'NoRecordedResult';

/** Which recorded call a replayed call matches: the tool and the arguments besides the image. */
export function callKey(tool: TraceEntry['tool'], args: { prompt?: unknown; bbox?: unknown }): string {
  if (tool === 'gd_detect') return `gd_detect|${JSON.stringify(args.prompt ?? null)}`;
  if (tool === 'depth') return `depth|${JSON.stringify(args.bbox ?? null)}`;
  return `vqa|${JSON.stringify(args.bbox ?? null)}|${JSON.stringify(args.prompt ?? null)}`;
}

/** Results to give instead of the recorded ones, by the recorded call's index. */
export interface ReplayOverrides {
  detections?: Map<number, Detection[]>;
  depth?: Map<number, number>;
}

/**
 * `Tools` answered from a record's trace. Calls with the same tool and arguments take the
 * recorded results in order; once those run out the last one answers again (the tools are
 * deterministic for one image and the same arguments).
 */
export class RecordedTools implements Tools {
  private readonly byKey = new Map<string, TraceEntry[]>();
  private readonly taken = new Map<string, number>();
  /** Recorded call indices used, in the order the replay used them. */
  readonly used: number[] = [];

  constructor(
    trace: readonly TraceEntry[],
    private readonly overrides: ReplayOverrides = {},
  ) {
    for (const e of trace) {
      const key = callKey(e.tool, e.args as { prompt?: unknown; bbox?: unknown });
      const list = this.byKey.get(key) ?? [];
      list.push(e);
      this.byKey.set(key, list);
    }
  }

  private take(key: string, describe: string): TraceEntry {
    const list = this.byKey.get(key);
    if (!list || list.length === 0) {
      throw new ToolError(`no recorded result for ${describe}: the run record has no such call (replay answers only the calls the recorded run made; run it against a tool server to get this one)`, NO_RECORDED_RESULT);
    }
    const n = this.taken.get(key) ?? 0;
    this.taken.set(key, n + 1);
    const e = list[Math.min(n, list.length - 1)]!;
    this.used.push(e.index);
    if (e.error) throw new ToolError(e.error.message, e.error.type);
    return e;
  }

  async gd_detect(_img: string, prompt: string): Promise<ToolResult<Detection[]>> {
    const e = this.take(callKey('gd_detect', { prompt }), `gd_detect(img_pth, ${JSON.stringify(prompt)})`);
    const value = this.overrides.detections?.get(e.index) ?? (e.result as Detection[]);
    return { value, ...(e.detail ? { detail: e.detail } : {}) };
  }

  async depth(_img: string, bbox: BBox): Promise<ToolResult<number>> {
    const e = this.take(callKey('depth', { bbox }), `depth(img_pth, ${JSON.stringify(bbox)})`);
    return { value: this.overrides.depth?.get(e.index) ?? (e.result as number), ...(e.detail ? { detail: e.detail } : {}) };
  }

  async vqa(_img: string, bbox: BBox | null, prompt: string): Promise<ToolResult<string>> {
    const e = this.take(callKey('vqa', { bbox, prompt }), `vqa(img_pth, ${JSON.stringify(bbox)}, ${JSON.stringify(prompt)})`);
    return { value: e.result as string, ...(e.detail ? { detail: e.detail } : {}) };
  }
}

export interface ReplayOptions {
  runner: ProgramRunnerLike;
  /** An edited reply (plan and program) to run instead of the recorded one. */
  reply?: string;
  /** Where the record was read from, for the new record (`replay.of`); default its id. */
  source?: string;
  overrides?: ReplayOverrides;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The replay's record, and the calls it had no recorded result for. */
export interface ReplayResult {
  record: RunRecord;
  missing: NonNullable<RunRecord['replay']>['missing'];
  /** Whether the answer (or the error type) differs from the recorded run's. */
  changed: boolean;
}

/** Comparable form of a run's outcome: its answer, or its error type. */
export function outcomeKey(r: Pick<RunRecord, 'final_answer' | 'error'>): string {
  return r.error ? `error:${r.error.type}` : `answer:${JSON.stringify(r.final_answer ?? null)}`;
}

/** Runs the record's program (or `reply`'s) against the record's tool results. */
export async function replayRecord(recorded: RunRecord, o: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const reply = o.reply ?? recorded.reply;
  const parsed = o.reply === undefined ? { program: recorded.program, plan: recorded.plan, format: recorded.format } : parseReply(o.reply);
  const tools = new RecordedTools(recorded.trace, o.overrides);
  let outcome;
  if (parsed.program === null || parsed.program.trim() === '') {
    outcome = null;
  } else {
    outcome = await o.runner.run({ program: parsed.program, imagePath: recorded.image.path, tools, timeoutMs: o.timeoutMs }, o.signal);
  }
  const missing = (outcome?.trace ?? [])
    .filter((t) => t.error?.type === NO_RECORDED_RESULT)
    .map((t) => ({ tool: t.tool, args: Object.fromEntries(Object.entries(t.args).filter(([k]) => k !== 'img_pth')), line: t.line }));
  const record: RunRecord = {
    version: 1,
    id: newRunId(),
    created: new Date().toISOString(),
    query: recorded.query,
    image: recorded.image,
    generator: null,
    document: recorded.document ?? null,
    tools: { url: 'replay', ...(recorded.tools.models ? { models: recorded.tools.models } : {}) },
    reply,
    plan: parsed.plan,
    program: parsed.program,
    format: parsed.format,
    trace: outcome?.trace ?? [],
    final_answer: outcome?.ok ? outcome.final_answer : null,
    error: outcome ? outcome.error : { type: 'NoProgram', message: 'the reply holds no program to run', line: null },
    stdout: outcome?.stdout ?? '',
    ...(outcome?.isolation ? { isolation: outcome.isolation } : {}),
    ...(outcome?.line_trace ? { line_trace: outcome.line_trace } : {}),
    replay: { of: o.source ?? recorded.id, missing },
    timings: { run_ms: outcome?.ms, total_ms: performance.now() - started },
  };
  return { record, missing, changed: outcomeKey(record) !== outcomeKey(recorded) };
}
