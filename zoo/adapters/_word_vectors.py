"""Static word embeddings (GloVe, word2vec) as a torch module: token ids -> vectors.

The published file (text or binary, gzipped or not) is parsed once into a safe
cached form, ``$ZOO_HOME/vectors/<sha256 of the source>/`` (a safetensors
matrix and a vocabulary file, see :mod:`zoo.vectors`); every later load
memory-maps that instead of parsing text again. No pickle is ever read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo import vectors as _vectors
from zoo.adapters._common import tag
from zoo.cache import Cache
from zoo.errors import WeightsError

__all__ = ["build", "cached_vectors", "WordEmbedding", "FORMATS"]

# Registry ``arch`` values for word vectors: the file format (``auto``: detected from the bytes).
FORMATS = {"auto": None, "glove": "glove", "word2vec": "word2vec", "word2vec-binary": "word2vec-binary"}


def cached_vectors(info: Any, folder: Path, cache: Cache | None = None) -> Any:
    """Returns the version's :class:`zoo.vectors.KeyedVectors`, converting the source file on first use."""
    cache = cache or Cache()
    if info.arch not in FORMATS:
        raise WeightsError(f"{info.id}: unknown word-vector format {info.arch!r}; use one of {', '.join(FORMATS)}")
    source = info.files[0]
    sha256 = cache.recall(source)
    if sha256 is None:
        raise WeightsError(f"{info.id}: {source['path']} is not in the cache; pull it first ('zoo pull {info.id}')")
    dest = cache.root / "vectors" / sha256
    if not (dest / "vocab.txt").is_file():
        with cache.lock(f"vectors-{sha256}"):
            if not (dest / "vocab.txt").is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                _vectors.convert(folder / source["path"], dest, format=FORMATS[info.arch])
    return _vectors.KeyedVectors.load(dest)


class WordEmbedding(torch.nn.Module):
    """An embedding lookup over the first ``len(kv)`` words; ``forward(input_ids)`` -> (N, T, dim).

    Attributes:
        kv: The (trimmed) :class:`zoo.vectors.KeyedVectors`: ``encode(words)`` gives the ids.
    """

    def __init__(self, kv: Any):
        super().__init__()
        self.kv = kv
        self.embedding = torch.nn.Embedding.from_pretrained(torch.from_numpy(np.array(kv.vectors, dtype=np.float32)), freeze=True)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)

    def encode(self, words: list[str], unknown: str = "error") -> torch.Tensor:
        """Token ids of ``words`` (``unknown="skip"`` drops words not in the vocabulary)."""
        return torch.from_numpy(np.asarray(self.kv.encode(words, unknown=unknown), dtype=np.int64))


def build(
    info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False, vocab: int | None = None
) -> torch.nn.Module:
    """Builds the embedding module, keeping the ``vocab`` most frequent words (all if None)."""
    if folder is None:
        # No file: random vectors of the registry's dimension (for shape checks).
        dim = info.stages[0]["channels"]
        words = vocab or 1000
        rng = np.random.default_rng(0)
        kv = _vectors.from_parsed(
            _vectors.Parsed([f"w{i}" for i in range(words)], rng.standard_normal((words, dim), dtype=np.float32), {})
        )
    else:
        kv = cached_vectors(info, folder)
    if vocab is not None:
        if vocab < 1:
            raise ValueError(f"vocab must be a positive number of words, not {vocab}")
        kv = kv.trimmed(vocab)
    return tag(WordEmbedding(kv), info, stage)
