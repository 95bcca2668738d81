"""Load, merge, index and search the model registry.

The registry is a set of YAML files, one per model family. Sources are merged
in layers, later layers over earlier ones:

1. the registry shipped with zoo (``registry/`` in a checkout,
   ``zoo/registry_data`` in a wheel);
2. each path in ``ZOO_REGISTRY`` (``os.pathsep``-separated files or folders);
3. each path passed as ``registries=`` (the CLI's ``--registry``).

Within one layer a name or alias defined twice is an error. A later layer may
redefine a whole model by name (that is how a local registry pins or patches
an entry); its aliases must still not collide with another model's.

Validating YAML needs pydantic, which costs more than a ``zoo list`` may take.
So the validated registry is kept as a small JSON index under
``$ZOO_HOME/index/``, keyed by the path, size and mtime of every source file
and by zoo's version; any edit to a registry file makes a new key, so the
index is never stale. Listing, searching and ``info`` read only that index.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo import _settings
from zoo._ids import ModelId, parse_model_id
from zoo._version import __version__
from zoo.errors import (
    ModelNotFoundError,
    RegistryError,
    RegistryIssue,
    VersionNotFoundError,
)

__all__ = [
    "Catalog",
    "ModelSummary",
    "ModelInfo",
    "load_catalog",
    "validate_paths",
    "registry_files",
    "list_models",
    "search",
    "info",
    "get_entry",
    "parse_size",
    "add_entry",
]

# Bump when the index's JSON layout changes.
_INDEX_FORMAT = 1
# Registry files are small text; anything bigger is a mistake, not a registry.
_MAX_REGISTRY_BYTES = 16 * 1024 * 1024
# How many index files (one per distinct set of sources) to keep.
_KEEP_INDEXES = 8
_YAML_SUFFIXES = (".yaml", ".yml")


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


# --------------------------------------------------------------------------
# Reading and validating YAML (slow path: imports yaml and pydantic)
# --------------------------------------------------------------------------


def registry_files(path: Path) -> list[Path]:
    """Returns the YAML files a registry path stands for.

    A file stands for itself; a folder for its ``*.yaml``/``*.yml`` files
    (not recursive, hidden files skipped), sorted by name.
    """
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if p.suffix in _YAML_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
    return [path]


def _format_loc(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _yaml_loader() -> type:
    """Returns a SafeLoader that also rejects duplicate mapping keys.

    Plain ``yaml.safe_load`` keeps the last of two equal keys silently, which
    would let a second ``resnet50:`` in one file replace the first unseen.
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _UniqueKeyLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN202
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r} (first at line {seen[key].line + 1}); "
                        "each key may appear once",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    return _UniqueKeyLoader


def _pydantic_issue(file: str, error: dict[str, Any]) -> RegistryIssue:
    loc = _format_loc(error["loc"])
    code = error["type"]
    if code == "extra_forbidden":
        key = error["loc"][-1] if error["loc"] else "?"
        message = f"unknown key {key!r}: remove it or fix its spelling"
    elif code == "missing":
        message = "required key is missing: add it"
    elif code == "literal_error":
        message = f"{error['msg']} (got {error.get('input')!r})"
    else:
        message = error["msg"]
    return RegistryIssue(file, loc, message, code)


def _read_registry_file(path: Path) -> tuple[Any, list[RegistryIssue], list[str]]:
    """Parses and validates one file.

    Returns:
        (RegistryFile or None, issues, the model names the file defines). The
        names are read even from a file that fails validation, so that
        duplicates are reported together with its other problems.
    """
    import yaml

    from zoo.schema import RegistryFile

    file = str(path)
    try:
        size = path.stat().st_size
        if size > _MAX_REGISTRY_BYTES:
            return None, [
                RegistryIssue(
                    file,
                    "",
                    f"file is {size} bytes, over the {_MAX_REGISTRY_BYTES} byte limit for "
                    "a registry file; split it by model family",
                    "file_too_large",
                )
            ], []
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [RegistryIssue(file, "", "no such file or folder: check the path", "not_found")], []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RegistryIssue(file, "", f"cannot read the file ({exc}); it must be UTF-8 text", "unreadable")], []
    try:
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [RegistryIssue(file, where, f"invalid YAML: {problem}; fix the syntax", "yaml_syntax")], []
    if not isinstance(data, dict):
        return None, [
            RegistryIssue(
                file,
                "",
                "the top level must be a mapping with 'schema_version: 1' and 'models:'",
                "not_a_mapping",
            )
        ], []
    models = data.get("models")
    names = [n for n in models if isinstance(n, str)] if isinstance(models, dict) else []
    from pydantic import ValidationError

    try:
        return RegistryFile.model_validate(data), [], names
    except ValidationError as exc:
        return None, [_pydantic_issue(file, err) for err in exc.errors(include_url=False)], names


