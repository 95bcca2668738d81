"""Listing with filters, sorting and paging, and ranked search, over the catalog's listing rows.

Both work on the rows of :mod:`zoo.registry._listing` (one tuple per model,
one per version), never on the full records, and build a
:class:`~zoo.registry.ModelSummary` only for the rows of the page asked for.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

from zoo.errors import InvalidOptionError
from zoo.registry._catalog import Catalog, load_catalog
from zoo.registry._listing import (
    M_ALIASES,
    M_ARCH,
    M_DEFAULT,
    M_FAMILY,
    M_MODALITY,
    M_NAME,
    M_TAGS,
    M_TASK,
    M_VERSIONS,
    S_ARCH,
    S_HAYSTACK,
    S_NAMES,
    S_VERSION_WORDS,
    S_WORDS,
    SOURCES,
    V_ADAPTER,
    V_LICENSE,
    V_METRICS,
    V_NAME,
    V_PARAMS,
    V_REQUIRES,
    V_SIZE,
    V_SIZE_ESTIMATED,
    V_SIZE_KNOWN,
    V_SOURCE,
    V_TAGS,
    V_TASK,
    V_VERIFIED,
    V_YEAR,
    Records,
    natural,
    rows_of,
)
from zoo.registry._scoring import corpus_of, models_with, squash, word_score
from zoo.registry._views import (
    ModelInfo,
    ModelList,
    ModelRow,
    ModelSummary,
    SearchWords,
    VersionRow,
)

Row = tuple[Any, ...]

# --------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg])?\s*$", re.IGNORECASE)


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
        raise InvalidOptionError(f"{text!r} is not a size: write e.g. 500MB, 1.5GiB or 1000000")
    number, unit = float(match[1]), (match[2] or "").lower()
    base = 1024 if "i" in unit else 1000
    scale = 1 if unit in ("", "b") else base ** ("kmgt".index(unit[0]) + 1)
    if math.isinf(number * scale):
        raise InvalidOptionError(f"{text!r} is too large to be a size: write e.g. 500MB, 1.5GiB or 1000000")
    return int(number * scale)


def parse_count(text: str | int) -> int:
    """Parses a count like ``30M``, ``1.5G``, ``500k`` or ``25000000`` (powers of 1000).

    Example:
        >>> parse_count("30M"), parse_count("2.5k")
        (30000000, 2500)
    """
    if isinstance(text, int):
        return text
    match = _COUNT.match(text)
    if match is None:
        raise InvalidOptionError(f"{text!r} is not a count: write e.g. 30M, 1.5G, 500k or 25000000")
    unit = (match[2] or "").lower()
    count = float(match[1]) * (1000 ** ("kmg".index(unit) + 1) if unit else 1)
    if math.isinf(count):
        raise InvalidOptionError(f"{text!r} is too large to be a count: write e.g. 30M, 1.5G, 500k or 25000000")
    return int(count)


# --------------------------------------------------------------------------
# Filters and sort keys
# --------------------------------------------------------------------------


class _Filters:
    """The filters of one query, checked against listing rows."""

    def __init__(
        self,
        task: str | None,
        modality: str | None,
        license: str | None,
        adapter: str | None,
        tag: str | None,
        source: str | None,
        max_size: int | str | None,
        max_params: int | str | None,
        max_gmacs: float | None,
        min_top1: float | None,
        min_mteb: float | None = None,
        include_remote_code: bool = False,
    ):
        if source is not None and source not in SOURCES:
            raise InvalidOptionError(f"{source!r} is not a source: use one of {', '.join(SOURCES)}")
        self.task, self.modality, self.adapter, self.tag, self.source = task, modality, adapter, tag, source
        self.license = license.lower() if license is not None else None
        self.max_size = parse_size(max_size) if max_size is not None else None
        self.max_params = parse_count(max_params) if max_params is not None else None
        # (metric, lowest, highest): a version without the metric never passes.
        self.metrics = [
            (name, low, high)
            for name, low, high in (("top1", min_top1, None), ("gmacs", None, max_gmacs), ("mteb", min_mteb, None))
            if low is not None or high is not None
        ]
        # Versions that need their publisher's code are listed only when asked for: zoo never loads them.
        self.hide_remote_code = not include_remote_code
        self.versions_filtered = any(
            x is not None for x in (task, license, adapter, source, self.max_size, self.max_params)
        ) or bool(self.metrics) or self.hide_remote_code
        self.active = self.versions_filtered or modality is not None or tag is not None

    def model(self, m: Row) -> bool:
        if self.modality is not None and m[M_MODALITY] != self.modality:
            return False
        if self.tag is not None and self.tag not in m[M_TAGS] and not any(self.tag in v[V_TAGS] for v in m[M_VERSIONS]):
            return False
        return True

    def version(self, v: Row) -> bool:
        if not self.versions_filtered:
            return True
        if self.hide_remote_code and v[V_REQUIRES]:
            return False
        if self.task is not None and v[V_TASK] != self.task:  # a version may have its own task
            return False
        if self.license is not None and v[V_LICENSE].lower() != self.license:
            return False
        if self.adapter is not None and v[V_ADAPTER] != self.adapter:
            return False
        if self.source is not None and v[V_SOURCE] != self.source:
            return False
        # A file without a published size cannot be shown to fit under a size limit.
        if self.max_size is not None and (v[V_SIZE] > self.max_size or not v[V_SIZE_KNOWN]):
            return False
        if self.max_params is not None and (v[V_PARAMS] is None or v[V_PARAMS] > self.max_params):
            return False
        for name, low, high in self.metrics:
            value = v[V_METRICS].get(name)
            if value is None or (low is not None and value < low) or (high is not None and value > high):
                return False
        return True


_FIXED_KEYS = ("name", "params", "size", "year")
# Metric names --sort takes even when no version of this registry has them.
_KNOWN_METRICS = ("top1", "top5", "gmacs", "gflops", "mteb")


def _sort_getter(sort: str, records: Records) -> tuple[str, bool]:
    """Validates ``--sort``; returns (key, descending)."""
    descending = sort.startswith("-")
    key = sort.lstrip("+-").strip().lower()
    if key in _FIXED_KEYS or key in _KNOWN_METRICS or key in records.metric_names:
        return key, descending
    metrics = sorted(set(records.metric_names) | set(_KNOWN_METRICS))
    raise InvalidOptionError(
        f"cannot sort by {key!r}: use name, params, size, year or a metric ({', '.join(metrics)}); prefix '-' for descending"
    )


def _value(key: str, v: Row) -> Any:
    if key == "params":
        return v[V_PARAMS]
    if key == "size":
        return v[V_SIZE] if v[V_SIZE_KNOWN] else None  # a partly unknown size is not comparable
    if key == "year":
        return v[V_YEAR]
    return v[V_METRICS].get(key)


def _sort(hits: list[tuple[Any, ...]], sort: str | None, records: Records) -> list[tuple[Any, ...]]:
    """Sorts (model row, version row, ...) hits by ``sort``; versions without the key come last.

    Python's sort is stable (also reversed), so rows with equal keys keep
    their previous order: by name for listings, by relevance for search.
    """
    if not sort:
        return hits
    key, descending = _sort_getter(sort, records)
    if key == "name":
        return sorted(hits, key=lambda h: natural(h[0][M_NAME]), reverse=descending)
    present = [h for h in hits if _value(key, h[1]) is not None]
    missing = [h for h in hits if _value(key, h[1]) is None]
    present.sort(key=lambda h: _value(key, h[1]), reverse=descending)
    return present + missing


def _records(catalog: Catalog) -> Records:
    models = catalog.models
    if not isinstance(models, Records):
        # A catalog built some other way: derive its rows once.
        rows, search_rows, texts = rows_of(models)
        models = Records(loaded=dict(models), rows=rows, search_rows=search_rows, corpus=corpus_of(texts))
        catalog.models = models
    return models


def _summary(m: Row, v: Row, score: float = 0.0) -> ModelSummary:
    return ModelSummary._of(
        {
            "name": m[M_NAME],
            "version": v[V_NAME],
            "default": m[M_DEFAULT],
            "versions": tuple(x[V_NAME] for x in m[M_VERSIONS]),
            "family": m[M_FAMILY],
            "task": v[V_TASK],
            "modality": m[M_MODALITY],
            "architecture": m[M_ARCH],
            "adapter": v[V_ADAPTER],
            "license": v[V_LICENSE],
            "params": v[V_PARAMS],
            "size": v[V_SIZE],
            "aliases": m[M_ALIASES],
            "tags": m[M_TAGS],
            "verification": v[V_VERIFIED],
            "size_known": v[V_SIZE_KNOWN],
            "score": score,
            "source": v[V_SOURCE],
            "metrics": tuple(v[V_METRICS].items()),
            "year": v[V_YEAR],
            "size_estimated": v[V_SIZE_ESTIMATED],
            "requires": v[V_REQUIRES],
        }
    )


def rows(catalog: Catalog) -> list[ModelRow]:
    """Every model of ``catalog`` as listing reads it (in ``zoo list``'s order), with every version and its search words.

    What a page that lists and searches the registry itself needs (the catalogue site ranks
    queries with these words exactly as :func:`search` does).
    """
    records = _records(catalog)
    out = []
    for i in range(len(records)):
        m, s = records.row(i), records.search_row(i)
        versions = tuple(
            VersionRow(
                v[V_NAME], v[V_ADAPTER], v[V_LICENSE], v[V_PARAMS], v[V_SIZE], v[V_SIZE_KNOWN], v[V_SIZE_ESTIMATED],
                v[V_VERIFIED], v[V_SOURCE], tuple(v[V_METRICS].items()), v[V_YEAR], v[V_TASK], tuple(v[V_TAGS]),
                tuple(v[V_REQUIRES]), tuple(tuple(w) for w in words),
            )
            for v, words in zip(m[M_VERSIONS], s[S_VERSION_WORDS])
        )
        search = SearchWords(
            tuple(tuple(n) for n in s[S_NAMES]), tuple(tuple(w) for w in s[S_WORDS]), s[S_ARCH], s[S_HAYSTACK]
        )
        out.append(
            ModelRow(m[M_NAME], m[M_FAMILY], m[M_TASK], m[M_MODALITY], m[M_ARCH], m[M_DEFAULT], tuple(m[M_ALIASES]), tuple(m[M_TAGS]), versions, search)
        )
    return out


def _page(hits: list[tuple[Any, ...]], limit: int | None, offset: int) -> ModelList:
    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidOptionError("limit and offset must be >= 0")
    end = None if limit is None else offset + limit
    page = [_summary(h[0], h[1], h[2] if len(h) > 2 else 0.0) for h in hits[offset:end]]
    return ModelList(page, total=len(hits), offset=offset)


def _ordered_positions(m: Row, all_versions: bool) -> Sequence[int]:
    """Positions of a model's versions: the default first (one row per model), else in registry order."""
    versions = m[M_VERSIONS]
    n = len(versions)
    if all_versions or n == 1 or versions[0][V_NAME] == m[M_DEFAULT]:
        return range(n)
    first = next(i for i, v in enumerate(versions) if v[V_NAME] == m[M_DEFAULT])
    return [first, *(i for i in range(n) if i != first)]


# --------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------


def list_models(
    *,
    task: str | None = None,
    modality: str | None = None,
    license: str | None = None,
    adapter: str | None = None,
    tag: str | None = None,
    source: str | None = None,
    max_size: int | str | None = None,
    max_params: int | str | None = None,
    max_gmacs: float | None = None,
    min_top1: float | None = None,
    min_mteb: float | None = None,
    include_remote_code: bool = False,
    sort: str | None = None,
    all_versions: bool = False,
    limit: int | None = None,
    offset: int = 0,
    registries: Sequence[str | os.PathLike[str]] | None = None,
) -> ModelList:
    """Lists registered models, sorted by name (or ``sort``), optionally filtered and paged.

    One row per model (its default version, or the first version that passes
    the version filters), or one per version with ``all_versions``.

    Args:
        modality, tag: Model filters (``tag`` also matches a version's tags).
        task, license, adapter: Version filters (a version may have its own task).
        source: Only versions from this publisher's metadata (``timm``,
            ``torchvision``, ``onnx-zoo``, ``omz``, ``gensim``) or ``curated``.
        max_size: Most bytes of files (``200MB``, ``1.5GiB``); versions with
            an unpublished file size never pass.
        max_params: Most parameters (``30M``, ``1.5G``, or an int).
        max_gmacs, min_top1, min_mteb: Bounds on published metrics (``mteb``:
            the MTEB(eng, v2) mean); a version without the metric never passes.
        include_remote_code: Also list versions that need their publisher's
            code (``requires: [remote-code]``), which zoo refuses to load.
        sort: ``name``, ``params``, ``size``, ``year`` or a metric name
            (``top1``, ``top5``, ``gmacs``, ``box_map``, ...); ``-`` in front
            for descending. Versions without the key come last.
        all_versions: One row per version instead of one per model.
        limit, offset: The page: skip ``offset`` rows, return at most ``limit``.

    Returns:
        A :class:`~zoo.registry.ModelList` (a list with ``total``, ``offset``).

    Raises:
        ValueError: An unreadable size or count, an unknown source or sort key.

    Example:
        >>> [m.name for m in list_models(modality="text")][:1]
        ['all-minilm-l6-v2']
    """
    records = _records(load_catalog(registries))
    # Versions that need their publisher's code are hidden unless asked for. Models all of whose versions do are
    # skipped by position (the listing knows them), so a plain listing still reads only its page's rows.
    whole, mixed = records.requirements if not include_remote_code else ((), False)
    hidden = frozenset(whole)
    filters = _Filters(task, modality, license, adapter, tag, source, max_size, max_params, max_gmacs, min_top1, min_mteb, not mixed)
    if not filters.active and not sort and not all_versions and limit is not None:
        # Every model, by name, one page: read only that page's rows (a terminal's screenful of 2,000).
        if offset < 0 or limit < 0:
            raise InvalidOptionError("limit and offset must be >= 0")
        shown = [i for i in range(len(records)) if i not in hidden] if hidden else range(len(records))
        page = [records.row(i) for i in shown[offset : offset + limit]]
        rows = [_summary(m, m[M_VERSIONS][_ordered_positions(m, False)[0]]) for m in page]
        return ModelList(rows, total=len(shown), offset=offset)
    hits: list[tuple[Any, ...]] = []
    for i, m in enumerate(records.rows):
        if i in hidden or not filters.model(m):
            continue
        for i in _ordered_positions(m, all_versions):
            v = m[M_VERSIONS][i]
            if filters.version(v):
                hits.append((m, v))
                if not all_versions:
                    break
    return _page(_sort(hits, sort, records), limit, offset)


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------

_SPLIT_ID = re.compile(r"[.@]")
_NAME_WORD = re.compile(r"[._-]")


def _model_score(token: str, squashed: str, search: tuple[Any, ...]) -> tuple[float, float]:
    """(score of the model's own fields, fallback score) for one query word."""
    names, model_words, arch, haystack = search[:4]
    best = 0.0
    for candidate, weight in names:
        if candidate == squashed:
            score = 100 * weight
        elif candidate.startswith(squashed):
            score = 60 * weight
        elif squashed in candidate:
            score = 40 * weight
        else:
            continue
        if score > best:
            best = score
    word = word_score(model_words, token)
    if word > best:
        best = word
    if best < 25 and squashed == arch:
        best = 25
    # No whole word matched: a part of a tag, the architecture or the paper title still counts a little.
    fallback = 8.0 if best == 0 and len(squashed) >= 3 and squashed in haystack else 0.0
    return best, fallback


def _needles(token: str, squashed: str) -> tuple[str, ...]:
    """Texts of which one must be in a model's search text (the corpus) for ``token`` to match it."""
    needles = (squashed, f" {token} ")
    if _SPLIT_ID.search(token):
        name_part = squash(_SPLIT_ID.split(token, maxsplit=1)[0])
        needles += (name_part,) if name_part else ()
    return needles


def _version_scores(tokens: list[tuple[str, str]], search: tuple[Any, ...], vwords: list[tuple[Any, ...]]) -> list[float]:
    """The total score of each version (its words ``vwords``): 0 when some query word matches neither it nor its model."""
    totals = [0.0] * len(vwords)
    for token, squashed in tokens:
        base, fallback = _model_score(token, squashed, search)
        part = [max(base, word_score(w, token)) or fallback for w in vwords]
        if not any(part) and _SPLIT_ID.search(token):
            # A publisher's id: resnet50.a1_in1k (timm), resnet50@tv_in1k (zoo): the model, then the version.
            name_part, version_part = _SPLIT_ID.split(token, maxsplit=1)
            name_score = _model_score(name_part, squash(name_part), search)[0] if squash(name_part) else 0.0
            if name_score:
                part = [name_score + word_score(w, version_part) if word_score(w, version_part) else 0.0 for w in vwords]
        totals = [t + s if s and t >= 0 else -1.0 for t, s in zip(totals, part)]  # -1: some word did not match
        if max(totals) < 0:
            return [0.0] * len(vwords)
    return [max(t, 0.0) for t in totals]


def search(
    query: str,
    *,
    task: str | None = None,
    modality: str | None = None,
    license: str | None = None,
    adapter: str | None = None,
    tag: str | None = None,
    source: str | None = None,
    max_size: int | str | None = None,
    max_params: int | str | None = None,
    max_gmacs: float | None = None,
    min_top1: float | None = None,
    min_mteb: float | None = None,
    include_remote_code: bool = False,
    sort: str | None = None,
    all_versions: bool = False,
    limit: int | None = None,
    offset: int = 0,
    registries: Sequence[str | os.PathLike[str]] | None = None,
) -> ModelList:
    """Searches names, aliases, tags, architecture, versions, paper title and descriptions.

    Every word of ``query`` must match the row somewhere; rows are ranked by
    how well: an exact name beats a prefix, a prefix beats a tag, a tag beats
    a word in the paper title. Case and separators do not matter in names
    (``efficientnet_b3``, ``EfficientNet-B3`` and ``efficientnet b3`` find the
    same model, the exact name first); a timm id (``resnet50.a1_in1k``) or
    ``name@version`` matches that version. One row per model shows its
    best-matching version that passes the filters (the default on a tie).
    Filters, ``sort``, ``all_versions`` and the page are those of
    :func:`list_models`; ``sort`` replaces relevance as the order. An empty
    query matches every row that passes the filters.

    Example:
        >>> search("resnet imagenet")[0].architecture.startswith("ResNet")
        True
    """
    filters = _Filters(task, modality, license, adapter, tag, source, max_size, max_params, max_gmacs, min_top1, min_mteb, include_remote_code)
    records = _records(load_catalog(registries))
    tokens = [(t, squash(t)) for t in query.lower().split()]
    tokens = [(t, s) for t, s in tokens if s]
    whole = squash(query) if len(tokens) > 1 else None
    if tokens:
        # Only models whose search text holds something of every word can match: usually a few dozen.
        corpus = records.corpus()
        candidates = set.intersection(*(models_with(corpus, _needles(t, s)) for t, s in tokens))
        positions: Sequence[int] = sorted(candidates)
    else:
        positions = range(len(records))
    hits: list[tuple[Any, ...]] = []
    for position in positions:
        m = records.row(position)
        if not filters.model(m):
            continue
        order = list(_ordered_positions(m, all_versions))
        versions = [(m[M_VERSIONS][i], i) for i in order if filters.version(m[M_VERSIONS][i])]
        if not versions:
            continue
        if tokens:
            search_row = records.search_row(position)
            scores = _version_scores(tokens, search_row, [search_row[S_VERSION_WORDS][i] for _, i in versions])
            if not any(scores):
                continue
            if whole is not None:
                # The whole query names the model ("efficientnet b3" is efficientnet_b3): it comes first.
                bonus = max((100 * w for name, w in search_row[S_NAMES] if name == whole), default=0.0)
                scores = [s + bonus if s else 0.0 for s in scores]
        else:
            scores = [0.0] * len(versions)
        if all_versions:
            hits.extend((m, v, s) for (v, _), s in zip(versions, scores) if s or not tokens)
        else:
            best = max(range(len(versions)), key=lambda i: scores[i])  # the first (the default) on a tie
            hits.append((m, versions[best][0], scores[best]))
    # Equal scores: a name whose first word is the first word typed, then the shorter name (closer to
    # what was typed: "bert" finds bert-base-uncased before berta and bert-base-parsbert-uncased), then
    # name order (the sort is stable).
    first = tokens[0][0] if tokens else None
    hits.sort(key=lambda h: (-h[2], _NAME_WORD.split(h[0][M_NAME], 1)[0] != first, len(h[0][M_NAME])))
    return _page(_sort(hits, sort, records), limit, offset)


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
