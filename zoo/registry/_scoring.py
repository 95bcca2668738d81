"""Search scoring: the words of a registry record, scored by the field they come from, and how a query word scores.

Shared by the listing (which stores each model's words when it is written,
:mod:`zoo.registry._listing`) and ranking (:mod:`zoo.registry._query`); the
catalogue site's ``catalog.js`` ports :func:`word_score` and the weights.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

__all__ = ["WORD_SCORES", "squash", "words", "score_words", "word_score", "corpus_of", "models_with"]

# Scores of a query word found in a field (see zoo.registry._query.search).
WORD_SCORES = {"id": 150, "tag": 30, "architecture": 25, "version": 20, "task": 15, "modality": 15, "paper": 10, "dataset": 10, "description": 5}

_TOKEN = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_SEP = re.compile(r"[._-]")


def squash(text: str) -> str:
    """Lowercases and drops everything but letters and digits: ``EfficientNet-B3`` -> ``efficientnetb3``."""
    return _NOT_ALNUM.sub("", text.lower())


def words(text: str | None) -> set[str]:
    """The words of a text, each also split at ``.``, ``_`` and ``-``."""
    if not text:
        return set()
    out = set()
    for token in _TOKEN.findall(text.lower()):
        out.add(token)
        out.update(_SEP.split(token))
    return out


def score_words(pairs: list[tuple[set[str], int]]) -> tuple[tuple[int, str], ...]:
    """Each word at the best score it has, grouped by score, best first: ``((30, " cnn imagenet "), ...)``."""
    scores: dict[str, int] = {}
    for found, score in pairs:
        for word in found:
            if " " not in word and scores.get(word, 0) < score:
                scores[word] = score
    levels: dict[int, list[str]] = {}
    for word, score in scores.items():
        levels.setdefault(score, []).append(word)
    return tuple((score, f" {' '.join(sorted(levels[score]))} ") for score in sorted(levels, reverse=True))


def word_score(levels: tuple[tuple[int, str], ...], word: str) -> int:
    """The score of ``word`` in words grouped as :func:`_score_words` groups them; 0 if absent."""
    needle = f" {word} "
    for score, text in levels:
        if needle in text:
            return score
    return 0


def corpus_of(texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """The search texts as one string (NUL between models: no query word holds one) and where each starts."""
    starts = [0]
    for text in texts:
        starts.append(starts[-1] + len(text) + 1)
    return "\0".join(texts) + "\0", tuple(starts)


def models_with(corpus: tuple[str, tuple[int, ...]], needles: Sequence[str]) -> set[int]:
    """Positions of the models whose search text contains one of ``needles``."""
    text, starts = corpus
    found: set[int] = set()
    for needle in needles:
        at = text.find(needle)
        while at != -1:
            i = bisect.bisect_right(starts, at) - 1
            found.add(i)
            at = text.find(needle, starts[i + 1])  # on to the next model
    return found


