"""The catalog: the validated registry as a JSON index under ``$ZOO_HOME/index/``, and lookups in it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from zoo import _atomic, _layout, _settings
from zoo._ids import ModelId, parse_model_id
from zoo._version import __version__
from zoo.errors import (
    ModelNotFoundError,
    VersionNotFoundError,
)
from zoo.registry import _listing
from zoo.registry._load import _INDEX_FORMAT, Part, _build_index, registry_parts
from zoo.registry._views import (
    DeclaredStage,
    FileInfo,
    HubSnapshot,
    InputSpec,
    Metric,
    ModelInfo,
    Paper,
    _verification,
    _views,
)

# How many index files (one per distinct set of sources) to keep.
_KEEP_INDEXES = 8


# --------------------------------------------------------------------------
# The catalog (fast path: JSON index only)
# --------------------------------------------------------------------------


class Catalog:
    """The merged registry, as read from the index.

    Attributes:
        models: Model name -> the model's registry data (JSON form) plus
            ``family`` and ``registry_file``.
        aliases: Alias -> model name.
        files: The registry files this catalog was built from, in layer order.
        ids: Publisher id (lowercased: ``resnet50.a1_in1k``,
            ``resnet50_weights.imagenet1k_v2``) -> ``name@version``; consulted
            when no model or alias has the name.
    """

    def __init__(
        self,
        models: dict[str, dict[str, Any]],
        aliases: dict[str, str],
        files: list[str],
        ids: dict[str, str] | None = None,
    ):
        self.models = models
        self.aliases = aliases
        self.files = files
        self.ids = ids or {}

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        if not isinstance(model_id, str):
            return False
        try:
            self.resolve(model_id)
        except (ModelNotFoundError, VersionNotFoundError, ValueError):
            return False
        return True

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Returns the known names closest to ``name``, best first."""
        candidates = list(self.models) + list(self.aliases)
        import difflib  # only for unknown names: not on the cold path of `zoo list`

        close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
        if not close:
            # "resnet" should suggest resnet18/resnet50 even though it is short.
            close = sorted(c for c in candidates if name and (name in c or c in name))[:n]
        return list(dict.fromkeys(self.aliases.get(c, c) for c in close))

    def resolve(self, model_id: str | ModelId) -> tuple[str, str]:
        """Resolves ``[family/]name[@version]`` (or an alias) to (name, version).

        Raises:
            ModelNotFoundError: No such model; carries suggestions.
            VersionNotFoundError: The model has no such version.
            InvalidModelIdError: The id is malformed.
        """
        mid = model_id if isinstance(model_id, ModelId) else parse_model_id(model_id)
        name = self.aliases.get(mid.name, mid.name)
        record = self.models.get(name)
        if record is None and mid.version is None and mid.family is None and mid.name in self.ids:
            # A publisher's own id (resnet50.a1_in1k, mobilenetv2-7, ResNet50_Weights.IMAGENET1K_V2).
            name, _, version = self.ids[mid.name].partition("@")
            return name, version
        if mid.family is not None and (record is None or record["family"] != mid.family):
            # A Hugging Face repo id (BAAI/bge-small-en-v1.5[@version]) parses as family/name.
            target = self.ids.get(f"{mid.family}/{mid.name}")
            if target is not None:
                name, _, version = target.partition("@")
                if mid.version is not None and mid.version not in self.models[name]["versions"]:
                    raise VersionNotFoundError(name, mid.version, list(self.models[name]["versions"]))
                return name, mid.version or version
        if record is None or (mid.family is not None and record["family"] != mid.family):
            raise ModelNotFoundError(str(mid), self.suggest(mid.name))
        version = mid.version or record["default"]
        if version not in record["versions"]:
            raise VersionNotFoundError(name, version, list(record["versions"]))
        return name, version

    def versions(self, names: Iterable[str] | None = None) -> Iterator[ModelInfo]:
        """Every version of the given models (default: all), as :class:`ModelInfo` s: models in the
        catalog's order, each model's versions in registry order."""
        for name in self.models if names is None else names:
            for version in self.models[name]["versions"]:
                yield self.info(f"{name}@{version}")

    def entry(self, name: str, versions: Iterable[str] | None = None) -> dict[str, Any]:
        """Model ``name`` as a registry file holds it (the schema's mapping), with only ``versions`` if given.

        For writers of registry files (a mirror's registry snapshot); readers use :meth:`info`.
        """
        record = self.models[name]
        out = {k: v for k, v in record.items() if k not in ("family", "registry_file", "versions")}
        wanted = list(record["versions"]) if versions is None else list(versions)
        out["versions"] = {
            v: {k: x for k, x in record["versions"][v].items() if k != "registry_file" and not (k == "files" and not x)}
            for v in wanted
        }
        return out

    def family(self, name: str) -> str:
        """The registry file stem model ``name`` comes from (``resnet`` for registry/resnet.yaml)."""
        return self.models[name]["family"]

    def only(self, keep: Callable[[str], bool]) -> Catalog:
        """The catalog of the models whose registry file ``keep`` accepts (their aliases and publisher ids with them)."""
        models = {name: m for name, m in self.models.items() if keep(m.get("registry_file", ""))}
        aliases = {a: n for a, n in self.aliases.items() if n in models}
        ids = {k: v for k, v in self.ids.items() if v.partition("@")[0] in models}
        return Catalog(models, aliases, [f for f in self.files if keep(f)], ids)

    def info(self, model_id: str | ModelId) -> ModelInfo:
        """Returns the :class:`ModelInfo` of ``model_id`` (default version if none)."""
        name, version = self.resolve(model_id)
        record = self.models[name]
        v = record["versions"][version]
        return ModelInfo(
            name=name,
            version=version,
            default=record["default"],
            versions=tuple(record["versions"]),
            family=record["family"],
            registry_file=v.get("registry_file") or record["registry_file"],
            task=v.get("task") or record["task"],
            modality=record["modality"],
            architecture=record["architecture"],
            description=record.get("description"),
            paper=Paper.of(record.get("paper")),
            aliases=tuple(record.get("aliases", ())),
            tags=tuple(record.get("tags", ())),
            adapter=v["adapter"],
            arch=v["arch"],
            arch_args=dict(v.get("arch_args", {})),
            license=v["license"],
            dataset=v.get("dataset"),
            version_description=v.get("description"),
            version_paper=Paper.of(v.get("paper")),
            version_tags=tuple(v.get("tags", ())),
            params=v.get("params"),
            size=_listing.size_of(v),
            metrics=_views(v.get("metrics"), Metric),
            input=InputSpec.of(v.get("input")),
            stages=_views(v.get("stages"), DeclaredStage),
            files=_views(v.get("files"), FileInfo),
            verification=_verification(v),
            weights_layout=v.get("weights_layout"),
            ids=tuple(v.get("ids", ())),
            snapshot=HubSnapshot.of(v.get("snapshot")),
            requires=tuple(v.get("requires", ())),
            embed_dim=v.get("embed_dim"),
        )


