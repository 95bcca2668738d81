"""Static word embeddings (GloVe, word2vec): fast parsing, a safe cached form, lookups.

The published files come in three formats, each possibly gzipped or zipped:

- ``glove``: text, ``word v1 … vd`` per line, no header (GloVe 840B has words
  containing spaces: the word is everything before the last ``d`` fields);
- ``word2vec``: the same text after a first line ``count dim``;
- ``word2vec-binary``: the header ``count dim\\n``, then per word its bytes up
  to a space, ``dim`` little-endian float32 values and an optional ``\\n``.

:func:`parse` reads any of them in one streaming pass, a block of lines at a
time, converting every number of a block with one numpy call (no Python float
per value). :func:`convert` writes the cached form, which holds no pickle and
no code::

    dest_dir/
    ├── vectors.safetensors    one float32 tensor named "vectors", shape (n, dim)
    ├── vocab.txt              one word per line, UTF-8, in file (frequency) order
    └── report.json            what parse found: format, counts, anomalies

:meth:`KeyedVectors.load` memory-maps that matrix read-only (the safetensors
header is parsed here, so loading needs neither safetensors nor torch).

gensim's own ``.model`` files are pickles; they are refused, never unpickled.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "tiny.txt").write_text("king 1 0\\nqueen 0.9 0.1\\napple 0 1\\n")
    >>> kv = KeyedVectors.load(convert(d / "tiny.txt", d / "tiny"))
    >>> kv.vector_size, len(kv), kv.most_similar("king", topn=1)[0][0]
    (2, 3, 'queen')
"""

from __future__ import annotations

import difflib
import gzip
import json
import lzma
import os
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from zoo import _atomic
from zoo.errors import (
    InvalidOptionError,
    MissingDependencyError,
    UnknownWordError,
    VectorsFormatError,
)

__all__ = ["FORMATS", "Parsed", "parse", "convert", "KeyedVectors", "from_parsed"]

FORMATS = ("glove", "word2vec", "word2vec-binary")

VECTORS_FILE = "vectors.safetensors"
VOCAB_FILE = "vocab.txt"
REPORT_FILE = "report.json"

# Big enough that numpy's per-call overhead vanishes, small enough to stay cache-
# and memory-friendly; also the granularity at which `limit` stops reading.
_CHUNK = 4 * 1024 * 1024
_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_BOM = b"\xef\xbb\xbf"
_DIM_SAMPLE = 1000  # lines used to infer the dimension of a headerless file
_MAX_BINARY_WORD = 1024 * 1024
# Published files have a few hundred dimensions and lines of a few kB: a header or a line far beyond
# these is corrupt, and is refused before memory is spent on it.
_MAX_DIM = 65536
_MAX_LINE = 16 * 1024 * 1024
_SUGGEST_POOL = 50_000  # most frequent words searched for "did you mean"
_SAFETENSORS_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}


@dataclass
class Parsed:
    """The content of a word-vector file.

    Attributes:
        words: The words, in file order, each once.
        vectors: float32, C-contiguous, shape ``(len(words), dim)``.
        report: What was found: ``format``, ``source``, ``member``,
            ``compression``, ``header_count`` (None without header), ``records``
            (vectors read from the body, duplicates included), ``count`` (words
            kept), ``dim``, ``duplicates``, ``replaced`` (words with non-UTF-8
            bytes, decoded with U+FFFD), ``words_with_spaces``, ``limited``
            (reading stopped at ``limit``) and ``warnings`` (sentences).
    """

    words: list[str]
    vectors: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)


# ---- reading the source ------------------------------------------------------------

# Published vectors inflate about 3x (text) or 1.1x (binary); a decompression bomb, up to 1000x (deflate) or more.
_MAX_RATIO = 100
_MIN_BOUND = 256 * 1024**2  # small files may inflate more: below this nothing is refused


