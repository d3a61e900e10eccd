/**
 * The small view state kept with the webview API's `setState`, so a reloaded or restored panel
 * comes back as the person left it. It is read back through a schema (an older bundle may have
 * saved a different shape) and applied only to the same run.
 */
import { z } from 'zod';

export const Layers = z.object({
  boxes: z.boolean().default(true),
  labels: z.boolean().default(true),
  depthRegions: z.boolean().default(true),
  crops: z.boolean().default(true),
  depthMap: z.boolean().default(false),
  grounding: z.boolean().default(false),
});
export type Layers = z.infer<typeof Layers>;
export type LayerName = keyof Layers;

export const ViewState = z.object({
  v: z.literal(1),
  runId: z.string().nullable(),
  selectedCall: z.number().int().nullable(),
  layers: Layers,
  /** Zoom relative to "fit the panel" (1 = whole image visible). */
  zoom: z.number().positive(),
  /** Image point at the centre of the panel; null = the image's centre. */
  center: z.tuple([z.number(), z.number()]).nullable(),
  /** Slider thresholds chosen per detection call, by `TraceEntry.index`. */
  thresholds: z.record(z.string(), z.number()),
  groundingFilter: z.enum(['all', 'kept', 'coarse', 'crop', 'dedup']),
  /** Focused grounding box: [position in run.grounding, BoxFate.index]. */
  focusedBox: z.tuple([z.number().int(), z.number().int()]).nullable(),
});
export type ViewState = z.infer<typeof ViewState>;

export function defaultState(runId: string | null = null): ViewState {
  return {
    v: 1,
    runId,
    selectedCall: null,
    layers: Layers.parse({}),
    zoom: 1,
    center: null,
    thresholds: {},
    groundingFilter: 'all',
    focusedBox: null,
  };
}

export function readState(saved: unknown): ViewState | null {
  const r = ViewState.safeParse(saved);
  return r.success ? r.data : null;
}
