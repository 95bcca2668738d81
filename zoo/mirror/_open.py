"""The store for a mirror destination, picked by its form (the one module that knows every kind of store)."""

from __future__ import annotations

import os

from zoo.mirror._folder_store import FolderStore
from zoo.mirror._store import Store

__all__ = ["open_store"]


def open_store(dest: str | os.PathLike[str]) -> Store:
    """The store for a mirror destination: ``s3://bucket/prefix``, or a folder."""
    text = os.fspath(dest)
    if text.startswith("s3://"):
        from zoo.mirror._s3_store import S3Store

        return S3Store(text)
    return FolderStore(text)
