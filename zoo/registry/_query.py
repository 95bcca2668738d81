"""Listing with filters, and ranked search, over the catalog."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from zoo.registry._catalog import Catalog, load_catalog
from zoo.registry._views import ModelInfo, ModelSummary, _size


# --------------------------------------------------------------------------
# Listing and search
# --------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(text: str | int) -> int:
    """Parses a size like ``100MB``, ``1.5GiB`` or ``2048`` into bytes.

    ``KB/MB/GB/TB`` are powers of 1000, ``KiB/MiB/GiB/TiB`` powers of 1024.

    Example:
        >>> parse_size("100MB"), parse_size("1KiB")
        (100000000, 1024)
    """
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: write e.g. 500MB, 1.5GiB or 1000000")
    number, unit = float(match[1]), (match[2] or "").lower()
    base = 1024 if "i" in unit else 1000
    scale = 1 if unit in ("", "b") else base ** ("kmgt".index(unit[0]) + 1)
    return int(number * scale)


def _natural(name: str) -> tuple[Any, ...]:
    """Sort key that puts glove-50 before glove-100 (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _version_matches(
    v: dict[str, Any],
    license: str | None,
    adapter: str | None,
    max_size: int | None,
    max_params: int | None,
) -> bool:
    if license is not None and v["license"].lower() != license.lower():
        return False
    if adapter is not None and v["adapter"] != adapter:
        return False
    # A file without a published size cannot be shown to fit under a size limit.
    if max_size is not None and (_size(v) > max_size or any(not f.get("size") for f in v["files"])):
        return False
    if max_params is not None and (v.get("params") is None or v["params"] > max_params):
        return False
    return True


def _filtered(
    catalog: Catalog,
    task: str | None,
    modality: str | None,
    license: str | None,
    adapter: str | None,
    tag: str | None,
    max_size: int | str | None,
    max_params: int | None,
) -> Iterable[tuple[str, str]]:
    """Yields (name, version) of each model with a version that passes the filters.

    The default version is preferred; else the first version that passes.
    """
    limit = parse_size(max_size) if max_size is not None else None
    for name in sorted(catalog.models, key=_natural):
        record = catalog.models[name]
        if task is not None and record["task"] != task:
            continue
        if modality is not None and record["modality"] != modality:
            continue
        if tag is not None and tag not in record.get("tags", ()) and not any(
            tag in v.get("tags", ()) for v in record["versions"].values()
        ):
            continue
        order = [record["default"]] + [v for v in record["versions"] if v != record["default"]]
        for version in order:
            if _version_matches(record["versions"][version], license, adapter, limit, max_params):
                yield name, version
                break


def list_models(
    *,
    task: str | None = None,
    modality: str | None = None,
    license: str | None = None,
    adapter: str | None = None,
    tag: str | None = None,
    max_size: int | str | None = None,
    max_params: int | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
) -> list[ModelSummary]:
    """Lists registered models, sorted by name, optionally filtered.

    Filters on a version's fields (license, adapter, size, params) pass a model
    when any of its versions passes; the row then shows that version.

    Example:
        >>> [m.name for m in list_models(modality="text")][:1]
        ['all-minilm-l6-v2']
    """
    catalog = load_catalog(registries)
    return [
        catalog.summary(name, version)
        for name, version in _filtered(catalog, task, modality, license, adapter, tag, max_size, max_params)
    ]


_TOKEN = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _words(text: str | None) -> set[str]:
    if not text:
        return set()
    words = set()
    for token in _TOKEN.findall(text.lower()):
        words.add(token)
        words.update(re.split(r"[._-]", token))
    return words


def _score_token(token: str, record: dict[str, Any], name: str) -> tuple[float, str | None]:
    """Scores how well one query token matches a model; (0, None) if not at all."""
    squashed = _squash(token)
    best: tuple[float, str | None] = (0.0, None)

    def consider(score: float, field: str) -> None:
        nonlocal best
        if score > best[0]:
            best = (score, field)

    for candidate, field, weight in [(name, "name", 1.0)] + [
        (alias, "alias", 0.9) for alias in record.get("aliases", ())
    ]:
        c = _squash(candidate)
        if c == squashed:
            consider(100 * weight, field)
        elif c.startswith(squashed):
            consider(60 * weight, field)
        elif squashed in c:
            consider(40 * weight, field)
    tags = set(record.get("tags", ()))
    versions = record["versions"]
    for v in versions.values():
        tags.update(v.get("tags", ()))
    if token in tags:
        consider(30, "tag")
    if token in _words(record["architecture"]) or squashed == _squash(record["architecture"]):
        consider(25, "architecture")
    if token in versions or any(token in _words(v) for v in versions):
        consider(20, "version")
    if token in _words(record["task"]) or token == record["task"]:
        consider(15, "task")
    if token == record["modality"]:
        consider(15, "modality")
    if token in _words(record["paper"]["title"]):
        consider(10, "paper")
    if any(token in _words(v.get("dataset")) for v in versions.values()):
        consider(10, "dataset")
    if token in _words(record.get("description")) or any(
        token in _words(v.get("description")) for v in versions.values()
    ):
        consider(5, "description")
    if best[0] == 0 and len(squashed) >= 3:
        for tag in tags:
            if squashed in _squash(tag):
                consider(8, "tag")
        if squashed in _squash(record["architecture"]) or squashed in _squash(record["paper"]["title"]):
            consider(8, "architecture")
    return best


def search(
    query: str,
    *,
    task: str | None = None,
    modality: str | None = None,
    license: str | None = None,
    adapter: str | None = None,
    tag: str | None = None,
    max_size: int | str | None = None,
    max_params: int | None = None,
    limit: int | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
) -> list[ModelSummary]:
    """Searches names, aliases, tags, architecture, paper title and descriptions.

    Every word of ``query`` must match the model somewhere; results are ranked
    by how well (an exact name beats a prefix, a prefix beats a tag, a tag
    beats a word in the paper title). Filters are those of :func:`list_models`.
    An empty query lists every model that passes the filters.

    Example:
        >>> search("resnet imagenet")[0].architecture.startswith("ResNet")
        True
    """
    catalog = load_catalog(registries)
    tokens = [t for t in re.split(r"\s+", query.lower().strip()) if t]
    hits: list[tuple[float, str, str]] = []
    for name, version in _filtered(catalog, task, modality, license, adapter, tag, max_size, max_params):
        record = catalog.models[name]
        total = 0.0
        for token in tokens:
            score, _ = _score_token(token, record, name)
            if score == 0:
                break
            total += score
        else:
            hits.append((total, name, version))
    hits.sort(key=lambda h: (-h[0], _natural(h[1])))
    if limit is not None:
        hits = hits[:limit]
    return [catalog.summary(name, version, score=score) for score, name, version in hits]


def info(model_id: str, *, registries: Sequence[str | os.PathLike[str]] | None = None) -> ModelInfo:
    """Returns everything the registry says about ``model_id``.

    Args:
        model_id: ``[family/]name[@version]`` or an alias; no version means
            the model's default.

    Raises:
        ModelNotFoundError: Unknown model; the message suggests close names.
        VersionNotFoundError: Unknown version; the message lists the versions.
    """
    return load_catalog(registries).info(model_id)
