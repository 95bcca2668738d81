"""The content-addressed cache of model files.

Every file is stored once, named by its sha256, whatever model names it; each
model version is a folder of links into the blobs, with the file names the
registry gives::

    $ZOO_HOME/
    ├── blobs/
    │   └── sha256/
    │       ├── 7735…41bb                  the bytes of one file, stored once
    │       └── 7735…41bb.partial          an interrupted download, resumed next time
    ├── models/
    │   └── resnet50/
    │       └── a1_in1k/
    │           ├── model.safetensors      -> ../../../blobs/sha256/7735…41bb
    │           └── .zoo-manifest.json     {path: sha256} of the version's files
    ├── locks/
    │   └── 7735…41bb.lock                 one process fetches a blob, others wait
    ├── tofu/                              what first pulls found out (trust on first use; zoo._tofu)
    ├── tmp/                               work folders of running pulls and exports (tmp/<what>-<host>-<pid>-…)
    ├── index/  stages/  exports/  sessions/  vectors/  embeds/
    │                                      derived files, rebuilt from the blobs when missing
    └── (every area is named once, in zoo._layout, with its typed paths and its gc rules)

A blob enters ``blobs/`` only by an atomic rename after its size and sha256
were checked, so a file there is trusted by its name; ``verify`` re-hashes
everything. Links are relative symlinks, else hard links, else copies.
Every write goes through :mod:`zoo._atomic` (unique temp names carrying the
writer's pid, fsync for blobs, pins and manifests).

``gc`` never removes what a live process holds: temp files and work folders
are removed only once the pid in their name is gone; unreferenced blobs,
partial downloads and (with ``derived=True``) derived files only while no
other process holds the cache's use lock (:func:`zoo._locks.using`, taken by
pulls, imports, exports, embeddings and vector conversions).

Files the registry pins by another digest (sha384, a sha256 prefix, md5 or
sha1), and ``hub``-tier files, are stored by their sha256 too: their first
pull records what it found under ``tofu/`` (:mod:`zoo._tofu`, trust on first
use), and later pulls, ``verify`` and lock files use the sha256.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _atomic, _layout, _locks, _tofu
from zoo._hashing import Expected, hash_file, hash_prefix
from zoo.errors import ChecksumMismatchError, NotCachedError

if TYPE_CHECKING:
    from zoo.registry import FileInfo

__all__ = ["Cache", "CachedVersion", "GcReport", "VerifyReport", "MANIFEST"]

MANIFEST = ".zoo-manifest.json"


@dataclass(frozen=True)
class CachedVersion:
    """One model version present in the cache.

    Attributes:
        name, version: The model version.
        path: Its folder under ``models/``.
        files: ``{path: sha256}`` from its manifest.
        present: Paths whose blob is in the cache.
        size: Bytes of the present blobs.
    """

    name: str
    version: str
    path: Path
    files: dict[str, str]
    present: tuple[str, ...]
    size: int

    @property
    def complete(self) -> bool:
        """True when every file's blob is present."""
        return len(self.present) == len(self.files)


@dataclass
class GcReport:
    """What ``Cache.gc`` removed and what it left because a live process may hold it.

    Attributes:
        removed: Paths removed, relative to the cache root.
        freed: Bytes freed.
        kept: ``(relative path, why)`` of what was left in place.
        idle: True when no other process was using the cache.
    """

    removed: list[str] = field(default_factory=list)
    freed: int = 0
    kept: list[tuple[str, str]] = field(default_factory=list)
    idle: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``zoo cache gc --json`` prints)."""
        return {"removed": self.removed, "freed": self.freed, "kept": [{"path": p, "why": w} for p, w in self.kept], "idle": self.idle}


@dataclass
class VerifyReport:
    """What ``Cache.verify`` found.

    Attributes:
        checked: Number of blobs hashed.
        bytes: Bytes hashed.
        corrupt: ``(sha256 name, actual sha256)`` of each blob whose content
            did not match its name; they were removed.
        broken: ``(model file, sha256)`` of each file in a version folder that
            leads somewhere else than the blob its manifest names (a link
            redirected, a copy edited); a missing blob is not broken, only not
            pulled (``zoo cache ls`` shows it).
    """

    checked: int = 0
    bytes: int = 0
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no blob was corrupt and no model file was broken."""
        return not self.corrupt and not self.broken


