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
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

import numpy as np
import torch

from checkpoint_config import read_image_processor_config

# Our own small vocabulary for the tiny tokenizer. BERT-uncased ids that GroundingDINO's code
# treats specially are kept at their real positions: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102,
# [MASK]=103, ','=1010, '.'=1012, '?'=1029.
TINY_WORDS = [
    # colours and materials
    'red', 'blue', 'green', 'yellow', 'black', 'white', 'gray', 'grey', 'orange', 'purple', 'pink',
    'brown', 'wooden', 'metal', 'glass', 'plastic', 'dark', 'light', 'small', 'large', 'big', 'tall',
    # shapes
    'box', 'circle', 'square', 'rectangle', 'ball', 'shape', 'object', 'thing', 'item',
    # furniture and household objects
    'mug', 'cup', 'laptop', 'sofa', 'couch', 'table', 'coffee', 'chair', 'bed', 'lamp', 'desk', 'shelf',
    'door', 'window', 'bottle', 'book', 'plant', 'pot', 'vase', 'tv', 'monitor', 'keyboard', 'mouse',
    'phone', 'clock', 'picture', 'painting', 'pillow', 'cabinet', 'counter', 'sink', 'oven', 'fridge',
    'refrigerator', 'microwave', 'toilet', 'bathtub', 'towel', 'rug', 'carpet', 'floor', 'wall',
    'ceiling', 'stool', 'bench', 'dresser', 'nightstand', 'drawer', 'bowl', 'plate', 'fork', 'knife',
    'spoon', 'glass', 'jar', 'bag', 'backpack', 'shoe', 'hat', 'umbrella', 'bicycle', 'bike',
    # people, animals, vehicles
    'person', 'man', 'woman', 'child', 'people', 'cat', 'dog', 'bird', 'horse', 'car', 'truck', 'bus',
    'motorcycle', 'train', 'boat', 'airplane', 'tree', 'building', 'sign', 'traffic', 'stop',
    # relations and function words programs may send (they should not, but the tokenizer copes)
    'left', 'right', 'top', 'bottom', 'front', 'behind', 'near', 'far', 'on', 'in', 'of', 'the', 'a',
    'an', 'and', 'with', 'to', 'under', 'above', 'below', 'next', 'closest', 'farthest', 'rightmost',
    'leftmost',
]
TINY_VOCAB_SIZE = 1200


def build_tiny_vocab() -> list[str]:
    """The vocabulary, index = token id, padded with [unusedN] so every id below the size exists."""
    vocab: list[str | None] = [None] * TINY_VOCAB_SIZE
    fixed = {0: '[PAD]', 100: '[UNK]', 101: '[CLS]', 102: '[SEP]', 103: '[MASK]', 1010: ',', 1012: '.', 1029: '?'}
    for i, tok in fixed.items():
        vocab[i] = tok
    # Other punctuation BERT's pre-tokenizer splits off, so they never become [UNK] runs.
    extra = list('!"#$%&\'()*+-/:;<=>@[\\]^_`{|}~') + [str(d) for d in range(10)]
    letters = [chr(c) for c in range(ord('a'), ord('z') + 1)]
    # Single letters and '##' continuations let any lowercase word tokenize (letter by letter)
    # instead of collapsing to [UNK]; that keeps long or unusual prompts realistic.
    words: list[str] = []
    seen = set(fixed.values())
    for w in extra + letters + ['##' + c for c in letters] + [f'##{d}' for d in range(10)] + TINY_WORDS:
        if w not in seen:
            seen.add(w)
            words.append(w)
    # Punctuation and word pieces sit around the special ids like in BERT's own vocabulary;
    # [unusedN] fills ids 1..99 and whatever is left.
    free = [i for i in range(104, TINY_VOCAB_SIZE) if vocab[i] is None]
    if len(words) > len(free):
        raise SystemExit(f'tiny vocabulary too small: {len(words)} words for {len(free)} free ids')
    for i, w in zip(free, words):
        vocab[i] = w
    unused = 0
    for i in range(TINY_VOCAB_SIZE):
        if vocab[i] is None:
            vocab[i] = f'[unused{unused}]'
            unused += 1
    return [v for v in vocab if v is not None]


