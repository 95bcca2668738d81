"""Reading any of the three formats: :func:`parse` detects the format and hands the stream to its parser."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from zoo.errors import InvalidOptionError, VectorsFormatError
from zoo.vectors._binary import parse_binary
from zoo.vectors._parsed import HEADER, Parsed, show
from zoo.vectors._source import Source, read_start
from zoo.vectors._text import DIM_SAMPLE, infer_dim, looks_like_text, parse_text

__all__ = ["BOM", "FORMATS", "MAX_DIM", "parse"]

FORMATS = ("glove", "word2vec", "word2vec-binary")
BOM = b"\xef\xbb\xbf"
# Published files have a few hundred dimensions: a header far beyond this is corrupt, and is refused.
MAX_DIM = 65536


def parse(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 - the natural name for the caller
    member: str | None = None,
    limit: int | None = None,
) -> Parsed:
    """Reads a GloVe or word2vec file (plain, ``.gz`` or ``.zip``) into words and a matrix.

    Args:
        path: The file. gzip and zip are recognised by their first bytes.
        format: ``"glove"``, ``"word2vec"``, ``"word2vec-binary"``, or None to
            detect (a ``count dim`` first line means word2vec, then text or
            binary by what follows; no header means GloVe).
        member: For a zip archive with several files, the one to read (its
            name, or its base name).
        limit: Read only the first ``limit`` vectors (files are in frequency
            order) and stop reading there. Duplicates count toward it.

    Returns:
        The words (each once: a repeated word keeps its first vector), a
        float32 matrix, and a report of what was found.

    Raises:
        VectorsFormatError: Malformed content (the message names the line or
            record), an unknown ``format``, a zip member that is missing or
            not chosen, or a pickle (gensim ``.model``), which is never loaded.
        UnsafeFileError: A zip holding a member with an absolute or ``..`` path
            or a symlink, or data inflating over 100x its compressed size and
            past 256 MiB (a decompression bomb).
        OSError: The file cannot be read.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.txt"
        >>> _ = p.write_text("2 3\\nthe 0.1 0.2 0.3\\nof 0.4 0.5 0.6\\n")
        >>> got = parse(p)
        >>> got.words, got.vectors.shape, got.report["format"]
        (['the', 'of'], (2, 3), 'word2vec')
    """
    if format is not None and format not in FORMATS:
        raise VectorsFormatError(f"Unknown vectors format {format!r}: use one of {', '.join(FORMATS)}, or None to detect it.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidOptionError(f"limit must be a non-negative int or None, not {limit!r}")
    path = Path(path)
    src = Source(path, member)
    try:
        return _parse(src, format, limit)
    finally:
        src.close()


def _parse(src: Source, format: str | None, limit: int | None) -> Parsed:  # noqa: A002
    start = read_start(src)
    if start.startswith(BOM):
        start = start[len(BOM) :]
    if not start.strip():
        raise VectorsFormatError(f"{src.name}: the file is empty; there are no vectors to read.")
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise VectorsFormatError(
            f"{src.name}: this is a Python pickle (e.g. a gensim .model file). zoo never unpickles "
            "files, since that can run arbitrary code. With gensim, save it in a plain format: "
            "KeyedVectors.load(path).save_word2vec_format('vectors.bin', binary=True)."
        )
    newline = start.find(b"\n")
    first = start if newline < 0 else start[:newline]
    header = HEADER.match(first)
    header_count: int | None = None
    if format is None:
        if header is None:
            format = "glove"
        else:
            _, dim = _header_numbers(header, src.name)
            body = start[newline + 1 :] if newline >= 0 else b""
            body = body.lstrip(b"\n")
            end = body.find(b"\n")
            if not body.strip() or looks_like_text(body if end < 0 else body[:end], dim):
                format = "word2vec"
            else:
                format = "word2vec-binary"
    elif format != "glove" and header is None:
        raise VectorsFormatError(
            f"{src.name}: line 1 is not a word2vec header 'count dim' (found {show(first[:80])}). "
            "Use format='glove' for files without a header, or leave format=None to detect it."
        )

    ctx: dict[str, Any] = {"source": src.name, "words_with_spaces": 0, "records_before": 0}
    if format == "glove":
        dim = infer_dim(start.split(b"\n", DIM_SAMPLE)[:DIM_SAMPLE])
        if dim < 1:
            raise VectorsFormatError(
                f"{src.name}: line 1 has no values after the word, so this is not a GloVe file."
            )
        ctx["dim_from"] = f"the dimension of most of the first {DIM_SAMPLE} lines"
        collected, limited = parse_text(src, start, 1, dim, limit, ctx)
    elif header is not None:
        header_count, dim = _header_numbers(header, src.name)
        if dim < 1:
            raise VectorsFormatError(f"{src.name}: the header says dimension {dim}; it must be at least 1.")
        ctx["dim_from"] = "the dimension in the header"
        if format == "word2vec":
            collected, limited = parse_text(src, start[newline + 1 :], 2, dim, limit, ctx)
        else:
            collected, limited = parse_binary(src, start, newline + 1, dim, limit, ctx)

    words, vectors = collected.result()
    warnings: list[str] = []
    if header_count is not None and not limited and header_count != collected.records:
        warnings.append(
            f"the header says {header_count} vectors but the body has {collected.records}; "
            f"the {collected.records} in the body were read"
        )
    if collected.duplicates:
        examples = ", ".join(repr(w) for w in collected.first_duplicates)
        warnings.append(f"{collected.duplicates} repeated words kept their first vector (e.g. {examples})")
    if collected.replaced:
        warnings.append(f"{collected.replaced} words had bytes that are not UTF-8; they were replaced by U+FFFD")
    report = {
        "format": format,
        "source": str(src.path),
        "member": src.member,
        "compression": src.compression,
        "header_count": header_count,
        "records": collected.records,
        "count": len(words),
        "dim": dim,
        "duplicates": collected.duplicates,
        "replaced": collected.replaced,
        "words_with_spaces": ctx["words_with_spaces"],
        "limited": limited,
        "warnings": warnings,
    }
    return Parsed(words=words, vectors=vectors, report=report)


def _header_numbers(header: re.Match[bytes], name: str) -> tuple[int, int]:
    """The ``count dim`` of a word2vec header; VectorsFormatError for numbers no word-vector file has."""
    count, dim = header.group(1), header.group(2)
    # Checked before int(): Python refuses to convert more than 4300 digits.
    if len(count) > 15 or len(dim) > 15 or int(dim) > MAX_DIM:
        raise VectorsFormatError(
            f"{name}: line 1 says {show(count[:20])} vectors of dimension {show(dim[:20])}; zoo reads up to "
            f"{MAX_DIM} dimensions (published files have a few hundred), so the header is corrupt or this is "
            "not a word2vec file. Use format='glove' if line 1 is a word and its vector."
        )
    return int(count), int(dim)
