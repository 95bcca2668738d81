"""Team mirrors: a folder that other machines pull from, served as it is by nginx (or any static server).

``sync("/srv/zoo-mirror", ["resnet50"])`` writes::

    /srv/zoo-mirror/
    ├── sha256/<hex>           every file of the mirrored versions, named by its sha256 (ZOO_MIRROR)
    ├── registry/<family>.yaml the registry entries of those versions (ZOO_REGISTRY): air-gapped
    │                          machines resolve the same names to the same hashes
    └── index.json             what the mirror holds: blob -> size, model -> files (``zoo mirror verify``)

A sync is incremental: models already there stay (the registry snapshot is
merged, version by version), blobs already there are not copied again, and
every copied blob comes from the local cache, verified by the pull that put
it there. ``verify`` re-hashes what the mirror holds and lists blobs whose
bytes are not their name and files the index or registry names that are missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo._version import __version__
from zoo.cache import Cache
from zoo.errors import InvalidOptionError, RegistryError, RegistryIssue, UnsafeFileError
from zoo.fetch import RetryPolicy
from zoo.registry import load_catalog
from zoo.resolve import Progress, PullResult, pull_lock, pull_many

__all__ = ["SyncReport", "MirrorCheck", "sync", "verify_mirror", "INDEX"]

INDEX = "index.json"
_CHUNK = 8 << 20


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did.

    Attributes:
        path: The mirror folder.
        models: ``name@version`` of every version synced by this call.
        files: Blobs copied by this call; bytes: their size.
        kept: Blobs the mirror already had (not copied again).
        total_models, total_blobs, total_bytes: What the mirror holds now.
    """

    path: str
    models: list[str]
    files: int
    bytes: int
    kept: int
    total_models: int
    total_blobs: int
    total_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MirrorCheck:
    """What :func:`verify_mirror` found.

    Attributes:
        path: The mirror folder.
        checked: Blobs re-hashed; bytes: their size.
        bad: ``(blob name, actual sha256)`` of each blob whose bytes are not its name.
        missing: ``(model, file path, sha256)`` the index names but the mirror lacks.
        unlisted: Blobs in ``sha256/`` that no mirrored version uses.
    """

    path: str
    checked: int = 0
    bytes: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    missing: list[tuple[str, str, str]] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad and not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _refuse_links(dest: Path, paths: Sequence[Path]) -> None:
    # zoo writes every file of a mirror itself: a link where one goes was put there by someone else, and writing
    # through it would write wherever it points. Refused before anything is written.
    links = [p for p in paths if os.path.islink(p)]
    if links:
        leads_to = os.path.realpath(links[0])
        more = f" and {len(links) - 1} more" if len(links) > 1 else ""
        raise UnsafeFileError(
            f"mirror {dest}: {links[0]} is a symlink (to {leads_to}){more}; zoo writes a mirror's files itself and "
            "never through a link, so nothing was written. Remove the link(s) or choose another folder.",
            path=str(links[0]), reason="symlink", target=leads_to,
        )


