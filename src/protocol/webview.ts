/**
 * The run view's message protocol: what the extension host (src/extension) and the webview app
 * (webview/) say to each other. Both sides validate every message on arrival with these schemas
 * (`parseHostMessage` in the view, `parseViewMessage` in the host); a message that does not
 * parse is reported and ignored, never acted on.
 *
 * Handshake: the view posts `ready` once its script runs (also after every reload of the panel);
 * the host answers with `init` and only then sends `update` / `depthMap` / `error`. A host that
 * receives `ready` again must send `init` again (the view lost its data but kept its view state).
 *
 * The view sends data requests (`requestDepthMap`) and user intents (`revealLine`, `override`,
 * `flipBox`); it never writes anything itself. The host records overrides in the audit log and
 * answers with an `update` carrying the changed rewards or grounding results.
 *
 *   host -> view: init, update, depthMap, error
 *   view -> host: ready, revealLine, override, flipBox, requestDepthMap, fixWithModel, error
 */
import { z } from 'zod';
import { GroundingResult, RewardName, RewardSet, RunRecord } from './run.js';

/** Bumped when a message changes incompatibly; sent in `ready`. */
export const WEBVIEW_PROTOCOL_VERSION = 1;

/**
 * A run record as the view accepts it: every top-level field of `RunRecord` may be missing
 * (a run still in progress, an older record, a run that failed before it had a trace), only `id`
 * is required. A full `RunRecord` always fits.
 */
export const ViewRunRecord = RunRecord.partial().extend({ id: z.string() });
export type ViewRunRecord = z.infer<typeof ViewRunRecord>;

/**
 * A whole-image depth map, as `POST /v1/depth/map` returns it (`DepthMapResponse` fits):
 * row-major float32 little-endian metres, base64. Non-finite or non-positive values are "no depth".
 */
export const DepthMapData = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  min: z.number(),
  max: z.number(),
  data: z.string(),
  image_width: z.number().int().optional(),
  image_height: z.number().int().optional(),
  model: z.string().optional(),
});
export type DepthMapData = z.infer<typeof DepthMapData>;

/** Parts of the view that are still being computed (the view shows them as "working"). */
export const PendingPart = z.enum(['run', 'rewards', 'grounding']);
export type PendingPart = z.infer<typeof PendingPart>;

// ---------------------------------------------------------------- host -> view

/** The data to show. Sent in answer to every `ready`. */
export const InitMessage = z.object({
  type: z.literal('init'),
  run: ViewRunRecord,
  /**
   * The run's image as a URI the view may load (`webview.asWebviewUri(...)`); null when the image
   * is gone (the view then draws boxes on an empty canvas of the record's image size).
   */
  imageUri: z.string().nullable(),
  /** The depth map when the host already has it; otherwise the view asks with `requestDepthMap`. */
  depthMap: DepthMapData.nullable().optional(),
  /** A second run of the same document to compare with (answers, scores, calls that differ). */
  compare: ViewRunRecord.nullable().optional(),
  pending: z.array(PendingPart).optional(),
});
export type InitMessage = z.infer<typeof InitMessage>;

/**
 * New results for the run on show (e.g. rewards or grounding landed, an override was recorded).
 * Fields present replace the view's copy; absent fields are unchanged. `run` replaces the whole
 * record (it must have the same `id`, or the view treats it as a new run and resets its state).
 */
export const UpdateMessage = z.object({
  type: z.literal('update'),
  run: ViewRunRecord.optional(),
  rewards: RewardSet.nullable().optional(),
  grounding: z.array(GroundingResult).optional(),
  imageUri: z.string().nullable().optional(),
  compare: ViewRunRecord.nullable().optional(),
  pending: z.array(PendingPart).optional(),
});
export type UpdateMessage = z.infer<typeof UpdateMessage>;

/** Answer to `requestDepthMap`. */
export const DepthMapMessage = z.object({ type: z.literal('depthMap'), runId: z.string(), map: DepthMapData });
export type DepthMapMessage = z.infer<typeof DepthMapMessage>;

/** Something the host could not do for the view (e.g. the depth map request failed). Shown as a banner. */
export const HostErrorMessage = z.object({
  type: z.literal('error'),
  message: z.string(),
  /** The view message type this error answers, when it answers one. */
  request: z.string().optional(),
});
export type HostErrorMessage = z.infer<typeof HostErrorMessage>;

export const HostMessage = z.discriminatedUnion('type', [InitMessage, UpdateMessage, DepthMapMessage, HostErrorMessage]);
export type HostMessage = z.infer<typeof HostMessage>;

// ---------------------------------------------------------------- view -> host

