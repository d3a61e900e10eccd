/**
 * `gd_detect`: GroundingDINO in ONNX. transformers.js supplies the tokenizer, the image
 * processor and the grounded post-processing (the same algorithm as transformers' Python
 * `post_process_grounded_object_detection`); the session is our own onnxruntime-node session so
 * the device, the run count and the bare model time are ours to control and measure.
 *
 * VALOR's semantics (docs/valor.md §2) on top: the prompt's comma-separated phrases make the caption;
 * a box is kept only when the phrase its tokens spell is one of the asked phrases, and its label
 * is that phrase as the program wrote it; boxes are integer pixels clipped to the image; unlike
 * the reference, every box keeps its score.
 */
import * as ort from 'onnxruntime-node';
import type { Detection } from '../protocol/tools.js';
import { HttpError } from './errors.js';
import type { DecodedImage } from './images.js';
import type { LoadedModel } from './modelSlot.js';
import { CountedSession, type Device, onesInt64, type SessionThreads } from './onnx.js';
import { fastPixelValues, modelId, transformers, usePillowResize } from './transformersEnv.js';


export const DETECTOR_FILES = ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'] as const;

export interface Phrase {
  /** As the program wrote it (trimmed): the label returned. */
  asked: string;
  /** Lowercased, inner whitespace collapsed: what goes into the caption. */
  norm: string;
}

/** BERT's special tokens, lowercased as a phrase's `norm` is. */
const SPECIAL_TOKEN = /^\[(cls|sep|pad|mask|unk)\]$/;

/**
 * The asked phrases: split on commas, trimmed, empty ones dropped, repeats (ignoring case and
 * spacing) kept once. A phrase that names nothing the detector can read (no letter or digit, such
 * as ".", or one of BERT's special tokens such as "[SEP]") is dropped like an empty one: its tokens
 * would be empty or special, and every weak box would come back labelled with it. An empty result
 * is a 400: the program asked for nothing.
 */
export function parsePhrases(prompt: string): Phrase[] {
  const out: Phrase[] = [];
  const seen = new Set<string>();
  for (const part of prompt.split(',')) {
    const asked = part.trim();
    const norm = asked.toLowerCase().replace(/\s+/g, ' ');
    if (!/[\p{L}\p{N}]/u.test(norm) || SPECIAL_TOKEN.test(norm) || seen.has(norm)) continue;
    seen.add(norm);
    out.push({ asked, norm });
  }
  if (out.length === 0) {
    throw new HttpError(400, 'empty_prompt', `gd_detect needs at least one noun phrase; the prompt ${JSON.stringify(prompt.slice(0, 80))} has none (phrases are separated by commas, e.g. "red mug, laptop")`);
  }
  return out;
}

/**
 * The caption GroundingDINO reads: the lowercased phrases joined by ". " and ended by "." (the
 * rule of transformers' GroundingDINO processor and of the fixture goldens). BERT's tokenizer
 * splits off the dots, so this gives the same tokens as the reference's " . " joining.
 */
export function buildCaption(phrases: readonly Phrase[]): string {
  return `${phrases.map((p) => p.norm).join('. ')}.`;
}

export interface Caption {
  text: string;
  inputIds: bigint[];
  /** The tokenizer's other text inputs for this caption (same length as inputIds). */
  attentionMask: bigint[];
  tokenTypeIds: bigint[];
}

/** What one session.run leaves, kept in the cache so any thresholds re-filter without the model. */
export interface RawDetections {
  logits: Float32Array;
  logitsDims: number[];
  predBoxes: Float32Array;
  boxDims: number[];
  inputIds: bigint[];
  bytes: number;
}

/**
 * An image as the detector reads it: `pixel_values` planes (3 × height × width) and, when the
 * processor pads, its `pixel_mask` (absent: every pixel is real).
 */
export interface PixelInput {
  values: Float32Array;
  mask?: BigInt64Array;
  width: number;
  height: number;
  bytes: number;
}

/** One detection request of a batch. */
export interface DetectJob {
  pixels: PixelInput;
  caption: Caption;
}

