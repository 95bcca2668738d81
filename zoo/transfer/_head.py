"""A fitted linear classification head, kept as plain arrays and saved as safetensors.

A :class:`Head` is what ``zoo probe --save-head`` leaves behind: the
standardisation (``mean``, ``scale``) and the linear layer (``weight``,
``bias``) of a scaler + logistic-regression probe, plus the model, stage and
pooling the features came from. It needs neither scikit-learn nor torch to
predict: ``softmax(((x - mean) / scale) @ weight.T + bias)``.

The file holds four float32 tensors and string metadata, nothing else::

    head.safetensors
    ├── mean     (D,)    the scaler's mean
    ├── scale    (D,)    the scaler's scale (zero spreads already replaced by 1)
    ├── weight   (K, D)  one row per class
    ├── bias     (K,)
    └── metadata         format="zoo.head", format_version="1",
                         classes=<JSON list>, model, stage, pool, scores=<JSON object>

Design note: the arrays are held as float32 in memory too, so a head that was
saved and loaded again is exactly the head that was fitted. Arithmetic is done
in float64. Loading never unpickles: a file that is not safetensors is refused
from its first bytes.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> head = Head(
    ...     classes=("cat", "dog"), mean=np.zeros(2), scale=np.ones(2),
    ...     weight=np.array([[0.0, 0.0], [1.0, -1.0]]), bias=np.zeros(2),
    ...     model="resnet50@a1_in1k", stage="layer4", pool="avg", scores={},
    ... )
    >>> head.predict(np.array([[2.0, 0.0], [0.0, 2.0]]))
    ['dog', 'cat']
    >>> path = head.save(pathlib.Path(tempfile.mkdtemp()) / "head.safetensors")
    >>> Head.load(path).classes
    ('cat', 'dog')
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo import _atomic
from zoo.errors import DatasetError, WeightsError

__all__ = ["HEAD_FORMAT", "HEAD_FORMAT_VERSION", "MAX_HEAD_BYTES", "Head"]

HEAD_FORMAT = "zoo.head"
HEAD_FORMAT_VERSION = "1"
MAX_HEAD_BYTES = 1 << 30  # a linear head is tiny; anything bigger is not one
_TENSORS = ("mean", "scale", "weight", "bias")
_HINT = "The file should come from 'zoo probe --save-head'; run it again to write a new one."


@dataclass(frozen=True, eq=False)
class Head:
    """A scaler + linear classifier fitted on features of one model cut.

    Attributes:
        classes: The class names, in the order of ``weight``'s rows.
        mean: ``(D,)`` the scaler's mean.
        scale: ``(D,)`` the scaler's scale (``StandardScaler.scale_``).
        weight: ``(K, D)`` one row per class.
        bias: ``(K,)``.
        model: The model id the features came from (``resnet50@a1_in1k``).
        stage: The stage the model was cut at.
        pool: How the stage's output was pooled into a vector (``avg``...).
        scores: How the probe scored under cross-validation (``accuracy``,
            ``accuracy_std``, ``macro_f1``, ``folds``...); may be empty.

    Raises:
        WeightsError: On construction, when the shapes disagree or a value is
            not finite.
    """

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    model: str
    stage: str
    pool: str
    scores: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the fields once, here
        set_(self, "classes", tuple(str(c) for c in self.classes))
        set_(self, "scores", dict(self.scores))
        for name in _TENSORS:
            array = np.array(getattr(self, name), dtype=np.float32, copy=True)
            array.setflags(write=False)
            set_(self, name, array)
        problem = _inconsistency(self.classes, {name: getattr(self, name) for name in _TENSORS})
        if not problem and not _finite_numbers(self.scores):
            problem = f"scores {self.scores} should map names to finite numbers"
        if problem:
            raise WeightsError(f"Invalid head for {self.model} at {self.stage}: {problem}.")

    @property
    def dims(self) -> int:
        """The feature width ``D`` the head expects."""
        return int(self.weight.shape[1])

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the weight and bias with the scaler folded in.

        Returns:
            ``(W', b')``, float64, with ``W' = W / scale`` and
            ``b' = b - W' @ mean``, so that ``logits = x @ W'.T + b'`` on raw
            features (one matrix product, e.g. for a fused ONNX layer).
        """
        weight = self.weight.astype(np.float64) / self.scale.astype(np.float64)
        bias = self.bias.astype(np.float64) - weight @ self.mean.astype(np.float64)
        return weight, bias

    def logits(self, features: Any) -> np.ndarray:
        """Returns the class scores before the softmax.

        Args:
            features: ``(N, D)`` features of the same cut the head was fitted on.

        Returns:
            ``(N, K)`` float64 logits.

        Raises:
            DatasetError: When ``features`` is not ``(N, D)``.
        """
        x = self._check_features(features)
        standard = (x - self.mean.astype(np.float64)) / self.scale.astype(np.float64)
        return standard @ self.weight.T.astype(np.float64) + self.bias.astype(np.float64)

    def predict_proba(self, features: Any) -> np.ndarray:
        """Returns the class probabilities (a softmax of :meth:`logits`, computed stably).

        Args:
            features: ``(N, D)`` features.

        Returns:
            ``(N, K)`` float64 probabilities, each row summing to 1, columns in
            the order of :attr:`classes`.
        """
        z = self.logits(features)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict(self, features: Any) -> list[str]:
        """Returns the most probable class name of each row of ``features``."""
        return [self.classes[i] for i in np.argmax(self.logits(features), axis=1)]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the head as a safetensors file, atomically.

        Args:
            path: Where to write (conventionally ``*.safetensors``); missing
                parent folders are created.

        Returns:
            The path written.
        """
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {
            "format": HEAD_FORMAT,
            "format_version": HEAD_FORMAT_VERSION,
            "classes": json.dumps(list(self.classes)),
            "model": self.model,
            "stage": self.stage,
            "pool": self.pool,
            "scores": json.dumps(self.scores, sort_keys=True),
        }
        tensors = {name: np.ascontiguousarray(getattr(self, name)) for name in _TENSORS}
        with _atomic.atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Head:
        """Reads a head written by :meth:`save`, checking it thoroughly.

        Args:
            path: A ``.safetensors`` file from ``zoo probe --save-head``.

        Returns:
            The head.

        Raises:
            WeightsError: When the file is missing, larger than 1 GiB, not a
                safetensors file, not a zoo head, or holds inconsistent shapes
                or non-finite values.
        """
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise WeightsError(f"Cannot read head {path}: {exc.strerror or exc}. {_HINT}") from exc
        if size > MAX_HEAD_BYTES:
            raise WeightsError(
                f"{path} is {size:,} bytes, too large for a classification head (limit {MAX_HEAD_BYTES:,}); "
                f"refusing to read it. {_HINT}"
            )
        _check_safetensors_prefix(path, size)

        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                metadata = dict(f.metadata() or {})
                names = set(f.keys())
                if names != set(_TENSORS):
                    raise WeightsError(
                        f"{path} holds tensors {sorted(names)}, a head holds exactly {list(_TENSORS)}. {_HINT}"
                    )
                tensors = {name: f.get_tensor(name) for name in _TENSORS}
        except SafetensorError as exc:
            raise WeightsError(f"{path} is not a readable safetensors file ({exc}). {_HINT}") from exc

        fields = _parse_metadata(path, metadata)
        for name, array in tensors.items():
            if array.dtype != np.float32:
                raise WeightsError(f"{path}: tensor {name!r} is {array.dtype}, a head stores float32. {_HINT}")
        problem = _inconsistency(fields["classes"], tensors)
        if problem:
            raise WeightsError(f"{path}: {problem}. {_HINT}")
        return cls(**fields, **tensors)

    def _check_features(self, features: Any) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise DatasetError(
                f"Features of shape {x.shape} do not fit this head, which expects (N, {self.dims}) features "
                f"of {self.model} at stage {self.stage!r} pooled with {self.pool!r}; extract features from that cut.",
                field="features",
            )
        return x


def _inconsistency(classes: tuple[str, ...], tensors: dict[str, np.ndarray]) -> str:
    """Returns what is wrong with a head's classes and arrays, or '' when nothing is."""
    mean, scale, weight, bias = (tensors[name] for name in _TENSORS)
    if len(classes) < 2:
        return f"it has {len(classes)} class(es), a classifier needs at least 2"
    if len(set(classes)) != len(classes):
        return "its class names are not unique"
    if weight.ndim != 2 or bias.ndim != 1 or mean.ndim != 1 or scale.ndim != 1:
        shapes = ", ".join(f"{name} {tuple(tensors[name].shape)}" for name in _TENSORS)
        return f"expected weight (K, D), bias (K,), mean (D,), scale (D,); got {shapes}"
    k, d = weight.shape
    if not (len(classes) == k == bias.shape[0]):
        return f"{len(classes)} classes, {k} weight rows and {bias.shape[0]} biases should all be equal"
    if not (d == mean.shape[0] == scale.shape[0]) or d == 0:
        return f"weight has {d} columns, mean {mean.shape[0]} and scale {scale.shape[0]} values; they should be equal and positive"
    for name in _TENSORS:
        if not np.isfinite(tensors[name]).all():
            return f"tensor {name!r} holds NaN or infinite values"
    if not (scale > 0).all():
        return "tensor 'scale' holds zero or negative values (each feature's spread must be positive)"
    return ""


