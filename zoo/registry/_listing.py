"""The listing: the index in a form a cold ``zoo list`` / ``search`` / ``info`` reads in a few milliseconds.

The JSON index (:mod:`zoo.registry._catalog`) holds every field of every
version; at 2,000 versions it is ~2.7 MB and ``json.load`` alone takes
25-35 ms, a third of what a cold ``zoo list`` may take. So beside each JSON
index zoo keeps one derived file, written and read by this module only::

    $ZOO_HOME/index/
    ├── registry-<key>.json                        the index: the truth
    └── registry-<key>.<python tag>.listing        derived from it:
        ├── magic + header length
        ├── header (marshal): the JSON index's size + mtime, its other keys
        │   (aliases, ids, ...), model names, tiers, metric names, and where
        │   each model's piece of every section starts
        ├── rows: one marshal piece per model (its row and its versions'),
        │   what listing, filtering and sorting read
        ├── search: one piece per model, the words ranking reads
        ├── corpus: every model's search text in one string, scanned first
        │   so that search reads the rows of the few models a query can match
        └── records: one piece per model, its full record (``zoo info``
            reads one)

So a terminal's ``zoo list`` reads 50 rows of 2,000, ``zoo search`` the rows
of the models its words occur in, ``zoo info`` one record; a filtered or
sorted listing reads every row (~4 ms at 2,000 versions).

marshal loads plain data 2-5x faster than json and its format belongs to one
Python version, hence the tag in the name. The file carries the size and
mtime of the JSON index it was derived from: when that index changes or
disappears, the listing is stale and rewritten from it. marshal builds only
plain data (never objects or code), and the listing is as trusted as the JSON
index next to it.

Rows are plain tuples (marshal stores nothing else), read by position
through the ``M_*`` / ``V_*`` constants below.
"""

from __future__ import annotations

import gc
import marshal
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo.registry._scoring import WORD_SCORES, corpus_of, score_words, squash, words

# Bump when the rows' layout changes.
_FORMAT = 12
_MAGIC = b"ZOOLIST1"
_TAG = f"{sys.implementation.cache_tag}-m{marshal.version}"
_KEEP = 8

# Where a registry version's metadata came from (``--source``); ``curated``: written by hand.
SOURCES = ("timm", "torchvision", "onnx-zoo", "omz", "gensim", "mteb", "curated")
# Hosts whose files name their publisher, for versions of generated registry files.
_HOSTS = (
    ("hf:timm/", "timm"),
    ("https://download.pytorch.org/", "torchvision"),
    ("https://huggingface.co/onnxmodelzoo/", "onnx-zoo"),
    ("hf:onnxmodelzoo/", "onnx-zoo"),
    ("https://storage.openvinotoolkit.org/", "omz"),
    ("https://github.com/rare-technologies/gensim-data/", "gensim"),
)

# Model row: one per model.
M_NAME, M_FAMILY, M_TASK, M_MODALITY, M_ARCH, M_DEFAULT, M_ALIASES, M_TAGS, M_VERSIONS = range(9)
# Version row: one per version, in the model's M_VERSIONS.
# V_SIZE_ESTIMATED: V_SIZE is a snapshot's estimate (its files are listed on first pull); V_REQUIRES: what the
# version needs that zoo does not do (``remote-code``).
(
    V_NAME, V_ADAPTER, V_LICENSE, V_PARAMS, V_SIZE, V_SIZE_KNOWN, V_VERIFIED, V_SOURCE, V_METRICS, V_YEAR, V_TAGS, V_TASK,
    V_SIZE_ESTIMATED, V_REQUIRES,
) = range(14)
# Search row: one per model row, at the same position; only search reads them.
S_NAMES, S_WORDS, S_ARCH, S_HAYSTACK, S_VERSION_WORDS = range(5)
# S_NAMES: ((squashed name or alias, weight), ...); S_WORDS: the words of the model's fields, as
# ((score, " word word ... "), ...), best score first (see word_score: strings load far faster than sets);
# S_ARCH: the squashed architecture; S_HAYSTACK: squashed tags, architecture and paper title, one a line;
# S_VERSION_WORDS: the words of each version's fields, as S_WORDS, parallel to M_VERSIONS.
# The corpus (Records.corpus) holds all of a model's search row as one text: a query word found nowhere
# in a model's text cannot match it, so search scans the corpus first and reads only the rows it must.

