"""Models as truncatable feature extractors: ``load``, ``stages``, ``preprocess``, ``tokenizer``.

``load("resnet50", until="layer3")`` pulls the version if needed (verified
files in the cache), builds the architecture through its framework adapter,
loads the weights safely, and cuts the network after the named stage, so the
later layers are not even kept in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.adapters import get_adapter
from zoo.errors import StageNotFoundError, WeightsError
from zoo.registry import ModelInfo, load_catalog
from zoo.resolve import pull

__all__ = ["Stage", "stages", "load", "load_vectors", "preprocess", "tokenizer", "resolve_stage", "count_params", "measure_stage", "dummy_inputs", "preprocess_for"]

Registries = Sequence[str | os.PathLike[str]] | None


@dataclass(frozen=True)
class Stage:
    """A point where a model can be cut.

    Attributes:
        name: The module name, as the framework names it (``layer3``,
            ``Mixed_6e``, ``encoder.layer.2``).
        channels: Channels (or hidden size) of its output.
        stride: Its output's reduction relative to the input (1 for text).
        aliases: Other accepted names.
    """

    name: str
    channels: int
    stride: int
    aliases: tuple[str, ...] = ()


def stages(model_id: str, *, registries: Registries = None) -> list[Stage]:
    """Returns the stages of a model version, input first.

    Example:
        >>> [s.name for s in stages("resnet50")][-2:]
        ['layer3', 'layer4']
    """
    info = load_catalog(registries).info(model_id)
    return [Stage(s["name"], s["channels"], s["stride"], tuple(s.get("aliases", ()))) for s in info.stages]


def resolve_stage(info: ModelInfo, until: str | None) -> dict[str, Any] | None:
    """Returns the registry stage named ``until`` (name or alias); the last stage for None."""
    if not info.stages:
        if until is None:
            return None
        raise StageNotFoundError(info.id, until, [])
    if until is None:
        return info.stages[-1]
    for stage in info.stages:
        if until == stage["name"] or until in stage.get("aliases", ()):
            return stage
    valid = [s["name"] for s in info.stages]
    raise StageNotFoundError(info.id, until, valid)


def load(
    model_id: str,
    until: str | None = None,
    *,
    head: bool = False,
    pretrained: bool = True,
    vocab: int | None = None,
    registries: Registries = None,
    offline: bool | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Returns a model version as a torch module (eval mode), cut after a stage.

    Args:
        model_id: ``[family/]name[@version]``.
        until: The last stage to keep (name or alias; ``zoo.stages`` lists
            them). None keeps the whole feature trunk, without the classifier.
        head: Keep the classifier too (the whole model); ``until`` must be None.
        pretrained: Load the registry's weights (pulling them if needed);
            False builds the architecture with random weights.
        vocab: Word-vector models only: keep the ``vocab`` most frequent words.
        registries, offline, progress: As for :func:`zoo.pull`.

    Returns:
        A ``torch.nn.Module`` (an ONNX Runtime callable for ONNX models) whose
        output is the stage's tensor: (N, C, H, W) for vision, (N, T, H) for
        text. It has ``zoo_model``, ``zoo_stage`` and ``zoo_input`` attributes.

    Raises:
        StageNotFoundError: ``until`` is not a stage; lists the valid ones.
        WeightsError: The weights are unsafe or do not fit the architecture.
    """
    info = load_catalog(registries).info(model_id)
    if head and until is not None:
        raise ValueError("head=True keeps the whole model; do not combine it with until=")
    stage = None if head else resolve_stage(info, until)
    if vocab is not None and info.adapter != "word-vectors":
        raise ValueError(f"vocab= applies to word-vector models; {info.id} is a {info.adapter} model")
    folder = pull(info.id, registries=registries, offline=offline, progress=progress) if pretrained else None
    adapter = get_adapter(info.adapter)
    extra = {"vocab": vocab} if vocab is not None else {}
    return adapter.build(info, folder, stage, head=head, **extra)