def _merge_layer(
    layer: Sequence[Path],
    models: dict[str, dict[str, Any]],
    issues: list[RegistryIssue],
) -> None:
    """Validates one layer's files and merges their models into ``models``."""
    defined: dict[str, str] = {}  # model name -> file that defines it in this layer
    for path in layer:
        parsed, file_issues, names = _read_registry_file(path)
        issues.extend(file_issues)
        for name in names:
            if name in defined:
                issues.append(
                    RegistryIssue(
                        str(path),
                        f"models.{name}",
                        f"model {name!r} is already defined in {defined[name]}; "
                        "names must be unique, rename or remove one",
                        "duplicate_name",
                    )
                )
                continue
            defined[name] = str(path)
            if parsed is None:
                continue
            entry = parsed.models[name]
            record = entry.model_dump(mode="json", exclude_defaults=True)
            record["family"] = path.stem
            record["registry_file"] = str(path)
            models[name] = record


def _check_aliases(models: dict[str, dict[str, Any]], issues: list[RegistryIssue]) -> dict[str, str]:
    """Builds alias -> name after merging; reports aliases that collide."""
    aliases: dict[str, str] = {}
    for name, record in models.items():
        for alias in record.get("aliases", []):
            owner = alias if alias in models else aliases.get(alias)
            if owner is None:
                aliases[alias] = name
                continue
            issues.append(
                RegistryIssue(
                    record["registry_file"],
                    f"models.{name}.aliases",
                    f"alias {alias!r} is already taken by model {owner!r} "
                    f"({models[owner]['registry_file']}); names and aliases must be "
                    "unique, rename or drop the alias",
                    "duplicate_name",
                )
            )
    return aliases


def _build_index(layers: Sequence[Sequence[Path]]) -> dict[str, Any]:
    models: dict[str, dict[str, Any]] = {}
    issues: list[RegistryIssue] = []
    for layer in layers:
        _merge_layer(layer, models, issues)
    aliases = _check_aliases(models, issues)
    if issues:
        raise RegistryError(issues)
    return {"format": _INDEX_FORMAT, "models": models, "aliases": aliases}