def source_of(registry_file: str, files: Any = (), explicit: str | None = None) -> str:
    """Which publisher's metadata a version comes from: one of :data:`SOURCES`.

    A source the generator wrote (``explicit``) wins. Else the registry file
    tells: a file of a ``generated/`` folder is named after its source
    (``generated/timm.yaml``, ``generated/timm-vit.yaml``); any other file is
    ``curated`` (written by hand). In a generated file, a version whose files
    all come from another publisher's host (a torchvision weight merged into
    a timm architecture) is that publisher's.

    Example:
        >>> source_of("registry/generated/torchvision.yaml"), source_of("registry/resnet.yaml")
        ('torchvision', 'curated')
    """
    if explicit in SOURCES:
        return explicit  # type: ignore[return-value]
    path = Path(registry_file)
    stem = path.stem.lower()
    named = None
    if path.parent.name == "generated":
        named = next((s for s in SOURCES[:-1] if stem == s or stem.startswith((f"{s}-", f"{s}_", f"{s}."))), None)
    if named is None:
        return "curated"
    hosts = set()
    for f in files:
        src = f.get("source") or {}
        where = f"hf:{src['hf'].lower()}/" if src.get("hf") else str(src.get("url", "")).lower()
        hosts.add(next((s for prefix, s in _HOSTS if where.startswith(prefix)), None))
    if len(hosts) == 1 and None not in hosts:
        return hosts.pop()  # type: ignore[return-value]
    return named


def _metric_values(version: dict[str, Any]) -> dict[str, float]:
    """One value per metric name: the one at the version's input resolution, else the first listed."""
    shape = (version.get("input") or {}).get("shape") or ()
    resolution = shape[-1] if len(shape) >= 2 else None
    out: dict[str, float] = {}
    exact: set[str] = set()
    for m in version.get("metrics", ()):
        name = m["name"]
        if name in exact:
            continue
        if m.get("resolution") is not None and m.get("resolution") == resolution:
            out[name] = m["value"]
            exact.add(name)
        elif name not in out:
            out[name] = m["value"]
    return out


def size_of(version: dict[str, Any]) -> int:
    """Bytes of a version's files whose size is known; a snapshot's estimate before its files are listed."""
    files = version.get("files") or ()
    if not files and version.get("snapshot"):
        return version["snapshot"].get("size_estimate") or 0
    return sum(f.get("size") or 0 for f in files)


def _model_row(name: str, record: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], str]:
    """(model row, search row, search text) of one model's record."""
    from zoo._hashing import tier_of_version

    paper = record.get("paper") or {}
    w = WORD_SCORES
    model_tags = tuple(record.get("tags", ()))
    versions = []
    version_words = []
    all_tags = set(model_tags)
    for vname, v in record["versions"].items():
        all_tags.update(v.get("tags", ()))
        vpaper = v.get("paper") or {}
        version_words.append(
            score_words(
                [
                    ({i.lower() for i in v.get("ids", ())}, w["id"]),
                    (set(v.get("tags", ())), w["tag"]),
                    ({vname} | words(vname), w["version"]),
                    (words(v.get("task")) | ({v["task"]} if v.get("task") else set()), w["task"]),
                    (words(v.get("dataset")), w["dataset"]),
                    (words(v.get("description")), w["description"]),
                ]
            )
        )
        files = v["files"]
        estimated = not files and bool(v.get("snapshot"))
        versions.append(
            (
                vname,
                v["adapter"],
                v["license"],
                v.get("params"),
                size_of(v),
                all(f.get("size") for f in files) and (not estimated or bool(v["snapshot"].get("size_estimate"))),
                tier_of_version(v),
                source_of(v.get("registry_file") or record.get("registry_file", ""), files, v.get("publisher") or record.get("publisher")),
                _metric_values(v),
                vpaper.get("year") or paper.get("year"),
                tuple(v.get("tags", ())),
                v.get("task") or record["task"],
                estimated,
                tuple(v.get("requires", ())),
            )
        )
    model_words = score_words(
        [
            (set(model_tags), w["tag"]),
            (words(record["architecture"]), w["architecture"]),
            (words(record["task"]) | {record["task"]}, w["task"]),
            ({record["modality"]}, w["modality"]),
            (words(paper.get("title")), w["paper"]),
            (words(record.get("description")), w["description"]),
        ]
    )
    names = ((squash(name), 1.0),) + tuple((squash(a), 0.9) for a in record.get("aliases", ()))
    haystack = "\n".join(sorted(squash(t) for t in all_tags) + [squash(record["architecture"]), squash((paper or {}).get("title") or "")])
    row = (
        name,
        record["family"],
        record["task"],
        record["modality"],
        record["architecture"],
        record["default"],
        tuple(record.get("aliases", ())),
        model_tags,
        tuple(versions),
    )
    everything = "\n".join(
        [n for n, _ in names] + [text for _, text in model_words] + [text for vw in version_words for _, text in vw] + [haystack]
    )
    return row, (names, model_words, squash(record["architecture"]), haystack, tuple(version_words)), everything


