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
    ├── tofu/                              what first pulls found out (trust on first use)
    │   ├── md5/c289…1813                  sha256 of the file with that md5 (also sha1/, sha384/)
    │   ├── sha256_prefix/f37072fd-9c1e…   sha256 of the file with that prefix, per source URL
    │   └── hf/timm/resnet50.a1_in1k/
    │       └── model.safetensors.json     {repo, file, commit, sha256, size} of a hub-tier file
    ├── tmp/                               work folders of running pulls and exports (tmp/<what>-<host>-<pid>-…)
    ├── index/  stages/  exports/  sessions/  vectors/  embeds/
    │                                      derived files, rebuilt from the blobs when missing
    └── (every area is named once, in zoo._layout, with its gc rule)

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
sha1) are stored by their sha256 too: the first pull checks that digest,
computes the sha256 and records it under ``tofu/`` (trust on first use);
later pulls, ``verify`` and lock files use the sha256. A prefix record is
keyed by the source as well, since a 32-bit prefix is cheap to collide: one
entry's first pull cannot decide what another entry with the same prefix is.

A ``hub``-tier file (a Hugging Face file named without commit or hash) is
pinned the same way, by the Hub file: its first pull records the commit
``main`` pointed at and the sha256 and size the Hub advertised and the bytes
matched. Later pulls fetch that commit and check that sha256; the pin is never
moved (remove the record to re-resolve). This module is the only writer of
``tofu/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _atomic, _layout, _locks, _settings
from zoo._hashing import GIT_BLOB, Expected, hash_file, hash_prefix
from zoo.errors import ChecksumMismatchError, NotCachedError

if TYPE_CHECKING:
    from zoo.registry import FileInfo

__all__ = ["Cache", "CachedVersion", "GcReport", "VerifyReport", "MANIFEST"]

