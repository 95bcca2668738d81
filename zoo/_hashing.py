"""Hashing files and streams fast: big reused buffers, and hashing on a second thread.

hashlib releases the GIL while it hashes a buffer larger than 2 KiB, so a
thread that hashes while another receives or writes really runs in parallel.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["hash_file", "hash_prefix", "PipelinedHasher", "Expected", "CHUNK", "TIERS", "STRONG_TIERS", "tier", "version_tier"]

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
class Expected:
    """What a file must be: size (if published), sha256 and/or a legacy hash.

    Legacy publishers give only md5 (gensim-data) or sha1 (Caffe Model Zoo),
    sometimes without a size; such a file is *weakly* pinned. zoo computes its
    sha256 while fetching and remembers it, so later checks use sha256.

    Attributes:
        size: Bytes, or None when the publisher gives none.
        sha256: The sha256, or None for a weakly pinned file.
        weak: ``(algorithm, hex)`` of the legacy hash, if any.
    """

    size: int | None
    sha256: str | None
    weak: tuple[str, str] | None = None

    @classmethod
    def of(cls, file: dict[str, Any], sha256: str | None = None) -> Expected:
        """Builds it from a registry file entry; ``sha256`` fills in a remembered one."""
        weak = next(iter(file["hash"].items())) if file.get("hash") else None
        return cls(file.get("size"), file.get("sha256") or sha256, weak)

    @property
    def key(self) -> str:
        """A name for locks and partial downloads: the sha256, else ``md5-<hex>``."""
        return self.sha256 or f"{self.weak[0]}-{self.weak[1]}"  # type: ignore[index]

    def hashes(self) -> dict[str, Any]:
        """Fresh hashlib objects for every algorithm to compute (sha256 always)."""
        names = ["sha256"] + ([self.weak[0]] if self.weak else [])
        return {name: hashlib.new(name) for name in names}

    def problem(self, digests: dict[str, str], size: int) -> str | None:
        """Why ``digests``/``size`` do not match, or None when they do."""
        if self.size is not None and size != self.size:
            return f"size mismatch (expected {self.size} bytes, got {size})"
        if self.sha256 is not None and digests["sha256"] != self.sha256:
            return f"sha256 mismatch (expected {self.sha256[:12]}…, got {digests['sha256'][:12]}…)"
        if self.weak is not None and self.weak[0] in digests and digests[self.weak[0]] != self.weak[1]:
            algo, hexdigest = self.weak
            return f"{algo} mismatch (expected {hexdigest[:12]}…, got {digests[algo][:12]}…)"
        return None
