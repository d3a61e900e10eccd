#!/usr/bin/env python3
"""Export a GroundingDINO model to ONNX in the folder layout that transformers.js loads.

    OUT/config.json                  model configuration (transformers format)
    OUT/preprocessor_config.json     GroundingDinoImageProcessor, resizing to exactly the export size
    OUT/tokenizer.json, tokenizer_config.json, special_tokens_map.json
    OUT/onnx/model.onnx              inputs: pixel_values, input_ids, token_type_ids, attention_mask,
                                     pixel_mask; outputs: logits, pred_boxes

Real checkpoint (a hub id when the machine is online, or a local folder in transformers format,
e.g. VALOR's fine-tuned detector after conversion):

    python3 scripts/export/export_grounding_dino.py --model IDEA-Research/grounding-dino-tiny \
        --out models/grounding-dino-tiny --size 800

Tiny random model with the real architecture (what the test fixtures use):

    python3 scripts/export/export_grounding_dino.py --tiny-random --out test/fixtures/models/grounding-dino-tiny

Why the rewrites: transformers' `generate_masks_with_special_tokens_and_transfer_map` uses
`torch.isin`, `torch.cummax`/`cummin` (no ONNX export) and a boolean `torch.eye` (onnxruntime has
no boolean EyeLike). They are replaced by an equivalent built from broadcast comparisons, checked
against the original before export. The image size is fixed at export time (Swin's window
padding is traced as constants), so the written preprocessor configuration resizes every image to
exactly that size; the text length stays dynamic up to `max_text_len` (256) tokens.

Needs: torch, transformers (5.x), onnx, onnxruntime (for the check). Deterministic for a seed.

Parts: the tiny model and its tokenizer (grounding_dino_tiny.py), the export-friendly text masks
(grounding_dino_masks.py), the ONNX export and its check (grounding_dino_onnx.py), the tiny
model's score shaping (tiny_detector_scores.py); here the configuration files and the command.
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
from grounding_dino_masks import patch_mask_helper
from grounding_dino_onnx import check_onnx, export_onnx
from grounding_dino_tiny import build_tiny_tokenizer, build_tiny_vocab, tiny_config
from tiny_detector_scores import shape_tiny_scores


def write_preprocessor_config(out: str, size: int, base: dict[str, Any] | None) -> None:
    cfg = dict(base or {})
    cfg.update({
        'image_processor_type': 'GroundingDinoImageProcessor',
        # transformers.js's AutoProcessor builds the text+image processor only when this names it.
        'processor_class': 'GroundingDinoProcessor',
        'do_resize': True,
        'size': {'height': size, 'width': size},
        'resample': 2,  # bilinear, as the Python processor
        'do_rescale': True,
        'rescale_factor': 1 / 255,
        'do_normalize': True,
        'image_mean': cfg.get('image_mean', [0.485, 0.456, 0.406]),
        'image_std': cfg.get('image_std', [0.229, 0.224, 0.225]),
        'do_pad': True,  # no-op after the exact resize, but the Python processor then returns pixel_mask
        'do_convert_rgb': True,
        'format': 'coco_detection',
    })
    cfg.pop('max_size', None)
    cfg.pop('pad_size', None)
    with open(os.path.join(out, 'preprocessor_config.json'), 'w', encoding='utf-8') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')


def write_tokenizer(out: str, tokenizer, max_text_len: int) -> None:
    # The graph holds max_text_len (256) text positions: longer input fails inside the model, so
    # the tokenizer's limit says where callers must truncate (transformers.js: truncation: true).
    tokenizer.model_max_length = min(int(getattr(tokenizer, 'model_max_length', max_text_len) or max_text_len), max_text_len)
    tokenizer.save_pretrained(out)
    # transformers.js reads tokenizer.json + tokenizer_config.json; keep the files it needs and
    # make sure the class name is one it knows.
    cfg_path = os.path.join(out, 'tokenizer_config.json')
    with open(cfg_path, encoding='utf-8') as f:
        cfg = json.load(f)
    cfg['tokenizer_class'] = 'BertTokenizer'
    cfg.setdefault('do_lower_case', True)
    with open(cfg_path, 'w', encoding='utf-8') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')
    smap = {k: cfg[k] for k in ('cls_token', 'mask_token', 'pad_token', 'sep_token', 'unk_token') if k in cfg}
    with open(os.path.join(out, 'special_tokens_map.json'), 'w', encoding='utf-8') as f:
        json.dump(smap, f, indent=2, sort_keys=True)
        f.write('\n')
    vocab_txt = os.path.join(out, 'vocab.txt')
    if os.path.exists(vocab_txt):
        os.remove(vocab_txt)  # tokenizer.json holds the vocabulary already


def write_config(out: str, model: torch.nn.Module) -> None:
    model.config.save_pretrained(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--model', help='hub id or local folder of a transformers GroundingDINO checkpoint')
    src.add_argument('--tiny-random', action='store_true', help='tiny random-weight model (test fixtures)')
    ap.add_argument('--preset', default='tiny', choices=['tiny', 'bench'], help='size of the --tiny-random model')
    ap.add_argument('--out', required=True, help='output folder (replaced files only; other files kept)')
    ap.add_argument('--size', type=int, default=None,
                    help='square export size in pixels (default: 224 for tiny, 800 for bench and real models)')
    ap.add_argument('--opset', type=int, default=17)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-check', action='store_true', help='skip the onnxruntime vs PyTorch comparison')
    ap.add_argument('--text-positions', choices=['original', 'transformers'], default=None,
                    help="position ids of '.' separators: 'original' (GroundingDINO's own code, the trained models; "
                         "default for --model) or 'transformers' (transformers 5.x gives them 0; default for --tiny-random, "
                         "which the committed fixtures use)")
    args = ap.parse_args(argv)
    positions = args.text_positions or ('transformers' if args.tiny_random else 'original')

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    os.makedirs(args.out, exist_ok=True)

    from transformers import AutoTokenizer, GroundingDinoForObjectDetection

    base_pp: dict[str, Any] | None = None
    if args.tiny_random:
        size = args.size or (224 if args.preset == 'tiny' else 800)
        tokenizer = build_tiny_tokenizer(model_max_length=256)
        config = tiny_config(args.preset, len(build_tiny_vocab()))
        torch.manual_seed(args.seed)
        model = GroundingDinoForObjectDetection(config).eval()
    else:
        size = args.size or 800
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = GroundingDinoForObjectDetection.from_pretrained(args.model).eval()
        base_pp = read_image_processor_config(args.model)

    patch_mask_helper(original_positions=positions == 'original')
    if args.tiny_random:
        stats = shape_tiny_scores(model, tokenizer, size, seed=args.seed)
        print('score shaping (phrase logits on sample inputs): '
              + ', '.join(f'{k} {v:.3f}' for k, v in stats.items()))

    onnx_path = os.path.join(args.out, 'onnx', 'model.onnx')
    export_onnx(model, tokenizer, size, onnx_path, args.opset)
    write_config(args.out, model)
    write_preprocessor_config(args.out, size, base_pp)
    write_tokenizer(args.out, tokenizer, model.config.max_text_len)
    if args.tiny_random:
        # The fixture's state dict is reproducible from the seed; no safetensors are committed.
        for name in ('model.safetensors', 'generation_config.json'):
            p = os.path.join(args.out, name)
            if os.path.exists(p):
                os.remove(p)
    if not args.no_check:
        worst = check_onnx(model, tokenizer, size, onnx_path)
        print(f'onnxruntime vs torch, max abs diff: {worst}')
        if worst['pred_boxes'] > 1e-4 or worst['logits'] > 1e-3:
            raise SystemExit('exported graph disagrees with PyTorch beyond tolerance')
    print(f'wrote {args.out} (image size {size}x{size}, {os.path.getsize(onnx_path) / 1e6:.1f} MB onnx)')


if __name__ == '__main__':
    sys.exit(main())
