"""What the text and binary parsers share: the result (:class:`Parsed`), the collector that drops repeated words."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["HEADER", "Collector", "Parsed", "decode_words", "show"]

# A word2vec header, 'count dim'.
HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")


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


class Collector:
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
        words, replaced = decode_words(word_bytes)
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


def decode_words(word_bytes: list[bytes]) -> tuple[list[str], int]:
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


def show(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "replace"))
