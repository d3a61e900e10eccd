/**
 * The tool server's HTTP API (routes under `/v1/`), shared by the server (src/server) and the
 * client (src/core/toolClient.ts). Every body is JSON and validated on arrival with these schemas.
 *
 * Images are sent once (`POST /v1/images`, raw bytes) and referenced afterwards by their
 * sha256 content hash, or by a path on the server's machine when it lies inside the server's
 * allowed roots. Every request carries `Authorization: Bearer <token>`; a wrong token gets 401.
 * Errors are `{ "error": { "code", "message" } }` with a 4xx/5xx status.
 */
import { z } from 'zod';

/** Pixel box `[x1, y1, x2, y2]`, x to the right, y down, origin at the top-left corner. */
export const BBox = z.tuple([z.number(), z.number(), z.number(), z.number()]);
export type BBox = z.infer<typeof BBox>;

/** An image already known to the server (by content hash) or a path inside its allowed roots. */
export const ImageRef = z.union([
  z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
  z.object({ path: z.string().min(1) }).strict(),
]);
export type ImageRef = z.infer<typeof ImageRef>;

/**
 * Reply of `POST /v1/images` (body: the raw image bytes, any image content type), and of
 * `GET /v1/images/<sha256>` (404 `unknown_image` when the server does not hold that image).
 * Width and height are those of the upright image (after its EXIF orientation).
 */
export const ImageUploadResponse = z.object({ sha256: z.string(), width: z.number().int(), height: z.number().int() });
export type ImageUploadResponse = z.infer<typeof ImageUploadResponse>;

/** One detection as programs see it (docs/valor.md §2), plus the detector's confidence. */
export const Detection = z.object({ bbox: BBox, label: z.string(), score: z.number() });
export type Detection = z.infer<typeof Detection>;

/** VALOR's detection thresholds (docs/valor.md §2): the defaults of the server, the client and the settings. */
export const DEFAULT_BOX_THRESHOLD = 0.35;
export const DEFAULT_TEXT_THRESHOLD = 0.25;

/** `POST /v1/detect`: `gd_detect(img_pth, prompt)`. */
export const DetectRequest = z.object({
  image: ImageRef,
  /** Comma-separated noun phrases, as the program wrote them. */
  prompt: z.string(),
  /** Box threshold (default DEFAULT_BOX_THRESHOLD). */
  box_threshold: z.number().min(0).max(1).optional(),
  /** Text threshold (default DEFAULT_TEXT_THRESHOLD). */
  text_threshold: z.number().min(0).max(1).optional(),
  /**
   * When set, the reply also carries `candidates`: every box at or above this box threshold
   * (same label rules), so a viewer can re-filter with a slider without re-running the model.
   */
  candidate_threshold: z.number().min(0).max(1).optional(),
});
export type DetectRequest = z.infer<typeof DetectRequest>;

export const DetectResponse = z.object({
  detections: z.array(Detection),
  candidates: z.array(Detection).optional(),
  /** Image size in pixels (boxes are clipped to it). */
  width: z.number().int(),
  height: z.number().int(),
  model: z.string(),
  cached: z.boolean(),
  ms: z.number(),
});
export type DetectResponse = z.infer<typeof DetectResponse>;

/** `POST /v1/depth`: `depth(img_pth, bbox)`. */
export const DepthRequest = z.object({ image: ImageRef, bbox: BBox });
export type DepthRequest = z.infer<typeof DepthRequest>;

export const DepthResponse = z.object({
  /** Metric depth in metres: median of the valid depths in `region`. */
  depth: z.number(),
  /** The pixel region that was sampled (the central part of the box, or the centre pixel). */
  region: BBox,
  /** How the box was read: `median` of its central half, or the reference's single `center` pixel. */
  reading: z.enum(['median', 'center']).optional(),
  model: z.string(),
  cached: z.boolean(),
  ms: z.number(),
});
export type DepthResponse = z.infer<typeof DepthResponse>;

/** `POST /v1/depth/map`: the whole depth map, downsampled so its long side is at most `max_side`. */
export const DepthMapRequest = z.object({ image: ImageRef, max_side: z.number().int().min(8).max(4096).optional() });
export type DepthMapRequest = z.infer<typeof DepthMapRequest>;

