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


def photo_folder(root: Path, n: int = 32, seed: int = 0) -> Path:
    """Writes ``n`` random crops (with flips) of scikit-learn's two real photos as a flat folder of JPEGs.

    Crops cover 35-90% of a side of ``china.jpg`` or ``flower.jpg`` (427 x 640),
    so a model sees real textures, edges and colours at varied scales.

    Returns:
        ``root``.
    """
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for index in range(n):
        photo = photos[index % len(photos)]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.35, 0.9))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = photo[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        Image.fromarray(np.ascontiguousarray(crop)).save(root / f"{index:03d}.jpg", quality=92)
    return root
