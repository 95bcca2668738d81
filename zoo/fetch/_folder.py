"""A folder source: a mirror folder's blobs (:func:`zoo._layout.mirror_blob`), or a shared cache's, copied and checked.

Nothing outside the folder is read: a link on the way that leads out of it is
refused before its target is opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zoo._hashing import CHUNK, Expected
from zoo._layout import Layout, mirror_blob
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError, UnsafeFileError
from zoo.fetch._failures import check_space
from zoo.fetch._partial import finish, write_chunks
from zoo.fetch._source import Absent, FetchRequest, FetchResult, OnBytes


def fetch_folder(
    folder: str | os.PathLike[str],
    cache: Cache,
    expected: Expected,
    *,
    label: str = "",
    on_bytes: OnBytes | None = None,
    source: str = "mirror",
) -> FetchResult | None:
    """Copies ``folder/sha256/<hex>`` (a local mirror, or a shared cache's blobs area) into the cache, checking it.

    A symlink on the way (``sha256/<hex>`` itself, or the ``sha256`` folder) may
    point elsewhere inside the mirror folder, never out of it: such a link is
    refused before its target is opened, whatever that holds.

    Returns:
        The result, or None when the mirror does not have the file (or its
        sha256 is not known yet: mirrors are addressed by sha256).

    Raises:
        UnsafeFileError: A link leads out of the mirror folder (``reason``
            ``symlink``, ``path`` the link, ``target`` where it leads).
        ChecksumMismatchError: The file is not what is pinned; nothing is cached.
    """
    if expected.sha256 is None:
        return None
    root = Path(folder)
    src = root / mirror_blob(expected.sha256)
    if not os.path.lexists(src):
        return None
    label = label or str(src)
    real_root = os.path.realpath(root)
    for link in (src.parent, src):  # the first link that leaves is the one at fault
        target = os.path.realpath(link)
        if os.path.commonpath([real_root, target]) != real_root:
            raise UnsafeFileError(
                f"{label}: the mirror's {link} is a symlink to {target}, out of the mirror folder {root}; "
                "refused without opening it. Replace the link with the file itself (zoo mirror create writes one).",
                path=str(link), reason="symlink", target=target,
            )
    real = target
    try:
        # O_NOFOLLOW: the checked path cannot be swapped for a link before it is opened; O_NONBLOCK: nor a FIFO hang it.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # a dangling link, or not readable: the mirror does not have it
    fh = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        fh.close()
        return None
    if expected.size is not None and os.fstat(fd).st_size != expected.size:
        found = os.fstat(fd).st_size
        fh.close()
        raise ChecksumMismatchError(
            f"{label}: mirror file {src} is {found} bytes, the registry pins {expected.size}",
            algorithm="size",
            expected=expected.size,
            actual=found,
            reason=f"size mismatch (expected {expected.size} bytes, got {found})",
        )
    cache.blobs.mkdir(parents=True, exist_ok=True)
    partial = cache.partial_path(expected.key)

    def blocks() -> Iterator[bytes]:
        with fh:
            while block := fh.read(4 * CHUNK):
                yield block

    try:
        # The copy starts over ("wb"): the partial's bytes are freed, so they count as free space.
        check_space(cache.blobs, expected.size, partial.stat().st_size if partial.exists() else 0, label)
        written, digests = write_chunks(blocks(), partial, 0, expected, label, on_bytes)
    finally:
        fh.close()
    sha = finish(cache, partial, digests, written, expected, label, str(src))
    return FetchResult(source, str(folder), written, 0, 1, sha)


@dataclass(frozen=True)
class FolderSource:
    """A folder on this machine (or a mounted share) holding files by sha256.

    ``kind="mirror"``: a mirror folder, ``root/sha256/<hex>`` (``zoo mirror sync`` writes one).
    ``kind="shared"``: a read-only shared cache (``ZOO_SHARED_CACHE``), a ``ZOO_HOME`` whose
    blobs area is laid out as a mirror folder. Nothing is ever written there.
    """

    root: str
    kind: str = "mirror"
    local = True

    @property
    def where(self) -> str:
        return self.root

    def fetch(self, request: FetchRequest) -> FetchResult | Absent:
        sha256 = request.expected.sha256
        shared = self.kind == "shared"
        if sha256 is None:
            # Addressed by sha256, not known yet for this file.
            return Absent("not in the shared cache" if shared else "skipped: the file's sha256 is not known yet")
        folder = Layout(self.root).blobs_area if shared else self.root
        result = fetch_folder(folder, request.cache, request.expected, label=request.label, on_bytes=request.on_bytes, source=self.kind)
        if result is None:
            return Absent("not in the shared cache" if shared else f"not there (no sha256/{sha256[:12]}…)")
        return result