def build_tiny_tokenizer(model_max_length: int):
    """A BERT-uncased WordPiece tokenizer over TINY_WORDS, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = build_tiny_vocab()
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token='[UNK]', max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]',
        pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', 101), ('[SEP]', 102)],
    )
    tok.decoder = decoders.WordPiece(prefix='##')
    return BertTokenizerFast(
        tokenizer_object=tok,
        do_lower_case=True,
        unk_token='[UNK]', sep_token='[SEP]', pad_token='[PAD]', cls_token='[CLS]', mask_token='[MASK]',
        model_max_length=model_max_length,
    )


def tiny_config(preset: str, vocab_size: int):
    """Real-architecture GroundingDINO configurations small enough to commit."""
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    if preset == 'tiny':
        embed, d_model, enc_layers, dec_layers, queries, ffn, heads, text_hidden = 32, 32, 1, 2, 20, 64, 2, 32
        depths = [1, 1, 1, 1]
    elif preset == 'bench':
        # Most of the time goes to the high-resolution Swin stages, most of the bytes to the last
        # one: more blocks early and a larger image buy time without many parameters.
        embed, d_model, enc_layers, dec_layers, queries, ffn, heads, text_hidden = 32, 64, 2, 3, 100, 256, 4, 64
        depths = [2, 2, 2, 1]
    else:
        raise SystemExit(f'unknown preset {preset!r}; expected tiny or bench')
    backbone = SwinConfig(
        embed_dim=embed, depths=depths, num_heads=[1, 2, 4, 8], window_size=7,
        out_features=['stage2', 'stage3', 'stage4'], image_size=224,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0,
    )
    text = BertConfig(
        vocab_size=vocab_size, hidden_size=text_hidden, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=text_hidden * 2, max_position_embeddings=512,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=d_model,
        encoder_layers=enc_layers, decoder_layers=dec_layers,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        num_queries=queries, num_feature_levels=4, encoder_n_points=2, decoder_n_points=2,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        text_enhancer_dropout=0.0, fusion_droppath=0.0, fusion_dropout=0.0,
        max_text_len=256,
    )


# ---------------------------------------------------------------------------------------------
# Export-friendly replacement of the text mask helper


def export_friendly_masks(special_tokens: list[int], original_positions: bool = False):
    """Same result as transformers' `generate_masks_with_special_tokens_and_transfer_map`,
    built only from ops the legacy ONNX exporter and onnxruntime support.

    `original_positions`: give a separator ('.') inside a phrase block the next position after
    the phrase's last word, as the original GroundingDINO code does (and VALOR's detector was
    trained with); transformers 5.x gives it 0. Attention masks are the same either way."""

    def generate(input_ids: torch.Tensor):
        batch_size, seq_len = input_ids.shape
        device = input_ids.device
        special = torch.tensor(special_tokens, device=device, dtype=input_ids.dtype)
        special_mask = (input_ids[..., None] == special).any(-1)  # isin
        idx = torch.arange(seq_len, device=device)
        indices = idx.unsqueeze(0).expand(batch_size, -1)
        # lower[i, j] = j <= i: the running max over positions up to i (cummax)
        lower = idx[None, :] <= idx[:, None]
        upper = idx[None, :] >= idx[:, None]
        prev_cand = torch.where(special_mask, indices, torch.full_like(indices, -1))  # (B, N)
        prev_special = torch.where(lower[None], prev_cand[:, None, :], torch.full_like(prev_cand[:, None, :], -1)).amax(-1)
        next_cand = torch.where(special_mask, indices, torch.full_like(indices, seq_len))
        big = torch.full_like(next_cand[:, None, :], seq_len)
        next_special = torch.where(upper[None], next_cand[:, None, :], big).amin(-1)
        valid_block = (next_special != 0) & (next_special != seq_len - 1) & (next_special != seq_len)
        attention_mask = (next_special.unsqueeze(2) == next_special.unsqueeze(1)) & valid_block.unsqueeze(1)
        identity = (idx[:, None] == idx[None, :]).unsqueeze(0).expand(batch_size, -1, -1)
        attention_mask = identity | attention_mask
        if original_positions:
            before = idx[None, :] < idx[:, None]
            prev_special = torch.where(before[None], prev_cand[:, None, :], torch.full_like(prev_cand[:, None, :], -1)).amax(-1)
        position_ids = indices - prev_special - 1
        position_ids = torch.where(valid_block, position_ids, torch.zeros_like(position_ids))
        position_ids = torch.clamp(position_ids, min=0).to(torch.long)
        return attention_mask, position_ids

    return generate


def original_masks_reference(input_ids: torch.Tensor, special_tokens: list[int]):
    """The original GroundingDINO's rule, token by token: each block up to and including a
    separator attends within itself and is numbered 0, 1, ...; [CLS], the last token and tokens
    after the last separator attend only to themselves, position 0."""
    bs, n = input_ids.shape
    mask = torch.eye(n, dtype=torch.bool).unsqueeze(0).repeat(bs, 1, 1)
    pos = torch.zeros((bs, n), dtype=torch.long)
    for b in range(bs):
        prev = -1
        for col in range(n):
            if int(input_ids[b, col]) not in special_tokens:
                continue
            if col not in (0, n - 1):
                mask[b, prev + 1:col + 1, prev + 1:col + 1] = True
                pos[b, prev + 1:col + 1] = torch.arange(0, col - prev)
            prev = col
    return mask, pos


def patch_mask_helper(original_positions: bool = False) -> None:
    import transformers.models.grounding_dino.modeling_grounding_dino as gd

    original = gd.generate_masks_with_special_tokens_and_transfer_map
    if getattr(original, '_valor_patched', False):
        if getattr(original, '_valor_original_positions', None) != original_positions:
            raise SystemExit('mask helper already patched with the other position rule')
        return
    replacement = export_friendly_masks(list(gd.SPECIAL_TOKENS), original_positions)
    if original_positions:
        special = list(gd.SPECIAL_TOKENS)
        original = lambda ids: original_masks_reference(ids, special)  # noqa: E731
    rng = np.random.default_rng(0)
    samples = [
        [[101, 2000, 2001, 1012, 2002, 1012, 102]],
        [[101, 2000, 1012, 102]],
        [[101, 102]],
        [[101, 2000, 2001, 2002, 102]],  # no trailing '.'
        [[101, 1012, 1012, 2000, 1029, 2001, 1012, 102, 0, 0]],
        rng.choice([101, 102, 1012, 1029, 0, 2000, 2001, 2002], size=(3, 17)).tolist(),
    ]
    for s in samples:
        ids = torch.tensor(s)
        a0, p0 = original(ids)
        a1, p1 = replacement(ids)
        if not (torch.equal(a0, a1) and torch.equal(p0, p1)):
            raise SystemExit(f'mask helper replacement differs from the original on {s}; '
                             'the installed transformers changed it: update export_friendly_masks')
    replacement._valor_patched = True  # type: ignore[attr-defined]
    replacement._valor_original_positions = original_positions  # type: ignore[attr-defined]
    gd.generate_masks_with_special_tokens_and_transfer_map = replacement
    sine = getattr(gd, 'encode_sinusoidal_position_embedding', None)
    if original_positions and sine is not None:
        # transformers 5.x casts the text position embedding to the dtype of the position ids
        # (int64), which turns every sine/cosine into 0 or ±1; the original computes it in float.
        gd.encode_sinusoidal_position_embedding = lambda pos, *a, **k: sine(pos.float(), *a, **k)


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


NOUNS = ['box', 'circle', 'square', 'rectangle', 'ball', 'mug', 'cup', 'laptop', 'sofa', 'table', 'chair',
         'lamp', 'bottle', 'book', 'plant', 'person', 'cat', 'dog', 'car', 'tree', 'bed', 'door', 'window',
         'object', 'bowl', 'clock', 'shelf', 'desk', 'monitor', 'phone']
ADJECTIVES = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'small', 'large', 'wooden', 'coffee', 'metal']


def random_caption(rng: np.random.Generator) -> str:
    phrases = []
    for _ in range(int(rng.integers(1, 5))):
        noun = NOUNS[int(rng.integers(len(NOUNS)))]
        phrases.append(f'{ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]} {noun}' if rng.random() < 0.5 else noun)
    return '. '.join(phrases) + '.'


def random_scene(rng: np.random.Generator, size: int) -> torch.Tensor:
    """A normalised image tensor of flat colour shapes on a flat background (like the test images)."""
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = rng.uniform(0, 1, size=3)
    for _ in range(int(rng.integers(1, 6))):
        x1, y1 = rng.integers(0, size - 8, size=2)
        w, h = rng.integers(8, size // 2, size=2)
        img[y1:y1 + h, x1:x1 + w] = rng.uniform(0, 1, size=3)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    return torch.from_numpy(((img - mean) / std).transpose(2, 0, 1).copy())[None]


def _sample_batch(tokenizer, size: int, seed: int, n: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x, caption = random_scene(rng, size), random_caption(rng)
        out.append((x, tokenizer([caption], return_tensors='pt', return_token_type_ids=True)))
    return out


def _run(model: torch.nn.Module, x: torch.Tensor, enc, size: int):
    return model(pixel_values=x, input_ids=enc['input_ids'], token_type_ids=enc['token_type_ids'],
                 attention_mask=enc['attention_mask'], pixel_mask=torch.ones(1, size, size, dtype=torch.long))


SEPARATORS = torch.tensor([101, 102, 1012])  # [CLS], [SEP], '.'


def _phrase_logits(logits: torch.Tensor, ids: torch.Tensor):
    """Per token logits (Q, T) -> separator mask, phrase index per token, phrase means (Q, P)."""
    is_sep = (ids[:, None] == SEPARATORS).any(-1)
    group = torch.cumsum(is_sep.long(), 0)
    means = [logits[:, (group == g) & ~is_sep].mean(-1, keepdim=True) for g in torch.unique(group[~is_sep])]
    return is_sep, group, torch.cat(means, -1)


def shape_tiny_scores(model: torch.nn.Module, tokenizer, size: int, seed: int,
                      mean: float = -1.9, std: float = 1.3) -> dict[str, float]:
    """Give the random model the score structure of a trained detector, so that thresholds and
    labels mean something in tests. No training: a few deterministic edits of the weights.
    Nothing here is about what the image shows; the weights stay meaningless.

    1. Boxes: the box head's last layer starts at zero (every box would be an anchor); random
       weights make boxes vary in size and position.
    2. One logit per phrase: the text enhancer's self-attention is masked to the tokens of one
       phrase (plus its '.'); with zero query/key projections it averages them uniformly, and a
       larger output projection lets that average dominate the token's own state, so the tokens
       of a phrase (and its '.') end with nearly the same features and probabilities. A label is
       then usually a whole phrase.
    3. Centring and offset (recentre_logits): phrases compete within a query, queries differ
       within a phrase, logits spread as N(mean, std), and [CLS]/[SEP] get low probabilities.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in model.bbox_embed:  # tied across decoder layers: one module in practice
            last = head.layers[-1]
            last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * 0.15)
            last.bias.copy_(torch.tensor([0.0, 0.0, 1.2, 1.2]))
        for layer in model.model.encoder.layers:
            attn = layer.text_enhancer_layer.self_attn
            for lin in (attn.query, attn.key):
                lin.weight.zero_()
                lin.bias.zero_()
            attn.out_proj.weight.mul_(5000.0)
    return recentre_logits(model, tokenizer, size, seed + 1, mean, std)


