"""An S3 source: a mirror in an S3-compatible bucket (``s3://bucket/prefix``), read with s3fs; and the S3 location both mirrors and pulls use.

Endpoint and credentials come the usual AWS way (botocore reads them):
``AWS_ENDPOINT_URL`` (MinIO, Ceph RGW, a local ``moto_server``; unset for AWS
itself), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE``,
``AWS_REGION``. As for http mirrors, a plain-http endpoint is accepted only on
this machine or a private network.

botocore's and s3fs's own retries are turned off: zoo's
:class:`~zoo.fetch.RetryPolicy` decides, as for every other source, and a
service that cannot be reached at all fails at once. Failures are
classified on the error's type and the service's error code
(:func:`classify`), never on message text: a missing key is
:class:`~zoo.fetch.Absent`; a missing bucket (404, ``NoSuchBucket``) and
refused credentials (403, ``InvalidAccessKeyId``, ``SignatureDoesNotMatch``,
``AccessDenied``) are :class:`~zoo.errors.DownloadError` with that status.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from zoo._hashing import CHUNK, Expected
from zoo._layout import mirror_blob
from zoo.cache import Cache
from zoo.errors import (
    ChecksumMismatchError,
    DownloadError,
    InvalidOptionError,
    MissingDependencyError,
    ZooError,
)
from zoo.fetch._failures import cannot_reach, check_space, unreachable
from zoo.fetch._partial import discard, finish, write_chunks
from zoo.fetch._policy import Retryable, RetryPolicy
from zoo.fetch._source import Absent, FetchRequest, FetchResult
from zoo.fetch._transport import is_local_url


@dataclass(frozen=True)
class S3Failure:
    """What an S3 call's failure was: ``kind`` ``missing-key``, ``missing-bucket``, ``denied``, ``unreachable`` or ``other``."""

    kind: str
    status: int | None = None
    code: str | None = None


_DENIED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "403"}