export const ReadyMessage = z.object({ type: z.literal('ready'), protocol: z.number().int() });
export type ReadyMessage = z.infer<typeof ReadyMessage>;

/**
 * Show a program line in the editor. `line` is 1-based in the program text (the `<answer>` body
 * with fences removed, as in `TraceEntry.line`); the host maps it to the document. Sent when a
 * call is clicked or chosen with the keyboard (reveal without taking focus) and when the error's
 * line is clicked.
 */
export const RevealLineMessage = z.object({
  type: z.literal('revealLine'),
  runId: z.string(),
  line: z.number().int().positive(),
  /** `TraceEntry.index` of the call that was chosen, when a call was. */
  callIndex: z.number().int().optional(),
});
export type RevealLineMessage = z.infer<typeof RevealLineMessage>;

/**
 * The person wants to override a reward verdict. The host asks for the note (and confirms the
 * verdict), appends an `Override` of kind `reward` to the audit log and sends an `update`.
 */
export const OverrideMessage = z.object({
  type: z.literal('override'),
  runId: z.string(),
  reward: RewardName,
  /** The verdict the person chose: 1 pass, 0 fail. */
  value: z.union([z.literal(0), z.literal(1)]),
  /** The judge's value being overridden (null when the judge failed). */
  machineValue: z.number().nullable(),
});
export type OverrideMessage = z.infer<typeof OverrideMessage>;

/**
 * The person flipped the grounding verifier's decision on one candidate box. The host records an
 * `Override` of kind `box` (target = the box's candidate index) and sends an `update`.
 */
export const FlipBoxMessage = z.object({
  type: z.literal('flipBox'),
  runId: z.string(),
  /** Position of the `GroundingResult` in `run.grounding`. */
  grounding: z.number().int().nonnegative(),
  /** `BoxFate.index` of the box. */
  box: z.number().int().nonnegative(),
  /** The decision the person chose (true keep, false drop). */
  kept: z.boolean(),
  /** The decision it replaces, as the view showed it. */
  machineKept: z.boolean(),
});
export type FlipBoxMessage = z.infer<typeof FlipBoxMessage>;

/** Ask for the run image's depth map; the host answers `depthMap` or `error` (request `requestDepthMap`). */
export const RequestDepthMapMessage = z.object({ type: z.literal('requestDepthMap'), runId: z.string() });
export type RequestDepthMapMessage = z.infer<typeof RequestDepthMapMessage>;

/**
 * The person asked the model to fix the run's program (the error area's button): the host runs
 * "VALOR: Fix with the Model" on the run's document, which shows the fix as a diff to accept or
 * reject there (docs/debugger.md "Repair"). Nothing comes back to the view.
 */
export const FixWithModelMessage = z.object({ type: z.literal('fixWithModel'), runId: z.string() });
export type FixWithModelMessage = z.infer<typeof FixWithModelMessage>;

/** The view rejected a host message (it did not validate) or failed to show something. */
export const ViewErrorMessage = z.object({
  type: z.literal('error'),
  message: z.string(),
  /** Short description of what was received (type and validation issues), for the log. */
  detail: z.string().optional(),
});
export type ViewErrorMessage = z.infer<typeof ViewErrorMessage>;

export const ViewMessage = z.discriminatedUnion('type', [
  ReadyMessage,
  RevealLineMessage,
  OverrideMessage,
  FlipBoxMessage,
  RequestDepthMapMessage,
  FixWithModelMessage,
  ViewErrorMessage,
]);
export type ViewMessage = z.infer<typeof ViewMessage>;

// ---------------------------------------------------------------- parsing

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string };

/** A one-line account of why a message did not validate (first few issues with their paths). */
function describeIssues(data: unknown, error: z.ZodError): string {
  const type = typeof data === 'object' && data !== null && 'type' in data ? String((data as { type: unknown }).type) : typeof data;
  const issues = error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`)
    .join('; ');
  const more = error.issues.length > 3 ? ` (+${error.issues.length - 3} more)` : '';
  return `message "${type}" is not valid: ${issues}${more}`;
}

/** Validates a message the view received from the host. */
export function parseHostMessage(data: unknown): Parsed<HostMessage> {
  const r = HostMessage.safeParse(data);
  return r.success ? { ok: true, message: r.data } : { ok: false, error: describeIssues(data, r.error) };
}

/** Validates a message the host received from the view. */
export function parseViewMessage(data: unknown): Parsed<ViewMessage> {
  const r = ViewMessage.safeParse(data);
  return r.success ? { ok: true, message: r.data } : { ok: false, error: describeIssues(data, r.error) };
}
