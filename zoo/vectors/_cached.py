"""The cached form of a vectors file: a folder holding no pickle and no code, written whole by :func:`convert`::

    dest_dir/
    ├── vectors.safetensors    one float32 tensor named "vectors", shape (n, dim)
    ├── vocab.txt              one word per line, UTF-8, in file (frequency) order
    └── report.json            what parse found: format, counts, anomalies
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from zoo import _atomic
from zoo.errors import VectorsFormatError
from zoo.vectors._parse import parse
from zoo.vectors._safetensors import writer

__all__ = ["REPORT_FILE", "VECTORS_FILE", "VOCAB_FILE", "convert"]

VECTORS_FILE = "vectors.safetensors"
VOCAB_FILE = "vocab.txt"
REPORT_FILE = "report.json"


def convert(
    src: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002
    member: str | None = None,
    limit: int | None = None,
) -> Path:
    """Parses a vectors file and writes its cached form into ``dest_dir``, atomically.

    The files are written into a temporary sibling folder that then replaces
    ``dest_dir`` by rename, so a reader never sees a half-written folder. An
    existing ``dest_dir`` is replaced only if it holds nothing but a previous
    conversion.

    Args:
        src: The vectors file (see :func:`parse`).
        dest_dir: The folder to create (its parent must be writable).
        format, member, limit: As for :func:`parse`.

    Returns:
        ``dest_dir``, holding ``vectors.safetensors``, ``vocab.txt`` and
        ``report.json``.

    Raises:
        VectorsFormatError: As :func:`parse`, or a word holds a line break
            (``vocab.txt`` could not keep it).
        FileExistsError: ``dest_dir`` exists and holds other files.
        MissingDependencyError: safetensors is not installed.
    """
    save_file = writer()  # before the parse: a missing safetensors fails at once
    dest = Path(dest_dir)
    ours = {VECTORS_FILE, VOCAB_FILE, REPORT_FILE}
    if dest.exists() and (not dest.is_dir() or not {p.name for p in dest.iterdir()} <= ours):
        raise FileExistsError(
            f"{dest} exists and is not a converted vectors folder; choose another dest_dir or remove it first."
        )
    parsed = parse(src, format=format, member=member, limit=limit)
    vocab = "\n".join(parsed.words)
    if vocab.count("\n") != max(len(parsed.words) - 1, 0):
        bad = next(w for w in parsed.words if "\n" in w)
        raise VectorsFormatError(
            f"{src}: the word {bad!r} contains a line break, which vocab.txt cannot hold. "
            "Remove it from the file first."
        )
    # The folder appears whole or not at all: a reader (or a killed conversion) never sees a half-written one.
    with _atomic.atomic_folder(dest, replace=True) as tmp:
        save_file(
            {"vectors": parsed.vectors},
            str(tmp / VECTORS_FILE),
            metadata={"format": "zoo.vectors", "count": str(len(parsed.words))},
        )
        (tmp / VOCAB_FILE).write_bytes((vocab + "\n").encode("utf-8") if parsed.words else b"")
        (tmp / REPORT_FILE).write_text(json.dumps(parsed.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return dest
