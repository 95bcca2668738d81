"""Writing a stream into ``<blob>.partial``, hashing as it goes, and moving a verified file into ``blobs/``.

The partial is only ever a prefix of the file: each block is written whole
(an unbuffered write may take part of a block on a filling disk) or the
download stops. It never grows past the registry's size (or 64 GiB for a
file without one). A complete file whose size or hashes are wrong is deleted
and raises :class:`~zoo.errors.ChecksumMismatchError`; it never enters ``blobs/``.
"""

from __future__ import annotations

import errno
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
                if on_bytes is not None:
                    on_bytes(len(chunk))
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
