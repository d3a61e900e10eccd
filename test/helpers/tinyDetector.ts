/**
 * Detector folders for in-process tests: the fixture GroundingDINO's tokenizer, processor and
 * config beside a tiny ONNX graph (test/helpers/tinyOnnx.ts) with the detector's contract and
 * constant outputs worked out by hand, for the caption "red box." ([CLS] red box . [SEP]): query 0
 * high on "red" and "box" (logit 2) with box (0.5, 0.5, 0.5, 0.5), query 1 low everywhere
 * (logit -6). Loading one takes a fraction of the fixture model's time.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GD } from './groundingGolden.js';
import { tinyOnnx, type TinyGraph } from './tinyOnnx.js';

export const TINY_T = 5;
export const TINY_LOGITS = [-6, 2, 2, -6, -6, -6, -6, -6, -6, -6];
export const TINY_BOXES = [0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1];

/** A detector graph over 224 × 224 input with batch `batch` (a number fixes it), optionally an extra input or fewer outputs. */
export function tinyDetector(batch: number | string, opts: { extraInput?: string; outputs?: Array<'logits' | 'pred_boxes'> } = {}): TinyGraph {
  const outs = opts.outputs ?? ['logits', 'pred_boxes'];
  const ids = (name: string) => ({ name, type: 7 as const, shape: [batch, 'L'] });
  const values = { logits: { dims: [1, 2, TINY_T], values: TINY_LOGITS }, pred_boxes: { dims: [1, 2, 4], values: TINY_BOXES } };
  return {
    inputs: [
      { name: 'pixel_values', type: 1, shape: [batch, 3, 224, 224] },
      ids('input_ids'),
      ids('token_type_ids'),
      ids('attention_mask'),
      { name: 'pixel_mask', type: 7, shape: [batch, 224, 224] },
      ...(opts.extraInput ? [{ name: opts.extraInput, type: 1 as const, shape: [batch, 4] }] : []),
    ],
    outputs: outs.map((name) => ({ name, type: 1 as const, shape: values[name].dims })),
    nodes: outs.map((name) => ({ op: 'Identity', inputs: [`${name}_value`], outputs: [name] })),
    initializers: outs.map((name) => ({ name: `${name}_value`, type: 1 as const, ...values[name] })),
  };
}

/** `base/name`: the fixture's json files (config and preprocessor overridable) and `graph` as onnx/model.onnx. */
export function detectorFolder(base: string, name: string, graph: TinyGraph, o: { config?: object; preprocessor?: object } = {}): string {
  const dir = join(base, name);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(GD, f), join(dir, f));
  if (o.config) writeFileSync(join(dir, 'config.json'), JSON.stringify(o.config));
  if (o.preprocessor) writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(o.preprocessor));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), tinyOnnx(graph));
  return dir;
}