def classify(exc: BaseException) -> S3Failure:
    """Sorts an error s3fs raised, by its type and the botocore ``ClientError`` under it (never by its text)."""
    code = status = None
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        response = getattr(cause, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = str(response["Error"].get("Code") or "") or None
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            break
        cause = cause.__cause__ if cause.__cause__ is not None else cause.__context__
    if code == "NoSuchBucket":
        return S3Failure("missing-bucket", 404, code)
    if isinstance(exc, PermissionError) or code in _DENIED or status == 403:
        return S3Failure("denied", 403, code or "403")
    if isinstance(exc, FileNotFoundError) or code in ("NoSuchKey", "404"):
        return S3Failure("missing-key", 404, code)
    if unreachable(exc) is not None:
        return S3Failure("unreachable")
    return S3Failure("other", status if isinstance(status, int) else None, code)


class S3Location:
    """``s3://bucket/prefix``: the bucket, the prefix, and an s3fs file system on the configured endpoint.

    Attributes:
        READ_BLOCK: s3fs's read-ahead when streaming an object: moto and S3 stream best in big reads.
        PART: The part size of multipart uploads (8-16 MiB uploaded fastest to moto).
    """

    READ_BLOCK = 64 * 1024**2
    PART = 16 * 1024**2

    def __init__(self, url: str, policy: RetryPolicy | None = None):
        if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
            raise InvalidOptionError(f"{url!r} is not an S3 location; write s3://bucket/prefix (in ZOO_MIRROR or as the mirror)")
        self.url = url.rstrip("/")
        self.bucket, _, self.prefix = self.url[5:].partition("/")
        self.policy = policy or RetryPolicy()

    @property
    def endpoint(self) -> str | None:
        """The S3 endpoint from the environment (None: AWS itself)."""
        return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None

    def path(self, rel: str) -> str:
        """The s3fs path (``bucket/prefix/rel``) of a path relative to the location."""
        return "/".join(p for p in (self.bucket, self.prefix, rel) if p)

    @cached_property
    def fs(self) -> Any:
        """The s3fs file system: no instance or listing cache (other writers' objects are seen), no retries of its own."""
        endpoint = self.endpoint
        if endpoint is not None and endpoint.startswith("http://") and not is_local_url(endpoint):
            raise DownloadError(
                f"{self.url}: the S3 endpoint {endpoint} is plain http on a public host; use https, "
                "or an endpoint on this machine or a private network",
                url=endpoint, source="mirror", reason="plain http S3 endpoint on a public host",
            )
        try:
            import s3fs
        except ImportError as exc:
            raise MissingDependencyError(
                f"{self.url}: S3 mirrors need s3fs; install it with: pip install 'zoo[s3]'"
            ) from exc
        fs = s3fs.S3FileSystem(
            skip_instance_cache=True,
            use_listings_cache=False,
            config_kwargs={
                "retries": {"total_max_attempts": 1},
                "connect_timeout": self.policy.connect_timeout,
                "read_timeout": self.policy.read_timeout,
            },
        )
        fs.retries = 1  # s3fs retries some errors itself: zoo's policy decides instead
        return fs

    def missing_key(self, exc: BaseException) -> bool:
        """True when ``exc`` says the object is not there (and the bucket is)."""
        return classify(exc).kind == "missing-key"

    def error(self, exc: BaseException, label: str, what: str) -> DownloadError:
        """The DownloadError for a failed S3 call that no retry can cure (see :func:`classify`)."""
        found = cannot_reach(exc, label, self.endpoint or "https://s3.amazonaws.com", "mirror")
        if found is not None:
            return found  # the service cannot be reached at all: the same error as any unreachable host
        failure = classify(exc)
        where = self.url
        if failure.kind == "missing-bucket":
            reason = f"no such bucket {self.bucket!r} (NoSuchBucket)"
            hint = "create the bucket, or fix ZOO_MIRROR / the destination and AWS_ENDPOINT_URL"
        elif failure.kind == "denied":
            reason = f"access denied ({failure.code})"
            hint = "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the bucket's policy"
        else:
            reason = f"{what} failed ({failure.code or type(exc).__name__}: {exc})"
            hint = "check the S3 service and try again"
        return DownloadError(
            f"{label}: {where}: {reason}; {hint}", url=where, status=failure.status, source="mirror", reason=reason
        )


@dataclass(frozen=True)
class S3Mirror:
    """A mirror in an S3-compatible bucket: ``s3://bucket/prefix/sha256/<hex>``."""

    url: str
    kind = "mirror"
    local = False

    @property
    def where(self) -> str:
        return self.url

    def fetch(self, request: FetchRequest) -> FetchResult | Absent:
        sha256 = request.expected.sha256
        if sha256 is None:
            return Absent("skipped: the file's sha256 is not known yet")
        location = S3Location(self.url, request.policy)
        key = location.path(mirror_blob(sha256))
        attempt = 0
        while True:
            attempt += 1
            try:
                return _download(location, key, request, attempt)
            except ZooError:
                raise  # already zoo's: wrong bytes, a full disk, s3fs missing
            except Exception as exc:  # noqa: BLE001 - s3fs/botocore/aiohttp errors, sorted by classify()
                failure = classify(exc)
                if failure.kind == "missing-key":
                    return Absent(f"not there (no object sha256/{sha256[:12]}…)", 404)
                if failure.kind != "other" or (failure.status is not None and failure.status < 500):
                    raise location.error(exc, request.label, "reading") from exc
                request.policy.retry(
                    Retryable(f"{failure.code or type(exc).__name__}: {exc}", None, failure.status), attempt,
                    label=request.label, url=f"s3://{key}", source="mirror", on_retry=request.on_retry,
                    note=" Partial data is kept and the next pull resumes it.",
                )


def _download(location: S3Location, key: str, request: FetchRequest, attempt: int) -> FetchResult:
    """One attempt: streams the object into the partial (resuming it), hashing as it goes."""
    cache: Cache = request.cache
    expected: Expected = request.expected
    label = request.label
    fs = location.fs
    size = int(fs.info(key)["size"])
    if expected.size is not None and size != expected.size:
        raise ChecksumMismatchError(
            f"{label}: the mirror's object s3://{key} is {size} bytes, the registry pins {expected.size}",
            algorithm="size", expected=expected.size, actual=size,
            reason=f"size mismatch (expected {expected.size} bytes, got {size})",
        )
    cache.blobs.mkdir(parents=True, exist_ok=True)
    partial = cache.partial_path(expected.key)
    offset = partial.stat().st_size if partial.exists() else 0
    if offset > size:
        discard(partial)
        offset = 0
    check_space(cache.blobs, size, offset, label)
    with fs.open(key, "rb", block_size=location.READ_BLOCK) as fh:
        if offset:
            fh.seek(offset)

        def blocks() -> Any:
            while block := fh.read(CHUNK * 8):
                yield block

        written, digests = write_chunks(blocks(), partial, offset, expected, label, request.on_bytes)
    total = offset + written
    if total < size:
        raise Retryable(f"the object ended after {total} of {size} bytes")
    try:
        sha = finish(cache, partial, digests, total, expected, label, f"s3://{key}")
    except ChecksumMismatchError:
        if not offset:
            raise
        # The bytes kept from before may be the wrong ones: once more from byte 0.
        discard(partial)
        return _download(location, key, request, attempt)
    return FetchResult("mirror", location.url, written, offset, attempt, sha)
