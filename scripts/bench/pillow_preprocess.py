"""Pillow's side of the preprocessing benchmark (bench/preprocess.ts runs it when python3 has PIL).

Times, on one image, what transformers' Python image processors do before the model: Pillow's
`Image.resize` to the model's input size with the processor's filter, and that resize followed by
numpy's rescale + normalise into a CHW float32 array. Prints one JSON object with the medians in
milliseconds and the sha256 of the resized RGB bytes (so the caller can check bit parity).

    python3 scripts/bench/pillow_preprocess.py IMAGE WIDTH HEIGHT RESAMPLE [REPEATS]
"""
import hashlib
import json
import statistics
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def main() -> None:
    path, width, height, resample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    repeats = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    img = Image.open(path).convert("RGB")
    img.load()
    resize_ms = []
    full_ms = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = img.resize((width, height), resample=resample)
        resize_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        r = img.resize((width, height), resample=resample)
        a = np.asarray(r, dtype=np.float32) * np.float32(1 / 255)
        a = ((a - MEAN) / STD).transpose(2, 0, 1).copy()
        full_ms.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "pillow": Image.__version__ if hasattr(Image, "__version__") else __import__("PIL").__version__,
        "resize_ms": statistics.median(resize_ms),
        "resize_normalize_ms": statistics.median(full_ms),
        "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
    }))


if __name__ == "__main__":
    main()
