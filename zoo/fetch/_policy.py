"""The retry policy: which failures are worth another attempt, how long to wait, when to give up.

Every network source (https origins and mirrors, PyPI, S3) asks the same
:class:`RetryPolicy` after a failure; a host that cannot be reached at all is
never retried (:func:`zoo.fetch._failures.cannot_reach` says so at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from zoo.errors import DownloadError
from zoo.fetch._failures import cannot_reach

OnRetry = Callable[[int, str, float], None]

# Statuses a server sends when it may well answer the next request.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class Retryable(Exception):
    """A failure another attempt may cure, with the wait the server asked for (``Retry-After``), if any."""

    def __init__(self, message: str, wait: float | None = None, status: int | None = None):
        super().__init__(message)
        self.wait = wait
        self.status = status


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

    def wait(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): what the server asked, else the backoff."""
        return self.backoff * 2 ** (attempt - 1) if asked is None else asked

    def retry(
        self,
        exc: Exception,
        attempt: int,
        *,
        label: str,
        url: str,
        source: str,
        on_retry: OnRetry | None = None,
        note: str = "",
    ) -> None:
        """Sleeps before the next attempt, or raises DownloadError when this policy says to stop.

        Args:
            exc: What failed (a :class:`Retryable`, or a transport error).
            attempt: The attempt that failed (1-based).
            label, url, source: For the error's message and fields.
            on_retry: Told ``(attempt, error, wait)`` before the sleep.
            note: Appended to the final error (what was kept for the next pull).

        Raises:
            DownloadError: The host cannot be reached at all (at once), the
                attempts are used up, or the server asks for a longer wait than ``max_wait``.
        """
        unreachable = cannot_reach(exc, label, url, source)
        if unreachable is not None:
            raise unreachable from exc
        status = exc.status if isinstance(exc, Retryable) else None
        if attempt >= self.attempts:
            raise DownloadError(
                f"{label}: giving up on {url} after {attempt} attempts ({exc}).{note}",
                url=url, status=status, source=source, reason=f"gave up after {attempt} attempts ({exc})",
            ) from exc
        wait = self.wait(attempt, exc.wait if isinstance(exc, Retryable) else None)
        if wait > self.max_wait:
            raise DownloadError(
                f"{label}: {url} asks to retry after {wait:.0f} s, more than the {self.max_wait:.0f} s limit; try again later.",
                url=url, status=status, source=source,
                reason=f"asks to retry after {wait:.0f} s, more than the {self.max_wait:.0f} s limit",
            ) from exc
        if on_retry is not None:
            on_retry(attempt, str(exc), wait)
        time.sleep(wait)


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date); None when absent or unreadable."""
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
