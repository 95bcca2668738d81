"""Pooling a cut model's output into one vector per input, the same for every runtime and engine.

A cut model returns a feature map ``(N, C, H, W)`` (CNNs; ``(N, C, T, H, W)``
for video), a token sequence ``(N, T, D)`` (transformers, ViTs) or an
already pooled ``(N, D)``. ``pool`` turns any of them into ``(N, D)``
float32:

* ``avg`` / ``max``: over the spatial (and time) axes of a map, or over the
  tokens of a sequence (padding excluded when a mask is given);
* ``mean``: the mask-weighted mean over tokens;
* ``cls``: the first real token (the first position the mask keeps);
* ``mean_sqrt_len``: the masked sum over tokens divided by the square root of their count;
* ``weightedmean``: the mean weighted by position (1 for the first real token, 2 for the next...);
* ``lasttoken``: the last real token (decoder embedders; left or right padding);
* ``none``: the output flattened (fixed-size outputs only).

Several token poolings joined by ``+`` (``cls+mean``) are computed apart and
concatenated in that order, as sentence-transformers does when a
``1_Pooling/config.json`` turns several modes on. The token rules are
sentence-transformers' own (``sentence_transformers/.../pooling.py``,
checked against it by the tests), including ``prompt_length``: with
``include_prompt: false`` the prompt's tokens are masked out of the pooling
(weighted mean keeps the others' position weights).

The classifier export (:mod:`zoo.transfer._classifier`) builds the same
operations as ONNX nodes; both are checked against each other.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import DatasetError, InvalidOptionError

__all__ = ["POOLS", "TOKEN_POOLS", "default_pool", "pool", "check_pool", "pool_modes", "normalize"]

POOLS = ("avg", "max", "mean", "cls", "none", "mean_sqrt_len", "weightedmean", "lasttoken")
# The poolings that read token sequences only (a feature map has no tokens).
TOKEN_POOLS = ("mean", "cls", "mean_sqrt_len", "weightedmean", "lasttoken")


def default_pool(modality: str) -> str:
    """The pooling of a modality (``vision``, ``text``) when none is asked for: ``avg`` for images, ``mean`` for texts."""
    from zoo.adapters import modality_named

    return modality_named(modality).default_pool


def pool_modes(how: str) -> tuple[str, ...]:
    """The poolings a name stands for: ``("cls", "mean")`` for ``cls+mean``, ``("avg",)`` for ``avg``."""
    return tuple(how.split("+"))


def check_pool(how: str) -> str:
    """Returns ``how`` if it is a pooling name (or token poolings joined by ``+``), else raises naming the choices."""
    modes = pool_modes(how) if isinstance(how, str) else (how,)
    for mode in modes:
        if mode not in POOLS:
            raise InvalidOptionError(f"unknown pooling {mode!r}; use one of {', '.join(POOLS)}")
    if len(modes) > 1 and not set(modes) <= set(TOKEN_POOLS) | {"max", "avg"}:
        raise InvalidOptionError(f"pooling {how!r}: only token poolings combine with '+' (none stands alone)")
    if len(set(modes)) != len(modes):
        raise InvalidOptionError(f"pooling {how!r} names a pooling twice")
    return how


def normalize(vectors: Any) -> Any:
    """Each row divided by its L2 norm (at least 1e-12, as torch's ``F.normalize``), float32."""
    import numpy as np

    x = np.asarray(vectors, dtype=np.float32)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _without_prompt(mask: Any, prompt_length: int) -> Any:
    """The mask with the prompt's tokens zeroed (sentence-transformers' ``_exclude_prompt_from_mask``)."""
    import numpy as np

    m = mask.copy()
    pads = np.argmax(mask > 0, axis=1)  # left padding before each row's first token
    if pads.sum() == 0:
        m[:, :prompt_length] = 0
    else:
        m[np.arange(m.shape[1])[None, :] < (pads + prompt_length)[:, None]] = 0
    return m


def _token_pool(x: Any, mode: str, m: Any, original: Any) -> Any:
    """One token pooling of ``x`` (N, T, D) under mask ``m`` (N, T) float32 (``original``: before the prompt was cut)."""
    import numpy as np

    n, t, d = x.shape
    if mode == "cls":
        return x[np.arange(n), np.argmax(m > 0, axis=1)]
    if mode == "max":
        return np.where(m[..., None] > 0, x, -np.inf).max(axis=1)
    if mode in ("mean", "avg", "mean_sqrt_len"):
        total = (x * m[..., None]).sum(axis=1)
        count = np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
        return total / (np.sqrt(count) if mode == "mean_sqrt_len" else count)
    if mode == "weightedmean":
        pads = np.argmax(original > 0, axis=1)
        weights = m * (np.arange(1, t + 1, dtype=np.float32)[None, :] - pads[:, None])
        return (x * weights[..., None]).sum(axis=1) / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    # lasttoken: the last position the mask keeps (position 0 of an all-padding row, which the mask zeroes).
    flipped = m[:, ::-1] > 0
    last = np.where(flipped.any(axis=1), t - 1 - np.argmax(flipped, axis=1), 0)
    return x[np.arange(n), last] * m[np.arange(n), last][:, None]


def pool(output: Any, how: str, mask: Any = None, *, prompt_length: int = 0) -> Any:
    """Pools one batch of a cut model's output into ``(N, D)`` float32.

    Args:
        output: The output as a numpy array (or anything ``np.asarray`` takes).
        how: One of :data:`POOLS`, or token poolings joined by ``+`` (concatenated in that order).
        mask: For token sequences, the attention mask ``(N, T)`` (1 = token, 0 = padding).
        prompt_length: Tokens of a prompt at the start of every text to leave out
            of the pooling (sentence-transformers' ``include_prompt: false``); 0 keeps them.

    Returns:
        ``(N, D)`` float32, C-contiguous: ``D`` is the channels of a map, the
        width of a token (times the poolings combined), the product of the shape for ``none``.

    Raises:
        DatasetError: The pooling does not apply to this output (a token
            pooling on a feature map, ``none`` on padded tokens).
        ValueError: ``how`` is not a pooling, the output has no batch axis,
            or the mask does not fit the tokens.
    """
    import numpy as np

    check_pool(how)
    modes = pool_modes(how)
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
        original = np.ones(x.shape[:2], np.float32) if mask is None else np.asarray(mask, np.float32)
        m = _without_prompt(original, prompt_length) if prompt_length else original
        parts = [_token_pool(x, mode, m, original) for mode in modes]
        return np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0], dtype=np.float32)
    tokens_only = [mode for mode in modes if mode in TOKEN_POOLS]
    if tokens_only:
        raise DatasetError(
            f"pooling {tokens_only[0]!r} is for token sequences; this output is a feature map {tuple(x.shape)}: use avg or max", field="pool"
        )
    axes = tuple(range(2, x.ndim))  # (N, C, H, W) or (N, C, T, H, W)
    parts = [(x.max(axis=axes) if mode == "max" else x.mean(axis=axes)).astype(np.float32) for mode in modes]
    return np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])
