#!/usr/bin/env python3
"""Original GroundingDINO checkpoint (IDEA format, e.g. VALOR-GroundingDINO.pth) -> our ONNX folder.

    python3 scripts/export/convert_grounding_dino_original.py \\
        --checkpoint VALOR-GroundingDINO.pth --out ~/.cache/valor-studio/models/grounding-dino

`valor models convert` runs this. Steps:
1. Load the state dict (`torch.load(path)["model"]`, or a bare state dict; a `module.` prefix from
   DistributedDataParallel is dropped).
2. Build a transformers GroundingDinoConfig from the original configuration: GroundingDINO_SwinT_OGC
   (VALOR's, the default) or `--original-config FILE.json` holding the original config's fields
   (for other sizes; the test fixture uses it).
3. Rename every tensor to transformers' names (our own table, below), splitting the fused q/k/v
   projections, and load it strictly: every transformers parameter must come from the checkpoint
   except the Swin model's final LayerNorm, which GroundingDINO never uses.
4. Save the transformers folder (with the BERT tokenizer, `--tokenizer`, default
   bert-base-uncased from the hub) and export it with export_grounding_dino.py (same op rewrites,
   fixed square size, onnxruntime check against PyTorch).
5. Write valor-source.json (checkpoint name, sha256, configuration, size) so `valor models` can
   tell VALOR's detector from the stock one.
Needs torch, transformers 5.x, onnx, onnxruntime. No GPU.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))

# The fields of GroundingDINO_SwinT_OGC.py (IDEA-Research/GroundingDINO) that shape the network.
SWINT_OGC: dict[str, Any] = {
    'backbone': 'swin_T_224_1k', 'swin': {'embed_dim': 96, 'depths': [2, 2, 6, 2], 'num_heads': [3, 6, 12, 24], 'window_size': 7},
    'pretrain_img_size': 224, 'return_interm_indices': [1, 2, 3], 'hidden_dim': 256, 'nheads': 8,
    'enc_layers': 6, 'dec_layers': 6, 'dim_feedforward': 2048, 'num_queries': 900, 'num_feature_levels': 4,
    'enc_n_points': 4, 'dec_n_points': 4, 'max_text_len': 256, 'pe_temperature': 20,
    'text_encoder_type': 'bert-base-uncased', 'bert': None,
}


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def load_original_state_dict(path: str):
    import torch
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001 - the message says what to do
        raise SystemExit(f'{path}: cannot read it as a PyTorch checkpoint ({err}); pass the original GroundingDINO .pth') from err
    sd = obj.get('model', obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not any(k.replace('module.', '', 1).startswith('backbone.0.') for k in sd):
        raise SystemExit(f'{path}: no GroundingDINO state dict in it (expected keys like backbone.0.patch_embed.proj.weight under "model")')
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in sd.items()}


def hf_config(orig: dict[str, Any]):
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig
    swin = orig['swin']
    backbone = SwinConfig(
        embed_dim=swin['embed_dim'], depths=swin['depths'], num_heads=swin['num_heads'], window_size=swin['window_size'],
        image_size=orig['pretrain_img_size'], out_features=[f'stage{i + 1}' for i in orig['return_interm_indices']],
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0,
    )
    text = BertConfig(**orig['bert']) if orig.get('bert') else BertConfig()  # bert-base-uncased's shape
    return GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=orig['hidden_dim'],
        encoder_layers=orig['enc_layers'], decoder_layers=orig['dec_layers'],
        encoder_ffn_dim=orig['dim_feedforward'], decoder_ffn_dim=orig['dim_feedforward'],
        encoder_attention_heads=orig['nheads'], decoder_attention_heads=orig['nheads'],
        num_queries=orig['num_queries'], num_feature_levels=orig['num_feature_levels'],
        encoder_n_points=orig['enc_n_points'], decoder_n_points=orig['dec_n_points'],
        max_text_len=orig['max_text_len'], positional_embedding_temperature=orig['pe_temperature'],
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, text_enhancer_dropout=0.0,
        fusion_droppath=0.0, fusion_dropout=0.0,
    )


SWIN = 'model.backbone.conv_encoder.model.swin.'
# (original regex, transformers replacement); applied first match wins. `{qkv}` marks fused
# projections that are split into three tensors.
RULES: list[tuple[str, str]] = [
    (r'^backbone\.0\.patch_embed\.proj\.', SWIN + 'embeddings.patch_embeddings.projection.'),
    (r'^backbone\.0\.patch_embed\.norm\.', SWIN + 'embeddings.norm.'),
    (r'^backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.norm1\.', SWIN + r'encoder.layers.\1.blocks.\2.layernorm_before.'),
    (r'^backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.norm2\.', SWIN + r'encoder.layers.\1.blocks.\2.layernorm_after.'),
    (r'^backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.qkv\.', SWIN + r'encoder.layers.\1.blocks.\2.attention.{qkv:q_proj,k_proj,v_proj}.'),
    (r'^backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.proj\.', SWIN + r'encoder.layers.\1.blocks.\2.attention.o_proj.'),
    (r'^backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.relative_position_bias_table$',
     SWIN + r'encoder.layers.\1.blocks.\2.attention.relative_position_bias.relative_position_bias_table'),
    (r'^backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.', SWIN + r'encoder.layers.\1.blocks.\2.mlp.'),
    (r'^backbone\.0\.layers\.(\d+)\.downsample\.', SWIN + r'encoder.layers.\1.downsample.'),
    (r'^bert\.', 'model.text_backbone.'),
    (r'^feat_map\.', 'model.text_projection.'),
    (r'^input_proj\.', 'model.input_proj_vision.'),
    (r'^transformer\.level_embed$', 'model.level_embed'),
    (r'^transformer\.tgt_embed\.weight$', 'model.query_position_embeddings.weight'),
    (r'^transformer\.enc_output\.', 'model.enc_output.'),
    (r'^transformer\.enc_output_norm\.', 'model.enc_output_norm.'),
    (r'^transformer\.enc_out_bbox_embed\.', 'model.encoder_output_bbox_embed.'),
    # encoder: deformable image layers, text enhancer layers, fusion layers
    (r'^transformer\.encoder\.layers\.(\d+)\.self_attn\.', r'model.encoder.layers.\1.deformable_layer.self_attn.'),
    (r'^transformer\.encoder\.layers\.(\d+)\.norm1\.', r'model.encoder.layers.\1.deformable_layer.self_attn_layer_norm.'),
    (r'^transformer\.encoder\.layers\.(\d+)\.linear1\.', r'model.encoder.layers.\1.deformable_layer.fc1.'),
    (r'^transformer\.encoder\.layers\.(\d+)\.linear2\.', r'model.encoder.layers.\1.deformable_layer.fc2.'),
    (r'^transformer\.encoder\.layers\.(\d+)\.norm2\.', r'model.encoder.layers.\1.deformable_layer.final_layer_norm.'),
    (r'^transformer\.encoder\.text_layers\.(\d+)\.self_attn\.in_proj_(weight|bias)$', r'model.encoder.layers.\1.text_enhancer_layer.self_attn.{qkv:query,key,value}.\2'),
    (r'^transformer\.encoder\.text_layers\.(\d+)\.self_attn\.out_proj\.', r'model.encoder.layers.\1.text_enhancer_layer.self_attn.out_proj.'),
    (r'^transformer\.encoder\.text_layers\.(\d+)\.linear1\.', r'model.encoder.layers.\1.text_enhancer_layer.fc1.'),
    (r'^transformer\.encoder\.text_layers\.(\d+)\.linear2\.', r'model.encoder.layers.\1.text_enhancer_layer.fc2.'),
    (r'^transformer\.encoder\.text_layers\.(\d+)\.norm1\.', r'model.encoder.layers.\1.text_enhancer_layer.layer_norm_before.'),
    (r'^transformer\.encoder\.text_layers\.(\d+)\.norm2\.', r'model.encoder.layers.\1.text_enhancer_layer.layer_norm_after.'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.gamma_v$', r'model.encoder.layers.\1.fusion_layer.vision_param'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.gamma_l$', r'model.encoder.layers.\1.fusion_layer.text_param'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.layer_norm_v\.', r'model.encoder.layers.\1.fusion_layer.layer_norm_vision.'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.layer_norm_l\.', r'model.encoder.layers.\1.fusion_layer.layer_norm_text.'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.attn\.(out_)?v_proj\.', r'model.encoder.layers.\1.fusion_layer.attn.\2vision_proj.'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.attn\.(out_)?l_proj\.', r'model.encoder.layers.\1.fusion_layer.attn.\2text_proj.'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.attn\.values_v_proj\.', r'model.encoder.layers.\1.fusion_layer.attn.values_vision_proj.'),
    (r'^transformer\.encoder\.fusion_layers\.(\d+)\.attn\.values_l_proj\.', r'model.encoder.layers.\1.fusion_layer.attn.values_text_proj.'),
    # decoder
    (r'^transformer\.decoder\.layers\.(\d+)\.cross_attn\.', r'model.decoder.layers.\1.encoder_attn.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.norm1\.', r'model.decoder.layers.\1.encoder_attn_layer_norm.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.ca_text\.in_proj_(weight|bias)$', r'model.decoder.layers.\1.encoder_attn_text.{qkv:query,key,value}.\2'),
    (r'^transformer\.decoder\.layers\.(\d+)\.ca_text\.out_proj\.', r'model.decoder.layers.\1.encoder_attn_text.out_proj.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.catext_norm\.', r'model.decoder.layers.\1.encoder_attn_text_layer_norm.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.self_attn\.in_proj_(weight|bias)$', r'model.decoder.layers.\1.self_attn.{qkv:query,key,value}.\2'),
    (r'^transformer\.decoder\.layers\.(\d+)\.self_attn\.out_proj\.', r'model.decoder.layers.\1.self_attn.out_proj.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.norm2\.', r'model.decoder.layers.\1.self_attn_layer_norm.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.linear1\.', r'model.decoder.layers.\1.fc1.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.linear2\.', r'model.decoder.layers.\1.fc2.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.norm3\.', r'model.decoder.layers.\1.final_layer_norm.'),
    (r'^transformer\.decoder\.norm\.', 'model.decoder.layer_norm.'),
    (r'^transformer\.decoder\.ref_point_head\.', 'model.decoder.reference_points_head.'),
    (r'^transformer\.decoder\.bbox_embed\.', 'model.decoder.bbox_embed.'),
    (r'^bbox_embed\.', 'bbox_embed.'),
]
# Buffers recomputed by transformers (no weights), and BERT's pooler, which GroundingDINO never uses.
IGNORED = [r'\.relative_position_index$', r'^bert\.embeddings\.position_ids$', r'\.attn_mask$', r'^bert\.pooler\.']
QKV = re.compile(r'\{qkv:([^}]+)\}')


def rename(sd: dict[str, Any], orig: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {}
    unused: list[str] = []
    for key, t in sd.items():
        norm = re.match(r'^backbone\.0\.norm(\d+)\.(weight|bias)$', key)
        if norm:  # the original's out_indices i -> transformers' stage i+1
            out[f'model.backbone.conv_encoder.model.hidden_states_norms.stage{int(norm.group(1)) + 1}.{norm.group(2)}'] = t
            continue
        if any(re.search(p, key) for p in IGNORED):
            continue
        for pat, rep in RULES:
            if re.search(pat, key):
                new = re.sub(pat, rep, key)
                m = QKV.search(new)
                if m:
                    parts = t.chunk(3, dim=0)
                    for name, part in zip(m.group(1).split(','), parts):
                        out[QKV.sub(name, new)] = part.clone()
                else:
                    out[new] = t
                break
        else:
            unused.append(key)
    return out, unused


def convert(checkpoint: str, orig: dict[str, Any], tokenizer_src: str, hf_dir: str) -> None:
    import torch
    from transformers import AutoTokenizer, GroundingDinoForObjectDetection
    sd = load_original_state_dict(checkpoint)
    config = hf_config(orig)
    model = GroundingDinoForObjectDetection(config).eval()
    new, unused = rename(sd, orig)
    target = model.state_dict()
    if unused:
        raise SystemExit(f'{checkpoint}: {len(unused)} tensors have no place in transformers\' GroundingDINO, e.g. {unused[:5]}; '
                         'is it a GroundingDINO checkpoint of this configuration?')
    wrong = [f'{k} {tuple(v.shape)} vs {tuple(target[k].shape)}' for k, v in new.items() if k in target and tuple(v.shape) != tuple(target[k].shape)]
    extra = [k for k in new if k not in target]
    missing = [k for k in target if k not in new and not k.startswith(SWIN + 'layernorm.')]
    if wrong or extra or missing:
        raise SystemExit('the checkpoint does not fit the configuration:\n  shape: ' + '\n  shape: '.join(wrong[:5])
                         + '\n  unexpected: ' + ', '.join(extra[:5]) + '\n  missing: ' + ', '.join(missing[:5])
                         + '\n(pass --original-config for a model other than GroundingDINO_SwinT_OGC)')
    with torch.no_grad():
        for k, v in new.items():
            target[k].copy_(v)
    model.save_pretrained(hf_dir)
    AutoTokenizer.from_pretrained(tokenizer_src).save_pretrained(hf_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', required=True, help='original GroundingDINO .pth (IDEA format), e.g. VALOR-GroundingDINO.pth')
    ap.add_argument('--out', required=True, help='model folder to write (the server\'s layout); replaced only when everything worked')
    ap.add_argument('--original-config', help='JSON with the original configuration\'s fields (default: GroundingDINO_SwinT_OGC)')
    ap.add_argument('--tokenizer', default='bert-base-uncased', help='BERT tokenizer: hub id or local folder (default bert-base-uncased)')
    ap.add_argument('--size', type=int, default=800, help='square export size (default 800)')
    ap.add_argument('--keep-hf', help='also keep the transformers-format folder here')
    args = ap.parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'{args.checkpoint}: no such file (fetch it with: valor models pull --valor)')
    orig = dict(SWINT_OGC)
    config_name = 'GroundingDINO_SwinT_OGC'
    if args.original_config:
        with open(args.original_config, encoding='utf-8') as f:
            orig.update(json.load(f))
        config_name = os.path.basename(args.original_config)
    t0 = time.time()
    out = os.path.abspath(args.out)
    work = tempfile.mkdtemp(prefix='valor-convert-', dir=os.path.dirname(out) if os.path.isdir(os.path.dirname(out)) else None)
    try:
        hf_dir = os.path.join(work, 'hf')
        convert(args.checkpoint, orig, args.tokenizer, hf_dir)
        print(f'converted {args.checkpoint} to transformers format ({time.time() - t0:.0f} s)', flush=True)
        sys.path.insert(0, HERE)
        import export_grounding_dino
        onnx_dir = os.path.join(work, 'onnx-folder')
        export_grounding_dino.main(['--model', hf_dir, '--out', onnx_dir, '--size', str(args.size)])
        for name in ('model.safetensors', 'generation_config.json'):
            p = os.path.join(onnx_dir, name)
            if os.path.exists(p):
                os.remove(p)
        with open(os.path.join(onnx_dir, 'valor-source.json'), 'w', encoding='utf-8') as f:
            json.dump({'source': os.path.basename(args.checkpoint), 'sha256': sha256_of(args.checkpoint), 'config': config_name,
                       'size': args.size, 'converted_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, f, indent=2)
            f.write('\n')
        if args.keep_hf:
            shutil.rmtree(args.keep_hf, ignore_errors=True)
            shutil.copytree(hf_dir, args.keep_hf)
        if os.path.exists(out):
            old = out + '.old'
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
            os.rename(onnx_dir, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(onnx_dir, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f'wrote {out} from {args.checkpoint} in {time.time() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
