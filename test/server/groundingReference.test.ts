// The fixture GroundingDINO in-process (src/server/grounding.ts), without the tool server, against
// the Python reference's goldens: tokenization, decode and pre-processing (the one-pass path and
// the transformers.js processor), one session run per batch with captions of different lengths
// and mixed pixel masks, and the grounded post-processing with VALOR's filter for every golden
// case. The HTTP tests reach the same code through the server's child process, where a mutation
// run sees no coverage; groundingInProcess.test.ts has the hand-made cases.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DetectJob, GroundingDino, parsePhrases, type RawDetections } from '../../src/server/grounding.js';
import { decodeRgb, type DecodedImage } from '../../src/server/images.js';
import { assertSameDetections, GD, gdGolden, type GoldenCase, num } from '../helpers/groundingGolden.js';
import { detectorFolder, TINY_LOGITS, tinyDetector } from '../helpers/tinyDetector.js';
import { FIXTURES } from '../helpers/toolServer.js';

const decode = async (name: string): Promise<DecodedImage> => ({ sha256: name, ...(await decodeRgb(readFileSync(join(FIXTURES, name)), 1e8)) });

describe('GroundingDino with the fixture detector, against the reference', () => {
  let gd: GroundingDino;
  let base: string;
  let cropped: GroundingDino;
  before(async () => {
    gd = await GroundingDino.load(GD, 'cpu', () => undefined);
    base = mkdtempSync(join(tmpdir(), 'valor-gd-'));
    // A processor the one-pass path does not cover (a centre crop, a no-op after the resize to
    // 224 × 224): transformers.js prepares the input and gives a pixel mask. Its own graph is a
    // tiny one; the masked input goes to the fixture model.
    const pre = JSON.parse(readFileSync(join(GD, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    cropped = await GroundingDino.load(detectorFolder(base, 'crop', tinyDetector(1), { preprocessor: { ...pre, do_center_crop: true, crop_size: { height: 224, width: 224 } } }), 'cpu', () => undefined);
  });
  after(async () => {
    await gd?.release();
    await cropped?.release();
    rmSync(base, { recursive: true, force: true });
  });

  it('tokenizes every golden prompt as the reference: ids, attention mask, token types', () => {
    for (const c of gdGolden.cases) {
      const cap = gd.caption(parsePhrases(c.prompt));
      assert.equal(cap.text, c.caption);
      assert.deepEqual(cap.inputIds.map(Number), c.input_ids, c.prompt);
      assert.deepEqual(cap.attentionMask.map(Number), c.attention_mask, c.prompt);
      assert.deepEqual(cap.tokenTypeIds.map(Number), c.token_type_ids, c.prompt);
    }
    assert.equal(gd.maxTextLen, 256);
    assert.match(gd.id, /^grounding-dino-tiny@[0-9a-f]{12}$/);
  });

  it('detects the golden boxes for every golden case and both threshold pairs, one session run each', async () => {
    for (const c of gdGolden.cases) {
      const img = await decode(c.image);
      const phrases = parsePhrases(c.prompt);
      const before = gd.session.runs;
      const raw = await gd.infer(img, gd.caption(phrases));
      assert.equal(gd.session.runs, before + 1);
      for (const r of c.results) {
        const ours = gd.postprocess(raw, img.width, img.height, phrases, r.box_threshold, r.text_threshold);
        assertSameDetections(ours, r.detections, img.width, img.height, `${c.image} "${c.prompt}" @${r.box_threshold}/${r.text_threshold}`);
        const scores = ours.map((d) => d.score);
        assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
      }
    }
  });

  const strict = gdGolden.cases.filter((c) => c.strict);
  const byId = (prompt: string, image = 'images/scene-224x224.png'): GoldenCase => strict.find((c) => c.prompt === prompt && c.image === image) as GoldenCase;

  /** The model outputs of one job against the reference's: its caption's columns, -inf past them, its boxes. */
  function assertLikeGolden(raw: RawDetections, c: GoldenCase, what: string): void {
    const [, q, t] = c.raw.logits_shape as [number, number, number];
    assert.deepEqual(raw.logitsDims, [1, q, t], what);
    assert.deepEqual(raw.boxDims, [1, q, 4], what);
    assert.equal(raw.logits.length, q * t, what);
    const L = c.input_ids.length;
    for (let i = 0; i < q; i++) {
      for (let j = 0; j < t; j++) {
        const got = raw.logits[i * t + j] as number;
        if (j < L) assert.ok(Math.abs(got - num(c.raw.logits[i]?.[j] ?? null)) <= 1e-3, `${what} logit ${i},${j}: ${got} vs ${c.raw.logits[i]?.[j]}`);
        else assert.equal(got, -Infinity, `${what} logit ${i},${j} lies past the caption`);
      }
    }
    const boxes = c.raw.pred_boxes.flat();
    assert.equal(raw.predBoxes.length, boxes.length, what);
    boxes.forEach((v, i) => assert.ok(Math.abs((raw.predBoxes[i] as number) - v) <= 1e-4, `${what} box value ${i}`));
    assert.deepEqual(raw.inputIds.map(Number), c.input_ids, what);
    // The cache charge covers the arrays kept (4 bytes a float, 8 an id).
    const arrays = raw.logits.byteLength + raw.predBoxes.byteLength + raw.inputIds.length * 8;
    assert.ok(raw.bytes >= arrays && raw.bytes <= arrays + 1024, `${what}: ${raw.bytes} bytes charged for ${arrays}`);
  }

  it('one session run for a batch: captions of different lengths padded, each job gets its own reference outputs', async () => {
    const cases = [byId('cat'), byId('coffee table, black circle, red mug, car'), byId('black circle, table', 'images/gray-224x224.png'), byId('red box, blue circle')];
    const jobs: DetectJob[] = [];
    for (const c of cases) jobs.push({ pixels: await gd.pixelInput(await decode(c.image)), caption: gd.caption(parsePhrases(c.prompt)) });
    const before = gd.session.runs;
    const out = await gd.run(jobs);
    assert.equal(gd.session.runs, before + 1, 'one session.run for the whole batch');
    assert.equal(out.length, cases.length);
    cases.forEach((c, b) => assertLikeGolden(out[b] as RawDetections, c, `job ${b} (${c.prompt})`));
    assert.deepEqual(await gd.run([]), []);
    assert.equal(gd.session.runs, before + 1, 'an empty batch runs nothing');
  });

  it('the one-pass input: 3 × 224 × 224 float32 planes and no pixel mask (every pixel real)', async () => {
    const p = await gd.pixelInput(await decode('images/scene-320x240.png'));
    assert.deepEqual([p.width, p.height, p.values.length, p.bytes, p.mask], [224, 224, 3 * 224 * 224, 3 * 224 * 224 * 4, undefined]);
  });

  it('through the transformers.js processor: the same input with a pixel mask of ones, batched beside jobs without a mask', async () => {
    // An image that needs resizing (320 × 240 → 224 × 224): the processor's resize must be Pillow's too.
    const c = gdGolden.cases.find((k) => k.image === 'images/scene-320x240.png' && k.prompt === 'red box, blue circle') as GoldenCase;
    const img = await decode(c.image);
    const masked = await cropped.pixelInput(img);
    assert.deepEqual([masked.width, masked.height, masked.values.length], [224, 224, 3 * 224 * 224]);
    assert.ok(masked.mask, 'the processor gives a pixel mask');
    assert.equal(masked.mask.length, 224 * 224);
    assert.ok(masked.mask.every((v) => v === 1n));
    assert.equal(masked.bytes, 3 * 224 * 224 * 4 + 224 * 224 * 8);
    const plain = await gd.pixelInput(img);
    assert.deepEqual(Buffer.from(masked.values.buffer, masked.values.byteOffset, masked.values.byteLength), Buffer.from(plain.values.buffer, plain.values.byteOffset, plain.values.byteLength));
    // Mixed batches: the masked job first, in the middle and last; every job's outputs are the reference's.
    const cat = byId('cat');
    const catPixels = await gd.pixelInput(await decode(cat.image));
    const maskedJob: DetectJob = { pixels: masked, caption: gd.caption(parsePhrases(c.prompt)) };
    const catJob: DetectJob = { pixels: catPixels, caption: gd.caption(parsePhrases(cat.prompt)) };
    for (const order of [[maskedJob, catJob], [catJob, maskedJob, catJob]]) {
      const out = await gd.run(order);
      order.forEach((j, b) => assertLikeGolden(out[b] as RawDetections, j === maskedJob ? c : cat, `mixed batch job ${b}`));
    }
    // The processor path end to end, as the server calls it (the tiny graph's constant outputs).
    const raw = await cropped.infer(img, cropped.caption(parsePhrases('red box')));
    assert.deepEqual([...raw.logits], TINY_LOGITS.map(Math.fround));
  });

  it('a pixel mask with padding is kept per job in a batch: the same outputs as the job alone', async () => {
    // The right half marked as padding (0), as a processor that pads would: the masked job's
    // outputs alone, then beside a job without a mask (before and after it), must not change.
    const c = byId('red box, blue circle');
    const plain = await gd.pixelInput(await decode(c.image));
    const mask = new BigInt64Array(224 * 224);
    for (let y = 0; y < 224; y++) mask.fill(1n, y * 224, y * 224 + 112);
    const padded: DetectJob = { pixels: { ...plain, mask, bytes: plain.bytes + mask.byteLength }, caption: gd.caption(parsePhrases(c.prompt)) };
    const cat = byId('cat');
    const catJob: DetectJob = { pixels: await gd.pixelInput(await decode(cat.image)), caption: gd.caption(parsePhrases(cat.prompt)) };
    const [alone] = (await gd.run([padded])) as [RawDetections];
    let differs = 0;
    const golden = c.raw.logits.flat().map(num);
    for (let i = 0; i < 20; i++) for (let j = 0; j < c.input_ids.length; j++) if (Math.abs((alone.logits[i * 256 + j] as number) - (golden[i * c.input_ids.length + j] as number)) > 1e-3) differs++;
    assert.ok(differs > 0, 'the padding mask reaches the model (outputs differ from the unmasked reference)');
    for (const order of [[catJob, padded], [padded, catJob]]) {
      const out = await gd.run(order);
      const got = out[order.indexOf(padded)] as RawDetections;
      for (let i = 0; i < alone.logits.length; i++) {
        const a = alone.logits[i] as number;
        const g = got.logits[i] as number;
        if (Number.isFinite(a)) assert.ok(Math.abs(g - a) <= 1e-4, `logit ${i}: ${g} vs ${a} alone`);
        else assert.equal(g, a);
      }
      assertLikeGolden(out[order.indexOf(catJob)] as RawDetections, cat, 'the unmasked job beside it');
    }
  });

  it('batches only inputs of the same size', () => {
    const job = (width: number, height: number): DetectJob => ({ pixels: { values: new Float32Array(0), width, height, bytes: 0 }, caption: { text: '', inputIds: [], attentionMask: [], tokenTypeIds: [] } });
    assert.equal(GroundingDino.batchable(job(224, 224), job(224, 224)), true);
    assert.equal(GroundingDino.batchable(job(224, 224), job(800, 224)), false);
    assert.equal(GroundingDino.batchable(job(224, 224), job(224, 800)), false);
  });
});
