"""A mirror in a folder on this machine (or a mounted share), served as it is by nginx or any static server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from zoo import _atomic
from zoo._layout import mirror_blob
from zoo.errors import UnsafeFileError
from zoo.mirror._store import BLOBS, OnBytes

__all__ = ["FolderStore"]


class FolderStore:
    """A mirror folder on this machine (or a mounted share)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.where = str(root)

    def prepare(self, writes: Sequence[str]) -> None:
        # zoo writes every file of a mirror itself: a link where one goes was put there by someone else, and writing
        # through it would write wherever it points. Refused before anything is written.
        links = [self.root / p for p in writes if os.path.islink(self.root / p)]
        if links:
            leads_to = os.path.realpath(links[0])
            more = f" and {len(links) - 1} more" if len(links) > 1 else ""
            raise UnsafeFileError(
                f"mirror {self.root}: {links[0]} is a symlink (to {leads_to}){more}; zoo writes a mirror's files itself and "
                "never through a link, so nothing was written. Remove the link(s) or choose another folder.",
                path=str(links[0]), reason="symlink", target=leads_to,
            )

    def blob_sizes(self) -> dict[str, int]:
        folder = self.root / BLOBS
        if not folder.is_dir():
            return {}
        return {
            p.name: p.stat().st_size
            for p in folder.iterdir()
            if not p.name.startswith(".") and not p.is_symlink() and p.is_file()
        }

    def put_blob(self, sha256: str, src: Path, on_bytes: OnBytes | None = None) -> None:
        with _atomic.atomic_path(self.root / mirror_blob(sha256)) as tmp:
            shutil.copyfile(src, tmp)
        if on_bytes is not None:
            on_bytes(src.stat().st_size)

    def open_blob(self, sha256: str) -> BinaryIO:
        return (self.root / mirror_blob(sha256)).open("rb")

    def read_text(self, rel: str) -> str | None:
        try:
            return (self.root / rel).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def texts(self, folder: str, suffix: str) -> Iterator[tuple[str, str]]:
        base = self.root / folder
        for path in sorted(base.glob(f"*{suffix}")) if base.is_dir() else ():
            yield path.name, path.read_text(encoding="utf-8")

    def write_bytes(self, rel: str, data: bytes) -> None:
        _atomic.write_bytes(self.root / rel, data)
