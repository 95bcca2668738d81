"""ONNX Runtime sessions over exported cut models, exported on first use."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import _layout, _locks
from zoo._ort import ort_session
from zoo.adapters import modality_of
from zoo.errors import WeightsError
from zoo.exporter._export import export
from zoo.exporter._files import read_metadata
from zoo.registry import load_catalog

__all__ = ["Session", "session"]


@dataclass
class Session:
    """An ONNX Runtime session over an exported cut model, with its preprocessing.

    Attributes:
        session: The ``onnxruntime.InferenceSession``.
        path: The ONNX file (in the export cache).
        metadata: Its ``zoo.*`` metadata.
        preprocess: Image -> tensor for vision models, else None.
        tokenizer: The tokenizer for text models with pinned tokenizer files, else None.
    """

    session: Any
    path: Path
    metadata: dict[str, str]
    preprocess: Callable[[Any], Any] | None = None
    tokenizer: Any = None

    def __call__(self, *inputs: Any) -> Any:
        """Runs the model on numpy arrays (or torch tensors) given in input order."""
        import numpy as np

        names = [i.name for i in self.session.get_inputs()]
        feeds = {n: (x.numpy() if hasattr(x, "numpy") else np.asarray(x)) for n, x in zip(names, inputs)}
        return self.session.run(None, feeds)[0]


@_locks.uses_cache
def session(
    model_id: str,
    until: str | Sequence[str] | None = None,
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    **export_options: Any,
) -> Session:
    """Returns an ONNX Runtime session for a cut model, exporting it on first use (cached after)."""
    from zoo import features

    info = load_catalog(registries).info(model_id)
    stem = (until if isinstance(until, str) else "-".join(until)) if until else "trunk"
    target = _layout.current().session(f"{info.name}-{info.version}-{stem}.onnx".replace("/", "_"))
    result = export(model_id, until, target, registries=registries, offline=offline, **export_options)
    modality = modality_of(info)
    pre = modality.transform(info)
    tok = None
    if modality.tokens and info.input is not None and info.input.tokenizer:
        try:
            tok = features.tokenizer(info.id, registries=registries, offline=offline)
        except WeightsError:
            tok = None
    return Session(ort_session(result.path.read_bytes()), result.path, read_metadata(result.path), pre, tok)
