"""The one interface every source implements: ``fetch(request) -> FetchResult | Absent``.

Like httpx's transports, a source is a small object that knows one way of
getting bytes (a folder, an http(s) mirror, an S3 bucket, the Hugging Face
Hub, an https URL, a PyPI wheel). The pull (:mod:`zoo.resolve`) asks its
sources in order and does not know how any of them works: a source either
returns the verified file (:class:`FetchResult`), says it does not have it
(:class:`Absent`), or raises one of zoo's errors
(:class:`~zoo.errors.DownloadError`, :class:`~zoo.errors.ChecksumMismatchError`,
:class:`~zoo.errors.UnsafeFileError`), upon which the pull goes on to the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from zoo._hashing import Expected
from zoo.cache import Cache
from zoo.fetch._policy import OnRetry, RetryPolicy

OnBytes = Callable[[int], None]


@dataclass(frozen=True)
class FetchResult:
    """What one fetch did.

    Attributes:
        source: The source's kind: ``shared``, ``mirror``, ``hf``, ``url`` or ``pypi``.
        where: The URL, repo, wheel, bucket or folder it came from.
        fetched: Bytes moved over the wire (or copied) in this call.
        resumed_from: Offset the first request started at (0 if fresh).
        attempts: Requests made.
        sha256: The sha256 of the file now in the cache.
        connections: Parallel range streams used (1: one stream).
    """

    source: str
    where: str
    fetched: int
    resumed_from: int
    attempts: int
    sha256: str = ""
    connections: int = 1


@dataclass(frozen=True)
class Absent:
    """A source that does not have the file (not an error: the pull tries the next one).

    Attributes:
        message: What it said, in a few words (``not there (HTTP 404)``).
        status: The HTTP status, when it answered with one.
    """

    message: str
    status: int | None = None


@dataclass(frozen=True)
class FetchRequest:
    """One file to fetch into a cache, and how.

    Attributes:
        cache: Where the verified file goes.
        expected: Size and hashes its bytes must have.
        label: Names the file in messages (``resnet50@a1_in1k: model.safetensors``).
        policy: Retries and timeouts.
        client: The pull's ``httpx.Client``, shared by its URL sources (None: each makes one).
        on_bytes: Told each block's length.
        on_retry: Told ``(attempt, error, wait)`` before a retry.
        connections: Parallel range streams a URL source may use for a big file.
    """

    cache: Cache
    expected: Expected
    label: str
    policy: RetryPolicy = RetryPolicy()
    client: Any = None
    on_bytes: OnBytes | None = None
    on_retry: OnRetry | None = None
    connections: int = 1


class Source(Protocol):
    """A place a file can come from.

    Attributes:
        kind: ``shared``, ``mirror``, or the origin's kind (``hf``, ``url``, ``pypi``).
        where: Names it in messages and reports (a folder, URL, ``hf:org/repo``...).
        local: True when it needs no network (an offline pull uses only these).
    """

    kind: str
    where: str
    local: bool

    def fetch(self, request: FetchRequest) -> FetchResult | Absent:
        """Puts the file into ``request.cache``, verified; or says it does not have it."""
        ...
