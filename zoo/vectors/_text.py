"""The text formats (GloVe; word2vec text after its header): blocks of lines, every number of a block in one numpy call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from zoo.errors import VectorsFormatError
from zoo.vectors._parsed import HEADER, Collector
from zoo.vectors._source import MAX_LINE, Source

__all__ = ["DIM_SAMPLE", "infer_dim", "looks_like_text", "parse_text"]

DIM_SAMPLE = 1000  # lines used to infer the dimension of a headerless file


def _text_blocks(src: Source, start: bytes, first_line_no: int) -> Iterator[list[bytes]]:
    """Yields the stream's lines a block at a time, without their ``\\n``; refuses a line longer than ``MAX_LINE``."""
    carry = start
    line_no = first_line_no
    while True:
        more = src.read_block()
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
            if len(data) > MAX_LINE:
                raise VectorsFormatError(
                    f"{src.name}: line {line_no} runs over {MAX_LINE} bytes without a line break; a word and its "
                    "vector take a few kB, so this is not a GloVe or word2vec text file (or it is corrupt)."
                )
            carry = data
            continue
        carry = data[cut + 1 :]
        lines = data[:cut].split(b"\n")
        line_no += len(lines)
        yield lines


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
    if line_no == 1 and HEADER.match(bad):
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


def infer_dim(lines: list[bytes]) -> int:
    """The most common field count minus one, over the first non-empty lines."""
    counts: Counter[int] = Counter()
    for line in lines:
        fields = len(line.split())
        if fields:
            counts[fields] += 1
            if sum(counts.values()) >= DIM_SAMPLE:
                break
    if not counts:
        return 0
    # most_common keeps first-seen order among ties: the first line decides a tie.
    return counts.most_common(1)[0][0] - 1


def looks_like_text(line: bytes, dim: int) -> bool:
    parts = line.rstrip().rsplit(None, dim)
    if len(parts) != dim + 1:
        return False
    try:
        for part in parts[1:]:
            float(part)
    except ValueError:
        return False
    return True


def parse_text(
    src: Source, start: bytes, first_line_no: int, dim: int, limit: int | None, ctx: dict[str, Any]
) -> tuple[Collector, bool]:
    out = Collector(dim)
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
