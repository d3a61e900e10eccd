// Model sessions on their own threads (src/server/sessionWorker.ts via CountedSession): the
// server's event loop keeps turning while a model runs (onnxruntime-node's own run would block
// it), outputs are those of the graph, a failed run reports onnxruntime's message and leaves the
// session usable, and a file that is no model fails at open.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { CountedSession } from '../../src/server/onnx.js';
import { FIXTURES } from '../helpers/toolServer.js';

const DA = join(FIXTURES, 'models', 'depth-anything-tiny', 'onnx', 'model.onnx');
const GD = join(FIXTURES, 'models', 'grounding-dino-tiny', 'onnx', 'model.onnx');

function detectorFeeds(): Record<string, ort.Tensor> {
  const ids = (a: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
  const pv = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.01));
  return {
    pixel_values: new ort.Tensor('float32', pv, [1, 3, 224, 224]),
    pixel_mask: new ort.Tensor('int64', new BigInt64Array(224 * 224).fill(1n), [1, 224, 224]),
    input_ids: ids([101, 500, 1012, 102]),
    attention_mask: ids([1, 1, 1, 1]),
    token_type_ids: ids([0, 0, 0, 0]),
  };
}

describe('model sessions on their own threads', () => {
  let gd: CountedSession;
  before(async () => {
    gd = await CountedSession.open(GD, 'cpu', () => undefined);
  });
  after(async () => {
    await gd?.release();
  });

  it('keeps the event loop turning during a run, with the outputs a session on this thread gives', async () => {
    const feeds = detectorFeeds();
    let turns = 0;
    let running = true;
    const spin = (): void => {
      turns++;
      if (running) setImmediate(spin);
    };
    setImmediate(spin);
    const out = await gd.run(feeds);
    running = false;
    assert.ok(turns >= 3, `the loop turned ${turns} times during the run`);
    const local = await ort.InferenceSession.create(GD);
    try {
      const want = await local.run(feeds);
      assert.deepEqual(out.logits?.dims, want.logits?.dims);
      assert.deepEqual(Buffer.from((out.logits?.data as Float32Array).buffer), Buffer.from((want.logits?.data as Float32Array).buffer));
      assert.deepEqual(Buffer.from((out.pred_boxes?.data as Float32Array).buffer), Buffer.from((want.pred_boxes?.data as Float32Array).buffer));
    } finally {
      await local.release();
    }
    assert.equal(gd.runs, 1);
    assert.ok(gd.lastRunMs > 0);
  });

  it('reads inputs in shared memory, and reports a failed run while staying usable', async () => {
    const da = await CountedSession.open(DA, 'cpu', () => undefined);
    try {
      const shared = new Float32Array(new SharedArrayBuffer(4 * 3 * 112 * 112)).fill(0.5);
      const ok = await da.run({ pixel_values: new ort.Tensor('float32', shared, [1, 3, 112, 112]) });
      assert.equal((ok.predicted_depth?.data as Float32Array).length, 112 * 112);
      await assert.rejects(da.run({ pixel_values: new ort.Tensor('float32', new Float32Array(3 * 50 * 50), [1, 3, 50, 50]) }), /dimension|shape|Got invalid/i);
      const again = await da.run({ pixel_values: new ort.Tensor('float32', shared, [1, 3, 112, 112]) });
      assert.deepEqual(again.predicted_depth?.data, ok.predicted_depth?.data);
    } finally {
      await da.release();
    }
  });

  it('fails at open for a file that is no model, with onnxruntime\'s reason', async () => {
    await assert.rejects(CountedSession.open(join(FIXTURES, 'images', 'pixel-1x1.png'), 'cpu', () => undefined), /protobuf|parse|model|Load/i);
  });
});

describe('batch dimension of the fixture graphs', () => {
  it('is free in both detector fixtures (so detect requests can be batched)', async () => {
    for (const name of ['grounding-dino-tiny', 'grounding-dino-bench']) {
      const s = await CountedSession.open(join(FIXTURES, 'models', name, 'onnx', 'model.onnx'), 'cpu', () => undefined);
      try {
        assert.equal(s.batchable('pixel_values'), true, name);
        assert.equal(s.batchable('input_ids'), true, name);
      } finally {
        await s.release();
      }
    }
  });
});
