"""The HTTP client every URL source uses: httpx over a thin ``http.client`` transport, and the scheme rules.

httpx does redirects, headers, proxies and status handling; when no proxy is
configured its transport is :func:`make_transport`, which reads bodies in
1 MiB blocks instead of httpcore's 64 KiB events: that is what lets a
download run near ``curl`` speed while the sha256 is computed on a second
thread (see ``bench/pull_throughput.py``). One request per connection: each
download (or range segment) is one long stream.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from typing import Any

from zoo._hashing import CHUNK
from zoo._version import __version__
from zoo.errors import DownloadError
from zoo.fetch._policy import RetryPolicy

_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def httpx_module() -> Any:
    import httpx

    return httpx


def make_transport(ssl_context: ssl.SSLContext, policy: RetryPolicy) -> Any:
    httpx = httpx_module()

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


def proxy_configured() -> bool:
    return any(os.environ.get(var) for var in _PROXY_VARS)


def make_client(policy: RetryPolicy | None = None) -> Any:
    """Returns the ``httpx.Client`` used for URL downloads.

    Trusts the system store, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set
    (as httpx does); with a proxy in the environment it uses httpx's own
    transport so the proxy is honoured.
    """
    httpx = httpx_module()
    policy = policy or RetryPolicy()
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    headers = {"User-Agent": f"zoo/{__version__}", "Accept-Encoding": "identity"}
    if proxy_configured():
        return httpx.Client(follow_redirects=True, timeout=timeout, headers=headers, trust_env=True)
    context = httpx.create_ssl_context(trust_env=True)
    return httpx.Client(
        transport=make_transport(context, policy),
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


def check_scheme(url: str, allow_http: bool, source: str | None = None) -> None:
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


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """A ``Content-Range: bytes a-b/total`` header as (a, b, total); total None for ``*``; None when unreadable."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        span, _, total = value[6:].partition("/")
        first, _, last = span.partition("-")
        return int(first), int(last), None if total.strip() == "*" else int(total)
    except ValueError:
        return None