def validate_paths(paths: Sequence[str | os.PathLike[str]]) -> dict[str, int]:
    """Validates registry files or folders together, as one layer.

    Args:
        paths: Files or folders of YAML files.

    Returns:
        Counts: ``{"files": ..., "models": ..., "versions": ..., "files_pinned": ...}``.

    Raises:
        RegistryError: With every problem found in every file.
    """
    files: list[Path] = []
    for p in paths:
        files.extend(registry_files(Path(p)))
    if not files:
        raise RegistryError([RegistryIssue(", ".join(map(str, paths)), "", "no YAML files found", "no_files")])
    index = _build_index([files])
    models = index["models"].values()
    return {
        "files": len(files),
        "models": len(index["models"]),
        "versions": sum(len(m["versions"]) for m in models),
        "files_pinned": sum(len(v["files"]) for m in models for v in m["versions"].values()),
    }


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
    """

    def __init__(self, models: dict[str, dict[str, Any]], aliases: dict[str, str], files: list[str]):
        self.models = models
        self.aliases = aliases
        self.files = files

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
        if record is None or (mid.family is not None and record["family"] != mid.family):
            raise ModelNotFoundError(str(mid), self.suggest(mid.name))
        version = mid.version or record["default"]
        if version not in record["versions"]:
            raise VersionNotFoundError(name, version, list(record["versions"]))
        return name, version

    def summary(self, name: str, version: str | None = None, score: float = 0.0) -> ModelSummary:
        """Returns the :class:`ModelSummary` of one model version."""
        record = self.models[name]
        version = version or record["default"]
        v = record["versions"][version]
        return ModelSummary(
            name=name,
            version=version,
            default=record["default"],
            versions=tuple(record["versions"]),
            family=record["family"],
            task=record["task"],
            modality=record["modality"],
            architecture=record["architecture"],
            adapter=v["adapter"],
            license=v["license"],
            params=v.get("params"),
            size=_size(v),
            aliases=tuple(record.get("aliases", ())),
            tags=tuple(record.get("tags", ())),
            verification=_verification(v),
            size_known=all(f.get("size") for f in v["files"]),
            score=score,
        )

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
            registry_file=record["registry_file"],
            task=record["task"],
            modality=record["modality"],
            architecture=record["architecture"],
            description=record.get("description"),
            paper=record["paper"],
            aliases=tuple(record.get("aliases", ())),
            tags=tuple(record.get("tags", ())),
            adapter=v["adapter"],
            arch=v["arch"],
            arch_args=dict(v.get("arch_args", {})),
            license=v["license"],
            dataset=v.get("dataset"),
            version_description=v.get("description"),
            version_paper=v.get("paper"),
            version_tags=tuple(v.get("tags", ())),
            params=v.get("params"),
            size=_size(v),
            metrics=tuple(v.get("metrics", ())),
            input=v.get("input"),
            stages=tuple(v.get("stages", ())),
            files=tuple(v["files"]),
            verification=_verification(v),
            weights_layout=v.get("weights_layout"),
        )


def _layers(registries: Sequence[str | os.PathLike[str]] | None) -> list[list[Path]]:
    layers = [registry_files(_settings.shipped_registry())]
    for extra in [*_settings.extra_registries(), *(Path(r) for r in registries or ())]:
        layers.append(registry_files(Path(extra)))
    return layers


def _fingerprint(layers: Sequence[Sequence[Path]]) -> str:
    parts: list[Any] = [_INDEX_FORMAT, __version__]
    for layer in layers:
        row = []
        for path in layer:
            try:
                st = path.stat()
                row.append([str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino])
            except OSError:
                row.append([str(path), None])
        parts.append(row)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _write_index(folder: Path, path: Path, index: dict[str, Any]) -> None:
    """Writes the index atomically; a cache that cannot be written is skipped."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
        old = sorted(folder.glob("registry-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[_KEEP_INDEXES:]:
            stale.unlink(missing_ok=True)
    except OSError:
        # The index only saves time; a read-only home must not break listing.
        pass


_CATALOGS: dict[str, Catalog] = {}


def load_catalog(registries: Sequence[str | os.PathLike[str]] | None = None) -> Catalog:
    """Returns the merged registry: shipped, then ``ZOO_REGISTRY``, then ``registries``.

    Reads the JSON index when it matches the sources, else validates the YAML
    and writes a new index.

    Raises:
        RegistryError: A source file is malformed; lists every problem.
    """
    layers = _layers(registries)
    key = _fingerprint(layers)
    cached = _CATALOGS.get(key)
    if cached is not None:
        return cached
    folder = _settings.home() / "index"
    path = folder / f"registry-{key[:32]}.json"
    index = None
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
    catalog = Catalog(index["models"], index["aliases"], [str(p) for layer in layers for p in layer])
    _CATALOGS[key] = catalog
    return catalog


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


def _size(version: dict[str, Any]) -> int:
    """Bytes of a version's files whose size is known."""
    return sum(f.get("size") or 0 for f in version["files"])


def _verification(version: dict[str, Any]) -> str:
    """The version's verification tier (see :func:`zoo._hashing.version_tier`)."""
    from zoo._hashing import version_tier

    return version_tier(version["files"])


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


def get_entry(model_id: str, *, registries: Sequence[str | os.PathLike[str]] | None = None) -> tuple[Any, Any]:
    """Returns the validated ``(ModelEntry, ModelVersion)`` for ``model_id``.

    For code that needs the typed schema objects (downloaders, adapters); it
    imports pydantic, unlike :func:`info`.
    """
    from zoo.schema import ModelEntry

    catalog = load_catalog(registries)
    name, version = catalog.resolve(model_id)
    record = {k: v for k, v in catalog.models[name].items() if k not in ("family", "registry_file")}
    entry = ModelEntry.model_validate(record)
    return entry, entry.versions[version]


def add_entry(path: str | os.PathLike[str], name: str, entry: dict[str, Any]) -> Path:
    """Adds (or replaces) one model in a registry file, validating the result before writing.

    Creates the file if needed; writes atomically. Comments in an existing
    file are not kept (it is rewritten from its data).

    Raises:
        RegistryError: The resulting file would not validate; nothing is written.
    """
    import yaml

    target = Path(path)
    doc: dict[str, Any] = {"schema_version": 1, "models": {}}
    if target.exists():
        loaded = yaml.load(target.read_text(encoding="utf-8"), Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        if isinstance(loaded, dict):
            doc = loaded
            doc.setdefault("models", {})
    doc["models"][name] = entry
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.yaml")
    try:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        validate_paths([tmp])
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