def _layers(registries: Sequence[str | os.PathLike[str]] | None) -> list[list[Part]]:
    """Each layer's parts (see :func:`zoo.registry._load.registry_parts`): shipped, ZOO_REGISTRY, then ``registries``."""
    layers = [registry_parts(_settings.shipped_registry())]
    for extra in [*_settings.extra_registries(), *(Path(r) for r in registries or ())]:
        layers.append(registry_parts(Path(extra)))
    return layers


def _fingerprint(layers: Sequence[Sequence[Part]]) -> str:
    parts: list[Any] = [_INDEX_FORMAT, __version__]
    for layer in layers:
        for part in layer:
            row = []
            for path in part.files:
                try:
                    st = path.stat()
                    row.append([str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino])
                except OSError:
                    row.append([str(path), None])
            parts.append(row)
        parts.append("|")
    # repr, not json.dumps: a stable text for these lists of str/int/None that needs no json import.
    return _sha256(repr(parts).encode()).hexdigest()


def _sha256(data: bytes) -> Any:
    """hashlib.sha256 without loading OpenSSL: a cold `zoo list` hashes ~1 kB here and nothing else (2.5 ms saved)."""
    try:
        from _sha256 import sha256  # CPython <= 3.11's built-in implementation
    except ImportError:
        try:
            from _sha2 import sha256  # CPython >= 3.12
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def _write_index(folder: Path, path: Path, index: dict[str, Any]) -> None:
    """Writes the index atomically; a cache that cannot be written is skipped."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        import json

        _atomic.write_text(path, json.dumps(index, separators=(",", ":")))
        old = sorted(folder.glob("registry-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[_KEEP_INDEXES:]:
            stale.unlink(missing_ok=True)
    except OSError:
        # The index only saves time; a read-only home must not break listing.
        pass


_CATALOGS: dict[str, Catalog] = {}


def load_catalog(registries: Sequence[str | os.PathLike[str]] | None = None) -> Catalog:
    """Returns the merged registry: shipped, then ``ZOO_REGISTRY``, then ``registries``.

    Reads the listing derived from the JSON index when both match the
    sources (:mod:`zoo.registry._listing`), else the JSON index, else
    validates the YAML and writes a new index (and its listing).

    Raises:
        RegistryError: A source file is malformed; lists every problem.
    """
    layers = _layers(registries)
    key = _fingerprint(layers)
    cached = _CATALOGS.get(key)
    if cached is not None:
        return cached
    folder = _layout.current().index
    path = folder / f"registry-{key[:32]}.json"
    index = _listing.read(path)
    if index is None or index.get("format") != _INDEX_FORMAT:
        index = None
        import json  # only when the listing is stale: it spares the cold path 1.5 ms

        try:
            with open(path, encoding="utf-8") as fh:
                index = json.load(fh)
            if index.get("format") != _INDEX_FORMAT:
                index = None
        except (OSError, ValueError):
            index = None
        if index is None:
            index = _build_index(layers)
            _write_index(folder, path, index)
        index = _listing.write(path, index)
    files = [str(p) for layer in layers for part in layer for p in part.files]
    catalog = Catalog(index["models"], index["aliases"], files, index.get("ids"))
    _CATALOGS[key] = catalog
    return catalog
