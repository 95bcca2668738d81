"""Model versions side by side: ``zoo compare resnet50 convnext_tiny efficientnet_b0``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zoo.errors import InvalidOptionError
from zoo.registry._catalog import load_catalog
from zoo.registry._views import ModelInfo

__all__ = ["Comparison", "compare"]

# The rows, in order: (key, label). Metric rows no compared version has are left out (text models have no
# top-1, image models no MTEB score).
_MTEB = (
    ("mteb", "MTEB(eng, v2)"), ("mteb_by_type", "MTEB by type"), ("mteb_classification", "  classification"),
    ("mteb_clustering", "  clustering"), ("mteb_pair_classification", "  pair classification"),
    ("mteb_reranking", "  reranking"), ("mteb_retrieval", "  retrieval"), ("mteb_sts", "  STS"),
    ("mteb_summarization", "  summarization"),
)
ROWS = (
    ("architecture", "architecture"), ("task", "task"), ("top1", "top-1"), ("top5", "top-5"), *_MTEB,
    ("params", "params"), ("gmacs", "GMACs"), ("embed_dim", "embed dim"), ("size", "size"), ("input", "input"),
    ("license", "license"), ("verification", "verification"), ("source", "source"), ("adapter", "adapter"),
    ("year", "year"), ("stages", "stages"),
)
_METRICS = {"top1", "top5", "gmacs"} | {key for key, _ in _MTEB}
# Rows shown only when some version has a value.
_OPTIONAL = _METRICS | {"embed_dim"}
_HIGHER = {"top1", "top5"} | {key for key, _ in _MTEB}


@dataclass(frozen=True)
class Comparison:
    """Versions side by side.

    Attributes:
        ids: ``name@version`` of each column, in the order asked.
        rows: ``(key, label, values)`` per row of :data:`ROWS`, one value per
            column (None where the registry has none); metric rows that no
            version has are left out. ``top1``/``top5``/``gmacs`` are at each
            version's own input resolution; ``mteb*`` are MTEB(eng, v2) means
            (all tasks, by type, each type); ``stages`` is a list of
            ``(name, channels, stride)``.
        best: key -> the column indexes holding the best value of that row
            (highest top-1/top-5/MTEB, fewest params/GMACs/bytes); only rows
            with two or more values.
        estimated: per column, True when its size is estimated from the
            parameter count (a snapshot whose files are listed on first pull).
    """

    ids: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[Any, ...]], ...]
    best: dict[str, tuple[int, ...]]
    estimated: tuple[bool, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ids": list(self.ids),
            "rows": {key: list(values) for key, _, values in self.rows},
            "best": {k: list(v) for k, v in self.best.items()},
            "size_estimated": list(self.estimated),
        }


def _metric(info: ModelInfo, name: str) -> float | None:
    resolution = info.input.shape[-1] if info.input is not None and info.input.shape else None
    values = [m for m in info.metrics if m.name == name]
    exact = [m for m in values if m.resolution is not None and m.resolution == resolution]
    return (exact or values)[0].value if values else None


def _value(info: ModelInfo, key: str) -> Any:
    if key in _METRICS:
        return _metric(info, key)
    if key == "input":
        spec = info.input
        if spec is None:
            return None
        if spec.shape:
            return "x".join(str(d) for d in spec.shape)
        return f"text (max {spec.max_length} tokens)" if spec.max_length else "text"
    if key == "year":
        paper = info.version_paper or info.paper
        return paper.year if paper is not None else None
    if key == "stages":
        return [(s.name, s.channels, s.stride) for s in info.stages] or None
    if key == "size":
        return info.size or None
    return getattr(info, key)


def compare(model_ids: Sequence[str], *, registries: Sequence[str | os.PathLike[str]] | None = None) -> Comparison:
    """Puts model versions side by side (each ``[family/]name[@version]``; the default version without one).

    Raises:
        InvalidOptionError: Fewer than two ids.
        ModelNotFoundError, VersionNotFoundError: An id is unknown.
    """
    if len(model_ids) < 2:
        raise InvalidOptionError(f"compare needs two or more models, got {len(model_ids)}; e.g. zoo compare resnet50 convnext_tiny")
    catalog = load_catalog(registries)
    infos = [catalog.info(m) for m in model_ids]
    rows = tuple((key, label, tuple(_value(i, key) for i in infos)) for key, label in ROWS)
    rows = tuple(r for r in rows if r[0] not in _OPTIONAL or any(v is not None for v in r[2]))
    best: dict[str, tuple[int, ...]] = {}
    for key, _, values in rows:
        if key not in _METRICS | {"params", "size"}:
            continue
        present = [(v, i) for i, v in enumerate(values) if v is not None]
        if len(present) < 2:
            continue
        target = max(v for v, _ in present) if key in _HIGHER else min(v for v, _ in present)
        best[key] = tuple(i for v, i in present if v == target)
    return Comparison(tuple(i.id for i in infos), rows, best, tuple(i.size_estimated for i in infos))
