"""GroundingDINO's text masks in ops the ONNX exporter and onnxruntime support: transformers'
``generate_masks_with_special_tokens_and_transfer_map`` uses ``torch.isin``, ``cummax``/``cummin``
(no ONNX export) and a boolean ``torch.eye`` (onnxruntime has no boolean EyeLike), so it is
replaced by an equivalent built from broadcast comparisons, checked against the original (or,
with original positions, the original GroundingDINO code's rule) before it is patched in.
"""
from __future__ import annotations

import numpy as np
import torch



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
