"""An opened vectors file: plain, gzip or one zip member, decompressed with a bound.

Published vectors inflate about 3x (text) or 1.1x (binary); a decompression bomb
inflates up to 1000x (deflate) or more, so a compressed stream that yields more than
:data:`MAX_RATIO` times its compressed size (and at least :data:`MIN_BOUND`) is
refused. A zip holding a member with an absolute or ``..`` path or a link is refused
before anything is read. The parsers read through :meth:`Source.read_block`.
"""

from __future__ import annotations

import gzip
import lzma
import os
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from zoo._paths import unsafe_member
from zoo.errors import UnsafeFileError, VectorsFormatError

__all__ = ["CHUNK", "MAX_LINE", "MAX_RATIO", "MIN_BOUND", "Bounded", "Source", "read_start"]

# Big enough that numpy's per-call overhead vanishes, small enough to stay cache-
# and memory-friendly; also the granularity at which `limit` stops reading.
CHUNK = 4 * 1024 * 1024
# Published files have lines of a few kB: a line far beyond this is corrupt, and is refused before memory is spent on it.
MAX_LINE = 16 * 1024 * 1024
# Published vectors inflate about 3x (text) or 1.1x (binary); a decompression bomb, up to 1000x (deflate) or more.
MAX_RATIO = 100
MIN_BOUND = 256 * 1024**2  # small files may inflate more: below this nothing is refused


class Bounded:
    """A decompressed stream that never yields more than ``limit`` bytes: past it, an UnsafeFileError."""

    def __init__(self, stream: IO[bytes], limit: int, name: str, packed: int):
        self._stream, self._limit, self._name, self._packed = stream, limit, name, packed
        self._seen = 0

    def read(self, n: int = -1) -> bytes:
        room = self._limit - self._seen + 1  # one byte more than allowed tells a bomb from a file of exactly the limit
        data = self._stream.read(room if n < 0 else min(n, room))
        self._seen += len(data)
        if self._seen > self._limit:
            raise UnsafeFileError(
                f"{self._name}: decompresses past {self._limit:,} bytes from {self._packed:,} compressed (zoo allows "
                f"{MAX_RATIO}x, at least {MIN_BOUND:,} bytes); refused as a decompression bomb, no vectors were written.",
                path=self._name, reason="too-large", size=self._seen, limit=self._limit,
            )
        return data


class Source:
    """An opened vectors file: a binary stream, decompressed, plus what it was."""

    def __init__(self, path: Path, member: str | None):
        self.path = path
        self.member: str | None = None
        self.compression: str | None = None
        self._packed = 0  # a zip member's compressed size
        self._closers: list[Any] = []
        raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._closers.append(raw)
        try:
            magic = raw.read(4)
            raw.seek(0)
            if magic[:2] == b"PK":
                self.compression = "zip"
                try:
                    stream: IO[bytes] = self._open_zip(raw, member)
                except (zipfile.BadZipFile, EOFError, OSError, IndexError, NotImplementedError, RuntimeError) as exc:
                    # zipfile's own errors for a damaged directory or member header (an empty name, offsets past
                    # the end, an unknown compression method, encryption).
                    raise VectorsFormatError(
                        f"{path}: a zip archive zoo cannot read ({type(exc).__name__}: {exc}). "
                        "The download is probably incomplete or damaged: fetch it again."
                    ) from None
            elif member is not None:
                raise VectorsFormatError(
                    f"{path}: member={member!r} was given but the file is not a zip archive. "
                    "Drop member= for plain or gzipped files."
                )
            else:
                stream = raw
            if magic[:2] == b"\x1f\x8b":
                self.compression = "gzip"
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
                self._closers.append(stream)
            elif self.compression == "zip" and self.member and self.member.endswith(".gz"):
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
                self._closers.append(stream)
            if self.compression is not None:
                packed = self._packed if self.compression == "zip" else os.fstat(raw.fileno()).st_size
                stream = Bounded(stream, max(MAX_RATIO * packed, MIN_BOUND), self.name, packed)  # type: ignore[assignment]
            self.stream = stream
        except BaseException:
            self.close()
            raise

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    def _open_zip(self, raw: IO[bytes], member: str | None) -> IO[bytes]:
        try:
            archive = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as exc:
            raise VectorsFormatError(
                f"{self.path}: starts like a zip archive but cannot be read as one ({exc}). "
                "The download is probably incomplete: fetch it again."
            ) from None
        self._closers.append(archive)
        for info in archive.infolist():
            # Only one member is read, into memory; an archive holding such a member is still not a published one.
            unsafe = unsafe_member(info.filename, info.external_attr >> 16)
            if unsafe is not None:
                what = {"absolute-path": "an absolute path", "path-escape": "a '..' part", "symlink": "a symbolic link"}
                raise UnsafeFileError(
                    f"{self.path}: the zip archive holds the member {info.filename!r}, {what[unsafe]}; "
                    "refused, nothing was read from it.",
                    path=info.filename, reason=unsafe,
                )
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        if member is None:
            if len(names) != 1:
                listing = ", ".join(names) if names else "nothing"
                raise VectorsFormatError(
                    f"{self.path}: the zip archive holds {len(names)} files ({listing}); "
                    "pass member= with the one to read."
                )
            chosen = names[0]
        elif member in names:
            chosen = member
        else:
            # "glove.6B.50d.txt" also finds "glove/glove.6B.50d.txt".
            same_base = [n for n in names if n.rsplit("/", 1)[-1] == member]
            if len(same_base) != 1:
                raise VectorsFormatError(
                    f"{self.path}: the zip archive has no member {member!r}. "
                    f"Its members: {', '.join(names)}."
                )
            chosen = same_base[0]
        self.member = chosen
        info = archive.getinfo(chosen)
        self._packed = info.compress_size
        limit = max(MAX_RATIO * info.compress_size, MIN_BOUND)
        if info.file_size > limit:
            raise UnsafeFileError(
                f"{self.name}: declares {info.file_size:,} bytes from {info.compress_size:,} compressed (zoo allows "
                f"{MAX_RATIO}x, at least {MIN_BOUND:,} bytes); refused as a decompression bomb, nothing was read from it.",
                path=chosen, reason="too-large", size=info.file_size, limit=limit,
            )
        stream = archive.open(chosen)
        self._closers.append(stream)
        return stream

    def read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, OSError) as exc:
            if self.compression is None:
                raise  # the disk, not the content
            raise VectorsFormatError(
                f"{self.name}: the {self.compression or 'compressed'} data is corrupt or cut short ({exc}). "
                "The download is probably incomplete: fetch the file again."
            ) from None

    def read_block(self) -> bytes:
        """The next :data:`CHUNK` bytes (fewer at the end; empty when done)."""
        return self.read(CHUNK)

    def close(self) -> None:
        for obj in reversed(self._closers):
            try:
                obj.close()
            except Exception:  # pragma: no cover - closing never matters more than the real error
                pass
        self._closers.clear()


def read_start(src: Source) -> bytes:
    """Reads enough of the stream to hold the first two lines (or all of it, or ``MAX_LINE``: the parsers refuse longer lines)."""
    data = src.read_block()
    while True:
        first = data.find(b"\n")
        if (first >= 0 and data.find(b"\n", first + 1) >= 0) or len(data) > MAX_LINE:
            return data
        more = src.read_block()
        if not more:
            return data
        data += more
