"""Adopting local files into the cache (``zoo cache import DIR``), and the cache's deep check."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zoo import _locks
from zoo._hashing import Expected, hash_prefix
from zoo.cache import Cache, VerifyReport
from zoo.errors import DownloadError
from zoo.registry import FileInfo, load_catalog
from zoo.resolve._pull import Progress
from zoo.resolve._snapshot import known_files

__all__ = ["import_folder", "verify"]


@_locks.uses_cache
def import_folder(
    folder: str | os.PathLike[str],
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Adopts local files whose size and sha256 match files in the registry.

    Every file under ``folder`` whose size equals some registry file's size is
    hashed (sha256, plus the sha384, md5 or sha1 of candidates pinned that
    way); on a match it is copied into the cache (the folder is left as it is)
    and linked into every model version that names it. A ``hub``-tier file is
    adopted only once a pull has pinned it: before that nothing says what its
    bytes must be.

    Nothing outside ``folder`` is read: a symlink (to a file or a folder) that
    leads out of it is neither followed nor walked, and is listed under
    ``refused``; one that stays inside leads to a file the walk reaches anyway.

    Returns:
        ``{"adopted": [{"file", "sha256", "size"}...], "complete": [model ids whose
        files are now all cached], "partial": [...], "refused": [{"file",
        "reason": "symlink", "target"}...]}``.
    """
    cache = cache or Cache()
    catalog = load_catalog(registries)
    by_size: dict[int, list[tuple[str, str, FileInfo, Expected]]] = {}
    for info in catalog.versions():
        for f in known_files(info, cache):
            expected = cache.expected(f)
            # A hub-tier file not pulled yet has no digest to match: nothing vouches for a local copy.
            if expected.size and (expected.sha256 or expected.weak):
                by_size.setdefault(expected.size, []).append((info.name, info.version, f, expected))
    root = Path(folder)
    if not root.is_dir():
        raise DownloadError(f"{root} is not a folder; give the folder that holds the model files")
    adopted = []
    touched: set[tuple[str, str]] = set()
    real_root = os.path.realpath(root)
    found: list[Path] = []
    refused: list[dict[str, str]] = []
    for top, dirs, names in os.walk(root):  # followlinks=False: a linked folder is listed, never walked
        for name in dirs + names:
            path = Path(top) / name
            if not os.path.islink(path):
                if name in names and path.is_file():  # not a FIFO or device
                    found.append(path)
                continue
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root:
                refused.append({"file": str(path), "reason": "symlink", "target": target})
    refused.sort(key=lambda r: r["file"])
    for entry in refused:
        if progress is not None:
            progress({"event": "refused", **entry})
    for path in sorted(found):
        size = path.stat().st_size
        candidates = by_size.get(size)
        if not candidates:
            continue
        hashes: dict[str, Any] = {}
        for *_, expected in candidates:
            hashes = {**expected.hashes(), **hashes}
        digests = {k: h.hexdigest() for k, h in hash_prefix(path, size, hashes).items()}
        users = [(name, version, f, e) for name, version, f, e in candidates if e.problem(digests, size) is None]
        if not users:
            continue
        sha256 = cache.add_file(path, users[0][3], label=str(path))
        for *_, expected in users:
            cache.record(expected, sha256)
        adopted.append({"file": str(path), "sha256": sha256, "size": size})
        if progress is not None:
            progress({"event": "adopted", "file": str(path), "sha256": sha256, "size": size})
        for name, version, f, _ in users:
            cache.link(name, version, {f.path: sha256})
            touched.add((name, version))
    complete, partial = [], []
    for name, version in sorted(touched):
        files = known_files(catalog.info(f"{name}@{version}"), cache)
        if all(cache.has_file(f) for f in files):
            cache.link(name, version, {f.path: cache.recall(f) for f in files})  # type: ignore[misc]
            complete.append(f"{name}@{version}")
        else:
            partial.append(f"{name}@{version}")
    return {"adopted": adopted, "complete": complete, "partial": partial, "refused": refused}


def verify(
    *, cache: Cache | None = None, jobs: int | None = None, on_bytes: Callable[[int], None] | None = None
) -> VerifyReport:
    """Re-hashes every blob in the cache and removes the corrupt ones.

    Files on disk are trusted by name during pulls; this is the deep check.
    The next pull of an affected model fetches the removed files again.
    """
    return (cache or Cache()).verify(jobs=jobs, on_bytes=on_bytes)
