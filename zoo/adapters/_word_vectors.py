"""Static word embeddings (GloVe, word2vec) as a torch module: token ids -> vectors.

The published file (text or binary, gzipped or not) is parsed once into a safe
cached form, ``$ZOO_HOME/vectors/<sha256 of the source>/`` (a safetensors
matrix and a vocabulary file, see :mod:`zoo.vectors`); every later load
memory-maps that instead of parsing text again. No pickle is ever read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zoo import vectors as _vectors
from zoo._stages import Stage, StageSet
from zoo.adapters._base import Cut, TorchAdapter, tag
from zoo.adapters._vector_files import cached_vectors
from zoo.errors import InvalidOptionError, WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["WordVectorsAdapter", "WordEmbedding"]

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


class WordVectorsAdapter(TorchAdapter):
    """Static word vectors; ``arch`` is the file format (``auto``, ``glove``, ``word2vec``, ``word2vec-binary``).

    The one stage, ``embeddings``, has the vectors' dimension. That is a fact of
    the file: once it is pulled, the stage is read from the converted vectors;
    before, the registry's declared dimension stands in (and is checked
    against the file when the model is loaded).
    """

    def stages(self, info: ModelInfo, folder: Path | None = None) -> StageSet:
        if folder is not None:
            dim = int(cached_vectors(info, folder).vectors.shape[1])
        elif info.stages:
            dim = int(info.stages[0].channels)
        else:
            raise WeightsError(f"{info.id}: the vectors' dimension is known once the file is pulled; run 'zoo pull {info.id}'")
        return StageSet(info.id, (Stage("embeddings", dim, 1, (), None),)).with_aliases(info.stages)

    def check_options(self, info: ModelInfo, options: dict[str, Any]) -> None:
        super().check_options(info, {k: v for k, v in options.items() if k != "vocab"})
        vocab = options.get("vocab")
        if vocab is not None and (not isinstance(vocab, int) or vocab < 1):
            raise InvalidOptionError(f"vocab must be a positive number of words, not {vocab!r}")

    def keyed_vectors(self, info: ModelInfo, folder: Path | None) -> Any:
        return cached_vectors(info, folder) if folder is not None else None

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> torch.nn.Module:
        """The embedding module, keeping the ``vocab`` most frequent words (all if None)."""
        self.check_options(info, options)
        vocab = options.get("vocab")
        if folder is None:
            # No file: random vectors of the stage's dimension (for shape checks).
            dim = self.stages(info).stages[0].channels
            words = vocab or 1000
            rng = np.random.default_rng(0)
            kv = _vectors.from_parsed(
                _vectors.Parsed([f"w{i}" for i in range(words)], rng.standard_normal((words, dim), dtype=np.float32), {})
            )
        else:
            kv = cached_vectors(info, folder)
        if vocab is not None:
            kv = kv.trimmed(vocab)
        return tag(WordEmbedding(kv), info, cut)

    def example_inputs(self, info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
        return (torch.ones(batch, seq_len, dtype=torch.long),)

    def io_spec(self, info: ModelInfo, cut: Cut, batch: str | int) -> tuple[list[str], list[str], dict[str, dict[int, str]]]:
        axes = {n: {1: "sequence", **({0: "batch"} if batch == "dynamic" else {})} for n in ("input_ids", "features")}
        return ["input_ids"], ["features"], axes

    def parity_inputs(self, info: ModelInfo, folder: Path | None, module: Any, batch: int) -> list[tuple[Any, ...]]:
        """Ids of the most frequent words (real text starts there) and random ids over the whole vocabulary."""
        vocab = int(module.embedding.num_embeddings)
        gen = torch.Generator().manual_seed(0)
        frequent = torch.arange(min(vocab, 24)).reshape(2, -1) if vocab >= 2 else torch.zeros(2, 1, dtype=torch.long)
        return [(frequent,), (torch.randint(0, vocab, (3, 17), generator=gen),)]

    def export_metadata(self, module: Any) -> dict[str, str]:
        # The vocabulary makes the file usable on its own: row i is the vector of word i.
        return {"vocab_size": str(len(module.kv)), "vocab": "\n".join(module.kv.words)}