def natural(name: str) -> tuple[Any, ...]:
    """Sort key that puts glove-50 before glove-100 (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


# The verification tier of each version record read through a Records, as computed when its listing
# was written: id(version dict) -> (that dict, tier). Holding the dict keeps its id from being reused.
# It spares `zoo info` importing zoo._hashing (hashlib, json, threading: ~6 ms) for version_tier.
_TIERS: dict[int, tuple[dict[str, Any], str]] = {}


def known_tier(version: dict[str, Any]) -> str | None:
    """The tier the listing recorded for this version record, or None when it was not read through one."""
    known = _TIERS.get(id(version))
    return known[1] if known is not None and known[0] is version else None


def _remember_tiers(record: dict[str, Any], tiers: tuple[str, ...]) -> None:
    for v, tier in zip(record["versions"].values(), tiers):
        _TIERS[id(v)] = (v, tier)


def rows_of(models: Mapping[str, dict[str, Any]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    """(model rows, search rows, search texts) of every model, sorted by name (numbers as numbers)."""
    triples = [_model_row(name, models[name]) for name in sorted(models, key=natural)]
    return [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples]


class Records(Mapping[str, dict[str, Any]]):
    """The index's ``models`` (name -> record), read from the listing file a piece at a time.

    Behaves as the plain dict of the JSON index does (a record is read when
    first asked for: ``zoo info`` reads one). Model rows and search rows are
    also read one model at a time (:meth:`row`, :meth:`search_row`) or all
    at once (:attr:`rows`); :meth:`corpus` is every model's search text, which
    search scans to find the few models a query can match.
    """

    def __init__(
        self,
        *,
        loaded: dict[str, dict[str, Any]] | None = None,
        rows: list[tuple[Any, ...]] | None = None,
        search_rows: list[tuple[Any, ...]] | None = None,
        corpus: tuple[str, tuple[int, ...]] | None = None,
        path: Path | None = None,
        names: Sequence[str] = (),
        tiers: tuple[tuple[str, ...], ...] = (),
        sections: dict[str, tuple[int, tuple[int, ...]]] | None = None,
        metric_names: tuple[str, ...] | None = None,
        requirements: tuple[tuple[int, ...], bool] | None = None,
    ):
        self._metric_names = metric_names
        self._requirements = requirements
        self._path = path
        # section -> (where it starts in the file, where each model's piece starts in it, and its end)
        self._sections = sections or {}
        self._bytes: dict[str, bytes] = {}
        self._tiers = tiers
        self._rows = rows
        self._row_cache: dict[int, tuple[Any, ...]] = {}
        self._search_rows = search_rows
        self._search_cache: dict[int, tuple[Any, ...]] = {}
        self._corpus = corpus
        self._loaded = loaded if loaded is not None else {}
        self._order: Sequence[str] = list(loaded) if loaded is not None else names
        self._positions: dict[str, int] | None = None

    # ---- the file's sections ---------------------------------------------

    def _section_bytes(self, section: str) -> bytes:
        data = self._bytes.get(section)
        if data is None:
            start, starts = self._sections[section]
            with open(self._path, "rb") as fh:  # type: ignore[arg-type]
                fh.seek(start)
                data = fh.read(starts[-1])
            self._bytes[section] = data
        return data

    def _piece(self, section: str, i: int) -> Any:
        starts = self._sections[section][1]
        return marshal.loads(self._section_bytes(section)[starts[i] : starts[i + 1]])

    def _pieces(self, section: str) -> list[Any]:
        data = self._section_bytes(section)
        starts = self._sections[section][1]
        with _gc_paused():
            return [marshal.loads(data[starts[i] : starts[i + 1]]) for i in range(len(starts) - 1)]

    # ---- rows ---------------------------------------------------------------

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """Every model row, sorted by name."""
        if self._rows is None:
            self._rows = self._pieces("rows")
        return self._rows

    def row(self, i: int) -> tuple[Any, ...]:
        """The row of the ``i``-th model (in name order)."""
        if self._rows is not None:
            return self._rows[i]
        row = self._row_cache.get(i)
        if row is None:
            row = self._row_cache[i] = self._piece("rows", i)
        return row

    def search_row(self, i: int) -> tuple[Any, ...]:
        """The search row of the ``i``-th model."""
        if self._search_rows is not None:
            return self._search_rows[i]
        row = self._search_cache.get(i)
        if row is None:
            row = self._search_cache[i] = self._piece("search", i)
        return row

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric name some version has (top1, gmacs, box_map, ...)."""
        if self._metric_names is None:
            self._metric_names = tuple(sorted({k for m in self.rows for v in m[M_VERSIONS] for k in v[V_METRICS]}))
        return self._metric_names

    @property
    def requirements(self) -> tuple[tuple[int, ...], bool]:
        """(positions of the models every version of which states a requirement such as ``remote-code``, whether
        some other model has such versions beside plain ones); listings hide them unless asked."""
        if self._requirements is None:
            whole, mixed = [], False
            for i, m in enumerate(self.rows):
                stated = [bool(v[V_REQUIRES]) for v in m[M_VERSIONS]]
                if all(stated):
                    whole.append(i)
                elif any(stated):
                    mixed = True
            self._requirements = (tuple(whole), mixed)
        return self._requirements

    def corpus(self) -> tuple[str, tuple[int, ...]]:
        """(every model's search text, where each one starts, then the end)."""
        if self._corpus is None:
            start, (_, length) = self._sections["corpus"]
            with open(self._path, "rb") as fh:  # type: ignore[arg-type]
                fh.seek(start)
                text, starts = marshal.loads(fh.read(length))
            self._corpus = (text, starts)
        return self._corpus

    # ---- the mapping --------------------------------------------------------

    def _position(self, name: str) -> int | None:
        if self._positions is None:
            self._positions = {n: i for i, n in enumerate(self._order)}
        return self._positions.get(name)

    def __getitem__(self, name: str) -> dict[str, Any]:
        record = self._loaded.get(name)
        if record is None:
            i = self._position(name) if isinstance(name, str) and self._sections else None
            if i is None:
                raise KeyError(name)
            record = self._piece("records", i)
            _remember_tiers(record, self._tiers[i])
            self._loaded[name] = record
        return record

    def get(self, name: str, default: Any = None) -> Any:  # noqa: D102 - Mapping.get
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or (isinstance(name, str) and bool(self._sections) and self._position(name) is not None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def _load_all(self) -> None:
        if len(self._loaded) == len(self._order):
            return
        for i, name in enumerate(self._order):
            if name not in self._loaded:
                record = self._piece("records", i)
                _remember_tiers(record, self._tiers[i])
                self._loaded[name] = record

    def items(self):  # noqa: ANN201 - an ItemsView
        self._load_all()
        return {name: self._loaded[name] for name in self._order}.items()

    def values(self):  # noqa: ANN201 - a ValuesView
        self._load_all()
        return {name: self._loaded[name] for name in self._order}.values()


class _gc_paused:  # noqa: N801 - used as a function
    """Pauses the cyclic GC: unmarshalled rows are many acyclic containers, and the collections
    their allocation would trigger find nothing (~1 ms of a cold listing)."""

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()


def listing_path(index_path: Path) -> Path:
    """The listing file derived from the JSON index at ``index_path``."""
    return index_path.with_name(f"{index_path.stem}.{_TAG}.listing")


def _json_stamp(index_path: Path) -> list[int] | None:
    try:
        st = index_path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def read(index_path: Path) -> dict[str, Any] | None:
    """The index derived into ``index_path``'s listing file, or None when there is none or it is stale.

    The result has the JSON index's keys; its ``models`` is a :class:`Records`.
    """
    stamp = _json_stamp(index_path)
    if stamp is None:
        return None
    path = listing_path(index_path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_MAGIC) + 8)
            if head[: len(_MAGIC)] != _MAGIC:
                return None
            length = int.from_bytes(head[len(_MAGIC) :], "little")
            header = marshal.loads(fh.read(length))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(header, dict) or header.get("format") != _FORMAT or header.get("json") != stamp:
        return None
    at = len(_MAGIC) + 8 + length
    sections = {}
    for name in _SECTIONS:
        starts = header["sections"][name]
        sections[name] = (at, starts)
        at += starts[-1]
    index = dict(header["index"])
    index["models"] = Records(
        path=path, names=header["names"], tiers=header["tiers"], sections=sections, metric_names=header["metrics"],
        requirements=header["requires"],
    )
    return index


