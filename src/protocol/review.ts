/**
 * Messages between the review queue's webview (webview/review/) and its host (the extension's
 * review panel, or a test), validated on arrival on both sides. The host holds the queue
 * (src/core/review/session.ts) and sends one item at a time, so a queue of thousands of items
 * never travels to the view; the image of an item is a URI the view loads when it shows it.
 *
 * View -> host: `ready`, `open` (an item by queue position), `decide` (accept / flip / set one
 * verdict), `note` (the item's note), `undo`.
 * Host -> view: `item` (the item, its decisions, progress and agreement statistics),
 * `stats` (after an undo or note, the same numbers again), `error`.
 */
import { z } from 'zod';
import { RewardName, Verdict } from './run.js';

export const ReviewVerdict = z.object({
  reward: RewardName,
  /** As in run records: `error` a failed judge, `skipped` not judged because the format gate was 0. */
  state: Verdict.shape.state,
  value: z.number().nullable(),
  rationale: z.string(),
  judge: z.string(),
  error: z.string().optional(),
  /** Program line a verdict cites (syntax failures). */
  line: z.number().int().nullable().optional(),
  /** The second judge's value on the same reward, when the queue compares two judges. */
  second: z.number().nullable().optional(),
});
export type ReviewVerdict = z.infer<typeof ReviewVerdict>;

export const ReviewDetection = z.object({
  bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  label: z.string(),
  score: z.number(),
  /** Which gd_detect call (0-based) found it: one colour per call. */
  call: z.number().int(),
});
export type ReviewDetection = z.infer<typeof ReviewDetection>;

export const ReviewItemData = z.object({
  key: z.string(),
  label: z.string(),
  query: z.string(),
  /** URI the view may load (already made safe for the webview by the host); null without image. */
  imageUri: z.string().nullable(),
  imageSize: z.object({ width: z.number(), height: z.number() }).nullable(),
  plan: z.string().nullable(),
  program: z.string().nullable(),
  answer: z.string().nullable(),
  error: z.string().nullable(),
  detections: z.array(ReviewDetection),
  verdicts: z.array(ReviewVerdict),
});
export type ReviewItemData = z.infer<typeof ReviewItemData>;

export const ReviewDecision = z.object({
  reward: RewardName,
  /** The person's value. */
  value: z.number(),
  /** What the judge said (null: the judge had failed). */
  machine: z.number().nullable(),
  note: z.string(),
});
export type ReviewDecision = z.infer<typeof ReviewDecision>;

export const RewardAgreement = z.object({
  reward: RewardName,
  /** Verdicts compared (the judge gave a value and a person decided). */
  n: z.number().int(),
  agree: z.number().int(),
  agreement: z.number().nullable(),
  kappa: z.number().nullable(),
  /** 95% interval of kappa (see src/core/review/agreement.ts); null when kappa is. */
  lo: z.number().nullable(),
  hi: z.number().nullable(),
  note: z.string().optional(),
  /** The second judge's values against the same human decisions, when the queue has one. */
  second: z
    .object({ n: z.number().int(), agreement: z.number().nullable(), kappa: z.number().nullable(), lo: z.number().nullable(), hi: z.number().nullable() })
    .optional(),
});
export type RewardAgreement = z.infer<typeof RewardAgreement>;

export const ReviewProgress = z.object({
  /** Items in the queue (after sampling). */
  total: z.number().int(),
  /** Items where every shown verdict has a decision. */
  done: z.number().int(),
  /** Decisions made in this session (undo included). */
  decisions: z.number().int(),
  canUndo: z.boolean(),
});
export type ReviewProgress = z.infer<typeof ReviewProgress>;

export const ReviewStats = z.object({
  progress: ReviewProgress,
  agreement: z.array(RewardAgreement),
});
export type ReviewStats = z.infer<typeof ReviewStats>;

export const ReviewItemMessage = z.object({
  type: z.literal('item'),
  position: z.number().int(),
  item: ReviewItemData,
  decisions: z.array(ReviewDecision),
  note: z.string(),
  /** Which rewards the queue reviews (all six, or the one it was opened for). */
  rewards: z.array(RewardName),
  /** How the queue was chosen, in words (source, sampling). */
  title: z.string(),
  stats: ReviewStats,
});
export type ReviewItemMessage = z.infer<typeof ReviewItemMessage>;

export const ReviewStatsMessage = z.object({ type: z.literal('stats'), stats: ReviewStats });
export const ReviewErrorMessage = z.object({ type: z.literal('error'), message: z.string() });
export const ReviewEmptyMessage = z.object({ type: z.literal('empty'), title: z.string(), message: z.string() });

export const ReviewHostMessage = z.discriminatedUnion('type', [ReviewItemMessage, ReviewStatsMessage, ReviewErrorMessage, ReviewEmptyMessage]);
export type ReviewHostMessage = z.infer<typeof ReviewHostMessage>;

export const ReviewAction = z.enum(['accept', 'flip', 'set']);
export type ReviewAction = z.infer<typeof ReviewAction>;

export const ReviewViewMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('open'), position: z.number().int().min(0) }),
  z.object({ type: z.literal('decide'), position: z.number().int().min(0), reward: RewardName, action: ReviewAction, value: z.number().optional() }),
  z.object({ type: z.literal('note'), position: z.number().int().min(0), text: z.string().max(10_000) }),
  z.object({ type: z.literal('undo') }),
]);
export type ReviewViewMessage = z.infer<typeof ReviewViewMessage>;

export function parseReviewViewMessage(raw: unknown): { ok: true; message: ReviewViewMessage } | { ok: false; error: string } {
  const r = ReviewViewMessage.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}` };
}

export function parseReviewHostMessage(raw: unknown): { ok: true; message: ReviewHostMessage } | { ok: false; error: string } {
  const r = ReviewHostMessage.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}` };
}
