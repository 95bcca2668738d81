"""Inputs for models: the image transform, example inputs for tracing, parity and gate inputs.

Shared by every adapter (the exporter's parity check and the shape
measurements run on these), by the int8/fp16 gate and by
:func:`zoo.preprocess`. Which of them a version gets is its modality's choice
(:mod:`zoo.adapters._modality`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InvalidOptionError, RegistryError, RegistryIssue, WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = [
    "natural_image", "preprocess_for", "image_example", "vision_inputs", "text_inputs", "generated_images", "image_batches",
    "tokenized", "SENTENCES", "GATE_SENTENCES",
]

SENTENCES = (
    "A man is playing a guitar on the street.",
    "The quick brown fox jumps over the lazy dog.",
    "Pretrained backbones make transfer learning cheap.",
)

# Held-back sentences when the user gives none: varied topics, lengths and punctuation (half calibrate, half gate).
GATE_SENTENCES = SENTENCES + (
    "The central bank raised interest rates by a quarter of a point on Tuesday.",
    "Heavy rain is expected across the north of the country this weekend.",
    "She scored twice in the second half and her team won the cup.",
    "Preheat the oven to 200 degrees and bake the bread for forty minutes.",
    "The new phone has a larger battery, but the camera is no better.",
    "Researchers found that the drug lowered blood pressure in most patients.",
    "Can you tell me how to get to the railway station from here?",
    "Our flight was delayed for three hours because of fog in Frankfurt.",
    "The museum reopens in May with an exhibition of early photographs.",
    "Stocks fell sharply after the company cut its forecast for the year.",
    "He planted tomatoes, beans and a row of sunflowers along the fence.",
    "Please restart the router and check whether the light turns green.",
    "The orchestra played Beethoven's seventh symphony to a full hall.",
    "Volcanic ash closed the airport for the second time this month.",
    "I think the sequel is even funnier than the first film.",
    "The committee will publish its report on school funding next week.",
    "Add a pinch of salt, stir well, and let the soup simmer.",
    "Two astronauts repaired the solar panel during a six-hour spacewalk.",
    "The striker was injured in training and will miss the final.",
    "Why does the sky look blue during the day and red at sunset?",
    "Hotel prices in the city doubled during the music festival.",
    "The software update fixes a bug that drained the battery overnight.",
    "Farmers are worried that the dry summer will ruin the harvest.",
    "The children built a sandcastle and watched the tide wash it away.",
    "Inflation slowed for the third month in a row, official figures show.",
    "This recipe needs ripe bananas, flour, eggs and a little butter.",
    "The bridge will be closed to traffic while engineers inspect it.",
    "A rare bird was spotted in the park, drawing crowds of photographers.",
    "Machine translation has improved, but idioms still trip it up.",
)


def natural_image(size: tuple[int, int] = (256, 320), seed: int = 0) -> Any:
    """A natural-looking test image made in code (uint8, H x W x 3): sky, sun, hills, texture.

    Real photographs have smooth gradients, edges and texture, which random
    noise lacks; parity on such an image exercises the value ranges a real
    input produces.
    """
    import numpy as np

    h, w = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = 1.0 - y / h
    img[..., 0] = 90 + 80 * sky
    img[..., 1] = 140 + 70 * sky
    img[..., 2] = 200 + 55 * sky
    sun = (x - 0.75 * w) ** 2 + (y - 0.25 * h) ** 2 < (0.08 * min(h, w)) ** 2
    img[sun] = (255, 230, 120)
    hill = y > 0.6 * h + 0.08 * h * np.sin(x / w * 6.0)
    img[hill] = np.stack([40 + 30 * np.sin(x[hill] / 7.0), 120 + 40 * np.cos(y[hill] / 5.0), 50 + 0 * x[hill]], -1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


_INTERPOLATION = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


class _Preprocess:
    """Image -> normalized tensor (C, H, W): resize, center crop, scale to [0, 1], normalize."""

    def __init__(self, spec: Any, model: str):
        self.model = model
        channels, self.height, self.width = spec.shape
        self.mean = list(spec.mean)
        self.std = list(spec.std)
        self.crop_pct = spec.crop_pct or 1.0
        self.resample = _INTERPOLATION[spec.interpolation or "bilinear"]

    def __repr__(self) -> str:
        return (
            f"preprocess({self.model}: resize {int(self.height / self.crop_pct)}, crop {self.height}x{self.width}, "
            f"mean={self.mean}, std={self.std})"
        )

    def __call__(self, image: Any) -> Any:
        """The normalized ``torch.Tensor`` (C, H, W)."""
        import torch

        return torch.from_numpy(self.array(image))

    def array(self, image: Any) -> Any:
        """The same as a float32 numpy array (C, H, W), without importing torch."""
        import numpy as np
        from PIL import Image

        if not isinstance(image, Image.Image):
            array = np.asarray(image)
            if array.dtype != np.uint8 or array.ndim not in (2, 3):
                raise InvalidOptionError(
                    f"{self.model}: preprocess takes a PIL image or a uint8 array (H, W[, C]); "
                    f"got {array.dtype} with shape {array.shape}"
                )
            image = Image.fromarray(array)
        image = image.convert("RGB")
        # Resize the shorter side so that the center crop covers crop_pct of it (timm's rule).
        scale = max(self.height, self.width) / self.crop_pct
        w, h = image.size
        ratio = scale / min(w, h)
        image = image.resize((max(1, round(w * ratio)), max(1, round(h * ratio))), resample=self.resample)
        w, h = image.size
        left, top = (w - self.width) // 2, (h - self.height) // 2
        image = image.crop((left, top, left + self.width, top + self.height))
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


def preprocess_for(info: ModelInfo) -> Callable[[Any], Any]:
    """The image transform of a resolved :class:`~zoo.registry.ModelInfo` (see :func:`zoo.preprocess`)."""
    spec = info.input
    if spec is None or not spec.shape or spec.mean is None:
        raise WeightsError(f"{info.id} has no image input spec (it is a {info.modality} model); use zoo.tokenizer for text")
    return _Preprocess(spec, info.id)


def image_example(info: ModelInfo, batch: int = 1) -> tuple[Any, ...]:
    """A zero image batch of the registry's input shape (for tracing and measuring shapes).

    Raises:
        RegistryError: The version has no input shape.
    """
    import torch

    if info.input is None or not info.input.shape:
        # Detection and segmentation models take any image size; their stages are measured at one.
        raise RegistryError([RegistryIssue(
            info.registry_file, f"models.{info.name}.versions.{info.version}.input.shape",
            f"{info.id} has no input shape, and its stages are measured on an input of that shape; add "
            "input: {shape: [3, H, W], ...} to its registry entry (e.g. in a --registry file over the shipped one)",
            "input_shape_missing",
        )])
    return (torch.zeros(batch, *info.input.shape),)


def vision_inputs(info: ModelInfo, batch: int) -> list[tuple[Any, ...]]:
    """Parity inputs for an image model: a random batch, a natural-looking image, one random image."""
    import torch

    c, h, w = info.input.shape
    gen = torch.Generator().manual_seed(0)
    natural = preprocess_for(info)(natural_image()).unsqueeze(0)
    return [(torch.randn(batch, c, h, w, generator=gen),), (natural,), (torch.randn(1, c, h, w, generator=gen),)]


def text_inputs(info: ModelInfo, folder: Path | None, vocab: int) -> list[tuple[Any, ...]]:
    """Parity inputs for a text encoder: real sentences through its tokenizer (if pinned), random ids with padding."""
    import torch

    inputs: list[tuple[Any, ...]] = []
    if folder is not None and info.input is not None and info.input.tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        batch = tok(list(SENTENCES), padding=True, return_tensors="pt")
        inputs.append((batch["input_ids"], batch["attention_mask"]))
        one = tok(SENTENCES[:1], return_tensors="pt")
        inputs.append((one["input_ids"], one["attention_mask"]))
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, max(2, min(vocab, 1000)), (2, 13), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    inputs.append((ids, mask))
    return inputs


def image_batches(arrays: list[Any], size: int) -> list[tuple[Any, ...]]:
    """Preprocessed images (C, H, W) stacked into float32 batches of ``size`` (the last may be smaller)."""
    import numpy as np

    return [(np.stack(arrays[i : i + size]).astype(np.float32),) for i in range(0, len(arrays), size)]


def generated_images(info: ModelInfo, count: int = 32) -> list[Any]:
    """``count`` varied natural-looking images (sizes, mirrored), preprocessed for ``info``: calibration without data."""
    import numpy as np

    transform, rng = preprocess_for(info), np.random.default_rng(0)
    arrays = []
    for seed in range(count):
        image = natural_image((int(rng.integers(200, 320)), int(rng.integers(240, 400))), seed=seed)
        if seed % 2:
            image = image[:, ::-1].copy()
        arrays.append(transform.array(image))
    return arrays


def tokenized(info: ModelInfo, texts: list[str], tokenizer: Any, size: int) -> list[tuple[Any, ...]]:
    """``texts`` through ``tokenizer`` in batches of ``size``: (input_ids, attention_mask) torch tensors."""
    max_length = info.input.max_length if info.input is not None and info.input.max_length else tokenizer.model_max_length
    out = []
    for i in range(0, len(texts), size):
        batch = tokenizer(texts[i : i + size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        out.append((batch["input_ids"], batch["attention_mask"]))
    return out
