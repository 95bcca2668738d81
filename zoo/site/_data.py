"""What the catalogue site shows, taken from the registry: the index's compact JSON and each model's card.

The index data holds, per model, the same listing and search rows that
``zoo list`` and ``zoo search`` rank (:mod:`zoo.registry._listing`), so the
page's search (``assets/catalog.js``) scores every word exactly as
:func:`zoo.registry.search` does. Cards take the full record of each version
(:class:`~zoo.registry.ModelInfo`): metrics with their sources, input spec,
stages, files with hash and verification tier.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from zoo.registry import Catalog, ModelInfo, rows

__all__ = ["FORMAT", "METRICS", "Card", "index_data", "cards", "page_name", "stage_rows", "commands"]

FORMAT = 2  # of the index JSON (its "format" key); 2: named fields
METRICS = ("top1", "top5", "gmacs", "mteb")  # the figures the index table and chart use
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def page_name(name: str, taken: set[str]) -> str:
    """A model's card file name (``models/<name>.html``): safe characters only, unique among ``taken``."""
    stem = _SAFE.sub("-", name).strip(".-") or "model"
    candidate, n = stem, 2
    while candidate.lower() in taken:
        candidate, n = f"{stem}-{n}", n + 1
    taken.add(candidate.lower())
    return f"models/{candidate}.html"


def index_data(catalog: Catalog, title: str, version: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the index JSON, model name -> its card page) of every model ``zoo list`` shows, in its order.

    Each model is its :class:`~zoo.registry.ModelRow` as a mapping with named
    fields (``name``, ``family``, ``task``, ``modality``, ``architecture``,
    ``default``, ``aliases``, ``tags``, ``versions``, ``search``) plus its
    card's ``page``; each version its :class:`~zoo.registry.VersionRow`
    (``metrics`` only those the table and chart use: :data:`METRICS`).
    Versions that need their publisher's code (``requires: [remote-code]``)
    are left out, as ``zoo list`` leaves them out.
    """
    taken: set[str] = set()
    pages: dict[str, str] = {}
    models = []
    for row in rows(catalog):
        versions = [v for v in row.versions if not v.requires]
        if not versions:
            continue  # needs its publisher's code: zoo never loads it, and zoo list hides it too
        page = pages[row.name] = page_name(row.name, taken)
        model = row.to_dict()
        model["page"] = page
        model["versions"] = []
        for v in versions:
            item = v.to_dict()
            item["metrics"] = {k: item["metrics"][k] for k in METRICS if k in item["metrics"]}
            del item["requires"]
            model["versions"].append(item)
        models.append(model)
    return {"format": FORMAT, "title": title, "zoo": version, "models": models}, pages


@dataclass(frozen=True)
class Card:
    """One model's card: every version's record and its stages (see :func:`stage_rows`), by version."""

    name: str
    page: str
    versions: tuple[ModelInfo, ...]
    stages: dict[str, tuple[list[tuple[str, int, int, str]], str]]

    @property
    def default(self) -> ModelInfo:
        return next((v for v in self.versions if v.version == v.default), self.versions[0])


def cards(catalog: Catalog, pages: dict[str, str]) -> Iterator[Card]:
    """Every model's card, in the index's order."""
    for name, page in pages.items():
        infos = tuple(i for i in catalog.versions([name]) if not i.requires)
        yield Card(name, page, infos, {info.version: stage_rows(info) for info in infos})


def stage_rows(info: ModelInfo) -> tuple[list[tuple[str, int, int, str]], str]:
    """(name, channels, stride, output at the version's input size) of each stage, and where they come from.

    Where they come from (the second value): ``derived``, the stages derived
    from the architecture on this machine (``zoo stages``; read from the
    stage cache, never derived here); ``table: timm 1.0.31, ...``, the
    shipped stage table (:mod:`zoo.site._stage_table`), derived with those
    frameworks; ``declared``, the registry's ``stages:`` list; ``none``.
    """
    from zoo import _stages
    from zoo._plugins import ADAPTERS
    from zoo.adapters import modality_of
    from zoo.site import _stage_table

    spec = ADAPTERS.get(info.adapter)
    tokens = modality_of(info).tokens
    derived = _stages.cached(info, spec) if spec is not None else None
    shape = info.input.shape if info.input is not None and info.input.shape else None

    def out(channels: int, dims: Any) -> str:
        if tokens:
            return f"tokens x {channels}"
        return " x ".join(str(d) for d in dims) if dims else ""

    if derived is not None:
        return [(s.name, s.channels, s.stride, out(s.channels, s.shape)) for s in derived.main], "derived"
    table = _stage_table.lookup(info)
    if table is not None:
        rows, frameworks = table
        wanted = spec.frameworks if spec is not None else tuple(frameworks)
        used = ", ".join(f"{k} {v}" for k, v in sorted(frameworks.items()) if k in wanted)
        return [(n, c, st, out(c, dims)) for n, c, st, dims in rows], f"table: {used}"
    rows = []
    for stage in info.stages:  # declared: the output size follows from the stride
        dims = None
        if shape is not None and len(shape) >= 3 and stage.stride:
            dims = (stage.channels, *(math.ceil(d / stage.stride) for d in shape[-2:]))
        rows.append((stage.name, stage.channels, stage.stride, out(stage.channels, dims)))
    return rows, "declared" if rows else "none"


def commands(info: ModelInfo, stages: list[str]) -> list[tuple[str, str]]:
    """(what, command) lines a user copies from the card (``stages``: the stage names it shows): CLI, then Python."""
    cut = stages[-2] if len(stages) >= 2 else (stages[0] if stages else None)  # the usual transfer cut: before the last
    until = f" --until {cut}" if cut else ""
    stem = f"{info.name}-{cut}" if cut else info.name
    lines = [
        ("pull", f"zoo pull {info.id}"),
        ("stages", f"zoo stages {info.id}"),
        ("export", f"zoo export {info.id}{until} -o {_SAFE.sub('-', stem)}.onnx"),
    ]
    from zoo._plugins import ADAPTERS
    from zoo.adapters import modality_of

    spec = ADAPTERS.get(info.adapter)
    if spec is None or not spec.word_vectors:  # word vectors are looked up by word: no zoo embed
        data = modality_of(info).sample_data
        lines.append(("embed", f"zoo embed {info.id} {data}{until} -o embeddings.parquet"))
    python = f'import zoo\nmodel = zoo.load("{info.id}"' + (f', until="{cut}")' if cut else ")")
    lines.append(("python", python))
    return lines
