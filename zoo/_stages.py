"""Stages: the points where a model can be cut, derived from its architecture, by name.

The architecture is the truth about stages. Each adapter derives them from the
built architecture without weights (timm ``feature_info``, torchvision module
outputs, transformers layers, ONNX tensors, Caffe top blobs) into a
:class:`StageSet`:

* ``stages``: every measured cut point in execution order, each with channels,
  stride and output shape at the registry's input size. ``main`` marks the
  ones ``zoo stages`` lists (one per resolution for CNNs, every block for
  transformers); the others are valid cuts too.
* ``nodes``: further names the framework accepts (torchvision graph nodes,
  every ONNX tensor), measured only when asked for.

A registry ``stages:`` list is documentation: :func:`check_declared` compares
it with the derived set (name, channels, stride) and raises
:class:`~zoo.errors.StageMismatchError` naming both values. Its ``aliases``
are the only thing it adds.

Derived sets are cached as JSON in the cache's stages area (``stages/<key>.json``); the key
is computed by the adapter from what determines the architecture (adapter,
arch, arch_args, input shape, file hashes for file-defined architectures,
framework and zoo versions), so ``zoo stages`` does not rebuild a model twice.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _atomic, _layout
from zoo.errors import InvalidOptionError, StageMismatchError, StageNotFoundError

if TYPE_CHECKING:
    from zoo._plugins import AdapterSpec
    from zoo.registry import DeclaredStage, ModelInfo

__all__ = [
    "Stage",
    "StageSet",
    "select",
    "check_declared",
    "cache_key",
    "cached",
    "load_cached",
    "store",
    "power_of_two_stride",
]

_FORMAT = 1


@dataclass(frozen=True)
class Stage:
    """A point where a model can be cut.

    Attributes:
        name: The name the framework gives it (``layer3``, ``Mixed_6e``,
            ``encoder.layer.2``, a Caffe top blob, an ONNX tensor).
        channels: Channels (or hidden size) of its output.
        stride: Its output's reduction relative to the input (1 for text).
        aliases: Other accepted names (from the registry).
        shape: The output's shape for one input at the registry's input
            size, without the batch axis (None when not measured).
        main: Whether ``zoo stages`` lists it (the others are valid cuts too).
    """

    name: str
    channels: int
    stride: int
    aliases: tuple[str, ...] = ()
    shape: tuple[int, ...] | None = None
    main: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["shape"] = list(self.shape) if self.shape is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        """Inverse of :meth:`to_dict`."""
        shape = data.get("shape")
        return cls(
            data["name"],
            int(data["channels"]),
            int(data["stride"]),
            tuple(data.get("aliases", ())),
            tuple(shape) if shape is not None else None,
            bool(data.get("main", True)),
        )


@dataclass(frozen=True)
class StageSet:
    """The cut points of one architecture.

    Attributes:
        model: The model version it was derived for (for messages).
        stages: Every measured cut point, in execution order.
        nodes: Further accepted names, not measured until asked for.
        aliases: Alias -> stage or node name (from the registry).
    """

    model: str
    stages: tuple[Stage, ...]
    nodes: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def main(self) -> list[Stage]:
        """The stages ``zoo stages`` lists, input first."""
        return [s for s in self.stages if s.main]

    def canonical(self, name: str) -> str:
        """The stage name ``name`` stands for (itself, or what it is an alias of)."""
        return self.aliases.get(name, name)

    def find(self, name: str) -> Stage | None:
        """The measured stage called ``name`` (or with that alias), else None."""
        name = self.canonical(name)
        return next((s for s in self.stages if s.name == name), None)

    def accepts(self, name: str) -> bool:
        """Whether ``name`` is a cut point (measured or not)."""
        name = self.canonical(name)
        return self.find(name) is not None or name in self.nodes

    def closest(self, name: str, n: int = 5) -> list[str]:
        """The accepted names closest to ``name``, best first."""
        pool = list(dict.fromkeys([*(s.name for s in self.stages), *self.aliases, *self.nodes]))
        close = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
        if not close:
            # Same tail (``layer3`` vs ``model.layer3``) or same head: still a useful hint.
            close = [p for p in pool if p.endswith(name) or name.endswith(p) or p.startswith(name)][:n]
        return close

    def with_aliases(self, declared: Iterable[DeclaredStage]) -> StageSet:
        """The same set, with the registry's aliases attached to the stages they name."""
        aliases = dict(self.aliases)
        for entry in declared:
            for alias in entry.aliases:
                aliases[alias] = entry.name
        stages = tuple(
            replace(s, aliases=tuple(dict.fromkeys([*s.aliases, *(a for a, n in aliases.items() if n == s.name)])))
            for s in self.stages
        )
        return StageSet(self.model, stages, self.nodes, aliases)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the on-disk cache format)."""
        return {"format": _FORMAT, "stages": [s.to_dict() for s in self.stages], "nodes": list(self.nodes)}

    @classmethod
    def from_dict(cls, model: str, data: dict[str, Any]) -> StageSet:
        """Inverse of :meth:`to_dict`."""
        return cls(model, tuple(Stage.from_dict(s) for s in data["stages"]), tuple(data.get("nodes", ())))


Measure = Callable[[str], Stage]


def _lookup(stages: StageSet, name: str, measure: Measure) -> Stage | None:
    stage = stages.find(name)
    if stage is None and stages.canonical(name) in stages.nodes:
        stage = measure(stages.canonical(name))
    return stage


def select(stages: StageSet, until: str | Sequence[str] | None, measure: Measure) -> list[Stage]:
    """The stages ``until`` names, in the order given (one for a name; the last main stage for None).

    Args:
        stages: The architecture's stages.
        until: A stage name or alias, a list of them, or None.
        measure: Measures an accepted name that is not measured yet.

    Raises:
        StageNotFoundError: A name is not a cut point; lists the closest ones.
        ValueError: The list is empty or names a stage twice.
    """
    if until is None:
        main = stages.main
        if not main:
            raise StageNotFoundError(stages.model, "(the default stage)", [])
        return [main[-1]]
    names = [until] if isinstance(until, str) else list(until)
    if not names:
        raise InvalidOptionError("until= is an empty list; give one stage name or several")
    out: list[Stage] = []
    for name in names:
        stage = _lookup(stages, name, measure)
        if stage is None:
            raise StageNotFoundError(stages.model, name, [s.name for s in stages.main], stages.closest(name))
        if any(s.name == stage.name for s in out):
            raise InvalidOptionError(f"{stages.model}: stage {stage.name!r} is named twice in until=; list each stage once")
        out.append(stage)
    return out


def check_declared(stages: StageSet, declared: Iterable[DeclaredStage], measure: Measure) -> None:
    """Checks a registry ``stages:`` list against the derived stages.

    Raises:
        StageMismatchError: A listed stage does not exist, or its channels or
            stride differ from the architecture's; names both values.
    """
    for entry in declared:
        name = entry.name
        stage = _lookup(stages, name, measure) if stages.canonical(name) == name else None
        if stage is None:
            raise StageMismatchError(stages.model, name, "name", name, None, tuple(stages.closest(name, 3)))
        for key in ("channels", "stride"):
            if getattr(entry, key) != getattr(stage, key):
                raise StageMismatchError(stages.model, name, key, getattr(entry, key), getattr(stage, key))


def power_of_two_stride(size: int, out: int) -> int:
    """The reduction from ``size`` input pixels to ``out`` output pixels, as the nearest power of two.

    Valid-padding layers make maps a few pixels smaller than ``size / stride``
    (inception: 299 -> 147 at stride 2), so the ratio is rounded in log scale.
    """
    import math

    if out <= 0 or size <= 0:
        return 1
    return 2 ** max(0, round(math.log2(size / out)))


# --------------------------------------------------------------------------
# The on-disk cache of derived stage sets
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _installed(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def cache_key(info: ModelInfo, spec: AdapterSpec) -> str:
    """A stable key for what determines a version's stages (read without importing any framework).

    Args:
        info: The version (:class:`~zoo.registry.ModelInfo`).
        spec: Its adapter's :class:`~zoo._plugins.AdapterSpec`.
    """
    from zoo._version import __version__

    parts: dict[str, Any] = {
        "adapter": spec.name,
        "arch": info.arch,
        "arch_args": info.arch_args,
        "input": list(info.input.shape) if info.input and info.input.shape else None,
        "zoo": __version__,
        "frameworks": {p: _installed(p) for p in spec.frameworks},
    }
    if spec.file_defined:
        parts["files"] = sorted(f.sha256 or str(dict([f.hash]) if f.hash else None) for f in info.files)
    snapshot = getattr(info, "snapshot", None)
    if snapshot is not None:
        parts["snapshot"] = [snapshot.repo, snapshot.revision]  # its files (config.json) are pinned by the commit
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached(info: ModelInfo, spec: AdapterSpec) -> StageSet | None:
    """The cached stage set of a version, without its registry aliases; None if not derived yet."""
    return load_cached(info.id, cache_key(info, spec))


def _path(key: str) -> Path:
    return _layout.current().stage_set(key)


def load_cached(model: str, key: str) -> StageSet | None:
    """The cached stage set for ``key``, or None (missing or unreadable: derive again)."""
    path = _path(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            return None
        return StageSet.from_dict(model, data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, stages: StageSet) -> None:
    """Writes a derived stage set to the cache (atomically; a failure to write is not an error)."""
    try:
        _atomic.write_text(_path(key), json.dumps(stages.to_dict()))
    except OSError:
        pass  # a read-only (or full) ZOO_HOME only costs a rebuild next time
