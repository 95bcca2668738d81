"""Pooling a cut model's output into one vector per input, the same for every runtime and engine.

A cut model returns a feature map ``(N, C, H, W)`` (CNNs; ``(N, C, T, H, W)``
for video), a token sequence ``(N, T, D)`` (transformers, ViTs) or an
already pooled ``(N, D)``. ``pool`` turns any of them into ``(N, D)``
float32:

* ``avg`` / ``max``: over the spatial (and time) axes of a map, or over the
  tokens of a sequence (padding excluded when a mask is given);
* ``mean``: the mask-weighted mean over tokens (sentence-transformers' rule);
* ``cls``: the first token;
* ``none``: the output flattened (fixed-size outputs only).

The classifier export (:mod:`zoo.transfer._classifier`) builds the same
operations as ONNX nodes; both are checked against each other.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import DatasetError, InvalidOptionError

__all__ = ["POOLS", "default_pool", "pool", "check_pool"]

POOLS = ("avg", "max", "mean", "cls", "none")


def default_pool(modality: str) -> str:
    """``avg`` for images, ``mean`` for texts."""
    return "mean" if modality == "text" else "avg"


def check_pool(how: str) -> str:
    """Returns ``how`` if it is a pooling name, else raises ValueError naming the choices."""
    if how not in POOLS:
        raise InvalidOptionError(f"unknown pooling {how!r}; use one of {', '.join(POOLS)}")
    return how


def pool(output: Any, how: str, mask: Any = None) -> Any:
    """Pools one batch of a cut model's output into ``(N, D)`` float32.

    Args:
        output: The output as a numpy array (or anything ``np.asarray`` takes).
        how: One of :data:`POOLS`.
        mask: For token sequences, the attention mask ``(N, T)`` (1 = token, 0 = padding).

    Returns:
        ``(N, D)`` float32, C-contiguous: ``D`` is the channels of a map, the
        width of a token, the product of the shape for ``none``.

    Raises:
        DatasetError: The pooling does not apply to this output (``cls`` or
            ``mean`` on a feature map, ``none`` on padded tokens).
        ValueError: ``how`` is not a pooling, the output has no batch axis,
            or the mask does not fit the tokens.
    """
    import numpy as np

    check_pool(how)
    x = np.asarray(output, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"a model output of shape {x.shape} has no batch axis; pool takes (N, ...) with one vector per input")
    n = x.shape[0]
    if x.ndim == 2:
        return np.ascontiguousarray(x)  # already one vector per input
    if mask is not None and x.ndim == 3 and np.shape(mask) != x.shape[:2]:
        raise ValueError(f"an attention mask of shape {np.shape(mask)} does not fit the tokens {x.shape}; it must be (N, T)")
    if how == "none":
        if mask is not None and x.ndim == 3:
            raise DatasetError("pooling 'none' needs a fixed-size output; texts vary in length: use mean, cls or max", field="pool")
        return x.reshape(n, -1)
    if x.ndim == 3:  # tokens (N, T, D)
        if how == "cls":
            return np.ascontiguousarray(x[:, 0, :])
        m = np.ones(x.shape[:2], np.float32) if mask is None else np.asarray(mask, np.float32)
        if how == "max":
            return np.where(m[..., None] > 0, x, -np.inf).max(axis=1).astype(np.float32)
        # avg and mean: the mean over real tokens (the clamp keeps an all-padding row finite).
        return ((x * m[..., None]).sum(axis=1) / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)
    if how in ("cls", "mean"):
        raise DatasetError(f"pooling {how!r} is for token sequences; this output is a feature map {tuple(x.shape)}: use avg or max", field="pool")
    axes = tuple(range(2, x.ndim))  # (N, C, H, W) or (N, C, T, H, W)
    return (x.max(axis=axes) if how == "max" else x.mean(axis=axes)).astype(np.float32)