type Processor = Awaited<ReturnType<typeof transformers.AutoProcessor.from_pretrained>>;

export class GroundingDino implements LoadedModel {
  private readonly phraseKeys = new Map<string, string>();
  private readonly decoded = new Map<string, string>();

  private constructor(
    readonly id: string,
    readonly session: CountedSession,
    private readonly processor: Processor,
    readonly maxTextLen: number,
  ) {}

  static async load(dir: string, device: Device, warn: (line: string) => void, threads?: SessionThreads): Promise<GroundingDino> {
    // Local files only: transformersEnv.ts turns remote models off for every load.
    const processor = await transformers.AutoProcessor.from_pretrained(dir);
    if (!processor.tokenizer || !processor.image_processor) {
      throw new Error('preprocessor_config.json does not make a processor with both a tokenizer and an image processor: it needs "processor_class": "GroundingDinoProcessor" and the tokenizer files beside it (scripts/export/export_grounding_dino.py writes them)');
    }
    usePillowResize(processor.image_processor);
    const config = (await transformers.AutoConfig.from_pretrained(dir)) as unknown as { max_text_len?: number };
    const session = await CountedSession.open(`${dir}/onnx/model.onnx`, device, warn, threads);
    for (const name of ['logits', 'pred_boxes']) {
      if (!session.outputNames.includes(name)) throw new Error(`onnx/model.onnx has no output '${name}' (outputs: ${session.outputNames.join(', ')}); export it with scripts/export/export_grounding_dino.py`);
    }
    return new GroundingDino(modelId(dir, DETECTOR_FILES), session, processor, config.max_text_len ?? 256);
  }

  private tokenize(text: string): Record<string, transformers.Tensor> {
    const tok = this.processor.tokenizer as unknown as (t: string, o?: object) => Record<string, transformers.Tensor>;
    return tok(text);
  }

  /** Tokenized caption; a caption longer than the model's text window is a 400 naming the limit. */
  caption(phrases: readonly Phrase[]): Caption {
    const text = buildCaption(phrases);
    // Every token is at least one character: a caption this long cannot fit, and tokenizing a
    // megabyte of text would only hold the server up.
    if (text.length > this.maxTextLen * 32) {
      throw new HttpError(400, 'prompt_too_long', `the detection prompt is ${text.length} characters long; the detector reads at most ${this.maxTextLen} tokens (its max_text_len): ask for fewer or shorter phrases, in several gd_detect calls if needed`);
    }
    const tok = this.tokenize(text);
    const inputIds = Array.from((tok.input_ids as transformers.Tensor).data as BigInt64Array);
    const column = (name: string, fill: bigint): bigint[] => {
      const t = tok[name];
      return t ? Array.from(t.data as BigInt64Array) : inputIds.map(() => fill);
    };
    if (inputIds.length > this.maxTextLen) {
      throw new HttpError(400, 'prompt_too_long', `the detection prompt is ${inputIds.length} tokens long as a caption; the detector reads at most ${this.maxTextLen} tokens (its max_text_len): ask for fewer or shorter phrases, in several gd_detect calls if needed`);
    }
    return { text, inputIds, attentionMask: column('attention_mask', 1n), tokenTypeIds: column('token_type_ids', 0n) };
  }

