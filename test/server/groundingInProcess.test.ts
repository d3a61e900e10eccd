// The detector's own rules in-process (src/server/grounding.ts), without the tool server: the
// prompt rules, the grounded post-processing on model outputs made by hand (thresholds, excluded
// positions, box decoding and clipping, labels, order), the caption limits, and export contracts no
// fixture has (a fixed batch of 1, a missing output, an input the processor does not make, another
// text window), with the fixture's tokenizer beside tiny graphs (test/helpers/tinyDetector.ts).
// groundingReference.test.ts runs the fixture model against the Python reference's goldens.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpError } from '../../src/server/errors.js';
import { buildCaption, type DetectJob, GroundingDino, normalizeLabel, parsePhrases, type RawDetections } from '../../src/server/grounding.js';
import { decodeRgb, type DecodedImage } from '../../src/server/images.js';
import { GD } from '../helpers/groundingGolden.js';
import { detectorFolder, TINY_LOGITS, tinyDetector } from '../helpers/tinyDetector.js';
import type { TinyGraph } from '../helpers/tinyOnnx.js';
import { FIXTURES } from '../helpers/toolServer.js';

const decode = async (name: string): Promise<DecodedImage> => ({ sha256: name, ...(await decodeRgb(readFileSync(join(FIXTURES, name)), 1e8)) });
/** The float32 sigmoid transformers' post-processing computes. */
const sigmoid = (x: number): number => Math.fround(1 / (1 + Math.exp(-x)));

function httpError(fn: () => unknown, status: number, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HttpError, String(e));
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe('the prompt rules', () => {
  it('phrases: split on commas, trimmed, empty and repeated ones (ignoring case and spacing) dropped, asked spelling kept', () => {
    assert.deepEqual(parsePhrases('  Red Mug , ,red \t mug,laptop ,, '), [
      { asked: 'Red Mug', norm: 'red mug' },
      { asked: 'laptop', norm: 'laptop' },
    ]);
    assert.deepEqual(parsePhrases('Coffee\n  Table'), [{ asked: 'Coffee\n  Table', norm: 'coffee table' }]);
    // A phrase with no letter or digit, or one of BERT's special tokens, names nothing: dropped.
    assert.deepEqual(parsePhrases('., mug, ..., [SEP], [cls], -, 2 cups, [Mask]'), [
      { asked: 'mug', norm: 'mug' },
      { asked: '2 cups', norm: '2 cups' },
    ]);
    assert.deepEqual(parsePhrases('Überzieher, 猫'), [
      { asked: 'Überzieher', norm: 'überzieher' },
      { asked: '猫', norm: '猫' },
    ]);
  });

  it('a prompt with no phrase is a 400 quoting (the start of) the prompt', () => {
    httpError(() => parsePhrases(' , ,'), 400, 'empty_prompt', /^gd_detect needs at least one noun phrase; the prompt " , ," has none \(phrases are separated by commas, e\.g\. "red mug, laptop"\)$/);
    httpError(() => parsePhrases(','.repeat(100)), 400, 'empty_prompt', new RegExp(`the prompt "${','.repeat(80)}" has none`));
    httpError(() => parsePhrases('. , [SEP]'), 400, 'empty_prompt', /the prompt "\. , \[SEP\]" has none/);
  });

  it('caption: the phrases joined by ". " and ended by "."; a label compares without dots, spacing or case', () => {
    assert.equal(buildCaption(parsePhrases('Red Box, blue  circle')), 'red box. blue circle.');
    assert.equal(buildCaption(parsePhrases('cat')), 'cat.');
    assert.equal(normalizeLabel(' Red. Box.\t Blue  circle. '), 'red box blue circle');
    assert.equal(normalizeLabel('red.box'), 'red box');
  });
});

