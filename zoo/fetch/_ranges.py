"""Parallel ``Range`` downloads of one big file: N connections, segments hashed in order as they arrive.

A file of at least :data:`RANGE_MIN` bytes fetched with ``connections > 1`` is
cut into segments of :data:`SEGMENT` bytes, handed out in order to N worker
threads, each streaming its segment with one ``Range: bytes=a-b`` request and
writing it in place (``pwrite``) into ``<sha256>.ranges.partial``. The
download frontier thus advances in file order, and the calling thread hashes
right behind it, reading what the workers wrote back from the page cache: the
hash is done a moment after the last byte lands, instead of one more pass over
the file after assembly (``bench/mirror_throughput.py`` measures both).

A segment that fails is retried from where it stopped, under the same
:class:`~zoo.fetch.RetryPolicy` as a single stream. When the workers give up,
or the server turns out to ignore ``Range`` (a ``200`` with the whole file),
what arrived contiguously from byte 0 becomes the ordinary ``.partial``,
which is only ever a prefix of the file: a single stream (the fallback, or
the next pull) resumes it. A process killed mid-download leaves the
``.ranges.partial``, holes and all; it is never resumed, only removed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo._atomic import is_no_space
from zoo._hashing import CHUNK, Expected
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError
from zoo.fetch._failures import disk_full, http_error
from zoo.fetch._partial import Flusher, discard, finish
from zoo.fetch._policy import RETRY_STATUS, OnRetry, Retryable, RetryPolicy, retry_after
from zoo.fetch._source import FetchResult, OnBytes
from zoo.fetch._transport import content_range, httpx_module

# Below this, one stream is as fast: a handshake per segment would not pay off.
RANGE_MIN = 64 * 1024**2
SEGMENT = 16 * 1024**2
# Hash behind the download frontier (True) or the assembled file afterwards (False); bench/mirror_throughput.py measures both.
HASH_IN_ORDER = True


class _NoRanges(Exception):
    """The server answered a ranged request with the whole file."""


@dataclass
class _Segment:
    start: int
    end: int  # exclusive
    pos: int  # the next byte to write; [start, pos) is on disk


def work_path(partial: Path) -> Path:
    """Where a parallel download of ``partial``'s file writes its segments."""
    return partial.with_name(partial.name.removesuffix(".partial") + ".ranges.partial")


