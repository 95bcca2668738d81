"""Fetching an https (or local http) URL into the cache: one resumable stream, or parallel ranges for big files.

Every fetch writes to ``<blob>.partial`` next to the blob, hashes while it
writes, resumes with ``Range`` after a dropped connection (also in a later
process), retries what :class:`~zoo.fetch.RetryPolicy` says to retry
(timeouts, dropped connections, 5xx, 429 with ``Retry-After``), and stops at
once when the server sends more bytes than the registry's size. A resumed
download that does not verify is fetched once more from byte 0 before it
counts as a mismatch: the kept bytes may be what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo._hashing import Expected, hash_prefix
from zoo._layout import mirror_blob
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError, DownloadError
from zoo.fetch._failures import check_space, http_error
from zoo.fetch._partial import discard, finish, write_chunks
from zoo.fetch._policy import RETRY_STATUS, OnRetry, Retryable, RetryPolicy, retry_after
from zoo.fetch._ranges import RANGE_MIN, fetch_parallel, work_path
from zoo.fetch._source import Absent, FetchRequest, FetchResult, OnBytes
from zoo.fetch._transport import (
    check_scheme,
    content_range,
    httpx_module,
    is_local_url,
    make_client,
)


def fetch_url(
    url: str,
    cache: Cache,
    expected: Expected,
    *,
    label: str = "",
    allow_http: bool = False,
    client: Any = None,
    policy: RetryPolicy | None = None,
    on_bytes: OnBytes | None = None,
    on_retry: OnRetry | None = None,
    source: str = "url",
    connections: int = 1,
) -> FetchResult:
    """Downloads ``url`` into the cache, checked against ``expected``.

    Args:
        url: Where the bytes are.
        cache: The cache to write into.
        expected: Size and hashes the bytes must have.
        label: Names the file in messages (e.g. ``resnet50@a1_in1k: model.safetensors``).
        allow_http: Accept plain http (mirrors on local or private hosts only).
        client: An ``httpx.Client`` (default: :func:`make_client`).
        policy: Retries and timeouts.
        on_bytes: Called with each block's length.
        on_retry: Called with (attempt, error, wait seconds) before a retry.
        source: The kind of source (``url``, ``mirror``, ``pypi``), for the
            result and for errors' ``source``.
        connections: Parallel ``Range`` streams for a file of at least 64 MiB
            whose size is pinned (see :mod:`zoo.fetch._ranges`); one stream
            when the server ignores ``Range``.

    A resumed download (from a partial an earlier pull or another source left)
    that does not verify is fetched once more from byte 0 before it counts as
    a mismatch: the kept bytes may be what is wrong.

    Raises:
        ChecksumMismatchError: Wrong size or sha256; nothing is cached.
        DownloadError: Not found (``status`` 404), refused, the host cannot be
            reached at all (at once, not retried), or still failing after retries.
        InsufficientSpaceError: The file system of ``blobs/`` cannot hold the
            rest of the file (checked before the first request), or it filled
            up during the download (the partial is kept for the next pull).
    """
    policy = policy or RetryPolicy()
    label = label or url
    check_scheme(url, allow_http, source)
    httpx = httpx_module()
    cache.blobs.mkdir(parents=True, exist_ok=True)
    partial = cache.partial_path(expected.key)
    discard(work_path(partial))  # a killed parallel pull's segments: holes and all, never resumed
    size = expected.size
    have = partial.stat().st_size if partial.exists() else 0
    check_space(cache.blobs, size, have if size is None or have <= size else 0, label)
    own_client = client is None
    client = client or make_client(policy)
    restarted = False
    first_offset: int | None = None
    fetched = 0
    attempt = 0

    def counted(n: int) -> None:
        nonlocal fetched
        fetched += n
        if on_bytes is not None:
            on_bytes(n)

    def check_redirect(request: Any) -> None:
        check_scheme(str(request.url), allow_http, source)

    client.event_hooks["request"] = [check_redirect]
    try:
        if connections > 1 and size is not None and size - (have if have <= size else 0) >= RANGE_MIN:
            for retry_from_zero in (False, True):
                try:
                    result = fetch_parallel(
                        url, cache, expected, connections=connections, client=client, policy=policy, label=label,
                        source=source, on_bytes=on_bytes, on_retry=on_retry,
                    )
                except ChecksumMismatchError as exc:
                    if not have or retry_from_zero or exc.algorithm == "size":
                        raise
                    # The bytes kept from before (a killed pull, another source) may be the wrong ones.
                    if on_retry is not None:
                        on_retry(1, f"the resumed download did not verify ({exc.reason}); starting over from byte 0", 0.0)
                    continue
                if result is not None:
                    return result
                break  # the server ignores Range: one stream resumes what arrived in order
        while True:
            attempt += 1
            offset = partial.stat().st_size if partial.exists() else 0
            if size is not None and offset > size:
                discard(partial)
                offset = 0
            if first_offset is None:
                first_offset = offset
            if offset and offset == size:
                digests = {k: h.hexdigest() for k, h in hash_prefix(partial, offset, expected.hashes()).items()}
                if expected.problem(digests, offset) is None:
                    sha = finish(cache, partial, digests, offset, expected, label, url)
                    return FetchResult(source, url, fetched, first_offset, attempt - 1, sha)
                discard(partial)
                offset = 0
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                with client.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status in RETRY_STATUS:
                        raise Retryable(
                            f"HTTP {status}", retry_after(response.headers.get("retry-after")), status
                        )
                    if status == 416 and offset:
                        discard(partial)  # our partial is no prefix of theirs
                        raise Retryable("HTTP 416 for a resumed range; starting over", 0.0)
                    if status >= 400:
                        raise http_error(label, str(response.url), status, source)
                    if status == 206:
                        span = content_range(response.headers.get("content-range"))
                        start = span[0] if span is not None else None
                        if start != offset:
                            discard(partial)
                            raise Retryable(f"server answered range start {start}, asked {offset}", 0.0)
                    else:
                        offset = 0
                    length = response.headers.get("content-length")
                    if size is not None and length is not None and length.isdigit() and offset + int(length) > size:
                        discard(partial)
                        raise ChecksumMismatchError(
                            f"{label}: the server announces {offset + int(length)} bytes but the "
                            f"registry pins {size}; refused before downloading. The source has changed.",
                            algorithm="size",
                            expected=size,
                            actual=offset + int(length),
                            reason=f"size mismatch (expected {size} bytes, the server announces {offset + int(length)})",
                        )
                    announced = int(length) + offset if length is not None and length.isdigit() else None
                    written, digests = write_chunks(response.iter_raw(), partial, offset, expected, label, counted)
                total = offset + written
                # A body shorter than the server announced is a dropped connection: resume.
                # A complete body of the wrong size is another file: finish rejects it.
                if announced is not None and total < announced:
                    raise Retryable(f"connection ended after {total} of {announced} bytes", None)
                if announced is None and size is not None and total < size:
                    raise Retryable(f"connection ended after {total} of {size} bytes", None)
                try:
                    sha = finish(cache, partial, digests, total, expected, label, url)
                except ChecksumMismatchError as exc:
                    if not offset or restarted:
                        raise
                    # The bytes kept from before (a killed pull, another source) may be the wrong ones.
                    restarted = True
                    if on_retry is not None:
                        on_retry(attempt, f"the resumed download did not verify ({exc.reason}); starting over from byte 0", 0.0)
                    continue
                return FetchResult(source, url, fetched, first_offset, attempt, sha)
            except (httpx.TransportError, Retryable) as exc:
                policy.retry(
                    exc, attempt, label=label, url=url, source=source, on_retry=on_retry,
                    note=" Partial data is kept and the next pull resumes it.",
                )
    finally:
        client.event_hooks["request"] = []
        if own_client:
            client.close()


@dataclass(frozen=True)
class UrlSource:
    """An https origin: the registry's ``source.url``."""

    url: str
    kind = "url"
    local = False

    @property
    def where(self) -> str:
        return self.url

    def fetch(self, request: FetchRequest) -> FetchResult:
        return fetch_url(
            self.url, request.cache, request.expected, label=request.label, client=request.client, policy=request.policy,
            on_bytes=request.on_bytes, on_retry=request.on_retry, connections=request.connections,
        )


@dataclass(frozen=True)
class HttpMirror:
    """A mirror served over https (nginx in front of a mirror folder): ``{base}/sha256/<hex>``.

    Plain http is accepted only on this machine or a private network.
    """

    base: str
    kind = "mirror"
    local = False

    @property
    def where(self) -> str:
        return self.base

    def fetch(self, request: FetchRequest) -> FetchResult | Absent:
        sha256 = request.expected.sha256
        if sha256 is None:
            return Absent("skipped: the file's sha256 is not known yet")
        url = self.base.rstrip("/") + "/" + mirror_blob(sha256)
        if not url.startswith("https://") and not is_local_url(url):
            raise DownloadError(
                f"mirror {url} is plain http on a public host; use https, or a mirror on this machine or a private network",
                url=url,
                source="mirror",
                reason="plain http on a public host: use https, or a mirror on this machine or a private network",
            )
        try:
            return fetch_url(
                url, request.cache, request.expected, label=request.label, allow_http=True, client=request.client,
                policy=request.policy, on_bytes=request.on_bytes, on_retry=request.on_retry, source="mirror",
                connections=request.connections,
            )
        except DownloadError as exc:
            if exc.status == 404:
                return Absent("not there (HTTP 404)", 404)
            raise
