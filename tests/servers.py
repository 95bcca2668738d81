"""Real HTTP(S) servers for tests: a static file server with fault injection and a fake Hugging Face Hub.

Everything here listens on 127.0.0.1 on a free port and speaks real HTTP/1.1 over real sockets, so the code
under test (httpx, huggingface_hub's own client, ...) is exercised exactly as against a remote server.

``FileServer`` serves byte blobs at URL paths (GET/HEAD, single ``Range``, keep-alive) and can inject faults
(dropped connection, corrupted byte, extra bytes, error status, stall, redirect, hold until released) into the
next N requests of a path.  ``HFServer`` adds the few Hub routes ``hf_hub_download`` / ``snapshot_download`` use,
so it can be used as ``HF_ENDPOINT``.  ``make_tls`` builds a server ``SSLContext`` signed by a throwaway ``trustme`` CA.

Only the standard library and ``trustme`` are used.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
import pathlib
import re
import socket
import socketserver
import ssl
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FileServer", "HFServer", "Request", "make_tls", "git_blob_sha1"]

CHUNK = 1 << 20  # bodies are written from a memoryview in 1 MiB slices
_SMALL = 64 * 1024  # bodies up to this size go out in the same send() as the headers
_JUNK = b"<extra-junk>"
_REVISION_RE = re.compile(r"^[0-9a-f]{40}$")
_FAULT_KINDS = ("drop", "corrupt", "extra", "status", "stall", "redirect", "hold")
_BODY_FAULTS = frozenset({"drop", "corrupt", "extra", "stall", "hold"})  # only GET of an existing resource
_QUIET_ERRORS = (ConnectionError, TimeoutError, ssl.SSLError, OSError)


@dataclasses.dataclass
class Request:
    """One request as the server saw it (appended when the request arrives, completed as it is answered)."""

    method: str
    path: str  # percent-decoded, without the query string
    headers: dict[str, str]  # lower-cased names
    range_start: int | None = None  # as requested; for ``bytes=-N`` the resolved start
    range_end: int | None = None  # as requested (inclusive); None for ``bytes=A-``
    status: int = 0  # 0 until the status line is sent
    bytes_sent: int = 0  # body bytes only
    query: str = ""
    fault: str | None = None  # kind of the injected fault, if one applied
    client_port: int = 0  # the client's source port: equal ports mean a reused (keep-alive) connection


@dataclasses.dataclass
class _Fault:
    kind: str
    remaining: int
    params: dict[str, Any]


@dataclasses.dataclass
class _Resource:
    """Bytes served with Range / ETag support (and subject to body faults)."""

    data: memoryview
    sha256: str
    headers: dict[str, str]
    redirect_headers: dict[str, str] = dataclasses.field(default_factory=dict)  # also sent on an injected 302
    fault_keys: tuple[str, ...] = ()  # extra paths whose faults apply (e.g. HF resolve URL by commit)
    etag: str | None = None  # the ETag to send (default: the sha256)
    ranges: bool = True  # False: Range is ignored (the whole file, 200), as some servers and proxies do


@dataclasses.dataclass
class _Reply:
    """A fixed, small response."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclasses.dataclass
class _Blob:
    data: bytes
    sha256: str
    git_sha1: str
    lfs: bool = True  # stored in LFS (oid = sha256) or in git itself (oid = git blob id)
    advertised: str | None = None  # the oid the Hub claims, when a test makes it lie

    @property
    def oid(self) -> str:
        """What the Hub advertises for the file: X-Linked-Etag of an LFS file, ETag of a git one."""
        return self.advertised or (self.sha256 if self.lfs else self.git_sha1)


