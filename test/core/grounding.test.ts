// The grounding verifier: our drawings and crops (checked pixel by pixel), and the three stages
// against the OpenAI-compatible test server (real HTTP) with detections chosen by each test.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { annotationStyle, colourFor, cropBox, drawBoxes, paddedRegion } from '../../src/core/grounding/annotate.js';
import { GroundingError, verifyBoxes } from '../../src/core/grounding/verifier.js';
import { createChatClient } from '../../src/core/llmClient.js';
import type { Detection } from '../../src/protocol/tools.js';
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from '../helpers/openaiServer.js';

let dir: string;
let gray: string;
let big: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'valor-grounding-'));
  gray = join(dir, 'gray-800x600.png');
  big = join(dir, 'big-3000x2000.jpg');
  await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toFile(gray);
  await sharp({ create: { width: 3000, height: 2000, channels: 3, background: { r: 90, g: 140, b: 200 } } }).jpeg().toFile(big);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function pixel(png: Buffer, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}
const hexRgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
const close = (a: number[], b: number[], tol = 12) => a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= tol);

describe('drawing', () => {
  test('boxes land on their pixels in their colour; the inside is untouched; labels sit on a filled bar', async () => {
    const d = await drawBoxes(gray, [{ number: 3, bbox: [100, 150, 300, 400], label: 'sofa' }]);
    assert.equal(d.width, 800);
    assert.equal(d.height, 600);
    const c = hexRgb(colourFor(3));
    assert.ok(close(await pixel(d.data, 100, 275), c), 'left edge in the box colour');
    assert.ok(close(await pixel(d.data, 300, 300), c), 'right edge in the box colour');
    assert.ok(close(await pixel(d.data, 200, 400), c), 'bottom edge in the box colour');
    assert.ok(close(await pixel(d.data, 200, 275), [128, 128, 128], 2), 'inside unchanged');
    assert.ok(close(await pixel(d.data, 600, 500), [128, 128, 128], 2), 'elsewhere unchanged');
    // The label bar is above the box, starting at its left edge.
    const barY = 150 - d.style.labelHeight + 2;
    assert.ok(close(await pixel(d.data, 101, barY), c), 'label bar in the box colour');
  });

  test('stroke and font grow with the image and keep a legible floor; text is drawn at every size', async () => {
    const small = annotationStyle(160, 120);
    const huge = annotationStyle(4000, 3000);
    assert.ok(small.fontSize >= 12 && small.stroke >= 2);
    assert.ok(huge.fontSize >= 80 && huge.stroke >= 14, JSON.stringify(huge));
    for (const [w, h] of [[160, 120], [4000, 3000]] as const) {
      const img = await sharp({ create: { width: w, height: h, channels: 3, background: '#808080' } }).png().toBuffer();
      const box: [number, number, number, number] = [w * 0.3, h * 0.4, w * 0.7, h * 0.9];
      const d = await drawBoxes(img, [{ number: 0, bbox: box, label: 'chair' }]);
      // Count text pixels (the label colour's contrast colour) inside the label bar.
      const st = annotationStyle(w, h);
      const { data, info } = await sharp(d.data).raw().toBuffer({ resolveWithObject: true });
      const bar = { x: Math.round(box[0]), y: Math.round(box[1]) - st.labelHeight, w: Math.ceil('0 chair'.length * st.fontSize * 0.6), h: st.labelHeight };
      let text = 0;
      for (let y = bar.y; y < bar.y + bar.h; y++) {
        for (let x = bar.x; x < bar.x + bar.w; x++) {
          const i = (y * info.width + x) * info.channels;
          if (data[i]! > 230 && data[i + 1]! > 230 && data[i + 2]! > 230) text++;
        }
      }
      assert.ok(text > bar.w * bar.h * 0.05, `${w}x${h}: label text drawn (${text} white pixels in a ${bar.w}x${bar.h} bar)`);
    }
  });

  test('crops: 10% padding, clamped, resized to a 640-px long side', async () => {
    assert.deepEqual(paddedRegion([100, 100, 200, 150], 640, 480), [90, 95, 210, 155]);
    assert.deepEqual(paddedRegion([0, 0, 640, 480], 640, 480), [0, 0, 640, 480]);
    assert.deepEqual(paddedRegion([630, 470, 630, 470], 640, 480), [630, 470, 631, 471]);
    const c = await cropBox(gray, [100, 100, 200, 150]);
    assert.deepEqual(c.region, [90, 95, 210, 155]);
    assert.equal(c.width, 640);
    assert.equal(c.height, 320);
    const meta = await sharp(c.data).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(Math.max(meta.width!, meta.height!), 640);
  });
});

