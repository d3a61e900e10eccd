"""Reading a checkpoint's processor settings, shared by the export scripts beside this file."""
from __future__ import annotations

import json
import os
from typing import Any


def read_image_processor_config(model: str) -> dict[str, Any] | None:
    """The checkpoint's image-processor settings (mean, std, resampling), from
    preprocessor_config.json or, as transformers 5 saves processors, from
    processor_config.json's image_processor entry. `model` is a local folder or a hub id."""
    for name in ('preprocessor_config.json', 'processor_config.json'):
        try:
            if os.path.isdir(model):
                path = os.path.join(model, name)
            else:
                from huggingface_hub import hf_hub_download

                path = hf_hub_download(model, name)
            with open(path, encoding='utf-8') as f:
                cfg = json.load(f)
        except (OSError, ValueError):
            continue
        cfg = cfg.get('image_processor', cfg)
        if isinstance(cfg, dict):
            return cfg
    return None
