// VALOR's detector path: a tiny GroundingDINO built and run with the ORIGINAL code
// (IDEA-Research/GroundingDINO, `groundingdino.util.inference.predict`), saved in the original
// checkpoint format, converted and exported by our scripts/export/convert_grounding_dino_original.py
// (test/fixtures/models/grounding-dino-valor-tiny), served by our tool server: the same boxes,
// scores and phrases as the original code (golden written by
// scripts/fixtures/make_grounding_dino_original_fixture.py).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DetectResponse, TOOL_ROUTES, type Detection } from '../../src/protocol/tools.js';
import { convertRecord } from '../../src/server/modelCatalog.js';
import { FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const CONVERTED = join(FIXTURES, 'models', 'grounding-dino-valor-tiny');
interface OriginalDetection {
  box_cxcywh: [number, number, number, number];
  score: number;
  phrase: string;
}
interface OriginalCase {
  image: string;
  prompt: string;
  results: Array<{ box_threshold: number; text_threshold: number; detections: OriginalDetection[] }>;
}
const golden = JSON.parse(readFileSync(join(FIXTURES, 'models', 'grounding-dino-original-tiny', 'golden.json'), 'utf8')) as {
  cases: OriginalCase[];
  converted_onnx_vs_original_max_abs: { logits: number; pred_boxes: number };
};

/** What VALOR keeps of the original's output: boxes whose phrase was asked, in pixels, by score. */
function expected(c: OriginalCase, r: OriginalCase['results'][number], w: number, h: number): Detection[] {
  const asked = new Set(c.prompt.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean));
  const out: Detection[] = [];
  for (const d of r.detections) {
    if (!asked.has(d.phrase)) continue;
    const [cx, cy, bw, bh] = d.box_cxcywh;
    const clip = (v: number, hi: number): number => Math.min(Math.max(Math.round(v), 0), hi);
    const bbox: [number, number, number, number] = [clip((cx - bw / 2) * w, w), clip((cy - bh / 2) * h, h), clip((cx + bw / 2) * w, w), clip((cy + bh / 2) * h, h)];
    if (bbox[2] <= bbox[0] || bbox[3] <= bbox[1]) continue;
    out.push({ bbox, label: d.phrase, score: d.score });
  }
  return out.sort((a, b) => b.score - a.score);
}

describe('original-format GroundingDINO, converted by our script, against the original code', () => {
  let srv: TestToolServer;
  before(async () => {
    srv = await startTestToolServer({ args: ['--detector', CONVERTED, '--allow-root', FIXTURES] });
  });
  after(async () => {
    await srv?.stop();
  });

  it('the converted graph reproduces the original model\'s raw outputs (measured when the fixture was made)', () => {
    assert.ok(golden.converted_onnx_vs_original_max_abs.pred_boxes <= 1e-4, JSON.stringify(golden.converted_onnx_vs_original_max_abs));
    assert.ok(golden.converted_onnx_vs_original_max_abs.logits <= 1e-3, JSON.stringify(golden.converted_onnx_vs_original_max_abs));
    const rec = convertRecord(CONVERTED);
    assert.equal(rec?.source, 'checkpoint.pth');
    assert.match(rec?.sha256 ?? '', /^[0-9a-f]{64}$/);
  });

  it('serves the original predict()\'s boxes, scores and phrases (VALOR\'s filter: asked phrases only)', async () => {
    let compared = 0;
    let kept = 0;
    for (const c of golden.cases) {
      for (const r of c.results) {
        const res = await srv.call('POST', TOOL_ROUTES.detect, { image: { path: join(FIXTURES, c.image) }, prompt: c.prompt, box_threshold: r.box_threshold, text_threshold: r.text_threshold });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const got = DetectResponse.parse(res.body);
        const want = expected(c, r, got.width, got.height);
        const what = `${c.image} | ${c.prompt} @ ${r.box_threshold}/${r.text_threshold}`;
        assert.equal(got.detections.length, want.length, `${what}: ${JSON.stringify(got.detections)} vs ${JSON.stringify(want)}`);
        got.detections.forEach((d, i) => {
          const e = want[i] as Detection;
          assert.equal(d.label, e.label, what);
          assert.ok(Math.abs(d.score - e.score) <= 1e-4, `${what}: score ${d.score} vs ${e.score}`);
          d.bbox.forEach((v, k) => assert.ok(Math.abs(v - (e.bbox[k] as number)) <= 1, `${what}: box ${d.bbox} vs ${e.bbox}`));
        });
        compared++;
        kept += want.length;
        assert.ok(r.detections.length >= want.length);
      }
    }
    assert.ok(compared >= 6 && kept >= 5, `the goldens exercise the filter (${compared} cases, ${kept} kept boxes)`);
  });
});