// ------------------------------------------------------------ the verifier against the test server

type Stage = 'coarse' | 'crop' | 'dedup';
function stageOf(req: RecordedRequest): Stage | undefined {
  const sys: string = req.json?.messages?.[0]?.content ?? '';
  if (sys.startsWith('You review object detections')) return 'coarse';
  if (sys.startsWith('You check one detection')) return 'crop';
  if (sys.startsWith('You remove duplicate')) return 'dedup';
  return undefined;
}
function listedNumbers(req: RecordedRequest): number[] {
  const parts = req.json.messages[1].content as Array<{ type: string; text?: string }>;
  const text = parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n');
  return [...text.matchAll(/^(\d+): /gm)].map((m) => Number(m[1]));
}
function cropLabel(req: RecordedRequest): string {
  const parts = req.json.messages[1].content as Array<{ type: string; text?: string }>;
  return /Label: "([^"]+)"/.exec(parts[0]?.text ?? '')?.[1] ?? '';
}
async function imageSizes(req: RecordedRequest): Promise<Array<{ width: number; height: number }>> {
  const out = [];
  for (const m of req.json.messages as Array<{ content: unknown }>) {
    if (!Array.isArray(m.content)) continue;
    for (const p of m.content as Array<{ type: string; image_url?: { url: string } }>) {
      if (p.type !== 'image_url') continue;
      const b64 = p.image_url!.url.replace(/^data:image\/\w+;base64,/, '');
      const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
      out.push({ width: meta.width!, height: meta.height! });
    }
  }
  return out;
}

async function vlmServer(t: { after: (fn: () => unknown) => void }): Promise<{ srv: OpenAIServer; vlm: ReturnType<typeof createChatClient> }> {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  return { srv, vlm: createChatClient({ baseUrl: srv.url, model: 'vlm-m', cacheDir: false, maxRetries: 0 }) };
}

const det = (bbox: [number, number, number, number], label: string, score = 0.3): Detection => ({ bbox, label, score });
const IMG = 'test/fixtures/images/scene-640x480.jpg';

