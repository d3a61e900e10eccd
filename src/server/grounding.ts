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
import { CountedSession, type Device } from './onnx.js';
import { fastPixelValues, modelId, transformers, usePillowResize } from './transformersEnv.js';

export const DETECTOR_FILES = ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'] as const;

export interface Phrase {
  /** As the program wrote it (trimmed): the label returned. */
  asked: string;
  /** Lowercased, inner whitespace collapsed: what goes into the caption. */
  norm: string;
}

/**
 * The asked phrases: split on commas, trimmed, empty ones dropped, repeats (ignoring case and
 * spacing) kept once. An empty result is a 400: the program asked for nothing.
 */
export function parsePhrases(prompt: string): Phrase[] {
  const out: Phrase[] = [];
  const seen = new Set<string>();
  for (const part of prompt.split(',')) {
    const asked = part.trim();
    const norm = asked.toLowerCase().replace(/\s+/g, ' ');
    if (!norm || seen.has(norm)) continue;
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

type Processor = Awaited<ReturnType<typeof transformers.AutoProcessor.from_pretrained>>;

interface GroundedPostProcessor {
  post_process_grounded_object_detection(o: object, ids: transformers.Tensor, opts: object): Array<{ scores: number[]; boxes: number[][]; labels: string[] }>;
}

export class GroundingDino implements LoadedModel {
  private readonly phraseKeys = new Map<string, string>();
  private repaired?: GroundedPostProcessor;

  private constructor(
    readonly id: string,
    readonly session: CountedSession,
    private readonly processor: Processor,
    readonly maxTextLen: number,
  ) {}

  static async load(dir: string, device: Device, warn: (line: string) => void): Promise<GroundingDino> {
    const processor = await transformers.AutoProcessor.from_pretrained(dir, { local_files_only: true });
    if (!processor.tokenizer || !processor.image_processor) throw new Error('the folder does not give both a tokenizer and an image processor');
    usePillowResize(processor.image_processor);
    const config = (await transformers.AutoConfig.from_pretrained(dir, { local_files_only: true })) as unknown as { max_text_len?: number };
    const session = await CountedSession.open(`${dir}/onnx/model.onnx`, device, warn);
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
    const ids = this.tokenize(text).input_ids as transformers.Tensor;
    const inputIds = Array.from(ids.data as BigInt64Array);
    if (inputIds.length > this.maxTextLen) {
      throw new HttpError(400, 'prompt_too_long', `the detection prompt is ${inputIds.length} tokens long as a caption; the detector reads at most ${this.maxTextLen} tokens (its max_text_len): ask for fewer or shorter phrases, in several gd_detect calls if needed`);
    }
    return { text, inputIds };
  }

  async infer(img: DecodedImage, caption: Caption): Promise<RawDetections> {
    const all: Record<string, ort.Tensor | undefined> = {};
    for (const [k, t] of Object.entries(this.tokenize(caption.text))) all[k] = t.ort_tensor as unknown as ort.Tensor;
    const fast = fastPixelValues(this.processor.image_processor, img);
    if (fast) {
      all.pixel_values = new ort.Tensor('float32', fast.data, [1, 3, fast.height, fast.width]);
      all.pixel_mask = new ort.Tensor('int64', new BigInt64Array(fast.width * fast.height).fill(1n), [1, fast.height, fast.width]);
    } else {
      const image = new transformers.RawImage(new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), img.width, img.height, 3);
      const imageProcessor = this.processor.image_processor as unknown as (i: transformers.RawImage) => Promise<Record<string, transformers.Tensor>>;
      for (const [k, t] of Object.entries(await imageProcessor(image))) all[k] = (t as transformers.Tensor).ort_tensor as unknown as ort.Tensor;
    }
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const t = all[name];
      if (!t) throw new Error(`the detector needs input '${name}', which the processor does not produce`);
      feeds[name] = t;
    }
    const out = await this.session.run(feeds);
    const logits = out.logits as ort.Tensor;
    const boxes = out.pred_boxes as ort.Tensor;
    const l = Float32Array.from(logits.data as Float32Array);
    const b = Float32Array.from(boxes.data as Float32Array);
    return { logits: l, logitsDims: [...logits.dims], predBoxes: b, boxDims: [...boxes.dims], inputIds: caption.inputIds, bytes: l.byteLength + b.byteLength + caption.inputIds.length * 8 + 256 };
  }

  /**
   * The processor with one repair: transformers.js's decode throws on an empty token list, which
   * the grounded post-processing produces for a box whose tokens all fall below the text
   * threshold (Python's decode returns ''). Such a box matches no phrase and is dropped anyway.
   */
  private postProcessor(): GroundedPostProcessor {
    if (!this.repaired) {
      const base = this.processor as unknown as GroundedPostProcessor & { batch_decode(b: number[][], o?: object): string[] };
      const repaired = Object.create(base) as GroundedPostProcessor & { batch_decode(b: number[][], o?: object): string[] };
      repaired.batch_decode = (batch: number[][], o?: object) => batch.map((ids) => (ids.length === 0 ? '' : (base.batch_decode([ids], o)[0] ?? '')));
      this.repaired = repaired;
    }
    return this.repaired;
  }

  /** The phrase text the post-processing would give for `norm` (decode of its own tokens). */
  private phraseKey(norm: string): string {
    let k = this.phraseKeys.get(norm);
    if (k === undefined) {
      const ids = this.tokenize(norm).input_ids as transformers.Tensor;
      const inner = Array.from(ids.data as BigInt64Array).slice(1, -1).map(Number);
      k = normalizeLabel(this.processor.tokenizer?.decode(inner, { skip_special_tokens: true }) ?? norm);
      if (this.phraseKeys.size > 10_000) this.phraseKeys.clear();
      this.phraseKeys.set(norm, k);
    }
    return k;
  }

  /**
   * transformers.js's grounded post-processing at the given thresholds, then VALOR's filter:
   * keep a box only when its phrase is an asked phrase; integer pixels, clipped; best first.
   */
  postprocess(raw: RawDetections, width: number, height: number, phrases: readonly Phrase[], boxThreshold: number, textThreshold: number): Detection[] {
    const outputs = {
      logits: new transformers.Tensor('float32', raw.logits, raw.logitsDims),
      pred_boxes: new transformers.Tensor('float32', raw.predBoxes, raw.boxDims),
    };
    const inputIds = new transformers.Tensor('int64', BigInt64Array.from(raw.inputIds), [1, raw.inputIds.length]);
    const proc = this.postProcessor();
    const [res] = proc.post_process_grounded_object_detection(outputs, inputIds, { box_threshold: boxThreshold, text_threshold: textThreshold, target_sizes: [[height, width]] });
    if (!res) return [];
    const byKey = new Map<string, string>();
    for (const p of phrases) if (!byKey.has(this.phraseKey(p.norm))) byKey.set(this.phraseKey(p.norm), p.asked);
    const out: Detection[] = [];
    res.labels.forEach((label, i) => {
      const asked = byKey.get(normalizeLabel(label));
      const box = res.boxes[i];
      const score = res.scores[i];
      if (asked === undefined || !box || score === undefined) return;
      const clip = (v: number, hi: number): number => Math.min(Math.max(Math.round(v), 0), hi);
      const bbox: [number, number, number, number] = [clip(box[0] as number, width), clip(box[1] as number, height), clip(box[2] as number, width), clip(box[3] as number, height)];
      if (bbox[2] <= bbox[0] || bbox[3] <= bbox[1]) return;
      out.push({ bbox, label: asked, score });
    });
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