describe('GroundingDino post-processing on outputs made by hand, and the caption limits', () => {
  // The fixture's tokenizer and config with a tiny graph: post-processing and captions need no model run.
  let gd: GroundingDino;
  let base: string;
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'valor-gd-hand-'));
    gd = await GroundingDino.load(detectorFolder(base, 'tok', tinyDetector(1)), 'cpu', () => undefined);
  });
  after(async () => {
    await gd?.release();
    rmSync(base, { recursive: true, force: true });
  });

  it('a caption longer than the text window is a 400 naming the limit: by characters first, then by tokens', () => {
    // 256 tokens × 32 characters = 8192: a caption one character longer is refused before
    // tokenizing ("red " × 2048 and the final "." make 8193).
    httpError(() => gd.caption([{ asked: 'x', norm: 'red '.repeat(2048) }]), 400, 'prompt_too_long', /^the detection prompt is 8193 characters long; the detector reads at most 256 tokens \(its max_text_len\): ask for fewer or shorter phrases/);
    // 8192 characters pass that check: 2048 words, [CLS], "." and [SEP] are 2051 tokens.
    httpError(() => gd.caption([{ asked: 'x', norm: 'red '.repeat(2048).slice(0, 8191) }]), 400, 'prompt_too_long', /^the detection prompt is 2051 tokens long as a caption; the detector reads at most 256 tokens/);
    // "red" × n + "." : [CLS], n words, ".", [SEP] = n + 3 tokens; 253 fit exactly, 254 do not.
    assert.equal(gd.caption([{ asked: 'x', norm: Array(253).fill('red').join(' ') }]).inputIds.length, 256);
    httpError(() => gd.caption([{ asked: 'x', norm: Array(254).fill('red').join(' ') }]), 400, 'prompt_too_long', /^the detection prompt is 257 tokens long as a caption; the detector reads at most 256 tokens \(its max_text_len\)/);
  });

  // "red box. blue circle." → [CLS] red box . blue circle . [SEP]
  const IDS = [101, 205, 227, 1012, 206, 228, 1012, 102];
  const LOW = -8;
  /** One query row over `tokens` positions: LOW except the given positions. */
  const row = (tokens: number, set: Record<number, number>): number[] => Array.from({ length: tokens }, (_, t) => set[t] ?? LOW);
  const raw = (rows: number[][], boxes: number[][], ids = IDS): RawDetections => {
    const tokens = rows[0]?.length ?? 0;
    return { logits: Float32Array.from(rows.flat()), logitsDims: [1, rows.length, tokens], predBoxes: Float32Array.from(boxes.flat()), boxDims: [1, boxes.length, 4], inputIds: ids.map(BigInt), bytes: 0 };
  };

  it('keeps a box when its best token is above the box threshold and its tokens above the text threshold spell an asked phrase', () => {
    const phrases = parsePhrases('Red Box, blue circle');
    const T = 8;
    const r = raw(
      [
        row(T, { 1: 2, 2: 2 }), // q0: "red box", score σ(2)
        row(T, { 0: 3, 4: 1, 5: 1 }), // q1: [CLS] scores σ(3) but is never part of a label: "blue circle"
        row(T, { 7: 2.5, 1: 2, 2: 2 }), // q2: the last position ([SEP]) scores σ(2.5), never part of a label: "red box"
        row(T, { 1: 0, 2: 0 }), // q3: best σ(0) = 0.5, not above a box threshold of 0.5
        row(T, { 1: 2, 2: 0 }), // q4: "box" at σ(0) = 0.5 is not above a text threshold of 0.5: "red" alone, not asked
        row(T, { 1: 2, 2: 2 }), // q5: a box wholly right of the image: zero width after clipping
        row(T, { 4: 2, 5: 2 }), // q6: a box wholly above the image: zero height after clipping
        row(T, { 0: 3 }), // q7: only [CLS] is high: no token picked, no phrase
        row(T, { 4: 1.5, 5: 1.5 }), // q8: "blue circle", fractional pixels
      ],
      [
        [0.5, 0.5, 0.2, 0.4],
        [0.05, 0.9, 0.3, 0.4],
        [0.25, 0.25, 0.1, 0.1],
        [0.5, 0.5, 0.2, 0.2],
        [0.5, 0.5, 0.2, 0.2],
        [1.5, 0.5, 0.2, 0.2],
        [0.5, -0.5, 0.2, 0.2],
        [0.5, 0.5, 0.2, 0.2],
        [0.3013, 0.4567, 0.1, 0.1],
      ],
    );
    // On a 200 × 100 image, (cx, cy, w, h) → (cx ∓ w/2)·200, (cy ∓ h/2)·100, rounded, clipped:
    // q0 [80, 30, 120, 70]; q1 [-20 → 0, 70, 40, 110 → 100]; q2 [40, 20, 60, 30];
    // q8 [50.26 → 50, 40.67 → 41, 70.26 → 70, 50.67 → 51]. Best score first.
    assert.deepEqual(gd.postprocess(r, 200, 100, phrases, 0.5, 0.5), [
      { bbox: [0, 70, 40, 100], label: 'blue circle', score: sigmoid(3) },
      { bbox: [40, 20, 60, 30], label: 'Red Box', score: sigmoid(2.5) },
      { bbox: [80, 30, 120, 70], label: 'Red Box', score: sigmoid(2) },
      { bbox: [50, 41, 70, 51], label: 'blue circle', score: sigmoid(1.5) },
    ]);
    // Lower thresholds: q3 passes the box threshold (0.5 > 0.4) and spells "red box"; q4 picks "box" too.
    const lower = gd.postprocess(r, 200, 100, phrases, 0.4, 0.4);
    assert.deepEqual(
      lower.map((d) => [d.label, d.bbox.join(',')]),
      [
        ['blue circle', '0,70,40,100'],
        ['Red Box', '40,20,60,30'],
        ['Red Box', '80,30,120,70'],
        ['Red Box', '80,40,120,60'],
        ['blue circle', '50,41,70,51'],
        ['Red Box', '80,40,120,60'],
      ],
    );
    assert.deepEqual(lower.at(-1)?.score, 0.5);
  });

  it('positions past the caption (no token id) never enter a label, though they count for the score', () => {
    const r = raw([row(10, { 1: 2, 2: 2, 8: 3 })], [[0.5, 0.5, 0.5, 0.5]]);
    assert.deepEqual(gd.postprocess(r, 100, 100, parsePhrases('red box'), 0.5, 0.5), [{ bbox: [25, 25, 75, 75], label: 'red box', score: sigmoid(3) }]);
  });

  it('labels with the asked spelling of a phrase whose tokens decode differently (the decode of its own tokens is the key)', () => {
    const phrases = parsePhrases('T-Shirt');
    const cap = gd.caption(phrases);
    const ids = cap.inputIds.map(Number);
    // [CLS] t - s ##h ##i ##r ##t . [SEP]: every token of the phrase high, the final "." and the specials low.
    const set: Record<number, number> = {};
    for (let t = 1; t < ids.length - 2; t++) set[t] = 2;
    assert.ok(ids.length > 5, JSON.stringify(ids));
    const r = raw([row(ids.length, set)], [[0.5, 0.5, 0.5, 0.5]], ids);
    assert.deepEqual(gd.postprocess(r, 100, 100, phrases, 0.3, 0.3), [{ bbox: [25, 25, 75, 75], label: 'T-Shirt', score: sigmoid(2) }]);
  });

  it('when two asked phrases spell the same label, the first asked spelling is returned', () => {
    const phrases = parsePhrases('red.box, Red Box');
    assert.equal(phrases.length, 2);
    const r = raw([row(8, { 1: 2, 2: 2 })], [[0.5, 0.5, 0.5, 0.5]]);
    assert.deepEqual(gd.postprocess(r, 100, 100, phrases, 0.3, 0.3).map((d) => d.label), ['red.box']);
  });
});