describe('verifyBoxes', () => {
  test('no detections: an empty result without calling the model', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    const seen: unknown[] = [];
    const r = await verifyBoxes({ imagePath: IMG, prompt: 'sofa', vlm, detect: async (th) => (seen.push(th), []) });
    assert.deepEqual(seen, [{ box_threshold: 0.1, text_threshold: 0.1 }]);
    assert.deepEqual(r.boxes, []);
    assert.equal(r.image.width, 640);
    assert.match(r.image.sha256, /^[0-9a-f]{64}$/);
    assert.equal(srv.chatRequests().length, 0);
  });

  test('three stages: each box keeps its fate with the stage and reason that dropped it', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    // Every crop request is held until all four have arrived: the crop checks run concurrently.
    let cropArrivals = 0;
    let releaseCrops!: () => void;
    const allCrops = new Promise<void>((r) => (releaseCrops = r));
    const candidates = [
      det([10, 10, 200, 200], 'mug', 0.6), // kept
      det([15, 12, 205, 198], 'mug', 0.4), // dedup: duplicate of 0
      det([300, 50, 400, 120], 'mug', 0.2), // coarse: wrong label
      det([420, 300, 600, 470], 'laptop', 0.5), // crop: truncated
      det([100, 250, 300, 460], 'keyboard', 0.55), // kept
    ];
    srv.setHandler(async (req) => {
      const s = stageOf(req);
      if (s === 'coarse') return { text: JSON.stringify({ keep: [1, 2, 4, 5], drop: [{ index: 3, note: 'this is a bowl, not a mug' }] }) };
      if (s === 'crop') {
        if (++cropArrivals === 4) releaseCrops();
        await allCrops;
        const truncated = cropLabel(req) === 'laptop';
        return { text: JSON.stringify({ keep: !truncated, reason: truncated ? 'cut off at the right edge' : 'clear single object' }) };
      }
      if (s === 'dedup') return { text: JSON.stringify({ keep: [1], drop: [{ index: 2, duplicate_of: 1, note: 'same mug, looser box' }] }) };
      return { status: 500 };
    });
    const r = await verifyBoxes({ imagePath: IMG, prompt: 'mug, laptop, keyboard', vlm, detect: async () => candidates });
    const crops = srv.chatRequests().filter((q) => stageOf(q) === 'crop');
    assert.equal(srv.chatRequests().filter((q) => stageOf(q) === 'coarse').length, 1);
    assert.equal(crops.length, 4);
    assert.equal(srv.chatRequests().filter((q) => stageOf(q) === 'dedup').length, 1, 'only the mug group needs deduplication');
    const fate = (i: number) => r.boxes[i]!;
    assert.equal(r.boxes.length, 5);
    assert.deepEqual(r.boxes.map((b) => b.index), [0, 1, 2, 3, 4]);
    assert.equal(fate(0).kept, true);
    assert.equal(fate(2).kept, false);
    assert.equal(fate(2).dropped_at, 'coarse');
    assert.equal(fate(2).reason, 'this is a bowl, not a mug');
    assert.equal(fate(1).dropped_at, 'dedup');
    assert.match(fate(1).reason ?? '', /duplicate of box 1: same mug/);
    assert.equal(fate(3).dropped_at, 'crop');
    assert.equal(fate(3).reason, 'cut off at the right edge');
    assert.equal(fate(4).kept, true);
    assert.equal(fate(4).dropped_at, undefined);
    assert.equal(fate(0).score, 0.6);
    assert.equal(r.verifier_model, 'vlm-m');
    // What the coarse stage saw: the clean image, the annotated one, the full numbered list, a schema.
    const coarse = srv.chatRequests().find((q) => stageOf(q) === 'coarse')!;
    assert.equal(coarse.json.response_format.json_schema.name, 'coarse_partition');
    assert.deepEqual(listedNumbers(coarse), [1, 2, 3, 4, 5], 'boxes are numbered from 1');
    assert.deepEqual(await imageSizes(coarse), [{ width: 640, height: 480 }, { width: 640, height: 480 }]);
    // Crops are 640 px on the long side.
    for (const q of crops) {
      const [s] = await imageSizes(q);
      assert.equal(Math.max(s!.width, s!.height), 640);
    }
  });

  test('a partition with a missing index is re-asked with the problem named; the corrected answer counts', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    srv.setHandler((req) => {
      const s = stageOf(req);
      if (s === 'coarse') {
        if (req.json.messages.length === 2) return { text: JSON.stringify({ keep: [1], drop: [] }) };
        return { text: JSON.stringify({ keep: [1], drop: [{ index: 2, note: 'background' }] }) };
      }
      return { text: JSON.stringify({ keep: true, reason: 'ok' }) };
    });
    const r = await verifyBoxes({ imagePath: IMG, prompt: 'cup', vlm, detect: async () => [det([10, 10, 50, 50], 'cup'), det([300, 300, 400, 400], 'cup')] });
    const coarse = srv.chatRequests().filter((q) => stageOf(q) === 'coarse');
    assert.equal(coarse.length, 2);
    const reask = coarse[1]!.json.messages as Array<{ role: string; content: unknown }>;
    assert.equal(reask[2]!.role, 'assistant');
    assert.match(String(reask[3]!.content), /box 2 is missing.*exactly: 1, 2/);
    assert.equal(r.boxes[1]!.dropped_at, 'coarse');
    assert.equal(r.boxes[0]!.kept, true);
  });

  test('wrong indices twice (repeated, out of range): an error is reported, nothing guessed', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    srv.setHandler((req) =>
      req.json.messages.length === 2
        ? { text: JSON.stringify({ keep: [1, 1], drop: [{ index: 2, note: 'x' }] }) }
        : { text: JSON.stringify({ keep: [1], drop: [{ index: 2, note: 'x' }, { index: 7, note: 'y' }] }) },
    );
    await assert.rejects(
      verifyBoxes({ imagePath: IMG, prompt: 'cup', vlm, detect: async () => [det([10, 10, 50, 50], 'cup'), det([300, 300, 400, 400], 'cup')] }),
      (e: Error) => e instanceof GroundingError && /box 1 appears more than once/.test(e.message) && /7 is not in the list/.test(e.message) && e.stage === 'coarse',
    );
    assert.equal(srv.chatRequests().length, 2);
  });

  test('numbers start at 1: a reply counting from 0 is re-asked, then refused, never shifted', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    srv.setHandler(() => ({ text: JSON.stringify({ keep: [0, 1], drop: [] }) }));
    await assert.rejects(
      verifyBoxes({ imagePath: IMG, prompt: 'cup', vlm, detect: async () => [det([10, 10, 50, 50], 'cup'), det([300, 300, 400, 400], 'cup')] }),
      (e: Error) => e instanceof GroundingError && /0 is not in the list/.test(e.message) && /box 2 is missing/.test(e.message),
    );
    const first = srv.chatRequests()[0]!;
    assert.match(first.json.messages[0].content as string, /numbered from 1/);
    assert.deepEqual(listedNumbers(first), [1, 2]);
  });

  test('dedup: duplicate_of must name a kept box', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    srv.setHandler((req) => {
      const s = stageOf(req);
      if (s === 'coarse') return { text: JSON.stringify({ keep: [1, 2], drop: [] }) };
      if (s === 'crop') return { text: '{"keep": true, "reason": "fine"}' };
      if (req.json.messages.length === 2) return { text: JSON.stringify({ keep: [1], drop: [{ index: 2, duplicate_of: 2, note: 'same' }] }) };
      return { text: JSON.stringify({ keep: [2], drop: [{ index: 1, duplicate_of: 2, note: 'same, tighter' }] }) };
    });
    const r = await verifyBoxes({ imagePath: IMG, prompt: 'cup', vlm, detect: async () => [det([10, 10, 50, 50], 'cup'), det([11, 10, 50, 52], 'cup')] });
    const dedup = srv.chatRequests().filter((q) => stageOf(q) === 'dedup');
    assert.equal(dedup.length, 2);
    assert.match(String(dedup[1]!.json.messages[3].content), /duplicate_of must name a kept box \(wrong for 2→2\)/);
    assert.equal(r.boxes[0]!.dropped_at, 'dedup');
    assert.equal(r.boxes[1]!.kept, true);
  });

  test('300 detections: the coarse stage is batched (at most 40 per request), every index sorted once', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    const cands = Array.from({ length: 300 }, (_, i) => det([(i % 20) * 30, Math.floor(i / 20) * 30, (i % 20) * 30 + 25, Math.floor(i / 20) * 30 + 25], `thing ${i % 3}`));
    srv.setHandler((req) => {
      const s = stageOf(req);
      if (s === 'coarse') {
        const ns = listedNumbers(req);
        return { text: JSON.stringify({ keep: ns.filter((n) => n % 100 === 1), drop: ns.filter((n) => n % 100 !== 1).map((index) => ({ index, note: 'background' })) }) };
      }
      return { text: JSON.stringify({ keep: true, reason: 'ok' }) };
    });
    const r = await verifyBoxes({ imagePath: IMG, prompt: 'thing 0, thing 1, thing 2', vlm, detect: async () => cands, concurrency: 4 });
    const coarse = srv.chatRequests().filter((q) => stageOf(q) === 'coarse');
    assert.equal(coarse.length, 8);
    const listed = coarse.flatMap(listedNumbers);
    assert.ok(coarse.every((q) => listedNumbers(q).length <= 40));
    assert.deepEqual([...listed].sort((a, b) => a - b), cands.map((_, i) => i + 1));
    assert.deepEqual(r.boxes.filter((b) => b.kept).map((b) => b.index), [0, 100, 200]);
    assert.equal(r.boxes.filter((b) => b.dropped_at === 'coarse').length, 297);
    assert.equal(srv.chatRequests().filter((q) => stageOf(q) === 'crop').length, 3);
    // 0, 100, 200 have labels "thing 0", "thing 1", "thing 2": nothing to deduplicate.
    assert.equal(srv.chatRequests().filter((q) => stageOf(q) === 'dedup').length, 0);
  });

  test('an endpoint that rejects large images gets them again downscaled', async (t) => {
    const { srv, vlm } = await vlmServer(t);
    const LIMIT = 1000;
    srv.setHandler(async (req) => {
      const sizes = await imageSizes(req);
      if (sizes.some((s) => Math.max(s.width, s.height) > LIMIT)) {
        return { status: 400, body: { error: { message: `Image dimensions exceed the maximum of ${LIMIT} pixels`, type: 'invalid_request_error' } } };
      }
      const s = stageOf(req);
      if (s === 'coarse') return { text: JSON.stringify({ keep: [1], drop: [] }) };
      return { text: JSON.stringify({ keep: true, reason: 'ok' }) };
    });
    const r = await verifyBoxes({ imagePath: big, prompt: 'box', vlm, detect: async () => [det([100, 100, 2500, 1800], 'box')] });
    assert.equal(r.boxes[0]!.kept, true);
    const coarse = srv.chatRequests().filter((q) => stageOf(q) === 'coarse');
    assert.equal(coarse.length, 3, '2048 rejected, 1024 rejected, 512 accepted');
    assert.deepEqual(coarse.map((q) => q.status), [400, 400, 200]);
    const last = await imageSizes(coarse[2]!);
    assert.ok(last.every((s) => Math.max(s.width, s.height) <= LIMIT && s.width > 0));
    assert.deepEqual(last[0], { width: 512, height: 341 });
    assert.equal(r.image.width, 3000);
  });
});
