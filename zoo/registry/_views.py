"""What callers get from the registry: frozen views of a model and of one version (no pydantic)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


# --------------------------------------------------------------------------
# Views returned by the public API: plain frozen dataclasses built from the
# index, so that listing and searching never import pydantic.
# --------------------------------------------------------------------------


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

    Nested parts (``paper``, ``input``, ``stages``, ``files``, ``metrics``)
    are plain dicts with the registry's keys. ``verification`` is as in
    :class:`ModelSummary`. ``weights_layout`` names the third-party key layout
    of the weights file, None when it has the architecture's own keys. ``ids``
    are the publisher's own names for these weights (``resnet50.a1_in1k``),
    which resolve to this version.
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
    paper: dict[str, Any]
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    adapter: str
    arch: str
    arch_args: dict[str, Any]
    license: str
    dataset: str | None
    version_description: str | None
    version_paper: dict[str, Any] | None
    version_tags: tuple[str, ...]
    params: int | None
    size: int
    metrics: tuple[dict[str, Any], ...]
    input: dict[str, Any] | None
    stages: tuple[dict[str, Any], ...]
    files: tuple[dict[str, Any], ...]
    verification: str = "sha256"
    weights_layout: str | None = None
    ids: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def source(self) -> str:
        """Whose metadata the version comes from (as in :class:`ModelSummary`)."""
        from zoo.registry._listing import source_of

        return source_of(self.registry_file, self.files)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict, with ``id`` and ``source`` added."""
        return {"id": self.id, **asdict(self), "source": self.source}


def _size(version: dict[str, Any]) -> int:
    """Bytes of a version's files whose size is known."""
    return sum(f.get("size") or 0 for f in version["files"])


def _verification(version: dict[str, Any]) -> str:
    """The version's verification tier (see :func:`zoo._hashing.version_tier`)."""
    from zoo.registry._listing import known_tier

    tier = known_tier(version)  # computed by version_tier when the listing was written
    if tier is None:
        from zoo._hashing import version_tier

        tier = version_tier(version["files"])
    return tier