def load_vectors(
    model_id: str, *, vocab: int | None = None, registries: Registries = None, offline: bool | None = None
) -> Any:
    """Returns a word-vector model as :class:`zoo.vectors.KeyedVectors` (memory-mapped).

    The published file is pulled and verified, then parsed once into a safe
    cached form (safetensors matrix + vocabulary); later calls map that.

    Example:
        >>> kv = load_vectors("glove-wiki-gigaword-100")  # doctest: +SKIP
        >>> kv.most_similar("king", topn=3)  # doctest: +SKIP
    """
    info = load_catalog(registries).info(model_id)
    if info.adapter != "word-vectors":
        raise ValueError(f"{info.id} is a {info.adapter} model, not word vectors; use zoo.load")
    from zoo.adapters._word_vectors import cached_vectors

    kv = cached_vectors(info, pull(info.id, registries=registries, offline=offline))
    return kv.trimmed(vocab) if vocab is not None else kv


def count_params(module: Any) -> int | None:
    """Number of parameters of a torch module (None for other callables)."""
    parameters = getattr(module, "parameters", None)
    return sum(p.numel() for p in parameters()) if parameters is not None else None


def dummy_inputs(info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
    """Zero inputs of the registry's input shape: an image batch, or token ids and a mask."""
    import torch

    spec = info.input or {}
    if info.modality == "vision":
        return (torch.zeros(batch, *spec["shape"]),)
    ids = torch.ones(batch, seq_len, dtype=torch.long)
    if info.adapter == "word-vectors":
        return (ids,)
    return ids, torch.ones(batch, seq_len, dtype=torch.long)


def measure_stage(model_id: str, until: str | None, *, registries: Registries = None) -> tuple[list[int], int | None]:
    """Builds the cut architecture with random weights (nothing is downloaded) and measures it.

    Returns:
        (output shape for one dummy input at the registry's input size, parameter count of the cut).
    """
    import torch

    module = load(model_id, until, pretrained=False, registries=registries)
    info = load_catalog(registries).info(model_id)
    with torch.no_grad():
        out = module(*dummy_inputs(info))
    return list(out.shape), count_params(module)


_INTERPOLATION = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


class _Preprocess:
    """Image -> normalized tensor (C, H, W): resize, center crop, scale to [0, 1], normalize."""

    def __init__(self, spec: dict[str, Any], model: str):
        self.model = model
        channels, self.height, self.width = spec["shape"]
        self.mean = spec["mean"]
        self.std = spec["std"]
        self.crop_pct = spec.get("crop_pct") or 1.0
        self.resample = _INTERPOLATION[spec.get("interpolation") or "bilinear"]

    def __repr__(self) -> str:
        return (
            f"preprocess({self.model}: resize {int(self.height / self.crop_pct)}, crop {self.height}x{self.width}, "
            f"mean={self.mean}, std={self.std})"
        )

    def __call__(self, image: Any) -> Any:
        import numpy as np
        import torch
        from PIL import Image

        if not isinstance(image, Image.Image):
            array = np.asarray(image)
            if array.dtype != np.uint8 or array.ndim not in (2, 3):
                raise ValueError(
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
        x = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1) / 255.0
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        return (x - mean) / std


def preprocess(model_id: str, *, registries: Registries = None) -> Callable[[Any], Any]:
    """Returns the model's input transform, from the registry's input spec.

    The callable takes a PIL image or a uint8 array (H, W, 3) and returns a
    float tensor (3, H, W), resized, center-cropped and normalized as the
    weights expect.
    """
    return preprocess_for(load_catalog(registries).info(model_id))


def preprocess_for(info: ModelInfo) -> Callable[[Any], Any]:
    """:func:`preprocess` for a resolved :class:`ModelInfo`."""
    spec = info.input or {}
    if not spec.get("shape") or spec.get("mean") is None:
        raise WeightsError(f"{info.id} has no image input spec (it is a {info.modality} model); use zoo.tokenizer for text")
    return _Preprocess(spec, info.id)


def tokenizer(model_id: str, *, registries: Registries = None, offline: bool | None = None) -> Any:
    """Returns the model's tokenizer, built from its cached tokenizer files (pulled if needed)."""
    info = load_catalog(registries).info(model_id)
    spec = info.input or {}
    if not spec.get("tokenizer"):
        raise WeightsError(
            f"{info.id}: the registry pins no tokenizer file for this version, so no verified tokenizer can be built"
        )
    from transformers import AutoTokenizer

    folder: Path = pull(info.id, registries=registries, offline=offline)
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    if spec.get("max_length"):
        tok.model_max_length = spec["max_length"]
    return tok
