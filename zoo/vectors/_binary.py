"""The word2vec binary format: per word its bytes up to a space, then ``dim`` little-endian float32 values."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import VectorsFormatError
from zoo.vectors._parsed import Collector, show
from zoo.vectors._source import Source

__all__ = ["MAX_BINARY_WORD", "parse_binary"]

MAX_BINARY_WORD = 1024 * 1024


def parse_binary(src: Source, buf: bytes, pos: int, dim: int, limit: int | None, ctx: dict[str, Any]) -> tuple[Collector, bool]:
    out = Collector(dim)
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
                    what = f"inside the word of record {record} ({show(rest[:40])})"
                else:
                    what = (
                        f"inside the vector of record {record} ({show(rest[:space])}): "
                        f"{len(rest) - space - 1} of its {size} bytes are present"
                    )
                raise VectorsFormatError(
                    f"{ctx['source']}: truncated word2vec binary file: it ends {what}. "
                    "The download is probably incomplete: fetch the file again."
                )
            return out, False
        if pos < n and find(b" ", pos) < 0 and n - pos > MAX_BINARY_WORD:
            raise VectorsFormatError(
                f"{ctx['source']}: record {out.records + 1} has no space within {MAX_BINARY_WORD} bytes, "
                "so it is not word2vec binary. Pass format='word2vec' or 'glove' if the file is text."
            )
        more = src.read_block()
        if not more:
            eof = True
        view.release()
        buf = buf[pos:] + more
        pos = 0