MANIFEST = ".zoo-manifest.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_PARTIAL = ".partial"


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
        self.root = Path(root) if root is not None else _settings.home()

    # ---- paths ----------------------------------------------------------

    @property
    def blobs(self) -> Path:
        """The folder of sha256 blobs."""
        return self.root / "blobs" / "sha256"

    def blob_path(self, sha256: str) -> Path:
        """Where the blob of ``sha256`` lives (whether present or not)."""
        return self.blobs / sha256

    def partial_path(self, sha256: str) -> Path:
        """Where an interrupted download of ``sha256`` is kept for resuming."""
        return self.blobs / f"{sha256}{_PARTIAL}"

    # ---- trust on first use ---------------------------------------------

    def record_path(self, expected: Expected) -> Path | None:
        """Where what a first pull found about such a file is recorded (None: nothing to record).

        Removing a hub-tier file's record makes its next pull resolve ``main`` again.
        """
        tofu = self.root / "tofu"
        if expected.hub is not None:
            return tofu / "hf" / expected.hub.repo / f"{urllib.parse.quote(expected.hub.file, safe='')}.json"
        if expected.weak is None or expected.weak[0] == GIT_BLOB:
            return None
        algo, hexdigest = expected.weak
        if algo == "sha256_prefix":
            return tofu / algo / f"{hexdigest}-{expected.origin}" if expected.origin else None
        return tofu / algo / hexdigest

    def hub_pin(self, file: FileInfo) -> dict[str, Any] | None:
        """The recorded ``{repo, file, commit, sha256, size}`` of a hub-tier file, or None."""
        if file.tier != "hub":
            return None
        path = self.record_path(Expected.of(file.record))
        try:
            pin = json.loads(path.read_text())  # type: ignore[union-attr]
        except (OSError, ValueError):
            return None
        ok = (
            isinstance(pin, dict)
            and _COMMIT.match(str(pin.get("commit")))
            and _SHA256.match(str(pin.get("sha256")))
            and isinstance(pin.get("size"), int)
        )
        return pin if ok else None

    def recall(self, file: FileInfo) -> str | None:
        """The sha256 of a registry file: pinned, or recorded on first pull; None if unknown."""
        if file.sha256:
            return file.sha256
        if file.tier == "hub":
            pin = self.hub_pin(file)
            return pin["sha256"] if pin else None
        path = self.record_path(Expected.of(file.record))
        if path is None:
            return None
        try:
            value = path.read_text().strip()
        except OSError:
            return None
        return value if _SHA256.match(value) else None

    def expected(self, file: FileInfo) -> Expected:
        """What a registry file's bytes must be, with what first pulls recorded filled in."""
        pin = self.hub_pin(file)
        if pin is not None:
            return Expected.of(file.record, pin["sha256"], commit=pin["commit"], size=pin["size"])
        return Expected.of(file.record, self.recall(file))

    def adopt_record(self, other: Cache, file: FileInfo) -> bool:
        """Copies what ``other`` (a shared cache) recorded on its first pull of ``file``, when this cache has nothing.

        Returns True when a record was copied: this cache then expects the same bytes (commit and sha256
        of a hub-tier file, the sha256 of a weakly pinned one). Nothing is written to ``other``.
        """
        path = self.record_path(Expected.of(file.record))
        if path is None or path.exists() or other.recall(file) is None:
            return False
        theirs = other.record_path(Expected.of(file.record))
        try:
            data = theirs.read_bytes()  # type: ignore[union-attr]
        except OSError:
            return False
        _atomic.write_bytes(path, data)
        return True

    def remember(self, weak: tuple[str, str], sha256: str) -> None:
        """Records the sha256 found for a file pinned by md5, sha1 or sha384 (trust on first use)."""
        self.record(Expected(None, None, weak), sha256)

    def record(self, expected: Expected, sha256: str) -> None:
        """Records what a verified first pull found, so later pulls, ``verify`` and locks use the sha256.

        A hub-tier file's pin (commit, sha256, size) is written once and never
        moved by later pulls.

        Args:
            expected: What the bytes were checked against.
            sha256: Their sha256.
        """
        path = self.record_path(expected)
        if path is None or (expected.hub is not None and (expected.hub.recorded or expected.hub.commit is None)):
            return
        if expected.hub is not None:
            hub = expected.hub
            text = json.dumps({"repo": hub.repo, "file": hub.file, "commit": hub.commit, "sha256": sha256, "size": expected.size}, indent=1)
        else:
            text = sha256
        _atomic.write_text(path, text + "\n", fsync=True)

    def has_file(self, file: FileInfo) -> bool:
        """True when the blob of a registry file is in the cache."""
        sha256 = self.recall(file)
        return sha256 is not None and self.has_blob(sha256)

    def has_blob(self, sha256: str) -> bool:
        """True when the blob is in the cache (trusted by name, not re-hashed)."""
        return self.blob_path(sha256).is_file()

    def model_dir(self, name: str, version: str) -> Path:
        """The folder of one model version."""
        return self.root / "models" / name / version

    def area(self, name: str) -> Path:
        """The folder of one cache area (``blobs``, ``exports``, ``vectors``...; see :mod:`zoo._layout`)."""
        return _layout.area(self.root, name)

    def staging_dir(self, purpose: str = "staging") -> Path:
        """A new empty work folder under ``tmp/``, named for this process (gc leaves it while it runs)."""
        return _layout.work_dir(self.root, purpose)

    def lock_path(self, name: str) -> Path:
        """The lock file of one blob (by sha256) or job (``vectors-<sha256>``, ``export-<key>``...)."""
        return self.area("locks") / f"{name}.lock"

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
        """Marks this process as working in the cache while the ``with`` block runs (gc then keeps what it may need)."""
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
        models = self.root / "models"
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
        partial = [p for p in self.blobs.glob(f"*{_PARTIAL}")] if self.blobs.is_dir() else []
        areas = {a.name: _tree_bytes(self.area(a.name)) for a in _layout.AREAS if self.area(a.name).exists()}
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
        folders = [self.model_dir(name, version)] if version else sorted((self.root / "models" / name).glob("*"))
        folders = [f for f in folders if f.is_dir()]
        if not folders:
            what = name if version is None else f"{name}@{version}"
            raise NotCachedError(f"{what} is not in the cache; 'zoo cache ls' shows what is.")
        candidates = {sha for f in folders for sha in self._read_manifest(f).values()}
        for folder in folders:
            shutil.rmtree(folder)
        parent = self.root / "models" / name
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
        """Removes what nothing needs, and never what a live process holds.

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
            self._gc_dead_temps(report)
            busy = "another zoo process is using the cache" if _locks.can_tell(self.root) else (
                "this file system has no flock, so gc cannot tell whether another process uses the cache"
            )
            keep = self.referenced()
            for path in _entries(self.blobs):
                if not path.is_file() or _atomic.is_temp(path) or path.name in keep:
                    continue
                what = "partial download" if path.name.endswith(_PARTIAL) else "unreferenced blob"
                if idle:
                    self._drop(path, report)
                else:
                    report.kept.append((self._rel(path), f"{what}: {busy}"))
            for folder in _entries(self.area("vectors")):
                if folder.is_dir() and not _atomic.is_temp(folder) and not self.has_blob(folder.name) and idle:
                    self._drop(folder, report)
            if derived:
                for name in _layout.DERIVED:
                    for path in _entries(self.area(name)):
                        if _atomic.is_temp(path):
                            continue
                        if idle:
                            self._drop(path, report)
                        else:
                            report.kept.append((self._rel(path), f"derived file: {busy}"))
        return report

    def _gc_dead_temps(self, report: GcReport) -> None:
        """Temp files and work folders whose writer is gone, in every area."""
        for path in _entries(self.area("tmp")):
            owner = _layout.work_owner(path) or _atomic.temp_owner(path)
            if owner is not None and _layout.pid_alive(owner[1], owner[0]):
                report.kept.append((self._rel(path), f"work folder of running pid {owner[1]}"))
            else:
                self._drop(path, report)  # a dead writer's, or a name no live writer makes
        for a in _layout.AREAS:
            if a.name in ("tmp", "locks", "index"):
                continue
            # os.walk, not rglob: folders come and go under a running writer, and walk ignores that.
            for folder, dirs, names in os.walk(self.area(a.name)):
                temps = [Path(folder, n) for n in dirs + names if _atomic.is_temp(n)]
                dirs[:] = [d for d in dirs if not _atomic.is_temp(d)]
                for path in temps:
                    owner = _atomic.temp_owner(path)
                    if owner is not None and not _layout.pid_alive(owner[1], owner[0]):
                        self._drop(path, report)

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


def _entries(folder: Path) -> list[Path]:
    """The sorted entries of a folder; none when it does not exist (or vanished meanwhile)."""
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