class _Bounded:
    """A decompressed stream that never yields more than ``limit`` bytes: past it, an UnsafeFileError."""

    def __init__(self, stream: IO[bytes], limit: int, name: str, packed: int):
        self._stream, self._limit, self._name, self._packed = stream, limit, name, packed
        self._seen = 0

    def read(self, n: int = -1) -> bytes:
        room = self._limit - self._seen + 1  # one byte more than allowed tells a bomb from a file of exactly the limit
        data = self._stream.read(room if n < 0 else min(n, room))
        self._seen += len(data)
        if self._seen > self._limit:
            from zoo.errors import UnsafeFileError

            raise UnsafeFileError(
                f"{self._name}: decompresses past {self._limit:,} bytes from {self._packed:,} compressed (zoo allows "
                f"{_MAX_RATIO}x, at least {_MIN_BOUND:,} bytes); refused as a decompression bomb, no vectors were written.",
                path=self._name, reason="too-large", size=self._seen, limit=self._limit,
            )
        return data


class _Source:
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
                stream = _Bounded(stream, max(_MAX_RATIO * packed, _MIN_BOUND), self.name, packed)  # type: ignore[assignment]
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
        from zoo.errors import UnsafeFileError
        from zoo.schema import unsafe_member

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
        limit = max(_MAX_RATIO * info.compress_size, _MIN_BOUND)
        if info.file_size > limit:
            raise UnsafeFileError(
                f"{self.name}: declares {info.file_size:,} bytes from {info.compress_size:,} compressed (zoo allows "
                f"{_MAX_RATIO}x, at least {_MIN_BOUND:,} bytes); refused as a decompression bomb, nothing was read from it.",
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

    def close(self) -> None:
        for obj in reversed(self._closers):
            try:
                obj.close()
            except Exception:  # pragma: no cover - closing never matters more than the real error
                pass
        self._closers.clear()


def _read_start(src: _Source) -> bytes:
    """Reads enough of the stream to hold the first two lines (or all of it, or ``_MAX_LINE``: the parsers refuse longer lines)."""
    data = src.read(_CHUNK)
    while True:
        first = data.find(b"\n")
        if (first >= 0 and data.find(b"\n", first + 1) >= 0) or len(data) > _MAX_LINE:
            return data
        more = src.read(_CHUNK)
        if not more:
            return data
        data += more


def _text_blocks(src: _Source, start: bytes, first_line_no: int) -> Iterator[list[bytes]]:
    """Yields the stream's lines a block at a time, without their ``\\n``; refuses a line longer than ``_MAX_LINE``."""
    carry = start
    line_no = first_line_no
    while True:
        more = src.read(_CHUNK)
        if not more:
            if carry:
                lines = carry.split(b"\n")
                if lines[-1] == b"":
                    lines.pop()
                yield lines
            return
        data = carry + more
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > _MAX_LINE:
                raise VectorsFormatError(
                    f"{src.name}: line {line_no} runs over {_MAX_LINE} bytes without a line break; a word and its "
                    "vector take a few kB, so this is not a GloVe or word2vec text file (or it is corrupt)."
                )
            carry = data
            continue
        carry = data[cut + 1 :]
        lines = data[:cut].split(b"\n")
        line_no += len(lines)
        yield lines


# ---- parsing -----------------------------------------------------------------------


class _Collector:
    """Accumulates blocks of (word bytes, vectors), dropping duplicate words."""

    def __init__(self, dim: int):
        self.dim = dim
        self.seen: dict[str, None] = {}
        self.arrays: list[np.ndarray] = []
        self.records = 0
        self.duplicates = 0
        self.replaced = 0
        self.first_duplicates: list[str] = []

    def add(self, word_bytes: list[bytes], vectors: np.ndarray) -> None:
        words, replaced = _decode_words(word_bytes)
        self.replaced += replaced
        self.records += len(words)
        seen = self.seen
        if len(set(words)) == len(words) and seen.keys().isdisjoint(words):
            seen.update(dict.fromkeys(words))
            self.arrays.append(vectors)
            return
        keep = np.ones(len(words), dtype=bool)
        for i, word in enumerate(words):
            if word in seen:
                keep[i] = False
                self.duplicates += 1
                if len(self.first_duplicates) < 5:
                    self.first_duplicates.append(word)
            else:
                seen[word] = None
        self.arrays.append(vectors[keep])

    def result(self) -> tuple[list[str], np.ndarray]:
        if len(self.arrays) > 1:
            matrix = np.concatenate(self.arrays)
        elif self.arrays:
            # A single block may be a read-only view of the bytes read (binary format).
            matrix = self.arrays[0] if self.arrays[0].flags.writeable else self.arrays[0].copy()
        else:
            matrix = np.empty((0, self.dim), dtype=np.float32)
        return list(self.seen), np.ascontiguousarray(matrix, dtype=np.float32)


def _decode_words(word_bytes: list[bytes]) -> tuple[list[str], int]:
    """Decodes UTF-8 words, replacing bad bytes; returns (words, how many had bad bytes)."""
    if word_bytes:
        try:
            words = b"\n".join(word_bytes).decode("utf-8").split("\n")
            if len(words) == len(word_bytes):
                return words, 0
        except UnicodeDecodeError:
            pass
    words = []
    replaced = 0
    for raw in word_bytes:
        try:
            words.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            words.append(raw.decode("utf-8", "replace"))
            replaced += 1
    return words, replaced


def _text_block(
    lines: list[bytes], first_line_no: int, dim: int, budget: int | None, ctx: dict[str, Any]
) -> tuple[list[bytes], list[bytes], int, bool]:
    """Splits lines into words and number text.

    Returns (words, numbers, lines consumed, budget exhausted). Raises on a line
    with too few fields.
    """
    words: list[bytes] = []
    rests: list[bytes] = []
    append_word = words.append
    append_rest = rests.append
    space = b" "
    end = len(lines) if budget is None else min(len(lines), budget)
    pos = 0
    while True:
        for line in lines[pos:end]:
            line = line.rstrip()
            if not line:
                continue
            if line.count(space) == dim:
                # The common case: one space after the word, one between values.
                i = line.find(space)
                append_word(line[:i])
                append_rest(line[i + 1 :])
                continue
            parts = line.rsplit(None, dim)
            if len(parts) != dim + 1:
                raise _field_error(lines, first_line_no, pos, end, line, dim, ctx)
            word = parts[0]
            if b" " in word or b"\t" in word:
                ctx["words_with_spaces"] += 1
            append_word(word)
            append_rest(b" ".join(parts[1:]))
        pos = end
        if budget is None or pos >= len(lines) or len(words) >= budget:
            break
        end = min(len(lines), pos + budget - len(words))
    exhausted = budget is not None and len(words) >= budget
    return words, rests, pos, exhausted


def _field_error(
    lines: list[bytes], first_line_no: int, start: int, end: int, bad: bytes, dim: int, ctx: dict[str, Any]
) -> VectorsFormatError:
    for k in range(start, end):
        if lines[k].rstrip() == bad:
            break
    else:  # pragma: no cover - bad always comes from lines[start:end]
        k = start
    line_no = first_line_no + k
    found = len(bad.split()) - 1
    hint = ""
    if line_no == 1 and _HEADER.match(bad):
        hint = " It looks like a word2vec header ('count dim'): use format='word2vec' or leave format=None."
    return VectorsFormatError(
        f"{ctx['source']}: line {line_no} has {found} value{'s' if found != 1 else ''} after the word, "
        f"expected {dim} ({ctx['dim_from']}).{hint} Fix or remove that line, "
        f"or pass limit={ctx['records_before'] + _count_nonempty(lines[:k])} to read only the lines before it."
    )


def _count_nonempty(lines: list[bytes]) -> int:
    return sum(1 for line in lines if line.strip())


def _numbers(rests: list[bytes], dim: int, lines: list[bytes], first_line_no: int, ctx: dict[str, Any]) -> np.ndarray:
    """Converts the number text of a block with one numpy call; pinpoints a bad line."""
    try:
        values = np.fromstring(b" ".join(rests), dtype=np.float32, sep=" ")  # type: ignore[call-overload]
    except ValueError:
        values = None
    if values is not None and values.size == len(rests) * dim:
        return values.reshape(len(rests), dim)
    # Rare path: find the first line whose numbers do not convert or do not count up.
    seen = 0
    for k, line in enumerate(lines):
        line = line.rstrip()
        if not line:
            continue
        if seen >= len(rests):
            break
        rest = rests[seen]
        seen += 1
        tokens = rest.split()
        bad = None
        for token in tokens:
            try:
                float(token)
            except ValueError:
                bad = token
                break
        if bad is None and len(tokens) == dim:
            continue
        line_no = first_line_no + k
        if bad is not None:
            what = f"{bad.decode('utf-8', 'replace')!r} is not a number"
        else:
            what = f"it has {len(tokens)} values after the word"
        raise VectorsFormatError(
            f"{ctx['source']}: line {line_no}: {what}; expected {dim} numbers after the word "
            f"({ctx['dim_from']}). Fix or remove that line, or pass "
            f"limit={ctx['records_before'] + seen - 1} to read only the lines before it."
        )
    raise VectorsFormatError(  # pragma: no cover - the loop above always finds the line
        f"{ctx['source']}: a block starting at line {first_line_no} could not be read as numbers."
    )


def _infer_dim(lines: list[bytes]) -> int:
    """The most common field count minus one, over the first non-empty lines."""
    counts: Counter[int] = Counter()
    for line in lines:
        fields = len(line.split())
        if fields:
            counts[fields] += 1
            if sum(counts.values()) >= _DIM_SAMPLE:
                break
    if not counts:
        return 0
    # most_common keeps first-seen order among ties: the first line decides a tie.
    return counts.most_common(1)[0][0] - 1


def _looks_like_text(line: bytes, dim: int) -> bool:
    parts = line.rstrip().rsplit(None, dim)
    if len(parts) != dim + 1:
        return False
    try:
        for part in parts[1:]:
            float(part)
    except ValueError:
        return False
    return True


def _parse_text(
    src: _Source, start: bytes, first_line_no: int, dim: int, limit: int | None, ctx: dict[str, Any]
) -> tuple[_Collector, bool]:
    out = _Collector(dim)
    line_no = first_line_no
    for lines in _text_blocks(src, start, first_line_no):
        budget = None if limit is None else limit - out.records
        ctx["records_before"] = out.records
        words, rests, used, exhausted = _text_block(lines, line_no, dim, budget, ctx)
        if words:
            out.add(words, _numbers(rests, dim, lines[:used], line_no, ctx))
        line_no += len(lines)
        if exhausted:
            return out, True
    return out, False


def _parse_binary(src: _Source, buf: bytes, pos: int, dim: int, limit: int | None, ctx: dict[str, Any]) -> tuple[_Collector, bool]:
    out = _Collector(dim)
    size = 4 * dim
    eof = False
    while True:
        view = memoryview(buf)
        words: list[bytes] = []
        starts: list[int] = []
        budget = None if limit is None else limit - out.records
        n = len(buf)
        find = buf.find
        while budget is None or len(starts) < budget:
            while pos < n and buf[pos] == 0x0A:  # the optional "\n" ending the previous record
                pos += 1
            space = find(b" ", pos)
            if space < 0 or space + 1 + size > n:
                break
            words.append(buf[pos:space])
            starts.append(space + 1)
            pos = space + 1 + size
        if starts:
            joined = b"".join([view[s : s + size] for s in starts])
            out.add(words, np.frombuffer(joined, dtype="<f4").reshape(len(starts), dim))
        if limit is not None and out.records >= limit:
            return out, True
        if eof:
            rest = buf[pos:]
            if rest.strip():
                record = out.records + 1
                space = rest.find(b" ")
                if space < 0:
                    what = f"inside the word of record {record} ({_show(rest[:40])})"
                else:
                    what = (
                        f"inside the vector of record {record} ({_show(rest[:space])}): "
                        f"{len(rest) - space - 1} of its {size} bytes are present"
                    )
                raise VectorsFormatError(
                    f"{ctx['source']}: truncated word2vec binary file: it ends {what}. "
                    "The download is probably incomplete: fetch the file again."
                )
            return out, False
        if pos < n and find(b" ", pos) < 0 and n - pos > _MAX_BINARY_WORD:
            raise VectorsFormatError(
                f"{ctx['source']}: record {out.records + 1} has no space within {_MAX_BINARY_WORD} bytes, "
                "so it is not word2vec binary. Pass format='word2vec' or 'glove' if the file is text."
            )
        more = src.read(_CHUNK)
        if not more:
            eof = True
        view.release()
        buf = buf[pos:] + more
        pos = 0


def _header_numbers(header: re.Match[bytes], name: str) -> tuple[int, int]:
    """The ``count dim`` of a word2vec header; VectorsFormatError for numbers no word-vector file has."""
    count, dim = header.group(1), header.group(2)
    # Checked before int(): Python refuses to convert more than 4300 digits.
    if len(count) > 15 or len(dim) > 15 or int(dim) > _MAX_DIM:
        raise VectorsFormatError(
            f"{name}: line 1 says {_show(count[:20])} vectors of dimension {_show(dim[:20])}; zoo reads up to "
            f"{_MAX_DIM} dimensions (published files have a few hundred), so the header is corrupt or this is "
            "not a word2vec file. Use format='glove' if line 1 is a word and its vector."
        )
    return int(count), int(dim)


def _show(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "replace"))


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
    src = _Source(path, member)
    try:
        return _parse(src, format, limit)
    finally:
        src.close()