describe('GroundingDino export contracts (tiny graphs with the fixture tokenizer and processor)', () => {
  let base: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'valor-gd-contract-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const folder = (name: string, graph: TinyGraph, config?: object): string => detectorFolder(base, name, graph, { config });
  const detector = tinyDetector;
  const LOGITS = TINY_LOGITS;

  it('a graph exported with a fixed batch of 1 runs a batch one job after another, with hand-checked detections', async () => {
    const gd = await GroundingDino.load(folder('fixed', detector(1)), 'cpu', () => undefined);
    try {
      const img = await decode('images/scene-320x240.png');
      const phrases = parsePhrases('red box');
      const job: DetectJob = { pixels: await gd.pixelInput(img), caption: gd.caption(phrases) };
      assert.deepEqual(job.caption.inputIds.map(Number), [101, 205, 227, 1012, 102]);
      const out = await gd.run([job, job, job]);
      assert.equal(gd.session.runs, 3, 'three runs of batch 1');
      assert.equal(out.length, 3);
      for (const r of out) {
        assert.deepEqual([...r.logits], LOGITS.map(Math.fround));
        // (0.5, 0.5, 0.5, 0.5) on 320 × 240 → [80, 60, 240, 180], score σ(2); query 1 scores σ(-6) ≈ 0.0025.
        assert.deepEqual(gd.postprocess(r, 320, 240, phrases, 0.35, 0.25), [{ bbox: [80, 60, 240, 180], label: 'red box', score: sigmoid(2) }]);
      }
    } finally {
      await gd.release();
    }
  });

  it('a graph without pred_boxes is refused at load, naming its outputs and the export script', async () => {
    await assert.rejects(
      GroundingDino.load(folder('no-boxes', detector(1, { outputs: ['logits'] })), 'cpu', () => undefined),
      /^Error: onnx\/model\.onnx has no output 'pred_boxes' \(outputs: logits\); export it with scripts\/export\/export_grounding_dino\.py$/,
    );
    await assert.rejects(GroundingDino.load(folder('no-logits', detector(1, { outputs: ['pred_boxes'] })), 'cpu', () => undefined), /has no output 'logits' \(outputs: pred_boxes\)/);
  });

  it('an input the processor does not make is named when the detector runs', async () => {
    const gd = await GroundingDino.load(folder('extra', detector(1, { extraInput: 'image_embeds' })), 'cpu', () => undefined);
    try {
      const img = await decode('images/scene-224x224.png');
      await assert.rejects(gd.infer(img, gd.caption(parsePhrases('red box'))), /^Error: the detector needs input 'image_embeds', which the processor does not produce$/);
    } finally {
      await gd.release();
    }
  });

  it('the model id is the folder name and a hash of every model file: any one changing gives another id', async () => {
    // Two identical folders with the same name (same contents, same times) get the same id; the
    // id changes when any of the five files changes (the caches key results by it).
    const files = ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];
    const same = (dir: string): string => {
      for (const f of files) utimesSync(join(dir, f), 1_000_000, 1_000_000);
      return dir;
    };
    mkdirSync(join(base, 'id-a'));
    mkdirSync(join(base, 'id-b'));
    const a = same(detectorFolder(join(base, 'id-a'), 'gd', detector(1)));
    const b = same(detectorFolder(join(base, 'id-b'), 'gd', detector(1)));
    const idOf = async (dir: string): Promise<string> => {
      const gd = await GroundingDino.load(dir, 'cpu', () => undefined);
      await gd.release();
      return gd.id;
    };
    const ida = await idOf(a);
    assert.match(ida, /^gd@[0-9a-f]{12}$/);
    assert.equal(await idOf(b), ida);
    for (const f of files) {
      utimesSync(join(b, f), 2_000_000, 2_000_000);
      assert.notEqual(await idOf(b), ida, `${f} changed`);
      utimesSync(join(b, f), 1_000_000, 1_000_000);
    }
    assert.equal(await idOf(b), ida);
  });

  it('the text window is the config max_text_len, 256 when the config has none', async () => {
    const cfg = JSON.parse(readFileSync(join(GD, 'config.json'), 'utf8')) as Record<string, unknown>;
    const small = await GroundingDino.load(folder('window-16', detector(1), { ...cfg, max_text_len: 16 }), 'cpu', () => undefined);
    const { max_text_len: _drop, ...rest } = cfg;
    const none = await GroundingDino.load(folder('window-none', detector(1), rest), 'cpu', () => undefined);
    try {
      assert.deepEqual([small.maxTextLen, none.maxTextLen], [16, 256]);
      // "red" × 13 + ".": 16 tokens fit; 14 give 17.
      assert.equal(small.caption([{ asked: 'x', norm: Array(13).fill('red').join(' ') }]).inputIds.length, 16);
      httpError(() => small.caption([{ asked: 'x', norm: Array(14).fill('red').join(' ') }]), 400, 'prompt_too_long', /is 17 tokens long as a caption; the detector reads at most 16 tokens/);
      httpError(() => small.caption([{ asked: 'x', norm: 'a'.repeat(16 * 32) }]), 400, 'prompt_too_long', /is 513 characters long; the detector reads at most 16 tokens/);
    } finally {
      await small.release();
      await none.release();
    }
  });
});
