"""Small real datasets written to disk, shared by the reader, embedding and probe tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def digits_folder(root: Path, n: int | None = None, size: int = 32) -> Path:
    """Writes scikit-learn's digits (the first ``n``; all 1797 when None) as an ImageFolder of grayscale PNGs.

    Digit ``i`` with target ``t`` goes to ``root/<t>/<i:04d>.png``: 8x8 values
    0..16 scaled by 16 (clipped at 255) to uint8, upscaled by repetition to
    ``size`` x ``size``. Sorting by id groups by label and keeps dataset order
    within a label.

    Returns:
        ``root``.
    """
    from sklearn.datasets import load_digits

    if size % 8:
        raise ValueError(f"size must be a multiple of 8 (the digits are 8x8), not {size}")
    digits = load_digits()
    for index in range(len(digits.target) if n is None else n):
        pixels = np.minimum(digits.images[index] * 16, 255).astype(np.uint8)
        pixels = np.kron(pixels, np.ones((size // 8, size // 8), dtype=np.uint8))
        folder = root / str(digits.target[index])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{index:04d}.png")
    return root
