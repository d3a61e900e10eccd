"""Score shaping for the tiny random GroundingDINO: a few deterministic weight edits that give it
the score structure of a trained detector (boxes that vary, one logit per phrase, logits spread
around a chosen mean, [CLS]/[SEP] low), so that thresholds and labels mean something in tests.
No training, and nothing about what an image shows. Used by export_grounding_dino.py
(``--tiny-random``).
"""
from __future__ import annotations

import numpy as np
import torch

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
