"""Writing a stream into ``<blob>.partial``, hashing as it goes, and moving a verified file into ``blobs/``.

The partial is only ever a prefix of the file: each block is written whole
(an unbuffered write may take part of a block on a filling disk) or the
download stops. It never grows past the registry's size (or 64 GiB for a
file without one). A complete file whose size or hashes are wrong is deleted
and raises :class:`~zoo.errors.ChecksumMismatchError`; it never enters ``blobs/``.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zoo._atomic import is_no_space
from zoo._hashing import Expected, PipelinedHasher, hash_prefix
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError
from zoo.fetch._failures import disk_full
from zoo.fetch._source import OnBytes


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def write_all(fh: Any, chunk: bytes) -> None:
    """Writes all of ``chunk``: an unbuffered write may take only part of it (a disk filling up does that)."""
    view = memoryview(chunk)
    while view:
        n = fh.write(view)
        if not n:
            raise OSError(errno.EIO, f"write to {fh.name} made no progress")
        view = view[n:]


MAX_UNSIZED = 64 * 1024**3


# Written bytes are flushed to disk in the background every this many bytes, so the fsync before the
# blob's rename finds little left to write (it cost 0.25 s per 512 MiB at the end of a pull otherwise).
FLUSH_EVERY = 64 * 1024**2


class Flusher:
    """``fdatasync`` of a file on a background thread, at most one at a time, while the download goes on."""

    def __init__(self, fd: int):
        self.fd = fd
        self.pending = 0
        self.thread: threading.Thread | None = None

    def wrote(self, n: int) -> None:
        self.pending += n
        if self.pending >= FLUSH_EVERY and (self.thread is None or not self.thread.is_alive()):
            self.pending = 0
            self.thread = threading.Thread(target=self._flush, name="zoo-flush", daemon=True)
            self.thread.start()

    def _flush(self) -> None:
        try:
            os.fdatasync(self.fd)
        except OSError:
            pass  # only a head start: the fsync before the rename is the one that counts, and reports

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()


def write_chunks(
    chunks: Iterable[bytes],
    partial: Path,
    offset: int,
    expected: Expected,
    label: str,
    on_bytes: OnBytes | None,
) -> tuple[int, dict[str, str]]:
    """Appends ``chunks`` to ``partial`` from ``offset``.

    Returns:
        (bytes written, ``{algorithm: hex digest}`` of the whole file).

    Raises ChecksumMismatchError (and deletes the partial) as soon as the file
    would grow past the expected size, and InsufficientSpaceError when the disk
    fills up (the partial, a prefix of the file, is kept for the next pull).
    """
    limit = expected.size if expected.size is not None else MAX_UNSIZED
    hashes = hash_prefix(partial, offset, expected.hashes()) if offset else expected.hashes()
    hasher = PipelinedHasher(hashes)
    written = 0
    try:
        with open(partial, "ab" if offset else "wb", buffering=0) as fh:
            flusher = Flusher(fh.fileno())
            try:
                for chunk in chunks:
                    if offset + written + len(chunk) > limit:
                        raise ChecksumMismatchError(
                            f"{label}: the server sent more than the {limit} bytes the registry pins; "
                            "stopped and discarded the download. The source has changed or is wrong.",
                            algorithm="size",
                            expected=limit,
                            actual=offset + written + len(chunk),
                            reason=f"size mismatch (sent more than the {limit} bytes pinned)",
                        )
                    write_all(fh, chunk)
                    hasher.update(chunk)
                    written += len(chunk)
                    flusher.wrote(len(chunk))
                    if on_bytes is not None:
                        on_bytes(len(chunk))
            finally:
                flusher.wait()  # before the file is closed under it
    except ChecksumMismatchError:
        hasher.close()
        discard(partial)
        raise
    except OSError as exc:
        hasher.close()
        if is_no_space(exc):
            raise disk_full(exc, label, partial.parent, expected.size, partial) from exc
        raise
    except BaseException:
        hasher.close()
        raise
    return written, hasher.hexdigests()


def mismatch(expected: Expected, digests: dict[str, str], size: int) -> dict[str, Any]:
    """The structured fields of the first check :meth:`Expected.problem` fails (same order)."""
    if expected.size is not None and size != expected.size:
        return {"algorithm": "size", "expected": expected.size, "actual": size}
    if expected.sha256 is not None and digests["sha256"] != expected.sha256:
        return {"algorithm": "sha256", "expected": expected.sha256, "actual": digests["sha256"]}
    if expected.weak is None:
        return {}
    algorithm, value = expected.weak
    # A sha256 prefix has no hash of its own: it is checked on the sha256.
    actual = digests[algorithm] if algorithm in digests else digests["sha256"][: len(value)]
    return {"algorithm": algorithm, "expected": value, "actual": actual}


def finish(cache: Cache, partial: Path, digests: dict[str, str], size: int, expected: Expected, label: str, origin: str) -> str:
    """Checks a complete download and moves it into ``blobs/``; returns its sha256."""
    problem = expected.problem(digests, size)
    if problem is not None:
        discard(partial)
        raise ChecksumMismatchError(
            f"{label}: {problem} from {origin}. The download was discarded and nothing was cached; "
            f"the source serves other bytes than {expected.claim}.",
            reason=problem,
            **mismatch(expected, digests, size),
        )
    cache.commit(partial, digests["sha256"])
    cache.record(expected, digests["sha256"])
    return digests["sha256"]