class Cache:
    """The cache under ``root`` (default ``$ZOO_HOME``).

    Example:
        >>> cache = Cache("/tmp/zoo-doc-cache")
        >>> cache.blob_path("ab" * 32).parts[-3:-1]
        ('blobs', 'sha256')
    """

    def __init__(self, root: str | os.PathLike[str] | None = None):
        #: The typed paths of this cache's areas (:class:`zoo._layout.Layout`).
        self.layout = _layout.Layout(root) if root is not None else _layout.current()
        self.root = self.layout.root

    # ---- paths ----------------------------------------------------------

    @property
    def blobs(self) -> Path:
        """The folder of sha256 blobs."""
        return self.layout.blobs

    def blob_path(self, sha256: str) -> Path:
        """Where the blob of ``sha256`` lives (whether present or not)."""
        return self.layout.blob(sha256)

    def partial_path(self, sha256: str) -> Path:
        """Where an interrupted download of ``sha256`` is kept for resuming."""
        return self.layout.partial(sha256)

    # ---- trust on first use (zoo._tofu) ---------------------------------

    def record_path(self, expected: Expected) -> Path | None:
        """Where what a first pull found about such a file is recorded (None: nothing to record)."""
        return _tofu.record_path(self.layout, expected)

    def hub_pin(self, file: FileInfo) -> dict[str, Any] | None:
        """The recorded ``{repo, file, commit, sha256, size}`` of a hub-tier file, or None."""
        return _tofu.hub_pin(self.layout, file)

    def recall(self, file: FileInfo) -> str | None:
        """The sha256 of a registry file: pinned, or recorded on first pull; None if unknown."""
        return _tofu.recall(self.layout, file)

    def expected(self, file: FileInfo) -> Expected:
        """What a registry file's bytes must be, with what first pulls recorded filled in."""
        return _tofu.expected(self.layout, file)

    def adopt_record(self, other: Cache, file: FileInfo) -> bool:
        """Copies what ``other`` (a shared cache) recorded on its first pull of ``file``, when this cache has nothing."""
        return _tofu.adopt(self.layout, other.layout, file)

    def remember(self, weak: tuple[str, str], sha256: str) -> None:
        """Records the sha256 found for a file pinned by md5, sha1 or sha384 (trust on first use)."""
        _tofu.record(self.layout, Expected(None, None, weak), sha256)

    def record(self, expected: Expected, sha256: str) -> None:
        """Records what a verified first pull found (a hub-tier pin is written once, never moved)."""
        _tofu.record(self.layout, expected, sha256)

    def has_file(self, file: FileInfo) -> bool:
        """True when the blob of a registry file is in the cache."""
        sha256 = self.recall(file)
        return sha256 is not None and self.has_blob(sha256)

    def has_blob(self, sha256: str) -> bool:
        """True when the blob is in the cache (trusted by name, not re-hashed)."""
        return self.blob_path(sha256).is_file()

    def model_dir(self, name: str, version: str) -> Path:
        """The folder of one model version."""
        return self.layout.model(name, version)

    def staging_dir(self, purpose: str = "staging") -> Path:
        """A new empty work folder under ``tmp/``, named for this process (gc leaves it while it runs)."""
        return self.layout.work_dir(purpose)

    def lock_path(self, name: str) -> Path:
        """The lock file of one blob (by sha256) or job (``vectors-<sha256>``, ``export-<key>``...)."""
        return self.layout.lock(name)

    def lock(self, name: str, timeout: float | None = None) -> Any:
        """Holds the inter-process lock of one blob or job (a context manager).

        Args:
            name: The blob's sha256 or the job's name.
            timeout: Seconds to wait (None: ``ZOO_LOCK_TIMEOUT``, by default for ever).

        Raises:
            LockTimeoutError: The holder (named in the message) kept it longer than ``timeout``.
        """
        return _locks.exclusive(self.lock_path(name), timeout=timeout, what=name)

    def in_use(self) -> Any:
        """Marks this process as working in the cache while the ``with`` block runs (gc then keeps what it may need).

        The cache is also the current one meanwhile (:func:`zoo._layout.current`): what the block derives
        (stages, exports, converted vectors) goes under its root.
        """
        return _locks.using(self.root)

    # ---- adding blobs -----------------------------------------------------

    def commit(self, staged: Path, sha256: str) -> Path:
        """Moves an already-verified file into ``blobs/`` atomically.

        ``staged`` must be on the cache's file system (``partial_path`` or
        ``staging_dir``) so the rename is atomic.
        """
        self.blobs.mkdir(parents=True, exist_ok=True)
        target = self.blob_path(sha256)
        _atomic.fsync_file(staged)
        os.replace(staged, target)
        _atomic.fsync_dir(self.blobs)
        return target

    def add_file(
        self,
        src: str | os.PathLike[str],
        expected: Expected,
        *,
        move: bool = False,
        label: str = "",
    ) -> str:
        """Checks a local file against ``expected``, then stores it as a blob.

        Args:
            src: The file.
            expected: Its size and hashes (sha256, or a legacy md5/sha1).
            move: Move instead of copy (falls back to copying across file systems).
            label: Names the file in error messages.

        Returns:
            The file's sha256 (the blob's name).

        Raises:
            ChecksumMismatchError: The file is not what the registry pins;
                nothing enters the cache.
        """
        src = Path(src)
        what = label or src.name
        size = src.stat().st_size
        if expected.size is not None and size != expected.size:
            raise ChecksumMismatchError(
                f"{what}: size mismatch (expected {expected.size} bytes, got {size}); "
                f"the file is not the one {expected.claim}, nothing was cached"
            )
        if expected.sha256 is not None and self.has_blob(expected.sha256):
            self.record(expected, expected.sha256)
            return expected.sha256
        self.blobs.mkdir(parents=True, exist_ok=True)
        staged = _atomic.temp_name(self.blobs / expected.key)
        try:
            if move:
                try:
                    os.replace(src, staged)
                except OSError:
                    shutil.copyfile(src, staged)
            else:
                shutil.copyfile(src, staged)
            digests = {k: h.hexdigest() for k, h in hash_prefix(staged, size, expected.hashes()).items()}
            problem = expected.problem(digests, size)
            if problem is not None:
                raise ChecksumMismatchError(
                    f"{what}: {problem}; the file is not the one {expected.claim}, nothing was cached"
                )
            self.commit(staged, digests["sha256"])
            self.record(expected, digests["sha256"])
            return digests["sha256"]
        except OSError as exc:
            if _atomic.is_no_space(exc):
                raise _atomic.no_space(exc, self.blobs, size) from exc
            raise
        finally:
            staged.unlink(missing_ok=True)

    # ---- model folders ----------------------------------------------------

    def link(self, name: str, version: str, files: dict[str, str]) -> Path:
        """Makes ``models/<name>/<version>/`` point at the blobs of ``files``.

        Args:
            files: ``{registry path: sha256}``; every blob must be present.

        Returns:
            The model version's folder.
        """
        folder = self.model_dir(name, version)
        for relpath, sha256 in files.items():
            self._link_one(folder / relpath, self.blob_path(sha256))
        self._write_manifest(folder, files)
        return folder

    def _link_one(self, dest: Path, blob: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() and os.readlink(dest) == os.path.relpath(blob, dest.parent):
            return
        tmp = _atomic.temp_name(dest)
        try:
            try:
                os.symlink(os.path.relpath(blob, dest.parent), tmp)
            except OSError:
                try:
                    os.link(blob, tmp)
                except OSError:
                    shutil.copyfile(blob, tmp)
            os.replace(tmp, dest)
        finally:
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()

    def _write_manifest(self, folder: Path, files: dict[str, str]) -> None:
        path = folder / MANIFEST
        old = self._read_manifest(folder)
        merged = {**old, **files}
        _atomic.write_text(path, json.dumps(merged, indent=1, sort_keys=True), fsync=True)

    @staticmethod
    def _read_manifest(folder: Path) -> dict[str, str]:
        try:
            data = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    # ---- listing and cleaning -------------------------------------------

    def versions(self) -> list[CachedVersion]:
        """Every model version with a folder in the cache, sorted."""
        found = []
        models = self.layout.models
        if not models.is_dir():
            return []
        for manifest in sorted(models.glob(f"*/*/{MANIFEST}")):
            folder = manifest.parent
            files = self._read_manifest(folder)
            present = tuple(p for p, sha in files.items() if self.has_blob(sha))
            size = sum(self.blob_path(files[p]).stat().st_size for p in present)
            found.append(CachedVersion(folder.parent.name, folder.name, folder, files, present, size))
        return found

    def iter_blobs(self) -> Iterator[Path]:
        """Every complete blob (not partials or temp files)."""
        if not self.blobs.is_dir():
            return
        for path in sorted(self.blobs.iterdir()):
            if len(path.name) == 64 and path.is_file():
                yield path

    def referenced(self) -> set[str]:
        """The sha256 of every blob some model version's manifest names."""
        return {sha for v in self.versions() for sha in v.files.values()}

    def usage(self) -> dict[str, Any]:
        """Bytes in blobs, partial downloads, work folders and every other area, and counts.

        ``areas`` maps each area of :data:`zoo._layout.AREAS` present on disk to its bytes.
        """
        blobs = list(self.iter_blobs())
        partial = [p for p in self.blobs.glob(f"*{_layout.PARTIAL}")] if self.blobs.is_dir() else []
        folders = {a.name: self.layout.area(a.name) for a in _layout.AREAS}
        areas = {name: _tree_bytes(path) for name, path in folders.items() if path.exists()}
        return {
            "blobs": len(blobs),
            "blob_bytes": sum(p.stat().st_size for p in blobs),
            "partial_bytes": sum(p.stat().st_size for p in partial),
            "staging_bytes": areas.get("tmp", 0),
            "derived_bytes": sum(areas.get(name, 0) for name in _layout.DERIVED),
            "versions": len(self.versions()),
            "areas": areas,
        }

    def remove(self, name: str, version: str | None = None) -> tuple[list[Path], int]:
        """Removes a model's folders, and the blobs no other version references.

        Returns:
            (removed version folders, bytes freed).
        """
        folders = [self.model_dir(name, version)] if version else sorted((self.layout.models / name).glob("*"))
        folders = [f for f in folders if f.is_dir()]
        if not folders:
            what = name if version is None else f"{name}@{version}"
            raise NotCachedError(f"{what} is not in the cache; 'zoo cache ls' shows what is.")
        candidates = {sha for f in folders for sha in self._read_manifest(f).values()}
        for folder in folders:
            shutil.rmtree(folder)
        parent = self.layout.models / name
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
        still = self.referenced()
        freed = 0
        for sha in candidates - still:
            blob = self.blob_path(sha)
            if blob.is_file():
                freed += blob.stat().st_size
                blob.unlink()
        return folders, freed

    def gc(self, *, derived: bool = False) -> GcReport:
        """Removes what nothing needs, and never what a live process holds: each area's rules (:data:`zoo._layout.AREAS`).

        Always: temp files and work folders of processes that are gone, and
        converted vectors whose source blob is gone. When no other process is
        using the cache (its use lock is free): unreferenced blobs, partial
        downloads, and with ``derived`` the derived areas (stages, exports,
        sessions, vectors, embeds), all rebuilt on demand. What was left
        because another process works in the cache is listed in ``kept``.
        """
        report = GcReport()
        with _locks.idle(self.root) as idle:
            report.idle = idle
            busy = "another zoo process is using the cache" if _locks.can_tell(self.root) else (
                "this file system has no flock, so gc cannot tell whether another process uses the cache"
            )
            sweep = _Sweep(self, report, idle, busy)
            for area in _layout.AREAS:
                for rule in area.gc:
                    if derived or not rule.derived:
                        rule.run(self.layout.area(area.name), sweep)
        return report

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def _drop(self, path: Path, report: GcReport) -> None:
        try:
            size = _tree_bytes(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            return  # removed meanwhile (its writer finished and renamed it)
        report.freed += size
        report.removed.append(self._rel(path))

    def verify(
        self,
        *,
        jobs: int | None = None,
        on_bytes: Callable[[int], None] | None = None,
        remove: bool = True,
    ) -> VerifyReport:
        """Re-hashes every blob; removes those whose content does not match their name.

        Args:
            jobs: Files hashed at once (default: the CPU count, at most 8).
            on_bytes: Progress callback, called with byte counts from worker threads.
            remove: Delete corrupt blobs (default) so the next pull fetches them again.
        """
        blobs = list(self.iter_blobs())
        report = VerifyReport()
        workers = jobs or min(8, os.cpu_count() or 1)

        def check(path: Path) -> tuple[Path, str, int]:
            digest, n = hash_file(path, on_bytes=on_bytes)
            return path, digest, n

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for path, digest, n in pool.map(check, blobs):
                report.checked += 1
                report.bytes += n
                if digest != path.name:
                    report.corrupt.append((path.name, digest))
                    if remove:
                        path.unlink(missing_ok=True)
        report.broken = self._broken_files()
        return report

    def _broken_files(self) -> list[tuple[str, str]]:
        """Version files that do not lead to the blob their manifest names."""
        broken = []
        for version in self.versions():
            for rel, sha in version.files.items():
                path, blob = version.path / rel, self.blob_path(sha)
                if not blob.is_file() or not (path.exists() or path.is_symlink()):
                    continue
                try:
                    same = os.path.samefile(path, blob) or (
                        path.stat().st_size == blob.stat().st_size and hash_file(path)[0] == sha
                    )
                except OSError:
                    same = False
                if not same:
                    broken.append((self._rel(path), sha))
        return broken


def _tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (symlinks not followed)."""
    try:
        if path.is_symlink() or path.is_file():
            return path.lstat().st_size if path.is_symlink() else path.stat().st_size
        total = 0
        for p in path.rglob("*"):
            try:
                if p.is_file() and not p.is_symlink():
                    total += p.stat().st_size
            except OSError:
                continue
        return total
    except OSError:
        return 0


class _Sweep:
    """What the layout's gc rules work with (:class:`zoo._layout.Sweep`): one gc run over one cache."""

    def __init__(self, cache: Cache, report: GcReport, idle: bool, busy: str):
        self.cache, self.report, self.idle, self.busy = cache, report, idle, busy
        self._referenced: set[str] | None = None

    def drop(self, path: Path) -> None:
        self.cache._drop(path, self.report)

    def keep(self, path: Path, why: str) -> None:
        self.report.kept.append((self.cache._rel(path), why))

    def when_idle(self, path: Path, what: str) -> None:
        if self.idle:
            self.drop(path)
        else:
            self.keep(path, f"{what}: {self.busy}")

    def referenced(self) -> set[str]:
        if self._referenced is None:
            self._referenced = self.cache.referenced()
        return self._referenced

    def has_blob(self, sha256: str) -> bool:
        return self.cache.has_blob(sha256)