def _finite_numbers(scores: dict[str, Any]) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in scores.values()
    )


def _check_safetensors_prefix(path: Path, size: int) -> None:
    """Refuses, from its first bytes, a file that cannot be safetensors (a pickle, a zip...)."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9:
        raise WeightsError(f"{path} is {size} bytes, too short to be a safetensors file. {_HINT}")
    (header_len,) = struct.unpack("<Q", head[:8])
    if header_len > size - 8 or head[8:9] != b"{":
        kind = " (it looks like a pickle, which is never loaded)" if head[:1] == b"\x80" else ""
        raise WeightsError(f"{path} is not a safetensors file{kind}. {_HINT}")


def _parse_metadata(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """Checks a head file's metadata and returns the Head fields it holds."""
    if metadata.get("format") != HEAD_FORMAT:
        raise WeightsError(
            f"{path} is a safetensors file but not a zoo head (format {metadata.get('format')!r}, "
            f"expected {HEAD_FORMAT!r}). {_HINT}"
        )
    if metadata.get("format_version") != HEAD_FORMAT_VERSION:
        raise WeightsError(
            f"{path} is a zoo head of format version {metadata.get('format_version')!r}; this zoo reads version "
            f"{HEAD_FORMAT_VERSION!r}. Upgrade zoo, or run 'zoo probe --save-head' again with this one."
        )
    missing = [key for key in ("classes", "model", "stage", "pool", "scores") if key not in metadata]
    if missing:
        raise WeightsError(f"{path}: metadata lacks {', '.join(missing)}. {_HINT}")
    try:
        classes = json.loads(metadata["classes"])
        scores = json.loads(metadata["scores"])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: metadata 'classes' or 'scores' is not valid JSON ({exc}). {_HINT}") from exc
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise WeightsError(f"{path}: metadata 'classes' should be a JSON list of strings. {_HINT}")
    if not isinstance(scores, dict) or not _finite_numbers(scores):
        raise WeightsError(f"{path}: metadata 'scores' should be a JSON object of finite numbers. {_HINT}")
    return {
        "classes": tuple(classes),
        "model": metadata["model"],
        "stage": metadata["stage"],
        "pool": metadata["pool"],
        "scores": scores,
    }
