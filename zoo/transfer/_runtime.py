"""The embedding runtime: a batch of dataset items in, one pooled vector per item and stage out.

An :class:`Encoder` holds what it needs to run anywhere (a Ray worker
builds its own from the same fields): the resolved version, the stages, the
pooling, and for the ``onnx`` runtime the exported cut model's file (from the
export cache, parity-checked when it was written). Preprocessing is the
registry's: :func:`zoo.preprocess` for images (resize, crop_pct,
interpolation, mean/std), :func:`zoo.tokenizer` for texts (max_length,
padding to the longest text of the batch, truncation). An image that cannot
be decoded is returned as skipped, with the reason, never raised.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.datasets import Item, Skipped, load_image
from zoo.errors import DatasetError, InvalidOptionError
from zoo.registry import ModelInfo, load_catalog
from zoo.transfer._pooling import check_pool, default_pool, pool

__all__ = ["RUNTIMES", "Encoder", "Encoded", "encoder_for"]

RUNTIMES = ("onnx", "torch")


@dataclass
class Encoded:
    """One encoded batch: the items kept, a ``(N, D)`` float32 array per stage, the items skipped."""

    items: list[Item]
    vectors: dict[str, Any]
    skipped: list[Skipped]


@dataclass
class Encoder:
    """Runs a cut model over batches of items.

    Attributes:
        info: The resolved model version.
        stages: The stages to return (canonical names), in order.
        pool: The pooling (see :mod:`zoo.transfer._pooling`).
        runtime: ``onnx`` (ONNX Runtime on the exported cut) or ``torch``.
        onnx_path: The exported cut (``onnx`` runtime).
        threads: Intra-op threads (None: the runtime's default).
        registries, offline: As for :func:`zoo.pull` (a worker resolves the same files).
    """

    info: ModelInfo
    stages: tuple[str, ...]
    pool: str
    runtime: str = "onnx"
    onnx_path: str | None = None
    threads: int | None = None
    registries: tuple[str, ...] = ()
    offline: bool | None = None
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # Sessions, modules and tokenizers are rebuilt where the encoder runs (a Ray worker).
        return {**self.__dict__, "_state": {}}

    def encode(self, items: Sequence[Item]) -> Encoded:
        """Preprocesses, runs and pools one batch."""
        if self.info.modality == "text":
            kept, skipped = [i for i in items if i.text], [Skipped(i.id, "empty text") for i in items if not i.text]
            inputs = self._tokenize([i.text for i in kept]) if kept else None  # type: ignore[misc]
        else:
            kept, skipped, inputs = self._images(items)
        if not kept:
            return Encoded([], {}, skipped)
        outputs = self._run(inputs)
        mask = inputs[1] if self.info.modality == "text" else None  # type: ignore[index]
        vectors = {stage: pool(out, self.pool, mask) for stage, out in zip(self.stages, outputs)}
        return Encoded(kept, vectors, skipped)

    # ---- preprocessing ----------------------------------------------------------------------

    def _images(self, items: Sequence[Item]) -> tuple[list[Item], list[Skipped], Any]:
        import numpy as np

        from zoo.adapters._inputs import (
            preprocess_for,  # numpy only: a Ray actor need not import torch
        )

        transform = self._state.get("preprocess") or self._state.setdefault("preprocess", preprocess_for(self.info))
        kept, skipped, arrays = [], [], []
        for item in items:
            try:
                image = load_image(item)
            except DatasetError as exc:
                skipped.append(Skipped(item.id, str(exc)))
                continue
            arrays.append(transform.array(image))
            kept.append(item)
        return kept, skipped, (np.stack(arrays).astype(np.float32),) if arrays else None

    def _tokenize(self, texts: list[str]) -> tuple[Any, Any]:
        tok = self._state.get("tokenizer")
        if tok is None:
            from zoo.features import tokenizer

            tok = self._state["tokenizer"] = tokenizer(self.info.id, registries=list(self.registries), offline=self.offline)
        max_length = self.info.input.max_length if self.info.input is not None else None
        batch = tok(texts, padding=True, truncation=True, max_length=max_length or tok.model_max_length, return_tensors="np")
        return batch["input_ids"].astype("int64"), batch["attention_mask"].astype("int64")

    # ---- running ----------------------------------------------------------------------------

    def _run(self, inputs: Any) -> list[Any]:
        if self.runtime == "onnx":
            sess = self._state.get("session")
            if sess is None:
                from zoo.adapters._onnx import ort_session

                sess = self._state["session"] = ort_session(str(self.onnx_path), self.threads)
            names = [i.name for i in sess.get_inputs()]
            if self.info.modality == "text":
                given = {"input_ids": inputs[0], "attention_mask": inputs[1]}
                feeds = {n: given[n] for n in names if n in given} or dict(zip(names, inputs))
            else:
                feeds = dict(zip(names, inputs))
            return list(sess.run(None, feeds))
        import torch

        module = self._state.get("module")
        if module is None:
            from zoo.features import load

            if self.threads:
                torch.set_num_threads(self.threads)
            until = list(self.stages) if len(self.stages) > 1 else self.stages[0]
            module = self._state["module"] = load(self.info.id, until, registries=list(self.registries), offline=self.offline)
        with torch.inference_mode():
            out = module(*(torch.from_numpy(x) for x in inputs))
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return [o.float().numpy() for o in outs]


def encoder_for(
    model_id: str,
    until: str | Sequence[str] | None = None,
    *,
    pool_: str | None = None,
    runtime: str = "onnx",
    threads: int | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    progress: Any = None,
) -> Encoder:
    """Resolves the model and its stages and, for the ``onnx`` runtime, exports the cut (cached).

    Args:
        model_id: ``[family/]name[@version]``.
        until: A stage, several stages (one vector per stage), or None (the
            whole feature trunk: the last main stage).
        pool_: The pooling; None: ``avg`` for images, ``mean`` for texts.
        runtime: ``onnx`` or ``torch``.
        threads, registries, offline, progress: As for :func:`zoo.export`.

    Raises:
        StageNotFoundError: A stage is not one of the architecture's.
        DatasetError: The pooling does not apply to a stage's output (``cls``
            on a feature map, ``none`` on tokens of texts), known from the
            stage's measured shape before anything is exported.
        ValueError: Unknown runtime or pooling.
    """
    from zoo.features import cut_for

    if runtime not in RUNTIMES:
        raise InvalidOptionError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    info = load_catalog(registries).info(model_id)
    how = check_pool(pool_ or default_pool(info.modality))
    cut = cut_for(info, until)
    _check_pool_fits(info, cut.stages, how)
    stages = cut.names or (cut.label,)
    regs = tuple(os.fspath(r) for r in registries or ())
    onnx_path = None
    if runtime == "onnx":
        from zoo import _settings
        from zoo.exporter import export

        stem = "-".join(stages)
        if len(stem) > 80:  # probing every stage of a deep model: keep the file name under the 255-byte limit
            stem = f"{len(stages)}stages-{hashlib.sha256(stem.encode()).hexdigest()[:16]}"
        target = _settings.home() / "sessions" / f"{info.name}-{info.version}-{stem}.onnx".replace("/", "_")
        result = export(info.id, list(stages) if len(stages) > 1 else stages[0], target, registries=registries, offline=offline, progress=progress)
        onnx_path = str(Path(result.path))
    return Encoder(info, tuple(stages), how, runtime, onnx_path, threads, regs, offline)


def _check_pool_fits(info: ModelInfo, stages: Sequence[Any], how: str) -> None:
    """Refuses, before the export, a pooling that :func:`pool` would refuse on the first batch."""
    for stage in stages:
        shape = tuple(stage.shape or ())  # without the batch axis; () when not measured
        if how in ("cls", "mean") and len(shape) >= 3:
            raise DatasetError(
                f"pooling {how!r} is for token sequences; {info.id} at {stage.name} gives feature maps {shape}: use avg or max",
                field="pool",
            )
        if how == "none" and info.modality == "text" and len(shape) == 2:
            raise DatasetError("pooling 'none' needs a fixed-size output; texts vary in length: use mean, cls or max", field="pool")
