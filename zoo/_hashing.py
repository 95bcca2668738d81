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
from typing import Any

__all__ = ["hash_file", "hash_prefix", "PipelinedHasher", "CHUNK"]

CHUNK = 1024 * 1024


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


def hash_prefix(path: str | os.PathLike[str], length: int, algorithm: str = "sha256") -> Any:
    """Returns a hashlib object already fed with the first ``length`` bytes of ``path``.

    Used to resume a download: the hash continues where the partial file ends.
    """
    h = hashlib.new(algorithm)
    _feed(path, h, length, None)
    return h


class PipelinedHasher:
    """Feeds chunks to hashlib on a background thread.

    ``update`` takes immutable ``bytes`` (so no buffer is reused under the
    hasher's feet) and returns at once; ``hexdigest`` waits for the queue to
    drain. The queue is bounded, so a slow hasher slows the producer down
    instead of buffering a whole file in memory.

    Example:
        >>> h = PipelinedHasher()
        >>> h.update(b"abc")
        >>> h.hexdigest()[:8]
        'ba7816bf'
    """

    def __init__(self, algorithm: str = "sha256", initial: Any = None, depth: int = 16):
        self._hash = initial if initial is not None else hashlib.new(algorithm)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="zoo-hasher", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            try:
                self._hash.update(chunk)
            except BaseException as exc:  # pragma: no cover - hashlib does not fail on bytes
                self._error = exc

    def update(self, chunk: bytes) -> None:
        """Queues ``chunk`` for hashing."""
        self._queue.put(chunk)

    def close(self) -> None:
        """Stops the thread (after the queued chunks)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        """Waits for every queued chunk, then returns the hex digest."""
        self.close()
        if self._error is not None:  # pragma: no cover
            raise self._error
        return self._hash.hexdigest()