def _parse(src: _Source, format: str | None, limit: int | None) -> Parsed:  # noqa: A002
    start = _read_start(src)
    if start.startswith(_BOM):
        start = start[len(_BOM) :]
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
    header = _HEADER.match(first)
    header_count: int | None = None
    if format is None:
        if header is None:
            format = "glove"
        else:
            _, dim = _header_numbers(header, src.name)
            body = start[newline + 1 :] if newline >= 0 else b""
            body = body.lstrip(b"\n")
            end = body.find(b"\n")
            if not body.strip() or _looks_like_text(body if end < 0 else body[:end], dim):
                format = "word2vec"
            else:
                format = "word2vec-binary"
    elif format != "glove" and header is None:
        raise VectorsFormatError(
            f"{src.name}: line 1 is not a word2vec header 'count dim' (found {_show(first[:80])}). "
            "Use format='glove' for files without a header, or leave format=None to detect it."
        )

    ctx: dict[str, Any] = {"source": src.name, "words_with_spaces": 0, "records_before": 0}
    if format == "glove":
        dim = _infer_dim(start.split(b"\n", _DIM_SAMPLE)[:_DIM_SAMPLE])
        if dim < 1:
            raise VectorsFormatError(
                f"{src.name}: line 1 has no values after the word, so this is not a GloVe file."
            )
        ctx["dim_from"] = f"the dimension of most of the first {_DIM_SAMPLE} lines"
        collected, limited = _parse_text(src, start, 1, dim, limit, ctx)
    elif header is not None:
        header_count, dim = _header_numbers(header, src.name)
        if dim < 1:
            raise VectorsFormatError(f"{src.name}: the header says dimension {dim}; it must be at least 1.")
        ctx["dim_from"] = "the dimension in the header"
        if format == "word2vec":
            collected, limited = _parse_text(src, start[newline + 1 :], 2, dim, limit, ctx)
        else:
            collected, limited = _parse_binary(src, start, newline + 1, dim, limit, ctx)

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


