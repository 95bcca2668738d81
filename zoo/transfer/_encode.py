"""``zoo.encode``: texts to sentence embeddings in memory, as the model's sentence-transformers files define them.

``zoo.encode("all-minilm-l6-v2", ["A man plays a guitar."])`` equals
``SentenceTransformer(folder).encode(...)`` on the same pulled folder: the
same pooling, normalization, truncation, lowercasing and prompt (see
:mod:`zoo.transfer._runtime`), on ONNX Runtime (the exported, parity-checked
cut) or torch. Texts are batched as sentence-transformers batches them
(longest first), so each text meets the same padding in both; the rows come
back in the order given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from zoo.errors import InvalidOptionError

__all__ = ["encode"]


def encode(
    model_id: str,
    texts: str | Sequence[str],
    *,
    prompt: str | None = None,
    prompt_text: str | None = None,
    normalize: bool | None = None,
    pool: str | None = None,
    batch_size: int = 32,
    runtime: str = "onnx",
    threads: int | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
) -> Any:
    """Embeds texts with a text model's whole encoder; returns ``(N, D)`` float32 (``(D,)`` for one string).

    Args:
        model_id: ``[family/]name[@version]`` of a text model.
        texts: A list of texts, or one text.
        prompt: The name of one of the model's prompts (``query``, ``passage``);
            None: its ``default_prompt_name``, if it has one.
        prompt_text: The prompt's text itself (wins over ``prompt``).
        normalize: L2-normalize (None: as the model's ``modules.json`` says).
        pool: Another pooling than the model's own (see :func:`zoo.embed`).
        batch_size: Texts per forward pass.
        runtime: ``onnx`` (ONNX Runtime on the exported encoder, cached) or ``torch``.
        threads, registries, offline: As for :func:`zoo.embed`.

    Example:
        >>> vectors = zoo.encode("all-minilm-l6-v2", ["A man plays a guitar.", "Bonds rallied."])  # doctest: +SKIP
        >>> vectors.shape  # doctest: +SKIP
        (2, 384)

    Raises:
        InvalidOptionError: Not a text model, an unknown prompt name, or a bad batch size.
        RemoteCodeError: The model needs its publisher's code.
        UnsupportedModelError: Its sentence-transformers modules are not ones zoo reproduces.
    """
    import numpy as np

    from zoo.adapters import modality_of
    from zoo.registry import load_catalog
    from zoo.transfer._runtime import encoder_for

    if batch_size < 1:
        raise InvalidOptionError("batch_size must be positive")
    single = isinstance(texts, str)
    items = [texts] if single else list(texts)
    if not all(isinstance(t, str) for t in items):
        raise InvalidOptionError("encode takes a text or a list of texts (str)")
    info = load_catalog(registries).info(model_id)
    if not modality_of(info).tokens:
        raise InvalidOptionError(f"{info.id} is a {info.modality} model; zoo.encode embeds texts (use zoo.embed for images)")
    encoder = encoder_for(
        model_id, None, pool_=pool, runtime=runtime, threads=threads, registries=registries, offline=offline,
        prompt=prompt, prompt_text=prompt_text, normalize=normalize,
    )
    if not items:
        return np.zeros((0, 0), np.float32)
    # sentence-transformers' batches: longest (in characters) first, sorted the way it sorts them.
    order = np.argsort([-len(t) for t in items])
    rows: list[Any] = [None] * len(items)
    stage = encoder.stages[0]
    for start in range(0, len(items), batch_size):
        chunk = order[start : start + batch_size]
        vectors = encoder.texts([items[i] for i in chunk])[stage]
        for i, row in zip(chunk, vectors):
            rows[i] = row
    out = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
    return out[0] if single else out