export const DepthMapResponse = z.object({
  width: z.number().int(),
  height: z.number().int(),
  /** Size of the image the map belongs to. */
  image_width: z.number().int(),
  image_height: z.number().int(),
  min: z.number(),
  max: z.number(),
  /** Row-major float32 little-endian metres, base64. */
  data: z.string(),
  model: z.string(),
});
export type DepthMapResponse = z.infer<typeof DepthMapResponse>;

/** `POST /v1/vqa`: `vqa(img_pth, bbox, prompt)`; `bbox: null` means the whole image. */
export const VqaRequest = z.object({ image: ImageRef, bbox: BBox.nullable(), prompt: z.string() });
export type VqaRequest = z.infer<typeof VqaRequest>;

export const VqaResponse = z.object({
  /** Lowercased, trailing `.`/`,` removed. */
  answer: z.string(),
  /** The region actually sent to the vision model (box padded by 25%, clamped), in pixels. */
  crop: BBox,
  model: z.string(),
  cached: z.boolean(),
  ms: z.number(),
});
export type VqaResponse = z.infer<typeof VqaResponse>;

/**
 * `POST /v1/prefetch`: a hint that a program about to run will call these tools on this image.
 * The server starts the work that does not depend on the call's arguments (decoding, the model
 * input, the depth map) in the background and answers 202 at once; the calls later find it done
 * or in progress. Unknown tool names are ignored, so older and newer clients and servers mix.
 */
export const PrefetchRequest = z.object({ image: ImageRef, tools: z.array(z.string().max(64)).max(16) });
export type PrefetchRequest = z.infer<typeof PrefetchRequest>;

export const PrefetchResponse = z.object({ started: z.array(z.string()) });
export type PrefetchResponse = z.infer<typeof PrefetchResponse>;

/** `GET /v1/health`. */
export const HealthResponse = z.object({
  status: z.enum(['ok', 'degraded']),
  device: z.string(),
  models: z.record(
    z.string(),
    z.object({
      id: z.string(),
      loaded: z.boolean(),
      error: z.string().optional(),
      /** Model inferences run since start (a cached answer runs none). */
      runs: z.number().optional(),
      /** Device this model's session runs on (`cpu` after a CUDA fallback). */
      device: z.string().optional(),
    }),
  ),
  versions: z.record(z.string(), z.string()),
  cache: z.record(z.string(), z.object({ entries: z.number(), bytes: z.number() })),
  busy: z.record(z.string(), z.number()).optional(),
  /** Counters since start: `uploads` (images stored from POST /v1/images), `requests`. */
  counters: z.record(z.string(), z.number()).optional(),
  /** Server process memory in bytes (`rss`, `heap_used`). */
  memory: z.record(z.string(), z.number()).optional(),
});
export type HealthResponse = z.infer<typeof HealthResponse>;

/** Error body of every non-2xx reply. `code` is stable and machine-readable. */
export const ErrorResponse = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/**
 * The one line a tool server prints on stdout when it listens (the CLI, the extension and tests
 * wait for it): `valor tool server ready at http://127.0.0.1:PORT token=TOKEN device=cpu|cuda`.
 * `device` is what the models actually run on (`cpu` after a CUDA fallback).
 */
export const TOOL_SERVER_READY_RE = /^valor tool server ready at (http:\/\/\S+) token=(\S+) device=(\S+)$/;

export function parseReadyLine(line: string): { url: string; token: string; device: string } | undefined {
  const m = TOOL_SERVER_READY_RE.exec(line.trim());
  return m ? { url: m[1] as string, token: m[2] as string, device: m[3] as string } : undefined;
}

export const TOOL_ROUTES = {
  health: '/v1/health',
  images: '/v1/images',
  detect: '/v1/detect',
  depth: '/v1/depth',
  depthMap: '/v1/depth/map',
  vqa: '/v1/vqa',
  prefetch: '/v1/prefetch',
} as const;

/** Parameter names of the program's tools, in order (docs/valor.md §2). The Python functions are generated from this. */
export const TOOL_PARAMS = {
  gd_detect: ['img_pth', 'prompt'],
  depth: ['img_pth', 'bbox'],
  vqa: ['img_pth', 'bbox', 'prompt'],
} as const satisfies Record<string, readonly string[]>;