  /** The image's model input: the one-pass Pillow-exact path, or the processor itself for other options. */
  async pixelInput(img: DecodedImage): Promise<PixelInput> {
    const fast = fastPixelValues(this.processor.image_processor, img);
    if (fast) return { values: fast.data, width: fast.width, height: fast.height, bytes: fast.data.byteLength };
    const image = new transformers.RawImage(new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), img.width, img.height, 3);
    const imageProcessor = this.processor.image_processor as unknown as (i: transformers.RawImage) => Promise<Record<string, transformers.Tensor>>;
    const out = await imageProcessor(image);
    const pv = out.pixel_values as transformers.Tensor;
    const dims = pv.dims;
    const values = pv.data as Float32Array;
    const mask = out.pixel_mask ? (out.pixel_mask.data as BigInt64Array) : undefined;
    return { values, mask, width: dims[3] as number, height: dims[2] as number, bytes: values.byteLength + (mask?.byteLength ?? 0) };
  }

  async infer(img: DecodedImage, caption: Caption): Promise<RawDetections> {
    const [raw] = await this.run([{ pixels: await this.pixelInput(img), caption }]);
    return raw as RawDetections;
  }

  /** Whether two jobs can share one session.run: same input size (captions are padded). */
  static batchable(a: DetectJob, b: DetectJob): boolean {
    return a.pixels.width === b.pixels.width && a.pixels.height === b.pixels.height;
  }

  /**
   * One session.run for all `jobs` (batch dimension = jobs.length; same input size, see
   * `batchable`): captions are padded to the longest with attention mask 0, which the graph masks
   * out (logits of padded positions are -inf, as beyond any caption). Returns each job's outputs.
   */
  async run(jobs: readonly DetectJob[]): Promise<RawDetections[]> {
    const n = jobs.length;
    const first = jobs[0];
    if (!first) return [];
    // A graph exported with a fixed batch of 1 (see scripts/export/export_grounding_dino.py for
    // the dynamic axes) runs the jobs one after another.
    if (n > 1 && !this.session.batchable('pixel_values')) {
      const out: RawDetections[] = [];
      for (const j of jobs) out.push(...(await this.run([j])));
      return out;
    }
    const { width: w, height: h } = first.pixels;
    const plane = 3 * w * h;
    const len = Math.max(...jobs.map((j) => j.caption.inputIds.length));
    const ids = new BigInt64Array(n * len);
    const att = new BigInt64Array(n * len);
    const types = new BigInt64Array(n * len);
    let values = first.pixels.values;
    if (n > 1) {
      values = new Float32Array(new SharedArrayBuffer(4 * n * plane));
      jobs.forEach((j, b) => values.set(j.pixels.values, b * plane));
    }
    jobs.forEach((j, b) => {
      ids.set(j.caption.inputIds, b * len);
      att.set(j.caption.attentionMask, b * len);
      types.set(j.caption.tokenTypeIds, b * len);
    });
    let mask: BigInt64Array;
    if (jobs.every((j) => !j.pixels.mask)) mask = onesInt64(n * w * h);
    else {
      mask = new BigInt64Array(n * w * h);
      jobs.forEach((j, b) => (j.pixels.mask ? mask.set(j.pixels.mask, b * w * h) : mask.fill(1n, b * w * h, (b + 1) * w * h)));
    }
    const all: Record<string, ort.Tensor> = {
      pixel_values: new ort.Tensor('float32', values, [n, 3, h, w]),
      pixel_mask: new ort.Tensor('int64', mask, [n, h, w]),
      input_ids: new ort.Tensor('int64', ids, [n, len]),
      attention_mask: new ort.Tensor('int64', att, [n, len]),
      token_type_ids: new ort.Tensor('int64', types, [n, len]),
    };
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const t = all[name];
      if (!t) throw new Error(`the detector needs input '${name}', which the processor does not produce`);
      feeds[name] = t;
    }
    const out = await this.session.run(feeds);
    const logits = out.logits as ort.Tensor;
    const boxes = out.pred_boxes as ort.Tensor;
    const [, q = 0, t = 0] = logits.dims;
    const bq = boxes.dims[1] as number;
    const ld = logits.data as Float32Array;
    const bd = boxes.data as Float32Array;
    return jobs.map((j, b) => {
      const l = ld.slice(b * q * t, (b + 1) * q * t);
      const bx = bd.slice(b * bq * 4, (b + 1) * bq * 4);
      return { logits: l, logitsDims: [1, q, t], predBoxes: bx, boxDims: [1, bq, 4], inputIds: j.caption.inputIds, bytes: l.byteLength + bx.byteLength + j.caption.inputIds.length * 8 + 256 };
    });
  }

  /**
   * The phrase a list of token ids spells, as transformers' `batch_decode` gives it (an empty list
   * gives '', as in Python; transformers.js's decode would throw on it). Cached: the same few
   * phrases come back box after box.
   */
  private decodePhrase(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    const key = ids.join(',');
    let text = this.decoded.get(key);
    if (text === undefined) {
      // One sequence in, one string out.
      const proc = this.processor as unknown as { batch_decode(b: [number[]]): [string] };
      text = proc.batch_decode([[...ids]])[0];
      if (this.decoded.size > 10_000) this.decoded.clear();
      this.decoded.set(key, text);
    }
    return text;
  }

  /** The phrase text the post-processing would give for `norm` (decode of its own tokens). */
  private phraseKey(norm: string): string {
    let k = this.phraseKeys.get(norm);
    if (k === undefined) {
      const ids = this.tokenize(norm).input_ids as transformers.Tensor;
      // Skipping the special tokens drops the [CLS] and [SEP] around the phrase.
      const all = Array.from(ids.data as BigInt64Array).map(Number);
      k = normalizeLabel(this.processor.tokenizer?.decode(all, { skip_special_tokens: true }) ?? norm);
      if (this.phraseKeys.size > 10_000) this.phraseKeys.clear();
      this.phraseKeys.set(norm, k);
    }
    return k;
  }

  /**
   * The grounded post-processing of transformers (`post_process_grounded_object_detection`, same
   * arithmetic as transformers.js's: float32 sigmoid, a box kept when its best token's probability
   * is above the box threshold, its label the decoded tokens above the text threshold, first and
   * last position excluded, boxes from centre form scaled to the image), then VALOR's filter: keep
   * a box only when its phrase is an asked phrase; integer pixels, clipped; best first.
   *
   * The score is the sigmoid of the row's largest logit (sigmoid, then rounding to float32, is
   * monotonic, so this is the largest probability exactly), so only the rows that pass the box
   * threshold pay for a sigmoid per token.
   */
  postprocess(raw: RawDetections, width: number, height: number, phrases: readonly Phrase[], boxThreshold: number, textThreshold: number): Detection[] {
    const byKey = new Map<string, string>();
    for (const p of phrases) if (!byKey.has(this.phraseKey(p.norm))) byKey.set(this.phraseKey(p.norm), p.asked);
    const [, queries = 0, tokens = 0] = raw.logitsDims;
    const { logits, predBoxes } = raw;
    const ids = raw.inputIds;
    const out: Detection[] = [];
    const clip = (v: number, hi: number): number => Math.min(Math.max(Math.round(v), 0), hi);
    const sigmoid = (x: number): number => Math.fround(1 / (1 + Math.exp(-x)));
    for (let q = 0; q < queries; q++) {
      const row = q * tokens;
      let best = -Infinity;
      for (let t = 0; t < tokens; t++) best = Math.max(best, logits[row + t] as number);
      const score = sigmoid(best);
      if (score <= boxThreshold) continue;
      const picked: number[] = [];
      for (let t = 1; t < tokens - 1; t++) {
        if (sigmoid(logits[row + t] as number) > textThreshold) {
          const id = ids[t];
          if (id !== undefined) picked.push(Number(id));
        }
      }
      const asked = byKey.get(normalizeLabel(this.decodePhrase(picked)));
      if (asked === undefined) continue;
      const cx = predBoxes[q * 4] as number;
      const cy = predBoxes[q * 4 + 1] as number;
      const bw = predBoxes[q * 4 + 2] as number;
      const bh = predBoxes[q * 4 + 3] as number;
      const bbox: [number, number, number, number] = [clip((cx - bw / 2) * width, width), clip((cy - bh / 2) * height, height), clip((cx + bw / 2) * width, width), clip((cy + bh / 2) * height, height)];
      if (bbox[2] <= bbox[0] || bbox[3] <= bbox[1]) continue;
      out.push({ bbox, label: asked, score });
    }
    out.sort((a, b) => b.score - a.score);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The phrase a box's label spells, compared with the asked phrases: dots removed (the separators
 * between phrases; GroundingDINO's own inference code drops them the same way), whitespace
 * collapsed, lowercase.
 */
export function normalizeLabel(s: string): string {
  return s.replace(/\./g, ' ').trim().toLowerCase().replace(/\s+/g, ' ');
}
