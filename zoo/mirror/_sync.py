"""``zoo mirror sync``: add model versions to a mirror (blobs, registry snapshot, index), incrementally."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo._layout import mirror_blob
from zoo._version import __version__
from zoo.cache import Cache
from zoo.errors import InvalidOptionError, RegistryError, RegistryIssue
from zoo.fetch import RetryPolicy
from zoo.mirror._open import open_store
from zoo.mirror._store import BLOBS, Store
from zoo.registry import load_catalog
from zoo.resolve import Progress, PullResult, pull_lock, pull_many

__all__ = ["INDEX", "SyncReport", "read_index", "sync"]

INDEX = "index.json"


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did.

    Attributes:
        path: The mirror (a folder, or ``s3://bucket/prefix``).
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


def _read_snapshot(store: Store) -> dict[str, dict[str, Any]]:
    """The mirror's registry snapshot, family -> models (empty when there is none yet)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for name, text in store.texts("registry", ".yaml"):
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            issue = RegistryIssue(f"{store.where}/registry/{name}", "", f"the mirror's registry snapshot cannot be read ({exc}); fix or remove it, then sync again", "yaml_syntax")
            raise RegistryError([issue]) from exc
        out[name.removesuffix(".yaml")] = dict(doc.get("models") or {})
    return out


def read_index(store: Store) -> dict[str, Any]:
    """The mirror's ``index.json`` (empty when there is none, or it is not one zoo wrote)."""
    text = store.read_text(INDEX)
    try:
        data = json.loads(text) if text is not None else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) and data.get("format") == 1 else {}


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
    """Adds model versions to a mirror: their blobs, registry entries and index rows.

    Every blob comes from the local cache, verified by the pull that put it
    there (the versions are pulled first, from the cache, mirrors or origin).

    Args:
        dest: The mirror: a folder (created if missing) or ``s3://bucket/prefix`` (the bucket must exist).
        model_ids: ``[family/]name[@version]`` to mirror.
        all_models: Every model of the registry (each default version), or of ``source`` only.
        source: With ``all_models``: only models whose default version comes from this source
            (``timm``, ``torchvision``, ``onnx-zoo``, ``omz``, ``gensim``, ``curated``).
        lock: A lock file (``zoo registry lock``): mirror exactly the files it pins.
        registries, progress, offline, mirrors, cache, policy: As for :func:`zoo.pull`.

    Raises:
        InvalidOptionError: Nothing to mirror was named.
        UnsafeFileError: A path a folder mirror would write is a symlink; nothing is written.
        MirrorError: An S3 mirror's bucket is missing or refuses the credentials; nothing is written.
    """
    import yaml

    cache = cache or Cache()
    store = open_store(dest)
    catalog = load_catalog(registries)
    ids = list(model_ids)
    if all_models:
        from zoo.registry import list_models

        ids += [f"{m.name}@{m.version}" for m in list_models(source=source, registries=registries)]
    if not ids and lock is None:
        raise InvalidOptionError("name the models to mirror, --all (optionally with --source), or --lock FILE")
    store.prepare([])  # an S3 bucket that is missing or refuses us fails before any pull
    results: list[PullResult] = []
    if ids:
        results += pull_many(ids, registries=registries, progress=progress, offline=offline, mirrors=mirrors, cache=cache, policy=policy)
    if lock is not None:
        results += pull_lock(lock, progress=progress, offline=offline, mirrors=mirrors, cache=cache, policy=policy)
    snapshot = _read_snapshot(store)
    index = read_index(store) or {"format": 1, "blobs": {}, "models": {}}
    touched: set[str] = set()
    for result in results:
        name, version = result.model.split("@")
        index["models"][result.model] = {f.path: f.sha256 for f in result.files}
        for f in result.files:
            index["blobs"][f.sha256] = f.size
        if result.model not in catalog:
            continue  # a lock's version the registry does not have: blobs only
        family = snapshot.setdefault(catalog.family(name), {})
        entry = family.get(name) or catalog.entry(name, ())
        entry.setdefault("versions", {}).update(catalog.entry(name, [version])["versions"])
        if entry.get("default") not in entry["versions"]:
            entry["default"] = version
        family[name] = entry
        touched.add(catalog.family(name))
    writes = [BLOBS, "registry", INDEX, *(mirror_blob(s) for s in index["blobs"]), *(f"registry/{k}.yaml" for k in touched)]
    store.prepare(writes)
    present = store.blob_sizes()
    sizes = {f.sha256: f.size for r in results for f in r.files}
    wanted = [f.sha256 for r in results for f in r.files]
    todo = [sha for sha in dict.fromkeys(wanted) if present.get(sha) != sizes[sha]]
    kept = len(wanted) - len(todo)
    label = f"mirror {store.where}"
    if progress is not None:
        progress({"event": "start", "model": label, "files": len(wanted), "bytes": sum(sizes[s] for s in wanted),
                  "missing": len(todo), "missing_bytes": sum(sizes[s] for s in todo)})
    for sha in todo:
        path = mirror_blob(sha)
        on_bytes = None
        if progress is not None:
            progress({"event": "file", "model": label, "path": path, "size": sizes[sha], "sha256": sha, "status": "uploading"})

            def on_bytes(n: int, path: str = path) -> None:
                progress({"event": "bytes", "model": label, "path": path, "n": n})

        store.put_blob(sha, cache.blob_path(sha), on_bytes=on_bytes)
    copied, copied_bytes = len(todo), sum(sizes[s] for s in todo)
    for family in sorted(touched):
        doc = {"schema_version": 1, "description": f"Mirror written by zoo {__version__}", "models": snapshot[family]}
        store.write_bytes(f"registry/{family}.yaml", yaml.safe_dump(doc, sort_keys=False).encode())
    if lock is not None:
        store.write_bytes(f"locks/{Path(lock).name}", Path(lock).read_bytes())
    index["zoo"] = __version__
    store.write_bytes(INDEX, (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())
    return SyncReport(
        store.where, [r.model for r in results], copied, copied_bytes, kept, len(index["models"]), len(index["blobs"]),
        sum(index["blobs"].values()),
    )