def git_blob_sha1(data: bytes) -> str:
    """The git object id of ``data`` stored as a blob (what the Hub calls a non-LFS file's oid)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _blob(data: bytes) -> _Blob:
    return _Blob(data=data, sha256=hashlib.sha256(data).hexdigest(), git_sha1=git_blob_sha1(data))


class _Unsatisfiable(Exception):
    pass


def _parse_range(value: str | None, total: int) -> tuple[int, int, int | None, int | None] | None:
    """Parses a single ``bytes=`` range.

    Returns ``(start, end_inclusive, requested_start, requested_end)``, or None when the header is absent,
    malformed or a multi-range (the full entity is then served with 200). Raises _Unsatisfiable (carrying the
    requested bounds) when no byte of the entity is selected.
    """
    if not value:
        return None
    value = value.strip()
    if not value.lower().startswith("bytes="):
        return None
    spec = value[6:].strip()
    if "," in spec:
        return None
    first, sep, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not sep or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        n = int(last)
        start = max(total - n, 0)
        if n == 0 or total == 0:
            raise _Unsatisfiable(start, None)
        return start, total - 1, start, None
    start = int(first)
    end_req = int(last) if last else None
    if end_req is not None and end_req < start:
        return None  # invalid byte-range-spec: ignore the header (RFC 9110 14.1.1)
    if start >= total:
        raise _Unsatisfiable(start, end_req)
    end = total - 1 if end_req is None else min(end_req, total - 1)
    return start, end, start, end_req


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zoo-test-server/1.0"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def _dispatch(self) -> None:
        self.server.owner._handle(self)  # type: ignore[attr-defined]

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _dispatch


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: FileServer, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        if self.ssl_context is not None:
            # The handshake is done in the connection's own thread (finish_request), not in accept().
            self.socket = self.ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.owner._track(request, True)
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(30)
                try:
                    request.do_handshake()
                except _QUIET_ERRORS:
                    return
            super().finish_request(request, client_address)
        finally:
            self.owner._track(request, False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET_ERRORS):
            return
        print(f"[tests.servers] error while handling a request from {client_address}:", file=sys.stderr)
        traceback.print_exc()


class FileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 serving in-memory bytes, with request recording and faults.

    Faults are queued per path (``.fault(path, kind, times, **params)``) and consumed in order: the head of the
    queue applies to the next ``times`` matching requests, then the next queued fault takes over.  ``drop``,
    ``corrupt``, ``extra``, ``stall`` and ``hold`` only match a GET of an existing path (a HEAD does not consume them);
    ``status`` and ``redirect`` match any request.  Any fault accepts ``method="GET"`` (or "HEAD") to restrict it.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self._lock = threading.Lock()
        self._files: dict[str, _Resource] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._requests: list[Request] = []
        self._conns: set[Any] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FileServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(self, self.ssl_context)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{type(self).__name__}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes stalled responses
        httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # unblock handler threads waiting on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        return self.base_url + path

    # ----------------------------------------------------------------- content

    def add(self, path: str, data: bytes, headers: dict[str, str] | None = None, *, ranges: bool = True) -> None:
        """Serves ``data`` at ``path`` (percent-decoded form, starting with '/'), with extra response headers.

        ``ranges=False`` ignores ``Range`` (always the whole file, 200, no ``Accept-Ranges``).
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        data = bytes(data)
        res = _Resource(data=memoryview(data), sha256=hashlib.sha256(data).hexdigest(), headers=dict(headers or {}), ranges=ranges)
        with self._lock:
            self._files[path] = res

    def remove(self, path: str) -> None:
        with self._lock:
            self._files.pop(path, None)

    # ----------------------------------------------------------------- faults

    def fault(self, path: str, kind: str, times: int = 1, **params: Any) -> None:
        """Queues a fault for the next ``times`` matching requests of ``path``.

        kinds and params: ``drop(after=0)``, ``corrupt(offset=0)``, ``extra(extra=16)``,
        ``status(code, retry_after=None)``, ``stall(seconds=1.0, after=0, then_drop=False)``, ``redirect(to)``,
        ``hold(release, after=0, seconds=30.0)`` (sends ``after`` body bytes, then waits until the
        ``threading.Event`` ``release`` is set, at most ``seconds``, then sends the rest: a test acts while a
        download is paused mid-body); any kind: ``method=None``, ``range_from=None`` (only requests whose
        ``Range`` starts at that byte: one segment of a parallel download).
        """
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {_FAULT_KINDS}")
        if times < 1:
            raise ValueError("times must be >= 1")
        required = {"status": ("code",), "redirect": ("to",), "hold": ("release",)}.get(kind, ())
        missing = [p for p in required if p not in params]
        if missing:
            raise ValueError(f"fault {kind!r} needs {missing}")
        with self._lock:
            self._faults.setdefault(path, []).append(_Fault(kind, times, dict(params)))

    def clear_faults(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def pending_faults(self, path: str) -> int:
        """Number of requests that the faults still queued for ``path`` will affect."""
        with self._lock:
            return sum(f.remaining for f in self._faults.get(path, []))

    # ----------------------------------------------------------------- recording

    @property
    def requests(self) -> list[Request]:
        """A snapshot (copy) of the recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str, method: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if r.path == path and (method is None or r.method == method)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ----------------------------------------------------------------- internals

    def _track(self, conn: Any, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _route(self, method: str, path: str, segments: list[str], query: str) -> _Resource | _Reply | None:
        """Maps a request to a resource or a reply; None means 404. Subclasses extend this."""
        with self._lock:
            return self._files.get(path)

    def _take_fault(
        self, keys: list[str], method: str, route: _Resource | _Reply | None, range_header: str | None = None
    ) -> _Fault | None:
        with self._lock:
            for key in keys:
                queue = self._faults.get(key)
                if not queue:
                    continue
                head = queue[0]
                wanted = head.params.get("method")
                if wanted is not None and wanted.upper() != method:
                    return None
                start = head.params.get("range_from")
                if start is not None and not (range_header or "").replace(" ", "").startswith(f"bytes={start}-"):
                    return None
                if head.kind in _BODY_FAULTS and (method != "GET" or not isinstance(route, _Resource)):
                    return None
                head.remaining -= 1
                if head.remaining <= 0:
                    queue.pop(0)
                    if not queue:
                        del self._faults[key]
                return head
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        method = h.command.upper()
        split = urlsplit(h.path)
        raw_path = split.path or "/"
        path = unquote(raw_path)
        headers: dict[str, str] = {}
        for name, value in h.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        req = Request(method=method, path=path, headers=headers, query=split.query, client_port=h.client_address[1])
        with self._lock:
            self._requests.append(req)
        try:
            self._drain_body(h, headers)
            segments = [unquote(s) for s in raw_path.split("/")[1:]]
            route: _Resource | _Reply | None
            if method not in ("GET", "HEAD"):
                route = _Reply(405, {"Allow": "GET, HEAD"}, b"method not allowed\n")
            else:
                route = self._route(method, path, segments, split.query)
            keys = [path, *(route.fault_keys if isinstance(route, _Resource) else ())]
            fault = self._take_fault(keys, method, route, headers.get("range"))
            if fault is not None:
                req.fault = fault.kind
            if fault is not None and fault.kind == "status":
                code = int(fault.params["code"])
                extra = {"Content-Type": "text/plain; charset=utf-8"}
                if fault.params.get("retry_after") is not None:
                    extra["Retry-After"] = str(fault.params["retry_after"])
                self._send_reply(h, req, _Reply(code, extra, f"injected status {code}\n".encode()))
            elif fault is not None and fault.kind == "redirect":
                extra = dict(route.redirect_headers) if isinstance(route, _Resource) else {}
                extra["Location"] = str(fault.params["to"])
                self._send_reply(h, req, _Reply(302, extra, b""))
            elif route is None:
                self._send_reply(h, req, _Reply(404, {"Content-Type": "text/plain"}, b"not found\n"))
            elif isinstance(route, _Reply):
                self._send_reply(h, req, route)
            else:
                self._send_resource(h, req, route, fault)
        except _QUIET_ERRORS:
            h.close_connection = True

    @staticmethod
    def _drain_body(h: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        if "transfer-encoding" in headers:
            h.close_connection = True  # we do not parse chunked request bodies
            return
        length = int(headers.get("content-length", "0") or 0)
        while length > 0:
            got = h.rfile.read(min(length, CHUNK))
            if not got:
                break
            length -= len(got)

    def _head_bytes(self, h: BaseHTTPRequestHandler, req: Request, status: int, headers: dict[str, str]) -> bytes:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        if "connection" in req.headers and req.headers["connection"].lower() == "close":
            h.close_connection = True
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {h.server_version}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if h.close_connection:
            lines.append("Connection: close")
        req.status = status
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_reply(self, h: BaseHTTPRequestHandler, req: Request, reply: _Reply) -> None:
        headers = {**reply.headers, "Content-Length": str(len(reply.body))}
        head = self._head_bytes(h, req, reply.status, headers)
        body = b"" if req.method == "HEAD" else reply.body
        req.bytes_sent += len(body)
        h.connection.sendall(head + body)

    def _send_resource(self, h: BaseHTTPRequestHandler, req: Request, res: _Resource, fault: _Fault | None) -> None:
        data = res.data
        total = len(data)
        base = {
            "Content-Type": "application/octet-stream",
            **res.headers,
            "ETag": f'"{res.etag or res.sha256}"',
        }
        if res.ranges:
            base["Accept-Ranges"] = "bytes"
        try:
            rng = _parse_range(req.headers.get("range") if res.ranges else None, total)
        except _Unsatisfiable as e:
            req.range_start, req.range_end = e.args
            reply = _Reply(416, {**base, "Content-Range": f"bytes */{total}", "Content-Type": "text/plain"}, b"")
            self._send_reply(h, req, reply)
            return
        if rng is None:
            start, end, status = 0, total - 1, 200
        else:
            start, end, req.range_start, req.range_end = rng
            status = 206
        segments: list[memoryview | bytes] = [data[start : end + 1]]
        kind = fault.kind if fault is not None else None
        params = fault.params if fault is not None else {}
        extra = 0
        if kind == "corrupt":
            offset = int(params.get("offset", 0))
            if start <= offset <= end:
                i = offset - start
                body = segments[0]
                segments = [body[:i], bytes([body[i] ^ 0xFF]), body[i + 1 :]]
        elif kind == "extra":
            extra = int(params.get("extra", 16))
            segments.append((_JUNK * (extra // len(_JUNK) + 1))[:extra])
        length = sum(len(s) for s in segments)
        headers = {**base, "Content-Length": str(length)}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{total + extra}"
        head = self._head_bytes(h, req, status, headers)
        if req.method == "HEAD":
            h.connection.sendall(head)
            return
        if kind == "drop":
            self._send_body(h, req, head, segments, limit=int(params.get("after", 0)))
            self._abort(h)
        elif kind == "stall":
            self._send_body(h, req, head, segments, limit=int(params.get("after", 0)))
            self._stopping.wait(float(params.get("seconds", 1.0)))
            if params.get("then_drop"):
                self._abort(h)
            else:
                self._send_body(h, req, b"", segments, skip=int(params.get("after", 0)))
        elif kind == "hold":
            self._send_body(h, req, head, segments, limit=int(params.get("after", 0)))
            release, deadline = params["release"], float(params.get("seconds", 30.0))
            waited = 0.0
            while not release.is_set() and not self._stopping.is_set() and waited < deadline:
                release.wait(0.05)
                waited += 0.05
            self._send_body(h, req, b"", segments, skip=int(params.get("after", 0)))
        else:
            self._send_body(h, req, head, segments)

    def _send_body(
        self,
        h: BaseHTTPRequestHandler,
        req: Request,
        head: bytes,
        segments: list[memoryview | bytes],
        *,
        limit: int | None = None,
        skip: int = 0,
    ) -> None:
        """Sends ``head`` then the body bytes in [skip, limit) in <= 1 MiB slices; small bodies share one send."""
        conn = h.connection
        pieces: list[memoryview] = []
        pos = 0
        for seg in segments:
            mv = memoryview(seg)
            lo, hi = max(skip - pos, 0), len(mv) if limit is None else min(len(mv), limit - pos)
            if hi > lo:
                pieces.append(mv[lo:hi])
            pos += len(mv)
        size = sum(len(p) for p in pieces)
        if size <= _SMALL:
            out = head + b"".join(pieces)
            req.bytes_sent += size  # counted before sending so a client that has the bytes sees the count
            conn.sendall(out)
            return
        if head:
            conn.sendall(head)
        for piece in pieces:
            for i in range(0, len(piece), CHUNK):
                chunk = piece[i : i + CHUNK]
                req.bytes_sent += len(chunk)
                try:
                    conn.sendall(chunk)
                except BaseException:
                    req.bytes_sent -= len(chunk)
                    raise

    @staticmethod
    def _abort(h: BaseHTTPRequestHandler) -> None:
        """Closes the connection abruptly: no more bytes, no TLS close_notify."""
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class HFServer(FileServer):
    """A fake Hugging Face Hub (models only) to point ``HF_ENDPOINT`` at.

    Routes: ``HEAD|GET /{repo}/resolve/{rev}/{path}``, ``GET /api/models/{repo}[/revision/{rev}]``,
    ``GET /api/models/{repo}/tree/{rev}[/{path}]``; ``rev`` is a 40-hex commit or a branch name.  Faults set on
    ``/{repo}/resolve/{commit}/{path}`` also apply when the file is requested through a branch name.
    Paths added with ``.add()`` are served too (e.g. to act as a CDN).
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(ssl_context)
        self._repos: dict[str, dict[str, dict[str, _Blob]]] = {}  # repo -> revision -> path -> blob
        self._branches: dict[str, dict[str, str]] = {}  # repo -> branch -> revision

    def add_repo(
        self,
        repo_id: str,
        revision: str,
        files: dict[str, bytes],
        branch: str | None = "main",
        *,
        non_lfs: tuple[str, ...] | list[str] | set[str] = (),
        advertise: dict[str, str] | None = None,
    ) -> None:
        """Serves ``files`` at ``revision`` (and at ``branch``, which then points at it).

        ``non_lfs`` paths are stored in git like small files on the real Hub: their ETag is the git blob id and
        there is no ``X-Linked-Etag``.  ``advertise`` maps paths to the oid to claim instead of the real one (a Hub
        that lies, or serves other bytes than it advertises).  Adding the same revision again replaces its files.
        """
        if not _REVISION_RE.fullmatch(revision):
            raise ValueError(f"revision must be 40 lowercase hex characters: {revision!r}")
        if repo_id.strip("/") != repo_id or not repo_id:
            raise ValueError(f"bad repo id {repo_id!r}")
        blobs = {path.lstrip("/"): _blob(bytes(data)) for path, data in files.items()}
        for path, blob in blobs.items():
            blob.lfs = path not in set(non_lfs)
            blob.advertised = (advertise or {}).get(path)
        with self._lock:
            self._repos.setdefault(repo_id, {})[revision] = blobs
            if branch is not None:
                self._branches.setdefault(repo_id, {})[branch] = revision

    def resolve_path(self, repo_id: str, revision: str, path: str) -> str:
        """The URL path huggingface_hub requests for a file (what ``.fault()`` and ``.requests_for()`` take)."""
        return f"/{repo_id}/resolve/{revision}/{path}"

    # ----------------------------------------------------------------- routing

    def _route(self, method: str, path: str, segments: list[str], query: str) -> _Resource | _Reply | None:
        found = super()._route(method, path, segments, query)
        if found is not None:
            return found
        if len(segments) >= 3 and segments[0] == "api" and segments[1] == "models":
            return self._route_api(segments[2:], query)
        # "{org}/{name}/resolve/{rev}/{path}" or legacy "{name}/resolve/{rev}/{path}"
        candidates = [i for i in (2, 1) if len(segments) > i + 2 and segments[i] == "resolve"]
        if not candidates:
            return None
        i = self._pick_repo(segments, candidates)
        return self._route_resolve("/".join(segments[:i]), segments[i + 1], "/".join(segments[i + 2 :]))

    def _pick_repo(self, segments: list[str], candidates: list[int]) -> int:
        """Of the possible repo-id lengths, the first naming a known repo (else the first)."""
        with self._lock:
            for i in candidates:
                if "/".join(segments[:i]) in self._repos:
                    return i
        return candidates[0]

    def _lookup(self, repo_id: str, rev: str) -> tuple[str, dict[str, _Blob]] | _Reply:
        with self._lock:
            revisions = self._repos.get(repo_id)
            if revisions is None:
                return _error(404, "RepoNotFound", f"Repository Not Found for url: {repo_id}.")
            sha = rev if rev in revisions else self._branches.get(repo_id, {}).get(rev)
            if sha is None or sha not in revisions:
                return _error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return sha, revisions[sha]

    def _route_resolve(self, repo_id: str, rev: str, file: str) -> _Resource | _Reply:
        found = self._lookup(repo_id, rev)
        if isinstance(found, _Reply):
            return found
        sha, blobs = found
        blob = blobs.get(file)
        if blob is None:
            reply = _error(404, "EntryNotFound", f"Entry not found: {file}")
            reply.headers["X-Repo-Commit"] = sha
            return reply
        meta = {"X-Repo-Commit": sha}
        if blob.lfs:
            meta.update({"X-Linked-Etag": f'"{blob.oid}"', "X-Linked-Size": str(len(blob.data))})
        return _Resource(
            data=memoryview(blob.data),
            sha256=blob.sha256,
            headers=dict(meta),
            redirect_headers={**meta, "ETag": f'"{blob.oid}"'},
            fault_keys=(self.resolve_path(repo_id, sha, file),),
            etag=blob.oid,
        )

    def _route_api(self, rest: list[str], query: str) -> _Reply | None:
        # rest = repo segments + nothing | ("revision", rev) | ("tree", rev, *path)
        candidates = [i for i in (2, 1) if len(rest) >= i and (len(rest) == i or rest[i] in ("revision", "tree"))]
        if not candidates:
            return None
        i = self._pick_repo(rest, candidates)
        repo_id, tail = "/".join(rest[:i]), rest[i:]
        if not tail:
            return self._api_info(repo_id, "main", query)
        if tail[0] == "revision" and len(tail) == 2:
            return self._api_info(repo_id, tail[1], query)
        if tail[0] == "tree" and len(tail) >= 2:
            return self._api_tree(repo_id, tail[1], "/".join(tail[2:]).strip("/"), query)
        return None

    def _api_info(self, repo_id: str, rev: str, query: str) -> _Reply:
        found = self._lookup(repo_id, rev)
        if isinstance(found, _Reply):
            return found
        sha, blobs = found
        with_blobs = parse_qs(query).get("blobs", ["false"])[-1].lower() in ("1", "true")
        siblings: list[dict[str, Any]] = []
        for p in sorted(blobs):
            entry: dict[str, Any] = {"rfilename": p}
            if with_blobs:
                b = blobs[p]
                entry.update(size=len(b.data), blobId=b.git_sha1)
                if b.lfs:
                    entry["lfs"] = {"sha256": b.oid, "size": len(b.data), "pointerSize": 134}
            siblings.append(entry)
        doc = {
            "_id": sha[:24],
            "id": repo_id,
            "modelId": repo_id,
            "sha": sha,
            "private": False,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": "2024-01-01T00:00:00.000Z",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "siblings": siblings,
        }
        return _json(doc)

    def _api_tree(self, repo_id: str, rev: str, subpath: str, query: str) -> _Reply:
        found = self._lookup(repo_id, rev)
        if isinstance(found, _Reply):
            return found
        _sha, blobs = found
        recursive = parse_qs(query).get("recursive", ["false"])[-1].lower() in ("1", "true")
        prefix = f"{subpath}/" if subpath else ""
        if subpath and subpath in blobs:
            return _error(400, None, f"{subpath} is a file, not a directory")
        under = sorted(p for p in blobs if p.startswith(prefix))
        if subpath and not under:
            return _error(404, "EntryNotFound", f"{subpath} does not exist on {rev}")
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for p in under:
            rel = p[len(prefix) :]
            if not recursive and "/" in rel:
                d = prefix + rel.split("/", 1)[0]
                if d not in dirs:
                    dirs.add(d)
                    out.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
                continue
            b = blobs[p]
            item: dict[str, Any] = {"type": "file", "oid": b.git_sha1 if b.lfs else b.oid, "size": len(b.data), "path": p}
            if b.lfs:
                item["lfs"] = {"oid": b.oid, "size": len(b.data), "pointerSize": 134}
            out.append(item)
        return _json(out)


def _json(doc: Any, status: int = 200) -> _Reply:
    return _Reply(status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(doc).encode())


def _error(status: int, code: str | None, message: str) -> _Reply:
    reply = _json({"error": message}, status)
    if code is not None:
        reply.headers["X-Error-Code"] = code
    reply.headers["X-Error-Message"] = message
    return reply


def make_tls(tmp_dir: pathlib.Path) -> tuple[ssl.SSLContext, pathlib.Path]:
    """A server SSLContext for 127.0.0.1/localhost signed by a fresh trustme CA, and that CA's PEM path."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    tmp_dir = pathlib.Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    ca_path = tmp_dir / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return ctx, ca_path