# The file's sections after the header, in order; "corpus" is one piece.
_SECTIONS = ("rows", "search", "corpus", "records")


def _concatenated(pieces: list[bytes]) -> tuple[bytes, tuple[int, ...]]:
    starts = [0]
    for piece in pieces:
        starts.append(starts[-1] + len(piece))
    return b"".join(pieces), tuple(starts)


def write(index_path: Path, index: dict[str, Any]) -> dict[str, Any]:
    """Derives the listing from ``index`` and writes it beside ``index_path``.

    Returns ``index`` with its ``models`` as a :class:`Records` (with rows),
    also when the file cannot be written (a read-only home still lists).
    """
    models = index["models"]
    rows, search_rows, texts = rows_of(models)
    corpus = corpus_of(texts)
    out = dict(index)
    out["models"] = Records(loaded={m[M_NAME]: models[m[M_NAME]] for m in rows}, rows=rows, search_rows=search_rows, corpus=corpus)
    stamp = _json_stamp(index_path)
    if stamp is None:
        return out  # no JSON index on disk (unwritable home): nothing to derive from
    blobs = {
        "rows": _concatenated([marshal.dumps(r) for r in rows]),
        "search": _concatenated([marshal.dumps(r) for r in search_rows]),
        "records": _concatenated([marshal.dumps(models[m[M_NAME]]) for m in rows]),
    }
    corpus_blob = marshal.dumps(corpus)
    blobs["corpus"] = (corpus_blob, (0, len(corpus_blob)))
    header = marshal.dumps(
        {
            "format": _FORMAT,
            "json": stamp,
            "index": {k: v for k, v in index.items() if k != "models"},
            "names": tuple(m[M_NAME] for m in rows),
            "tiers": tuple(tuple(v[V_VERIFIED] for v in m[M_VERSIONS]) for m in rows),
            "sections": {name: blobs[name][1] for name in _SECTIONS},
            "metrics": out["models"].metric_names,
            "requires": out["models"].requirements,
        }
    )
    path = listing_path(index_path)
    try:
        with _atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(_MAGIC + len(header).to_bytes(8, "little"))
            fh.writelines([header, *(blobs[name][0] for name in _SECTIONS)])
        old = sorted(path.parent.glob("*.listing"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[_KEEP:]:
            stale.unlink(missing_ok=True)
    except (OSError, ValueError):
        # The listing only saves time; a home that cannot take it must not break listing.
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return out
