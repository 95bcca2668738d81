"""Lookups: :class:`KeyedVectors`, words and their vectors with cosine similarity, loaded from the cached form."""

from __future__ import annotations

import difflib
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InvalidOptionError, UnknownWordError, VectorsFormatError
from zoo.vectors._cached import REPORT_FILE, VECTORS_FILE, VOCAB_FILE
from zoo.vectors._parsed import Parsed
from zoo.vectors._safetensors import map_tensor

__all__ = ["KeyedVectors", "from_parsed"]

# The most frequent words, searched for "did you mean".
SUGGEST_POOL = 50_000


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
        vectors = map_tensor(folder / VECTORS_FILE, "vectors", mmap)
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
        pool = self.words[:SUGGEST_POOL]
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
