"""Hashing files and streams fast: big reused buffers, and hashing on a second thread.

hashlib releases the GIL while it hashes a buffer larger than 2 KiB, so a
thread that hashes while another receives or writes really runs in parallel.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "hash_file",
    "hash_prefix",
    "PipelinedHasher",
    "Expected",
    "HubFile",
    "GIT_BLOB",
    "source_id",
    "CHUNK",
    "TIERS",
    "STRONG_TIERS",
    "tier",
    "version_tier",
    "tier_of_version",
]

CHUNK = 1024 * 1024

# Verification tiers, strongest first (shown in the 'verified' column).
TIERS = ("sha256", "sha384", "prefix", "hub", "sha1", "md5")
STRONG_TIERS = ("sha256", "sha384")


def tier(file: dict[str, Any]) -> str:
    """A file entry's verification tier (plain dict in, so the listing path needs no pydantic)."""
    if file.get("sha256"):
        return "sha256"
    digest = file.get("hash") or {}
    if "sha384" in digest:
        return "sha384"
    if "sha256_prefix" in digest:
        return "prefix"
    if digest:
        return next(iter(digest))
    return "hub"


def version_tier(files: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> str:
    """A version's tier: its weakest file's (``weak (md5)`` / ``weak (sha1)`` spelled out for legacy hashes)."""
    found = {tier(f) for f in files}
    weakest = max(found, key=TIERS.index) if found else "sha256"
    legacy = sorted(found & {"md5", "sha1"})
    return f"weak ({', '.join(legacy)})" if legacy else weakest


def tier_of_version(version: dict[str, Any]) -> str:
    """A registry version's tier: :func:`version_tier` of its files; ``hub`` for a snapshot whose files are listed on first pull."""
    files = version.get("files") or ()
    if not files and version.get("snapshot"):
        return "hub"
    return version_tier(files)


def _feed(path: str | os.PathLike[str], h: Any, limit: int | None, on_bytes: Callable[[int], None] | None) -> int:
    buf = bytearray(4 * CHUNK)
    view = memoryview(buf)
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while limit is None or total < limit:
            want = len(buf) if limit is None else min(len(buf), limit - total)
            n = fh.readinto(view[:want])
            if not n:
                break
            h.update(view[:n])
            total += n
            if on_bytes is not None:
                on_bytes(n)
    return total


def hash_file(
    path: str | os.PathLike[str],
    algorithm: str = "sha256",
    *,
    limit: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Hashes a file with one reused buffer.

    Args:
        path: The file.
        algorithm: A hashlib name (``sha256``, ``sha1``, ``md5``).
        limit: Hash only the first ``limit`` bytes.
        on_bytes: Called with the number of bytes after each buffer.

    Returns:
        (hex digest, number of bytes hashed).
    """
    h = hashlib.new(algorithm)
    total = _feed(path, h, limit, on_bytes)
    return h.hexdigest(), total


def hash_prefix(path: str | os.PathLike[str], length: int, hashes: dict[str, Any]) -> dict[str, Any]:
    """Feeds the first ``length`` bytes of ``path`` to every hashlib object in ``hashes``.

    Used to resume a download: the hashes continue where the partial file ends.
    """

    class _Fanout:
        @staticmethod
        def update(data: Any) -> None:
            for h in hashes.values():
                h.update(data)

    _feed(path, _Fanout, length, None)
    return hashes


class PipelinedHasher:
    """Feeds chunks to one or more hashlib objects on a background thread.

    ``update`` takes immutable ``bytes`` (so no buffer is reused under the
    hasher's feet) and returns at once; ``hexdigests`` waits for the queue to
    drain. The queue is bounded, so a slow hasher slows the producer down
    instead of buffering a whole file in memory.

    Example:
        >>> h = PipelinedHasher({"sha256": hashlib.sha256()})
        >>> h.update(b"abc")
        >>> h.hexdigests()["sha256"][:8]
        'ba7816bf'
    """

    def __init__(self, hashes: dict[str, Any], depth: int = 16):
        self._hashes = hashes
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="zoo-hasher", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            for h in self._hashes.values():
                h.update(chunk)

    def update(self, chunk: bytes) -> None:
        """Queues ``chunk`` for hashing."""
        self._queue.put(chunk)

    def close(self) -> None:
        """Stops the thread (after the queued chunks)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def hexdigests(self) -> dict[str, str]:
        """Waits for every queued chunk, then returns ``{algorithm: hex digest}``."""
        self.close()
        return {name: h.hexdigest() for name, h in self._hashes.items()}


@dataclass(frozen=True)
class HubFile:
    """A ``hub``-tier file: a Hugging Face file the registry names without a commit or a hash.

    Attributes:
        repo, file: Where it lives on the Hub.
        commit: The 40-hex commit its sha256 belongs to; None until the Hub
            was asked (``main`` is resolved on first pull).
        recorded: True when commit and sha256 come from the pin recorded on
            first pull, False when the Hub just advertised them.
    """

    repo: str
    file: str
    commit: str | None = None
    recorded: bool = False


_PREFIX = "sha256_prefix"
# The Hub's ETag of a non-LFS file is its git object id: sha1(b"blob <size>\0" + bytes).
GIT_BLOB = "git-blob"


def source_id(source: dict[str, Any]) -> str:
    """A short stable id of a registry ``source`` mapping (keys first-pull records that depend on it)."""
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Expected:
    """What a file must be: size (if known), sha256 and/or another digest, and for Hub files the commit.

    This is the one description every fetch path checks bytes against.

    * ``sha256`` known before download: the registry or a lock file pins it.
    * ``weak`` digest instead: ``sha384`` (OpenVINO manifests, strong),
      ``sha256_prefix`` (torchvision's file names), ``md5``/``sha1`` (legacy)
      or ``git-blob`` (the Hub's ETag of a non-LFS file: its git object id).
      zoo computes the sha256 while checking it and records it (trust on
      first use), so later checks use sha256.
    * ``hub``: a Hugging Face file without a commit; the Hub is asked once
      for the commit, size and sha256 it advertises, which are then recorded.

    Attributes:
        size: Bytes, or None when the publisher gives none.
        sha256: The sha256, or None when it is not known yet.
        weak: ``(algorithm, hex)`` of the other digest, if any.
        hub: The Hub file and its commit, for a ``hub``-tier file.
        origin: :func:`source_id` of the entry's source: a sha256 prefix is
            only 32 bits, so what one source's first pull found is recorded
            for that source alone.
    """

    size: int | None
    sha256: str | None
    weak: tuple[str, str] | None = None
    hub: HubFile | None = None
    origin: str | None = None

    @classmethod
    def of(
        cls, file: dict[str, Any], sha256: str | None = None, *, commit: str | None = None, size: int | None = None
    ) -> Expected:
        """Builds it from a registry (or lock) file entry, plus what was recorded on first pull.

        Args:
            file: The entry (a plain dict).
            sha256: A recorded sha256 for a file the entry pins more weakly.
            commit, size: The recorded commit and size of a ``hub``-tier file.
        """
        weak = next(iter(file["hash"].items())) if file.get("hash") else None
        hub = None
        if tier(file) == "hub":
            hub = HubFile(file["source"]["hf"], file["source"]["file"], commit, recorded=commit is not None)
        origin = source_id(file["source"]) if "source" in file else None
        return cls(file.get("size") or size, file.get("sha256") or sha256, weak, hub, origin)

    @property
    def revision(self) -> str | None:
        """The commit a ``hub``-tier file is fetched at (None until the Hub was asked)."""
        return self.hub.commit if self.hub is not None else None

    @property
    def key(self) -> str:
        """A name for locks and partial downloads: the sha256, else ``md5-<hex>``, else one for the Hub file."""
        if self.sha256:
            return self.sha256
        if self.weak is not None:
            key = f"{self.weak[0]}-{self.weak[1]}"
            # Two sources may share a short prefix; their partial downloads must not.
            return f"{key}-{self.origin}" if self.weak[0] == _PREFIX and self.origin else key
        if self.hub is not None:
            return "hub-" + hashlib.sha256(f"{self.hub.repo}\0{self.hub.file}".encode()).hexdigest()[:40]
        raise ValueError("an Expected needs a sha256, another digest or a Hub file")

    @property
    def claim(self) -> str:
        """Who vouches for the expected bytes, for messages: ``the file is not the one {claim}``."""
        if self.hub is None:
            return "the registry pins"
        return "zoo pinned on first pull" if self.hub.recorded else "the Hugging Face Hub advertises"

    def hashes(self) -> dict[str, Any]:
        """Fresh hashlib objects for every algorithm to compute (sha256 always)."""
        out = {"sha256": hashlib.sha256()}
        if self.weak is None or self.weak[0] == _PREFIX:
            return out  # a prefix is checked on the sha256
        algo = self.weak[0]
        if algo == GIT_BLOB:
            if self.size is None:
                raise ValueError("a git blob id can only be checked with the file's size")
            # git names a blob by sha1(b"blob <size>\0" + content)
            out[algo] = hashlib.sha1(b"blob %d\0" % self.size)
        else:
            out[algo] = hashlib.new(algo)
        return out

    def problem(self, digests: dict[str, str], size: int) -> str | None:
        """Why ``digests``/``size`` do not match, or None when they do."""
        if self.size is not None and size != self.size:
            return f"size mismatch (expected {self.size} bytes, got {size})"
        got = digests["sha256"]
        if self.sha256 is not None and got != self.sha256:
            if self.hub is not None:
                said = "pinned on first pull as" if self.hub.recorded else "the Hub advertises"
                return f"sha256 mismatch ({said} {self.sha256[:12]}…, got {got[:12]}…)"
            return f"sha256 mismatch (expected {self.sha256[:12]}…, got {got[:12]}…)"
        if self.weak is None:
            return None
        algo, hexdigest = self.weak
        if algo == _PREFIX:
            if not got.startswith(hexdigest):
                return f"sha256 prefix mismatch: the file name promises {hexdigest}…, got {got[: len(hexdigest)]}…"
            return None
        if algo in digests and digests[algo] != hexdigest:
            if algo == GIT_BLOB:
                return f"git blob id mismatch (the Hub advertises {hexdigest[:12]}…, got {digests[algo][:12]}…)"
            return f"{algo} mismatch (expected {hexdigest[:12]}…, got {digests[algo][:12]}…)"
        return None