# ---- the cached form ---------------------------------------------------------------


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
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise MissingDependencyError(
            "Writing cached vectors needs safetensors: pip install safetensors (or zoo[torch])."
        ) from None
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


def _map_safetensors(path: Path, name: str, mmap: bool) -> np.ndarray:
    """Maps one tensor of a safetensors file read-only, from the header we parse here."""
    where = f"{path}"
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) != 8:
                raise ValueError("shorter than the 8-byte header length")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > 100 * 1024 * 1024:
                raise ValueError(f"header length {header_len} is implausible")
            header = json.loads(fh.read(header_len))
        entry = header[name]
        dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]])
        shape = tuple(int(s) for s in entry["shape"])
        begin, end = (int(o) for o in entry["data_offsets"])
        if end - begin != int(np.prod(shape)) * dtype.itemsize:
            raise ValueError(f"data_offsets {begin}..{end} do not fit shape {shape}")
        offset = 8 + header_len + begin
        if os.path.getsize(path) < offset + (end - begin):
            raise ValueError("the file is shorter than its header says")
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise VectorsFormatError(
            f"{where}: not a valid vectors file ({type(exc).__name__}: {exc}). "
            "Convert the source file again with zoo.vectors.convert."
        ) from None
    if not mmap or end == begin:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return np.fromfile(fh, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


# ---- lookups -----------------------------------------------------------------------


class KeyedVectors:
    """Words and their vectors, with lookups and cosine similarity.

    Build one with :meth:`load` (a converted folder, memory-mapped) or
    :func:`from_parsed`.

    Attributes:
        words: The words, row order.
        vectors: The matrix, shape ``(len(words), vector_size)``; read-only
            ``np.memmap`` when loaded with ``mmap=True``.
        report: The conversion report (``report.json``), or None.

    Example:
        >>> kv = KeyedVectors(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
        >>> kv["b"].tolist(), "c" in kv, kv.index("a")
        ([0.0, 1.0], False, 0)
    """

    def __init__(
        self,
        words: list[str],
        vectors: np.ndarray,
        *,
        report: dict[str, Any] | None = None,
        _index: dict[str, int] | None = None,
        _unit: np.ndarray | None = None,
    ):
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise InvalidOptionError(
                f"{len(words)} words need a matrix of shape ({len(words)}, dim), got {vectors.shape}"
            )
        self.words = words
        self.vectors = vectors
        self.report = report
        self._index = _index
        self._unit = _unit

    @classmethod
    def load(cls, folder: str | os.PathLike[str], mmap: bool = True) -> KeyedVectors:
        """Loads a folder written by :func:`convert`.

        Args:
            folder: The folder.
            mmap: Map the matrix read-only instead of reading it into memory
                (zero copy; pages are read on first use).

        Raises:
            VectorsFormatError: The folder's files are missing, malformed or
                disagree with each other.
        """
        folder = Path(folder)
        if folder.is_file():
            raise VectorsFormatError(
                f"{folder} is a file; KeyedVectors.load takes a folder written by zoo.vectors.convert. "
                "Convert the file first: zoo.vectors.convert(file, folder)."
            )
        missing = [n for n in (VECTORS_FILE, VOCAB_FILE) if not (folder / n).is_file()]
        if missing:
            raise VectorsFormatError(
                f"{folder} has no {' or '.join(missing)}; it is not a converted vectors folder. "
                "Create it with zoo.vectors.convert(source_file, folder)."
            )
        text = (folder / VOCAB_FILE).read_bytes().decode("utf-8")
        if text.endswith("\n"):
            text = text[:-1]
        words = text.split("\n") if text else []
        vectors = _map_safetensors(folder / VECTORS_FILE, "vectors", mmap)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise VectorsFormatError(
                f"{folder}: vocab.txt has {len(words)} words but the matrix has shape {vectors.shape}. "
                "Convert the source file again."
            )
        report = None
        if (folder / REPORT_FILE).is_file():
            report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
        return cls(words, vectors, report=report)

    @property
    def vector_size(self) -> int:
        """The dimension of the vectors."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"KeyedVectors({len(self)} words, dim {self.vector_size})"

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            index = dict(zip(self.words, range(len(self.words))))
            if len(index) != len(self.words):
                repeated = next(w for w, c in Counter(self.words).items() if c > 1)
                raise VectorsFormatError(
                    f"the word {repeated!r} appears more than once; every word must be unique "
                    "(zoo.vectors.parse keeps the first of repeated words)."
                )
            self._index = index
        return self._index

    def __contains__(self, word: object) -> bool:
        return word in self._lookup()

    def _unknown(self, word: str) -> UnknownWordError:
        pool = self.words[:_SUGGEST_POOL]
        close = difflib.get_close_matches(word, pool, n=3, cutoff=0.75)
        lowered = word.lower()
        if lowered != word and lowered in self._lookup() and lowered not in close:
            close.insert(0, lowered)
        hint = f" Did you mean {', '.join(repr(w) for w in close)}?" if close else ""
        return UnknownWordError(f"{word!r} is not in the vocabulary ({len(self)} words).{hint}")

    def index(self, word: str) -> int:
        """Returns the row of ``word``.

        Raises:
            KeyError: The word is unknown (the message suggests close words).
        """
        try:
            return self._lookup()[word]
        except KeyError:
            raise self._unknown(word) from None

    def __getitem__(self, word: str) -> np.ndarray:
        """Returns the vector of ``word`` (a read-only view for a mapped matrix)."""
        return np.asarray(self.vectors[self.index(word)])

    def encode(self, words: Iterable[str], unknown: str = "error") -> np.ndarray:
        """Returns the rows of ``words`` as int64.

        Args:
            words: Words (a list, not one string).
            unknown: ``"error"`` raises KeyError on the first unknown word;
                ``"skip"`` leaves unknown words out.
        """
        if isinstance(words, str):
            raise TypeError("encode takes a list of words, not a single string: encode([word])")
        if unknown not in ("error", "skip"):
            raise InvalidOptionError(f"unknown must be 'error' or 'skip', not {unknown!r}")
        lookup = self._lookup()
        if unknown == "skip":
            return np.fromiter((lookup[w] for w in words if w in lookup), dtype=np.int64)
        rows = []
        for word in words:
            row = lookup.get(word)
            if row is None:
                raise self._unknown(word)
            rows.append(row)
        return np.array(rows, dtype=np.int64)

    def similarity(self, a: str, b: str) -> float:
        """Returns the cosine similarity of two words (0.0 if either vector is zero)."""
        va = np.asarray(self[a], dtype=np.float64)
        vb = np.asarray(self[b], dtype=np.float64)
        norms = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(va @ vb / norms) if norms else 0.0

    def unit_vectors(self) -> np.ndarray:
        """Returns the rows scaled to unit length (zero rows stay zero), computed once."""
        if self._unit is None:
            vectors = np.asarray(self.vectors)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            unit = np.zeros(vectors.shape, dtype=np.float32)
            np.divide(vectors, norms, out=unit, where=norms > 0)
            self._unit = unit
        return self._unit

    def most_similar(
        self,
        word_or_vector: str | np.ndarray | Iterable[float],
        topn: int = 10,
        exclude: Iterable[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Returns the ``topn`` words closest by cosine, best first.

        Ties are broken by row (more frequent word first).

        Args:
            word_or_vector: A word (itself excluded from the result) or a
                vector of length ``vector_size``.
            topn: How many to return (fewer if the vocabulary is smaller).
            exclude: Words to leave out; unknown ones are ignored.

        Example:
            >>> kv = KeyedVectors(["a", "b", "c"], np.array([[1, 0], [1, 0.1], [0, 1]], dtype=np.float32))
            >>> [w for w, _ in kv.most_similar("a", topn=2)]
            ['b', 'c']
        """
        if isinstance(topn, bool) or not isinstance(topn, int) or topn < 1:
            raise InvalidOptionError(f"topn must be a positive int, not {topn!r}")
        lookup_excluded: set[int] = set()
        if isinstance(word_or_vector, str):
            row = self.index(word_or_vector)
            query = self.unit_vectors()[row]
            lookup_excluded.add(row)
        else:
            vector = np.asarray(word_or_vector, dtype=np.float32).reshape(-1)
            if vector.size != self.vector_size:
                raise InvalidOptionError(f"the query vector has {vector.size} values; these vectors have {self.vector_size}")
            norm = float(np.linalg.norm(vector))
            if not norm:
                raise InvalidOptionError("the query vector is all zeros, so it has no direction to compare")
            query = vector / np.float32(norm)
        if exclude is not None:
            if isinstance(exclude, str):
                exclude = [exclude]
            lookup = self._lookup()
            lookup_excluded.update(lookup[w] for w in exclude if w in lookup)
        scores = self.unit_vectors() @ query
        if lookup_excluded:
            scores[np.fromiter(lookup_excluded, dtype=np.int64)] = -np.inf
        k = min(topn, len(scores) - len(lookup_excluded))
        if k <= 0:
            return []
        if k < len(scores):
            part = np.argpartition(-scores, k - 1)[:k]
            candidates = np.flatnonzero(scores >= scores[part].min())
        else:
            candidates = np.arange(len(scores))
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        return [(self.words[i], float(scores[i])) for i in order]

    def trimmed(self, n: int) -> KeyedVectors:
        """Returns the first ``n`` words (the most frequent), sharing this matrix (no copy)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidOptionError(f"n must be a non-negative int, not {n!r}")
        unit = self._unit[:n] if self._unit is not None else None
        return KeyedVectors(self.words[:n], self.vectors[:n], report=self.report, _unit=unit)


def from_parsed(parsed: Parsed) -> KeyedVectors:
    """Wraps a :class:`Parsed` result as :class:`KeyedVectors`, in memory, no files."""
    return KeyedVectors(parsed.words, parsed.vectors, report=parsed.report)
