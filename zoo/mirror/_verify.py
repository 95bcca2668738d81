"""``zoo mirror verify``: re-hash what a mirror holds; list bad, missing and unlisted blobs (nothing is changed)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from zoo.errors import InvalidOptionError
from zoo.mirror._open import open_store
from zoo.mirror._sync import INDEX, read_index

__all__ = ["MirrorCheck", "verify_mirror"]

_CHUNK = 8 << 20


@dataclass
class MirrorCheck:
    """What :func:`verify_mirror` found.

    Attributes:
        path: The mirror.
        checked: Blobs re-hashed; bytes: their size.
        bad: ``(blob name, actual sha256)`` of each blob whose bytes are not its name.
        missing: ``(model, file path, sha256)`` the index names but the mirror lacks.
        unlisted: Blobs in ``sha256/`` that no mirrored version uses.
    """

    path: str
    checked: int = 0
    bytes: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    missing: list[tuple[str, str, str]] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad and not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify_mirror(dest: str | os.PathLike[str], *, on_bytes: Callable[[int], None] | None = None) -> MirrorCheck:
    """Re-hashes every blob a mirror holds (a folder or ``s3://bucket/prefix``); lists bad, missing and unlisted blobs.

    Raises:
        InvalidOptionError: ``dest`` holds no mirror (no ``sha256/`` blobs and no ``index.json``).
        MirrorError: An S3 mirror's bucket is missing or refuses the credentials.
    """
    store = open_store(dest)
    store.prepare([])
    present = store.blob_sizes()
    index = read_index(store)
    if not present and not index:
        raise InvalidOptionError(
            f"{store.where} is not a zoo mirror (no sha256/ blobs, no {INDEX}); write one with 'zoo mirror sync {store.where} MODEL...'"
        )
    check = MirrorCheck(store.where)
    for name in sorted(present):
        h = hashlib.sha256()
        with store.open_blob(name) as fh:
            while block := fh.read(_CHUNK):
                h.update(block)
                check.bytes += len(block)
                if on_bytes is not None:
                    on_bytes(len(block))
        check.checked += 1
        if h.hexdigest() != name:
            check.bad.append((name, h.hexdigest()))
    used = set()
    for model, files in sorted(index.get("models", {}).items()):
        for rel, digest in sorted(files.items()):
            used.add(digest)
            if digest not in present:
                check.missing.append((model, rel, digest))
    check.unlisted = sorted(set(present) - used) if index else []
    return check