def recentre_logits(model: torch.nn.Module, tokenizer, size: int, seed: int, mean: float, std: float,
                    separator_logit: float = -8.0) -> dict[str, float]:
    """logit(q, j) = <h_q, t_j> with h = decoder layer norm of the query state and t = last text
    layer norm of the token state. Random weights make both sides share large common components,
    so a query's logits move together over all phrases (labels become the whole caption) and a
    word's logits move together over all queries.

    With constant gains gd, gt and biases bd = -gd * E[n_h] + c + u, bt = -gt * E[n_t] + k
    (E over sample queries and phrase tokens; c, k constants) the logit becomes
    gd * gt * <n_h - E n_h, n_t - E n_t> + <u, t_j - k> + k * sum(u) + d * c * k, because
    layer-norm outputs sum to zero over their d features: a centred interaction, a chosen offset,
    and a term <u, .> that pushes [CLS] and [SEP] down (u: regularised least squares asking
    separator_logit of the sample separators and 0 of the phrase tokens). The text features also
    feed the decoder, so repeat until it settles."""
    ln = model.model.encoder.layers[-1].text_enhancer_layer.layer_norm_after
    dec_ln = model.model.decoder.layer_norm
    d = dec_ln.weight.numel()
    samples = _sample_batch(tokenizer, size, seed, 16)
    stats: dict[str, float] = {}
    cap_t: list[torch.Tensor] = []
    cap_h: list[torch.Tensor] = []
    hooks = [ln.register_forward_hook(lambda _m, _i, out: cap_t.append(out.detach()[0])),
             dec_ln.register_forward_hook(lambda _m, _i, out: cap_h.append(out.detach()[0]))]
    k = 1.0
    gd = float(dec_ln.weight.mean())
    gt = float(ln.weight.mean())
    try:
        with torch.no_grad():
            dec_ln.weight.fill_(gd)
            ln.weight.fill_(gt)
            for _ in range(6):
                cap_t.clear()
                phrase_vals, corr, sep_vals = [], [], []
                n_t, n_h, n_cls, n_sep = [], [], [], []
                for x, enc in samples:
                    cap_h.clear()
                    ids = enc['input_ids'][0]
                    lg = _run(model, x, enc, size).logits[0, :, : ids.shape[0]]
                    is_sep, _, pm = _phrase_logits(lg, ids)
                    nt = (cap_t[-1] - ln.bias) / gt
                    n_t.append(nt[~is_sep])
                    n_cls.append(nt[0])
                    n_sep.append(nt[-1])
                    n_h.append((cap_h[-1] - dec_ln.bias) / gd)  # last decoder layer's queries
                    phrase_vals.append(pm.flatten())
                    sep_vals.append(lg[:, [0, -1]].flatten())
                    if pm.shape[1] > 1:
                        cc = np.corrcoef(pm.T.numpy())
                        corr.append(float(cc[np.triu_indices(len(cc), 1)].mean()))
                v = torch.cat(phrase_vals)
                stats.update(phrase_mean=float(v.mean()), phrase_std=float(v.std()), phrase_corr=float(np.mean(corr)),
                             separator_max=float(torch.cat(sep_vals).max()))
                gt *= std / max(float(v.std()), 1e-6)
                mean_t = torch.cat(n_t).mean(0)
                # u: least squares over every sample token: separators at separator_logit - mean,
                # phrase tokens untouched (0), small norm.
                seps = (torch.cat([torch.stack(n_cls), torch.stack(n_sep)]) - mean_t) * gt
                phrases = (torch.cat(n_t) - mean_t) * gt
                a = torch.cat([seps, phrases])
                b = torch.cat([torch.full((len(seps),), separator_logit - mean), torch.zeros(len(phrases))])
                u = torch.linalg.solve(a.T @ a + 1e-3 * torch.eye(d), a.T @ b)
                c = (mean - k * float(u.sum())) / (d * k)
                ln.weight.fill_(gt)
                dec_ln.bias.copy_(-gd * torch.cat(n_h).mean(0) + c + u)
                ln.bias.copy_(-gt * mean_t + k)
    finally:
        for h in hooks:
            h.remove()
    return stats


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