def fetch_parallel(
    url: str,
    cache: Cache,
    expected: Expected,
    *,
    connections: int,
    client: Any,
    policy: RetryPolicy,
    label: str,
    source: str,
    on_bytes: OnBytes | None = None,
    on_retry: OnRetry | None = None,
    hash_in_order: bool | None = None,
) -> FetchResult | None:
    """Downloads ``url`` over ``connections`` parallel ranges into the cache, checked against ``expected``.

    Resumes after ``<sha256>.partial``'s bytes, if any. ``expected.size`` must be known.

    Args:
        hash_in_order: Hash behind the download frontier; False hashes the
            assembled file afterwards (default: :data:`HASH_IN_ORDER`).

    Returns:
        The result, or None when the server ignores ``Range``: the bytes that
        arrived in order are then the ``.partial`` a single stream resumes.

    Raises:
        ChecksumMismatchError: The server's file has another size, or the
            assembled bytes do not verify; nothing is cached.
        DownloadError: A segment still fails after the policy's retries (the
            contiguous prefix is kept as ``.partial`` for the next pull).
        InsufficientSpaceError: The disk filled up (the prefix is kept).
    """
    httpx = httpx_module()
    hash_in_order = HASH_IN_ORDER if hash_in_order is None else hash_in_order
    size = expected.size
    if size is None:
        raise ValueError("a parallel download needs the file's size")
    partial = cache.partial_path(expected.key)
    work = work_path(partial)
    discard(work)  # left by a killed process: its holes cannot be told from data
    offset = partial.stat().st_size if partial.exists() else 0
    if offset > size:
        discard(partial)
        offset = 0
    if offset:
        os.replace(partial, work)  # the prefix stays where it is; segments go after it
    fd = os.open(work, os.O_RDWR | os.O_CREAT, 0o644)
    segments = [_Segment(a, min(a + SEGMENT, size), a) for a in range(offset, size, SEGMENT)]
    lock = threading.Condition()
    state: dict[str, Any] = {"next": 0, "error": None, "requests": 0, "fetched": 0}
    stop = threading.Event()

    def counted(n: int) -> None:
        with lock:
            state["fetched"] += n
            lock.notify_all()
            if on_bytes is not None:
                on_bytes(n)

    def stream(seg: _Segment) -> None:
        attempt = 0
        while seg.pos < seg.end and not stop.is_set():
            attempt += 1
            with lock:
                state["requests"] += 1
            try:
                with client.stream("GET", url, headers={"Range": f"bytes={seg.pos}-{seg.end - 1}"}) as response:
                    status = response.status_code
                    if status in RETRY_STATUS:
                        raise Retryable(f"HTTP {status}", retry_after(response.headers.get("retry-after")), status)
                    if status == 200:
                        raise _NoRanges()
                    if status >= 400:
                        raise http_error(label, str(response.url), status, source)
                    span = content_range(response.headers.get("content-range"))
                    if span is None or span[0] != seg.pos:
                        raise Retryable(f"server answered range {response.headers.get('content-range')!r}, asked {seg.pos}-", 0.0)
                    if span[2] is not None and span[2] != size:
                        raise ChecksumMismatchError(
                            f"{label}: the server's file is {span[2]} bytes but the registry pins {size}; "
                            "refused before downloading it. The source has changed.",
                            algorithm="size", expected=size, actual=span[2],
                            reason=f"size mismatch (expected {size} bytes, the server's file is {span[2]})",
                        )
                    for chunk in response.iter_raw():
                        if stop.is_set():
                            return
                        if seg.pos + len(chunk) > seg.end:
                            raise Retryable(f"server sent more than the range {seg.start}-{seg.end - 1} asked for", 0.0)
                        view = memoryview(chunk)
                        while view:
                            n = os.pwrite(fd, view, seg.pos)
                            with lock:
                                seg.pos += n
                            view = view[n:]
                        counted(len(chunk))
                if seg.pos < seg.end:
                    raise Retryable(f"connection ended at byte {seg.pos} of range {seg.start}-{seg.end - 1}", None)
            except (httpx.TransportError, Retryable) as exc:
                policy.retry(
                    exc, attempt, label=label, url=url, source=source, on_retry=on_retry,
                    note=" The bytes that arrived in order are kept and the next pull resumes them.",
                )

    def worker() -> None:
        try:
            while not stop.is_set():
                with lock:
                    if state["next"] >= len(segments):
                        return
                    seg = segments[state["next"]]
                    state["next"] += 1
                stream(seg)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            with lock:
                if state["error"] is None:
                    state["error"] = exc
                stop.set()
                lock.notify_all()

    def ready(pos: int) -> int:
        """Bytes available in order from ``pos`` (0: not yet), under the lock."""
        if pos < offset:
            return offset - pos
        seg = segments[(pos - offset) // SEGMENT]
        return seg.pos - pos

    threads = [threading.Thread(target=worker, name=f"zoo-range-{i}", daemon=True) for i in range(min(connections, len(segments)))]
    hashes = expected.hashes()
    flusher = Flusher(fd)
    pos = 0
    try:
        for t in threads:
            t.start()
        while pos < size and hash_in_order:
            with lock:
                while not (available := ready(pos)) and state["error"] is None:
                    lock.wait(1.0)
                if not available:
                    break
            block = os.pread(fd, min(available, CHUNK * 4), pos)
            for h in hashes.values():
                h.update(block)
            pos += len(block)
            flusher.wrote(len(block))
        for t in threads:
            t.join()
        flusher.wait()
    except BaseException:
        stop.set()
        for t in threads:
            t.join()
        flusher.wait()
        os.close(fd)
        _keep_prefix(work, partial, offset, segments)
        raise
    error = state["error"]
    if error is not None:
        os.close(fd)
        if isinstance(error, ChecksumMismatchError):
            discard(work)
            raise error
        _keep_prefix(work, partial, offset, segments)
        if isinstance(error, _NoRanges):
            return None
        if isinstance(error, OSError) and is_no_space(error):
            raise disk_full(error, label, work.parent, size, partial) from error
        raise error
    if not hash_in_order:
        while pos < size:
            block = os.pread(fd, CHUNK * 4, pos)
            for h in hashes.values():
                h.update(block)
            pos += len(block)
            flusher.wrote(len(block))
        flusher.wait()
    os.close(fd)
    digests = {k: h.hexdigest() for k, h in hashes.items()}
    sha = finish(cache, work, digests, size, expected, label, url)
    return FetchResult(source, url, state["fetched"], offset, state["requests"], sha, min(connections, len(segments)))


def _keep_prefix(work: Path, partial: Path, offset: int, segments: list[_Segment]) -> None:
    """Turns what arrived contiguously from byte 0 into ``partial`` (a prefix of the file); drops the rest."""
    end = offset
    for seg in segments:
        end = seg.pos
        if seg.pos < seg.end:
            break
    if not work.exists():
        return
    if end <= 0:
        discard(work)
        return
    os.truncate(work, end)
    os.replace(work, partial)
