"""What a mirror's storage does: the :class:`Store` protocol, alone.

A mirror lives in a folder (``_folder_store``: served as it is by nginx or any
static server) or under an S3 prefix (``_s3_store``); both hold the same tree
(see :mod:`zoo.mirror`) and both import this module, never the reverse.
``_open``'s :func:`open_store` picks one by the destination's form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from zoo._layout import MIRROR_BLOBS as BLOBS  # the folder of blobs, named by the layout (zoo._layout.mirror_blob)

OnBytes = Callable[[int], None]


class Store(Protocol):
    """A mirror's storage; paths are ``/``-separated and relative to the mirror's root."""

    where: str

    def prepare(self, writes: Sequence[str]) -> None:
        """Checks, before anything is written, that the store can take these writes (raises otherwise)."""
        ...

    def blob_sizes(self) -> dict[str, int]:
        """Every blob under ``sha256/``: name -> size."""
        ...

    def put_blob(self, sha256: str, src: Path, on_bytes: OnBytes | None = None) -> None:
        """Stores ``src`` as ``sha256/<sha256>``; the blob appears whole or not at all."""
        ...

    def open_blob(self, sha256: str) -> BinaryIO:
        """Opens ``sha256/<sha256>`` for reading."""
        ...

    def read_text(self, rel: str) -> str | None:
        """The text at ``rel``, None when there is none."""
        ...

    def texts(self, folder: str, suffix: str) -> Iterator[tuple[str, str]]:
        """``(name, text)`` of every file directly in ``folder`` whose name ends with ``suffix``."""
        ...

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Writes ``rel`` whole (atomically)."""
        ...
