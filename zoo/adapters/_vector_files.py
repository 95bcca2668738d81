"""Word-vector files in the cache, without torch: the one conversion of a pulled file into its safe form.

``zoo pull`` of a word-vector model runs :func:`finish_pull` (the adapter
table's ``after_pull`` hook, see :mod:`zoo._plugins`), so the parse happens
once, at pull time, and a pull never imports torch for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import vectors as _vectors
from zoo.cache import Cache
from zoo.errors import WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["FORMATS", "cached_vectors", "finish_pull"]

# Registry ``arch`` values for word vectors: the file format (``auto``: detected from the bytes).
FORMATS = {"auto": None, "glove": "glove", "word2vec": "word2vec", "word2vec-binary": "word2vec-binary"}


def cached_vectors(info: ModelInfo, folder: Path, cache: Cache | None = None) -> Any:
    """Returns the version's :class:`zoo.vectors.KeyedVectors`, converting the source file on first use.

    The conversion runs under the file's lock and the cache's use lock, and
    its folder appears whole or not at all (a killed conversion leaves only a
    temp that ``zoo cache gc`` removes).
    """
    cache = cache or Cache()
    if info.arch not in FORMATS:
        raise WeightsError(f"{info.id}: unknown word-vector format {info.arch!r}; use one of {', '.join(FORMATS)}")
    source = info.files[0]
    sha256 = cache.recall(source)
    if sha256 is None:
        raise WeightsError(f"{info.id}: {source.path} is not in the cache; pull it first ('zoo pull {info.id}')")
    dest = cache.layout.vectors_of(sha256)
    if not (dest / "vocab.txt").is_file():
        with cache.in_use(), cache.lock(f"vectors-{sha256}"):
            if not (dest / "vocab.txt").is_file():
                _vectors.convert(folder / source.path, dest, format=FORMATS[info.arch])
    return _vectors.KeyedVectors.load(dest)


def finish_pull(info: ModelInfo, folder: Path) -> None:
    """The ``after_pull`` hook of word vectors: parse the pulled file once into its cached form."""
    cached_vectors(info, folder)