def _read_snapshot(reg_dir: Path) -> dict[str, dict[str, Any]]:
    """The mirror's registry snapshot, family -> models (empty when there is none yet)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for path in sorted(reg_dir.glob("*.yaml")) if reg_dir.is_dir() else ():
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            issue = RegistryIssue(str(path), "", f"the mirror's registry snapshot cannot be read ({exc}); fix or remove it, then sync again", "yaml_syntax")
            raise RegistryError([issue]) from exc
        out[path.stem] = dict(doc.get("models") or {})
    return out


def _read_index(dest: Path) -> dict[str, Any]:
    try:
        data = json.loads((dest / INDEX).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("format") == 1 else {}
    except (OSError, ValueError):
        return {}


def sync(
    dest: str | os.PathLike[str],
    model_ids: Sequence[str] = (),
    *,
    all_models: bool = False,
    source: str | None = None,
    lock: str | os.PathLike[str] | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache: Cache | None = None,
    policy: RetryPolicy | None = None,
) -> SyncReport:
    """Adds model versions to a mirror folder: their blobs, registry entries and index rows.

    Args:
        dest: The mirror folder (created if missing).
        model_ids: ``[family/]name[@version]`` to mirror.
        all_models: Every model of the registry (each default version), or of ``source`` only.
        source: With ``all_models``: only models whose default version comes from this source
            (``timm``, ``torchvision``, ``onnx-zoo``, ``omz``, ``gensim``, ``curated``).
        lock: A lock file (``zoo registry lock``): mirror exactly the files it pins.
        registries, progress, offline, mirrors, cache, policy: As for :func:`zoo.pull`.

    Raises:
        InvalidOptionError: Nothing to mirror was named.
        UnsafeFileError: A path the mirror would write is a symlink; nothing is written.
    """
    import yaml

    cache = cache or Cache()
    dest = Path(dest)
    catalog = load_catalog(registries)
    ids = list(model_ids)
    if all_models:
        from zoo.registry import list_models

        ids += [f"{m.name}@{m.version}" for m in list_models(source=source, registries=registries)]
    if not ids and lock is None:
        raise InvalidOptionError("name the models to mirror, --all (optionally with --source), or --lock FILE")
    results: list[PullResult] = []
    if ids:
        results += pull_many(ids, registries=registries, progress=progress, offline=offline, mirrors=mirrors, cache=cache, policy=policy)
    if lock is not None:
        results += pull_lock(lock, progress=progress, offline=offline, mirrors=mirrors, cache=cache, policy=policy)
    blob_dir, reg_dir = dest / "sha256", dest / "registry"
    snapshot = _read_snapshot(reg_dir)
    index = _read_index(dest) or {"format": 1, "blobs": {}, "models": {}}
    touched: set[str] = set()
    for result in results:
        name, version = result.model.split("@")
        record = catalog.models.get(name)
        index["models"][result.model] = {f["path"]: f["sha256"] for f in result.files}
        for f in result.files:
            index["blobs"][f["sha256"]] = f["size"]
        if record is None or version not in record["versions"]:
            continue  # a lock's version the registry does not have: blobs only
        family = snapshot.setdefault(record["family"], {})
        entry = family.get(name) or {k: v for k, v in record.items() if k not in ("family", "registry_file", "versions")} | {"versions": {}}
        entry.setdefault("versions", {})[version] = record["versions"][version]
        if entry.get("default") not in entry["versions"]:
            entry["default"] = version
        family[name] = entry
        touched.add(record["family"])
    writes = [blob_dir, reg_dir, dest / INDEX, *(blob_dir / s for s in index["blobs"]), *(reg_dir / f"{k}.yaml" for k in touched)]
    _refuse_links(dest, writes)
    copied = kept = copied_bytes = 0
    for result in results:
        for f in result.files:
            target = blob_dir / f["sha256"]
            if target.exists():
                kept += 1
                continue
            with _atomic.atomic_path(target) as tmp:
                shutil.copyfile(cache.blob_path(f["sha256"]), tmp)
            copied += 1
            copied_bytes += f["size"]
    for family in sorted(touched):
        doc = {"schema_version": 1, "description": f"Mirror written by zoo {__version__}", "models": snapshot[family]}
        _atomic.write_text(reg_dir / f"{family}.yaml", yaml.safe_dump(doc, sort_keys=False))
    if lock is not None:
        _atomic.write_bytes(dest / "locks" / Path(lock).name, Path(lock).read_bytes())
    index["zoo"] = __version__
    _atomic.write_text(dest / INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return SyncReport(
        str(dest), [r.model for r in results], copied, copied_bytes, kept, len(index["models"]), len(index["blobs"]),
        sum(index["blobs"].values()),
    )


def verify_mirror(dest: str | os.PathLike[str], *, on_bytes: Callable[[int], None] | None = None) -> MirrorCheck:
    """Re-hashes every blob a mirror folder holds; lists bad, missing and unlisted blobs (nothing is changed).

    Raises:
        InvalidOptionError: ``dest`` is not a mirror folder (no ``sha256/``).
    """
    dest = Path(dest)
    blob_dir = dest / "sha256"
    if not blob_dir.is_dir():
        raise InvalidOptionError(f"{dest} is not a zoo mirror (no sha256/ folder); write one with 'zoo mirror sync {dest} MODEL...'")
    index = _read_index(dest)
    check = MirrorCheck(str(dest))
    present = set()
    for path in sorted(blob_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.is_symlink():
            continue
        present.add(path.name)
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                h.update(block)
                check.bytes += len(block)
                if on_bytes is not None:
                    on_bytes(len(block))
        check.checked += 1
        if h.hexdigest() != path.name:
            check.bad.append((path.name, h.hexdigest()))
    used = set()
    for model, files in sorted(index.get("models", {}).items()):
        for rel, digest in sorted(files.items()):
            used.add(digest)
            if digest not in present:
                check.missing.append((model, rel, digest))
    check.unlisted = sorted(present - used) if index else []
    return check
