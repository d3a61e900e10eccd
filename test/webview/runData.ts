/**
 * A scene and the run record of a program about it, for the run view tests: objects at known
 * pixel positions on a plain background (the image is drawn from the same numbers with sharp),
 * so a test can sample screenshot pixels at box edges and know what must be there.
 */
import sharp from 'sharp';
import type { BBox } from '../../src/protocol/tools.js';
import type { BoxFate, GroundingResult, RewardName, RunRecord, TraceEntry, Verdict } from '../../src/protocol/run.js';
import { RunRecord as RunRecordSchema } from '../../src/protocol/run.js';

export const SCENE = {
  width: 800,
  height: 600,
  background: { r: 235, g: 232, b: 220 },
  objects: [
    { name: 'mug', bbox: [100, 100, 220, 260] as BBox, color: { r: 90, g: 60, b: 40 } },
    { name: 'mug', bbox: [300, 120, 400, 250] as BBox, color: { r: 90, g: 60, b: 40 } },
    { name: 'laptop', bbox: [480, 300, 740, 520] as BBox, color: { r: 60, g: 70, b: 90 } },
    { name: 'plant', bbox: [120, 360, 260, 520] as BBox, color: { r: 40, g: 110, b: 110 } },
  ],
} as const;

/** PNG of the scene (or of any size with the same layout scaled, for the benchmark). */
export async function sceneImage(width: number = SCENE.width, height: number = SCENE.height): Promise<Buffer> {
  const sx = width / SCENE.width;
  const sy = height / SCENE.height;
  return sharp({ create: { width, height, channels: 3, background: SCENE.background } })
    .composite(
      SCENE.objects.map((o) => {
        const [x1, y1, x2, y2] = o.bbox;
        return {
          input: { create: { width: Math.round((x2 - x1) * sx), height: Math.round((y2 - y1) * sy), channels: 3 as const, background: o.color } },
          left: Math.round(x1 * sx),
          top: Math.round(y1 * sy),
        };
      }),
    )
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export interface Candidate {
  bbox: BBox;
  label: string;
  score: number;
}

/** Detections the program received: candidates at or above the threshold, in the detector's order. */
export function resultOf(candidates: Candidate[], threshold: number): Candidate[] {
  return candidates.filter((c) => c.score >= threshold);
}

export const MUG_CANDIDATES: Candidate[] = [
  { bbox: [100, 100, 220, 260], label: 'mug', score: 0.82 },
  { bbox: [300, 120, 400, 250], label: 'mug', score: 0.61 },
  { bbox: [120, 360, 260, 520], label: 'mug', score: 0.22 },
  { bbox: [600, 40, 700, 140], label: 'mug', score: 0.14 },
];
export const LAPTOP_CANDIDATES: Candidate[] = [
  { bbox: [480, 300, 740, 520], label: 'laptop', score: 0.9 },
  { bbox: [20, 540, 90, 590], label: 'laptop', score: 0.27 },
];

function verdict(reward: RewardName, state: Verdict['state'], value: number | null, rationale: string): Verdict {
  return { reward, state, value, rationale, judge: reward === 'format' ? 'parser' : reward === 'syntax' ? 'runner' : 'judge-model', ms: 420 };
}

const GROUNDING_BOXES: BoxFate[] = [
  { index: 0, bbox: [100, 100, 220, 260], label: 'mug', score: 0.82, kept: true },
  { index: 1, bbox: [300, 120, 400, 250], label: 'mug', score: 0.61, kept: false, dropped_at: 'dedup', reason: 'same mug as #0' },
  { index: 2, bbox: [120, 360, 260, 520], label: 'mug', score: 0.22, kept: false, dropped_at: 'coarse', reason: 'a plant, not a mug' },
  { index: 3, bbox: [600, 40, 700, 140], label: 'mug', score: 0.14, kept: false, dropped_at: 'crop', reason: 'empty background' },
  { index: 4, bbox: [310, 130, 390, 240], label: 'mug', score: 0.3, kept: false, dropped_at: 'crop', reason: 'truncated' },
];

export function groundingResult(): GroundingResult {
  return {
    image: { path: 'images/desk.png', sha256: 'a'.repeat(64), width: SCENE.width, height: SCENE.height },
    prompt: 'mug',
    boxes: GROUNDING_BOXES.map((b) => ({ ...b })),
    verifier_model: 'verifier-model',
    ms: 2100,
  };
}

export interface RunOptions {
  id?: string;
  answer?: unknown;
  laptopThreshold?: number;
}

/** A complete run: two detection calls (with candidates), a depth call, a VQA call, six verdicts, grounding. */
export function makeRun(opts: RunOptions = {}): RunRecord {
  const t = 0.35;
  const laptopT = opts.laptopThreshold ?? t;
  const trace: TraceEntry[] = [
    {
      index: 0,
      tool: 'gd_detect',
      line: 1,
      variable: 'mugs',
      args: { img_pth: 'images/desk.png', prompt: 'mug' },
      result: resultOf(MUG_CANDIDATES, t),
      ms: 312,
      detail: { candidates: MUG_CANDIDATES, box_threshold: t, text_threshold: 0.25, model: 'detector' },
    },
    {
      index: 1,
      tool: 'gd_detect',
      line: 2,
      variable: 'laptops',
      args: { img_pth: 'images/desk.png', prompt: 'laptop' },
      result: resultOf(LAPTOP_CANDIDATES, laptopT),
      ms: 298,
      detail: { candidates: LAPTOP_CANDIDATES, box_threshold: laptopT, cached: true },
    },
    {
      index: 2,
      tool: 'depth',
      line: 5,
      variable: 'd_mug',
      args: { img_pth: 'images/desk.png', bbox: [100, 100, 220, 260] },
      result: 1.84,
      ms: 95,
      detail: { region: [130, 140, 190, 220] },
    },
    {
      index: 3,
      tool: 'vqa',
      line: 7,
      variable: 'colour',
      args: { img_pth: 'images/desk.png', bbox: [480, 300, 740, 520], prompt: 'What colour is the laptop?' },
      result: 'gray',
      ms: 880,
      detail: { crop: [415, 245, 800, 575] },
    },
  ];
  const program = [
    'mugs = gd_detect(img_pth, "mug")',
    'laptops = gd_detect(img_pth, "laptop")',
    'if not mugs or not laptops:',
    '    return',
    'd_mug = depth(img_pth, mugs[0]["bbox"])',
    'left = mugs[0]["bbox"][2] < laptops[0]["bbox"][0]',
    'colour = vqa(img_pth, laptops[0]["bbox"], "What colour is the laptop?")',
    'final_answer = "yes" if left else "no"',
  ].join('\n');
  const run: RunRecord = {
    version: 1,
    id: opts.id ?? 'run-desk-1',
    created: '2026-01-02T03:04:05.000Z',
    query: 'Is the mug to the left of the laptop?',
    image: { path: 'images/desk.png', sha256: 'a'.repeat(64), width: SCENE.width, height: SCENE.height },
    generator: { base_url: 'http://127.0.0.1:1/v1', model: 'valor-8b', settings: { temperature: 0.7 } },
    document: 'desk.vprog',
    tools: { url: 'http://127.0.0.1:2', models: { detector: 'detector' } },
    reply: `<plan>\n1. Detect the mug and the laptop.\n2. Compare x coordinates.\n</plan>\n<answer>\n${program}\n</answer>`,
    plan: '1. Detect the mug and the laptop.\n2. If either is missing, answer with the other option.\n3. Compare the right edge of the mug with the left edge of the laptop.',
    program,
    format: { score: 1, diagnostics: [] },
    trace,
    final_answer: opts.answer ?? 'yes',
    error: null,
    stdout: '',
    timings: { generate_ms: 1200, run_ms: 1600, total_ms: 2900 },
    rewards: {
      verdicts: [
        verdict('format', 'pass', 1, 'one <plan> and one <answer>'),
        verdict('syntax', 'pass', 1, 'ran to the end with placeholder tools'),
        verdict('spatial', 'pass', 1, 'left/right resolved with 2D box coordinates'),
        verdict('attribute', 'pass', 1, 'no measured quantities asked'),
        verdict('logic', 'fail', 0, 'the plan never says what to answer when nothing is detected'),
        verdict('adherence', 'error', null, 'the judge did not answer'),
      ],
      total: null,
      incomplete: true,
      weights: { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 },
    },
    grounding: [groundingResult()],
  };
  // The fixture must satisfy the shared contract, or these tests would test a fiction.
  return RunRecordSchema.parse(run);
}

/** A float32 depth map (metres) of the given size: far at the top, near at the bottom. */
export function depthMap(width = 80, height = 60, near = 0.8, far = 6.4): { width: number; height: number; min: number; max: number; data: string; image_width: number; image_height: number; model: string } {
  const values = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) values[y * width + x] = far - ((far - near) * y) / (height - 1);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { width, height, min, max, data: Buffer.from(values.buffer).toString('base64'), image_width: SCENE.width, image_height: SCENE.height, model: 'depth-model' };
}
