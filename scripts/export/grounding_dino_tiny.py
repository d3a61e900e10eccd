"""The tiny random GroundingDINO that the test fixtures use: our own small WordPiece vocabulary
(BERT-uncased's special ids at their real positions) as a transformers fast tokenizer, and
real-architecture configurations small enough to commit (presets ``tiny`` and ``bench``).
Used by export_grounding_dino.py (``--tiny-random``) and scripts/fixtures/.
"""
from __future__ import annotations


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
