"""The one place where low-level failures become zoo's errors.

Sources raise whatever their library raises (``OSError``s under httpx,
huggingface_hub's and botocore's own errors); what no retry can cure is
recognised here: a host that cannot be reached at all (:func:`unreachable`),
a disk that is full (:func:`check_space` before a download, :func:`disk_full`
during one), and an S3 service that refuses or lacks the bucket
(:func:`s3_error`). Everything is classified on exception types, errnos and
error codes, never on message text.
"""

from __future__ import annotations

import errno
import shutil
import socket
import ssl
import urllib.parse
from pathlib import Path

from zoo._atomic import SPACE_HINT, is_no_space, no_space
from zoo.errors import DownloadError, InsufficientSpaceError

OFFLINE_HINT = "use ZOO_OFFLINE=1 with a cache or a mirror (ZOO_MIRROR)"


NO_ROUTE = {
    errno.ENETUNREACH: "network is unreachable; no network?",
    errno.EHOSTUNREACH: "no route to host",
}


def unreachable(exc: BaseException | None) -> tuple[str, str] | None:
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
            return "name does not resolve; no network?", OFFLINE_HINT
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused", OFFLINE_HINT
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted: {exc.verify_message}",
                "if the server's certificate is signed by a private CA, set SSL_CERT_FILE to that CA's bundle",
            )
        if isinstance(exc, OSError) and exc.errno in NO_ROUTE:
            return NO_ROUTE[exc.errno], OFFLINE_HINT
        # httpcore raises its errors "from None": the OS error is then only the (suppressed) context.
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return None


def host(url: str) -> str:
    """``host`` or ``host:port`` of a URL, as a person would name the server."""
    return urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1] or url


def cannot_reach(exc: BaseException, label: str, url: str, source: str) -> DownloadError | None:
    """The DownloadError to raise at once when ``exc`` says the host cannot be reached at all, else None."""
    found = unreachable(exc)
    if found is None:
        return None
    why, hint = found
    reason = f"cannot reach {host(url)} ({why})"
    return DownloadError(f"{label}: {reason}: {hint}", url=url, source=source, reason=reason)


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the file system of ``folder`` (None: cannot tell)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def check_space(folder: Path, size: int | None, have: int, label: str) -> None:
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
    free = free_bytes(folder)
    if free is None or needed <= free:
        return
    kept = f"; the {have:,} bytes already downloaded are kept" if have else ""
    raise InsufficientSpaceError(
        f"{label}: not enough free space for the download: {needed:,} bytes needed, {free:,} free "
        f"on the file system of {folder}{kept}; {SPACE_HINT}",
        path=str(folder), needed=needed, free=free,
    )


def no_space_in(exc: BaseException | None) -> OSError | None:
    """The ``ENOSPC``/``EDQUOT`` error among ``exc`` and its causes and contexts, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if is_no_space(exc):
            return exc  # type: ignore[return-value]
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return None


def disk_full(exc: OSError, label: str, folder: Path, size: int | None, partial: Path | None = None) -> InsufficientSpaceError:
    """The error for a disk that filled up during a download; says what of it is kept for the next pull."""
    have = partial.stat().st_size if partial is not None and partial.exists() else 0
    base = no_space(exc, folder, None if size is None else max(size - have, 0))
    kept = f" The {have:,} bytes downloaded so far are kept; the next pull resumes them." if have else ""
    return InsufficientSpaceError(
        f"{label}: the disk filled up during the download: {base}.{kept}", path=base.path, needed=base.needed, free=base.free
    )


def hub_failure(exc: BaseException, label: str, url: str, doing: str, short: str) -> DownloadError:
    """The DownloadError for any other failure of a huggingface_hub call: the host cannot be reached, else
    ``{label}: {doing} failed ({exc})`` with its HTTP status (``reason``: ``{short} failed ({exc})``)."""
    return cannot_reach(exc, label, url, "hf") or DownloadError(
        f"{label}: {doing} failed ({exc})", url=url, status=hub_status(exc), source="hf", reason=f"{short} failed ({exc})"
    )


def hub_status(exc: BaseException) -> int | None:
    """The HTTP status a huggingface_hub error carries (None for connection errors)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def http_error(
    label: str, url: str, status: int, source: str, *, missing: str = "the file is not there (404).", missing_reason: str = "not there"
) -> DownloadError:
    """The DownloadError for an HTTP status no retry can cure (a 404, a 403...), with ``status`` set."""
    return DownloadError(
        f"{label}: HTTP {status} from {url}; " + (missing if status == 404 else "the server refused it."),
        url=url, status=status, source=source,
        reason=f"{missing_reason} (HTTP {status})" if status == 404 else f"refused (HTTP {status})",
    )
