#!/usr/bin/env python3
"""Export a Depth Anything (V2, metric) model to ONNX in the folder layout transformers.js loads.

    OUT/config.json                  model configuration (transformers format)
    OUT/preprocessor_config.json     DPTImageProcessor, resizing to exactly the export size
    OUT/onnx/model.onnx              input: pixel_values (1, 3, H, W); output: predicted_depth (1, H, W),
                                     metres for metric checkpoints

Real checkpoint (hub id when online, or a local folder in transformers format):

    python3 scripts/export/export_depth.py --model depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf \
        --out models/depth-anything-v2-metric-indoor-small --size 518

Tiny random model with the real architecture (what the test fixtures use):

    python3 scripts/export/export_depth.py --tiny-random --out test/fixtures/models/depth-anything-tiny

The output size is traced as a constant (the head upsamples to patch grid x 14), so the export
has one image size and the written preprocessor configuration resizes every image to exactly
that size (no aspect-ratio keeping). Use a multiple of 14. Deterministic for a seed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np
import torch

from checkpoint_config import read_image_processor_config


class DepthWrapper(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values, return_dict=True).predicted_depth


def tiny_config(size: int, max_depth: int):
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2, patch_size=14,
        image_size=size, out_features=['stage1', 'stage2', 'stage3', 'stage4'],
        reshape_hidden_states=False, apply_layernorm=True,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0,
    )
    return DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, reassemble_hidden_size=32,
        reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        head_hidden_size=8, depth_estimation_type='metric', max_depth=max_depth,
    )


def scene_batch(rng: np.random.Generator, size: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat colour rectangles on a background, with a made-up depth for each: the background
    recedes towards the top (a floor), each rectangle is a fronto-parallel plate whose depth
    follows its bottom edge (lower in the picture is nearer), as in a photographed room."""
    imgs = np.empty((n, size, size, 3), dtype=np.float32)
    depths = np.empty((n, size, size), dtype=np.float32)
    ys = (np.arange(size, dtype=np.float32) + 0.5) / size
    for k in range(n):
        imgs[k] = rng.uniform(0, 1, size=3)
        horizon = rng.uniform(0.2, 0.6)
        far, near = rng.uniform(8, 18), rng.uniform(0.8, 3)
        col = np.where(ys < horizon, far, far + (near - far) * (ys - horizon) / (1 - horizon))
        depths[k] = col[:, None]
        for _ in range(int(rng.integers(1, 6))):
            x1, y1 = rng.integers(0, size - 6, size=2)
            w, h = rng.integers(6, size // 2, size=2)
            y2 = min(size, y1 + h)
            imgs[k, y1:y2, x1:x1 + w] = rng.uniform(0, 1, size=3)
            depths[k, y1:y2, x1:x1 + w] = col[y2 - 1]
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    x = torch.from_numpy(((imgs - mean) / std).transpose(0, 3, 1, 2).copy())
    return x, torch.from_numpy(depths)


def shape_tiny_depth(model: torch.nn.Module, size: int, steps: int, seed: int) -> float:
    """A randomly initialised metric head outputs nearly the same depth everywhere. A few
    deterministic optimisation steps towards scene_batch's made-up depths make the map vary
    across the image, stay inside (0, max_depth) and depend on the picture."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    last = 0.0
    for step in range(steps):
        x, target = scene_batch(rng, size, 4)
        pred = model(pixel_values=x, return_dict=True).predicted_depth
        loss = torch.nn.functional.smooth_l1_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = float(loss) if step == steps - 1 else last
    model.eval()
    return last


def write_preprocessor_config(out: str, size: int, base: dict[str, Any] | None) -> None:
    cfg = dict(base or {})
    for k in ('keep_aspect_ratio', 'ensure_multiple_of', 'size_divisor', 'crop_size', 'do_center_crop'):
        cfg.pop(k, None)
    cfg.update({
        'image_processor_type': 'DPTImageProcessor',
        'do_resize': True,
        'size': {'height': size, 'width': size},
        'keep_aspect_ratio': False,
        'ensure_multiple_of': 1,
        'resample': cfg.get('resample', 3),  # bicubic, as Depth Anything's own configuration
        'do_rescale': True,
        'rescale_factor': 1 / 255,
        'do_normalize': True,
        'image_mean': cfg.get('image_mean', [0.485, 0.456, 0.406]),
        'image_std': cfg.get('image_std', [0.229, 0.224, 0.225]),
        'do_pad': False,
        'do_convert_rgb': True,  # grey and RGBA pictures become RGB, as the detector's processor does
    })
    with open(os.path.join(out, 'preprocessor_config.json'), 'w', encoding='utf-8') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')


def export_onnx(model: torch.nn.Module, size: int, path: str, opset: int) -> None:
    import onnx

    os.makedirs(os.path.dirname(path), exist_ok=True)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.onnx.export(
            DepthWrapper(model).eval(), (x,), path,
            input_names=['pixel_values'], output_names=['predicted_depth'],
            dynamic_axes={'pixel_values': {0: 'batch_size'}, 'predicted_depth': {0: 'batch_size'}},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )
    onnx.checker.check_model(onnx.load(path))


def check_onnx(model: torch.nn.Module, size: int, path: str) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    worst = 0.0
    for seed in (2, 3):
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            ref = DepthWrapper(model)(x).numpy()
        got = sess.run(['predicted_depth'], {'pixel_values': x.numpy()})[0]
        if ref.shape != got.shape:
            raise SystemExit(f'predicted_depth: onnxruntime shape {got.shape} != torch {ref.shape}')
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--model', help='hub id or local folder of a transformers depth-estimation checkpoint')
    src.add_argument('--tiny-random', action='store_true', help='tiny random-weight model (test fixtures)')
    ap.add_argument('--out', required=True)
    ap.add_argument('--size', type=int, default=None, help='square export size (default 112 tiny, 518 real)')
    ap.add_argument('--max-depth', type=int, default=20, help='metric range of the tiny model, metres')
    ap.add_argument('--steps', type=int, default=150, help='depth-shaping steps for --tiny-random')
    ap.add_argument('--opset', type=int, default=17)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-check', action='store_true')
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    os.makedirs(args.out, exist_ok=True)

    from transformers import AutoModelForDepthEstimation, DepthAnythingForDepthEstimation

    base_pp: dict[str, Any] | None = None
    if args.tiny_random:
        size = args.size or 112
        model = DepthAnythingForDepthEstimation(tiny_config(size, args.max_depth))
        loss = shape_tiny_depth(model, size, args.steps, args.seed)
        print(f'depth shaping, final loss {loss:.3f}')
    else:
        size = args.size or 518
        model = AutoModelForDepthEstimation.from_pretrained(args.model).eval()
        base_pp = read_image_processor_config(args.model)
    if size % 14 != 0:
        print(f'warning: size {size} is not a multiple of 14; DINOv2 will crop to {size // 14 * 14}', file=sys.stderr)
    model.eval()

    onnx_path = os.path.join(args.out, 'onnx', 'model.onnx')
    export_onnx(model, size, onnx_path, args.opset)
    model.config.save_pretrained(args.out)
    write_preprocessor_config(args.out, size, base_pp)
    if not args.no_check:
        worst = check_onnx(model, size, onnx_path)
        print(f'onnxruntime vs torch, max abs diff: {worst:.2e}')
        if worst > 1e-3:
            raise SystemExit('exported graph disagrees with PyTorch beyond tolerance')
    print(f'wrote {args.out} (image size {size}x{size}, {os.path.getsize(onnx_path) / 1e6:.2f} MB onnx)')


if __name__ == '__main__':
    sys.exit(main())
