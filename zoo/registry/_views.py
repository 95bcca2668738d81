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
        score: Relevance, for search results; 0 for listings.
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

    @property
    def id(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict, with ``id`` added."""
        return {"id": self.id, **asdict(self)}


@dataclass(frozen=True)
class ModelInfo:
    """Everything the registry says about one version of a model.

    Nested parts (``paper``, ``input``, ``stages``, ``files``, ``metrics``)
    are plain dicts with the registry's keys. ``verification`` is as in
    :class:`ModelSummary`. ``weights_layout`` names the third-party key layout
    of the weights file, None when it has the architecture's own keys.
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

    @property
    def id(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict, with ``id`` added."""
        return {"id": self.id, **asdict(self)}


def _size(version: dict[str, Any]) -> int:
    """Bytes of a version's files whose size is known."""
    return sum(f.get("size") or 0 for f in version["files"])


def _verification(version: dict[str, Any]) -> str:
    """The version's verification tier (see :func:`zoo._hashing.version_tier`)."""
    from zoo._hashing import version_tier

    return version_tier(version["files"])
