"""The GroundingDINO ONNX graph: the wrapper that returns only ``logits`` and ``pred_boxes``, the
legacy exporter's call with dynamic batch and text length (the image size is fixed at export),
and the check of the exported graph against PyTorch on several text lengths.
"""
from __future__ import annotations

import os

import numpy as np
import torch

class DetectorWrapper(torch.nn.Module):
    """Returns only what the runtime needs (the model output object carries a dozen tensors)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, input_ids, token_type_ids, attention_mask, pixel_mask):
        out = self.model(pixel_values=pixel_values, input_ids=input_ids, token_type_ids=token_type_ids,
                         attention_mask=attention_mask, pixel_mask=pixel_mask, return_dict=True)
        return out.logits, out.pred_boxes


INPUT_NAMES = ['pixel_values', 'input_ids', 'token_type_ids', 'attention_mask', 'pixel_mask']
OUTPUT_NAMES = ['logits', 'pred_boxes']


def example_inputs(tokenizer, caption: str, size: int, seed: int) -> dict[str, torch.Tensor]:
    enc = tokenizer([caption], return_tensors='pt', return_token_type_ids=True)
    g = torch.Generator().manual_seed(seed)
    return {
        'pixel_values': torch.randn(1, 3, size, size, generator=g),
        'input_ids': enc['input_ids'],
        'token_type_ids': enc['token_type_ids'],
        'attention_mask': enc['attention_mask'],
        'pixel_mask': torch.ones(1, size, size, dtype=torch.long),
    }


def export_onnx(model: torch.nn.Module, tokenizer, size: int, path: str, opset: int) -> None:
    wrapper = DetectorWrapper(model).eval()
    feeds = example_inputs(tokenizer, 'red box. blue circle.', size, 1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            wrapper, tuple(feeds[n] for n in INPUT_NAMES), path,
            input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
            dynamic_axes={
                'pixel_values': {0: 'batch_size'},
                'input_ids': {0: 'batch_size', 1: 'sequence_length'},
                'token_type_ids': {0: 'batch_size', 1: 'sequence_length'},
                'attention_mask': {0: 'batch_size', 1: 'sequence_length'},
                'pixel_mask': {0: 'batch_size'},
                'logits': {0: 'batch_size'},
                'pred_boxes': {0: 'batch_size'},
            },
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )
    # One file: small models come out with no external data, large ones are re-saved as one
    # file when they fit under protobuf's 2 GB limit.
    import onnx

    m = onnx.load(path)
    onnx.checker.check_model(m)


def check_onnx(model: torch.nn.Module, tokenizer, size: int, path: str) -> dict[str, float]:
    """Run the exported graph and PyTorch on several text lengths; return the largest differences."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    wrapper = DetectorWrapper(model).eval()
    worst = {'logits': 0.0, 'pred_boxes': 0.0}
    for i, caption in enumerate(['cat.', 'red box. blue circle.', 'a red mug. laptop. sofa. coffee table. person.']):
        feeds = example_inputs(tokenizer, caption, size, 10 + i)
        with torch.no_grad():
            ref = [t.numpy() for t in wrapper(*[feeds[n] for n in INPUT_NAMES])]
        got = sess.run(OUTPUT_NAMES, {n: feeds[n].numpy() for n in INPUT_NAMES})
        for name, r, g in zip(OUTPUT_NAMES, ref, got):
            if r.shape != g.shape:
                raise SystemExit(f'{name}: onnxruntime shape {g.shape} != torch {r.shape} for {caption!r}')
            fin = np.isfinite(r)
            if not np.array_equal(fin, np.isfinite(g)):
                raise SystemExit(f'{name}: finite entries differ between onnxruntime and torch for {caption!r}')
            worst[name] = max(worst[name], float(np.abs(r[fin] - g[fin]).max()))
    return worst
