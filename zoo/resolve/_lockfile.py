"""Lock files: every file of some model versions pinned by size and sha256, and pulling exactly that."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo._version import __version__
from zoo.cache import Cache
from zoo.errors import RegistryError, RegistryIssue
from zoo.fetch import RetryPolicy
from zoo.registry import FileInfo, load_catalog
from zoo._hashing import GIT_BLOB
from zoo.resolve._snapshot import files_of, record_pulled
from zoo.resolve._pull import (
    Progress,
    PullOptions,
    PullResult,
    check_pinned,
    pull_files,
)

__all__ = ["LOCK_FORMAT", "lock_models", "pull_lock", "read_lock", "write_lock"]

LOCK_FORMAT = 1


# --------------------------------------------------------------------------


def lock_models(
    model_ids: Sequence[str],
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    policy: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Returns a lock document pinning every file of the given model versions.

    The lock records, for each file, its path, size, sha256 and resolved
    source; :func:`pull_lock` pulls exactly that, whatever the registry says
    later. A file the registry pins by another digest (sha384, a sha256
    prefix, md5, sha1) is locked by the sha256 its first verified pull
    recorded; a ``hub``-tier file also by the commit that pull pinned, as its
    ``revision``. Such files not yet in the cache are pulled first (that is
    the verified pull; it needs the network), so locking is how a file gets
    pinned for ``require_pinned`` pulls.

    Args:
        model_ids: The versions to lock.
        registries: Extra registries, as for :func:`pull`.
        cache, progress, offline, mirrors, policy: For the pulls, as for :func:`pull`.

    Raises:
        OfflineError: Offline and such a file is not in the cache.
        ChecksumMismatchError, DownloadError: Its pull failed.
    """
    catalog = load_catalog(registries)
    options = PullOptions.of(cache=cache, offline=offline, mirrors=mirrors, policy=policy, progress=progress)
    cache = options.cache
    models = {}
    for model_id in model_ids:
        info = catalog.info(model_id)
        listed = files_of(info, cache, offline=options.offline)
        unknown = [f for f in listed if not f.sha256 and not cache.has_file(f)]
        if unknown:
            pulled = pull_files(info.name, info.version, unknown, options)
            if info.snapshot is not None:
                record_pulled(info, cache, pulled.files)
                listed = files_of(info, cache, offline=True)  # the record now gives each small file's sha256
        files = []
        for f in listed:
            entry = {"path": f.path, "size": f.size, "sha256": f.sha256, "source": f.source.to_dict()}
            if not f.sha256:
                sha256 = cache.recall(f)
                entry.update(sha256=sha256, size=cache.blob_path(sha256).stat().st_size)  # type: ignore[arg-type]
            if f.hash is not None and f.hash[0] != GIT_BLOB:  # a snapshot's git blob id: the sha256 above replaces it
                entry["hash"] = dict([f.hash])
            pin = cache.hub_pin(f)
            if pin is not None:
                entry["source"]["revision"] = pin["commit"]
            files.append(entry)
        models[info.id] = {"name": info.name, "version": info.version, "files": files}
    return {"zoo_lock": LOCK_FORMAT, "generated_by": f"zoo {__version__}", "models": models}


def write_lock(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Writes a lock document as JSON, atomically."""
    return _atomic.write_text(path, json.dumps(document, indent=2) + "\n")


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads and checks a lock document written by :func:`write_lock`.

    Raises:
        RegistryError: The file is not a valid zoo lock.
    """
    path = Path(path)
    try:
        if path.stat().st_size > 64 * 1024 * 1024:
            raise ValueError("larger than 64 MiB")
        doc = json.loads(path.read_text())
        if doc.get("zoo_lock") != LOCK_FORMAT:
            raise ValueError(f"'zoo_lock' must be {LOCK_FORMAT}")
        from zoo._ids import NAME_PATTERN
        from zoo.schema import FileSpec

        for model_id, entry in doc["models"].items():
            for key in ("name", "version"):
                # pull_lock links the files into models/<name>/<version>/: a name, never a path.
                if not isinstance(entry.get(key), str) or not re.fullmatch(NAME_PATTERN, entry[key]):
                    raise ValueError(f"{model_id}: '{key}' must be a model {key} like 'resnet50', not {entry.get(key)!r}")
            if not entry["files"]:
                raise ValueError(f"{model_id} has no files")
            for f in entry["files"]:
                FileSpec.model_validate(f)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise RegistryError(
            [RegistryIssue(str(path), "", f"not a valid zoo lock file ({exc}); write one with 'zoo registry lock'", "bad_lock")]
        ) from exc
    return doc


def pull_lock(
    path: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache: Cache | None = None,
    policy: RetryPolicy | None = None,
    require_pinned: bool | None = None,
    connections: int | None = None,
) -> list[PullResult]:
    """Pulls exactly the files a lock file pins (the registry is not consulted).

    Entries written by :func:`lock_models` always carry a sha256, so they pass
    ``require_pinned``; a hand-written entry with only a weaker digest does not.
    """
    doc = read_lock(path)
    options = PullOptions.of(cache=cache, offline=offline, mirrors=mirrors, policy=policy, connections=connections, progress=progress)
    locked = {model_id: [FileInfo.of(f) for f in entry["files"]] for model_id, entry in doc["models"].items()}
    check_pinned(list(locked.items()), require_pinned)
    return [pull_files(entry["name"], entry["version"], locked[model_id], options) for model_id, entry in doc["models"].items()]
