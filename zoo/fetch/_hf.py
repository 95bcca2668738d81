"""A Hugging Face source: ``hf_hub_download`` at a pinned commit, checked here; and the ``hub`` tier's lookup.

``HF_ENDPOINT``, ``HF_TOKEN`` and the other huggingface_hub settings apply as
for any HF user. A file named without a commit or hash (the ``hub`` tier) is
first looked up on the Hub (:func:`resolve_hub`: one HEAD on ``main`` gives
commit, size and the LFS sha256), then fetched at that commit like any
pinned HF file and checked against what the Hub advertised.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo._hashing import GIT_BLOB, Expected, HubFile, hash_prefix
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError, DownloadError
from zoo.fetch._failures import (
    cannot_reach,
    check_space,
    disk_full,
    hub_failure,
    hub_status,
    no_space_in,
)
from zoo.fetch._partial import finish
from zoo.fetch._source import FetchRequest, FetchResult, OnBytes

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


COMMIT_HEX = re.compile(r"^[0-9a-f]{40}$")


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
        meta = hub_probe(url, endpoint, label) or get_hf_file_metadata(url, endpoint=endpoint, retry_on_errors=True)
    except DownloadError:
        raise
    except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError) as exc:
        raise DownloadError(
            f"{label}: {where} is not on the Hugging Face Hub's main branch ({type(exc).__name__})",
            url=url, status=hub_status(exc), source="hf", reason=f"not on the Hub's main branch ({type(exc).__name__})",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's own HTTP client raises its own (non-OSError) errors
        raise hub_failure(exc, label, url, f"asking the Hugging Face Hub about {where}", "asking the Hub") from exc
    commit = meta.commit_hash or ""
    etag = (meta.etag or "").lower()
    if not COMMIT_HEX.match(commit):
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
    if SHA256_HEX.match(etag):
        sha256, weak = etag, None
    elif COMMIT_HEX.match(etag):
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
    check_space(cache.layout.tmp, expected.size, 0, label)
    # huggingface_hub retries a Hub it cannot reach for ~24 s; one HEAD of our own says at once if it is there at all.
    hub_probe(url, endpoint, label)
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
                    tqdm_class=relay_tqdm(on_bytes),
                )
            )
        except (RemoteEntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError) as exc:
            raise DownloadError(
                f"{label}: not found on the Hugging Face Hub at {repo}@{revision[:10]} ({type(exc).__name__})",
                url=url, status=hub_status(exc), source="hf", reason=f"not on the Hub at {revision[:10]} ({type(exc).__name__})",
            ) from exc
        except LocalEntryNotFoundError as exc:
            # Not "not found": huggingface_hub could not ask the Hub (and has no copy of its own).
            cause = exc.__cause__ or exc
            raise cannot_reach(exc, label, url, "hf") or DownloadError(
                f"{label}: the Hugging Face Hub could not be asked for {repo}/{filename} ({type(cause).__name__}: {cause})",
                url=url, status=hub_status(cause), source="hf", reason=f"the Hub could not be asked ({type(cause).__name__}: {cause})",
            ) from exc
        except Exception as exc:  # noqa: BLE001 - huggingface_hub's own HTTP client raises its own (non-OSError) errors
            full = no_space_in(exc)
            if full is not None:
                raise disk_full(full, label, staging, expected.size) from exc
            raise hub_failure(exc, label, url, "Hugging Face download", "download") from exc
        size = path.stat().st_size
        # A file of the wrong size is refused without hashing it (the size is checked first).
        digests = (
            {k: h.hexdigest() for k, h in hash_prefix(path, size, expected.hashes()).items()}
            if expected.size in (None, size)
            else {}
        )
        try:
            sha = finish(cache, path, digests, size, expected, label, f"hf:{repo}/{filename}@{revision}")
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


def hub_probe(url: str, endpoint: str | None, label: str) -> Any:
    """One HEAD of a Hub file, without huggingface_hub's retries.

    Returns:
        The file's metadata, or None when the HEAD failed in a way a retry may
        cure (a 5xx, a timeout) or that the caller reports better (a 404).

    Raises:
        DownloadError: The Hub cannot be reached at all (see :func:`unreachable`).
    """
    from huggingface_hub import get_hf_file_metadata

    try:
        return get_hf_file_metadata(url, endpoint=endpoint, retry_on_errors=False)
    except Exception as exc:  # noqa: BLE001 - classified here; the caller's own call reports everything else
        unreachable = cannot_reach(exc, label, url, "hf")
        if unreachable is not None:
            raise unreachable from exc
        return None


def relay_tqdm(on_bytes: OnBytes | None) -> Any:
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


@dataclass(frozen=True)
class HfSource:
    """A file of a Hugging Face repo, at a pinned commit (or, for the ``hub`` tier, the commit its first pull pinned)."""

    repo: str
    file: str
    revision: str | None = None
    kind = "hf"
    local = False

    @property
    def where(self) -> str:
        return f"hf:{self.repo}"

    def fetch(self, request: FetchRequest) -> FetchResult:
        revision = self.revision or request.expected.revision
        return fetch_hf(self.repo, revision, self.file, request.cache, request.expected, label=request.label, on_bytes=request.on_bytes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class HubTreeFile:
    """One file of a Hub repo at a commit, as the Hub's tree API states it.

    Attributes:
        path: Its path in the repo.
        size: Bytes.
        sha256: The LFS sha256 the Hub states (None for a file stored in git itself).
        blob_id: Its git blob id: ``sha1(b"blob <size>\\0" + bytes)`` for a file in git (an LFS file's is its pointer's).
    """

    path: str
    size: int
    sha256: str | None
    blob_id: str


# A listing bigger than this is not a model repo zoo can use (the largest model repos list a few hundred files).
MAX_TREE_FILES = 100_000


def list_hub_tree(repo: str, revision: str, *, label: str = "") -> list[HubTreeFile]:
    """Every file of ``repo`` at the 40-hex ``revision``: ``GET /api/models/{repo}/tree/{revision}?recursive=true``.

    huggingface_hub's ``HfApi.list_repo_tree`` asks (pages followed; ``HF_ENDPOINT``
    and ``HF_TOKEN`` apply). An LFS file's sha256 and every file's git blob id
    come with the listing, so each file can be checked as it is fetched.

    Raises:
        DownloadError: The Hub cannot be reached, or has no such repo or commit
            (``status`` 404), or answers with something that is not a listing.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    label = label or f"{repo}@{revision[:10]}"
    endpoint = os.environ.get("HF_ENDPOINT") or None
    url = f"{(endpoint or 'https://huggingface.co').rstrip('/')}/api/models/{repo}/tree/{revision}"
    files: list[HubTreeFile] = []
    try:
        for entry in HfApi(endpoint=endpoint).list_repo_tree(repo, recursive=True, revision=revision):
            if getattr(entry, "size", None) is None or not hasattr(entry, "blob_id"):
                continue  # a folder
            lfs = getattr(entry, "lfs", None)
            sha256 = str(lfs.sha256).lower() if lfs is not None and getattr(lfs, "sha256", None) else None
            if sha256 is not None and not SHA256_HEX.match(sha256):
                raise DownloadError(
                    f"{label}: the Hub's listing gives {entry.path} an LFS sha256 that is not one ({sha256!r})",
                    url=url, source="hf", reason="a malformed listing",
                )
            files.append(HubTreeFile(entry.path, int(entry.size), sha256, str(entry.blob_id).lower()))
            if len(files) > MAX_TREE_FILES:
                raise DownloadError(
                    f"{label}: the Hub lists more than {MAX_TREE_FILES} files at {revision[:10]}; not a model repo zoo can pull",
                    url=url, source="hf", reason="too many files",
                )
    except DownloadError:
        raise
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise DownloadError(
            f"{label}: the Hugging Face Hub has no {repo} at commit {revision} ({type(exc).__name__}); check the "
            "registry entry's snapshot (or HF_ENDPOINT / HF_TOKEN for a private mirror of the Hub)",
            url=url, status=hub_status(exc) or 404, source="hf", reason=f"no such repo or commit ({type(exc).__name__})",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's own HTTP client raises its own (non-OSError) errors
        raise hub_failure(
            exc, label, url, f"listing the files of {repo} at {revision[:10]} on the Hugging Face Hub", "listing the files"
        ) from exc
    return files
