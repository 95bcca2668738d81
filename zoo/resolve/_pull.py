"""Pulling model versions: each file from the cache, or from its sources in order, under the blob's lock."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import _settings
from zoo._hashing import STRONG_TIERS, Expected
from zoo._layout import mirror_blob
from zoo.cache import Cache
from zoo.errors import (
    ChecksumMismatchError,
    DownloadError,
    InvalidOptionError,
    OfflineError,
    RemoteCodeError,
    SourceAttempt,
    UnpinnedFileError,
    UnsafeFileError,
)
from zoo.fetch import (
    Absent,
    FetchRequest,
    RetryPolicy,
    make_client,
    mirror_source,
    origin_source,
    resolve_hub,
    sources_for,
)
from zoo.registry import FileInfo, ModelInfo, load_catalog
from zoo.resolve._snapshot import files_of, record_pulled

__all__ = ["PullOptions", "PullResult", "PulledFile", "Progress", "check_pinned", "pull", "pull_files", "pull_many", "pull_version"]

# What one source can fail with and the pull goes on to the next: unreachable, wrong bytes, a link out of a mirror.
_SourceFailure = DownloadError | ChecksumMismatchError | UnsafeFileError

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class PulledFile:
    """One file of a pulled version, as it is in the cache now.

    Attributes:
        path: Its registry path (inside the version's folder).
        size: Bytes.
        sha256: Its sha256 (the blob's name).
        source: Where it came from in this pull: ``cache`` (already there),
            ``shared``, ``mirror``, ``hf``, ``url``, ``pypi``.
        hash: ``(algorithm, hex)`` of the other digest the registry pins it by
            (the sha256 above was found on first pull); None when pinned by sha256.
        revision: For a ``hub``-tier file, the commit pinned on first pull.
    """

    path: str
    size: int
    sha256: str
    source: str
    hash: tuple[str, str] | None = None
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``hash`` as ``{algorithm: hex}``; absent fields left out)."""
        out: dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256, "source": self.source}
        if self.hash is not None:
            out["hash"] = dict([self.hash])
        if self.revision is not None:
            out["revision"] = self.revision
        return out


@dataclass(frozen=True)
class PullResult:
    """A pulled model version.

    Attributes:
        model: ``name@version``.
        path: The folder with the version's files under their registry paths.
        files: One :class:`PulledFile` per file.
    """

    model: str
    path: Path
    files: tuple[PulledFile, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model": self.model, "path": str(self.path), "files": [f.to_dict() for f in self.files]}


@dataclass(frozen=True)
class PullOptions:
    """How a pull runs; :meth:`of` fills what the caller left out from the settings.

    Attributes:
        cache: The cache (default: under ``ZOO_HOME``).
        offline: Never use the network (``ZOO_OFFLINE``).
        mirrors: URLs, ``s3://`` prefixes or folders tried before the origin (``ZOO_MIRROR``).
        policy: Retries and timeouts.
        connections: Parallel ``Range`` streams per file of 64 MiB or more (``ZOO_CONNECTIONS``).
        progress: Told every progress event (see :mod:`zoo.resolve`).
    """

    cache: Cache
    offline: bool
    mirrors: tuple[str, ...]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    connections: int = 1
    progress: Progress | None = None

    @classmethod
    def of(
        cls,
        *,
        cache: Cache | None = None,
        offline: bool | None = None,
        mirrors: Sequence[str] | None = None,
        policy: RetryPolicy | None = None,
        connections: int | None = None,
        progress: Progress | None = None,
    ) -> PullOptions:
        """The options, each left-out one from its setting.

        Raises:
            InvalidOptionError: ``connections`` is not from 1 to 64.
        """
        n = _settings.connections() if connections is None else connections
        if not isinstance(n, int) or not 1 <= n <= 64:
            raise InvalidOptionError(f"connections must be a whole number from 1 to 64, not {n!r}")
        return cls(
            cache or Cache(),
            _settings.offline() if offline is None else offline,
            tuple(_settings.mirrors() if mirrors is None else mirrors),
            policy or RetryPolicy(),
            n,
            progress,
        )

    def emit(self, event: str, **data: Any) -> None:
        """Tells ``progress`` one event."""
        if self.progress is not None:
            self.progress({"event": event, **data})


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
    model: str, file: FileInfo, expected: Expected, options: PullOptions, client: Any, shared: Cache | None
) -> PulledFile:
    """Fetches one file from its sources in order (the shared cache, mirrors, then the origin; offline: local ones only)."""
    path = file.path
    label = f"{model}: {path}"
    cache = options.cache

    def on_bytes(n: int) -> None:
        options.emit("bytes", model=model, path=path, n=n)

    def on_retry(attempt: int, error: str, wait: float) -> None:
        options.emit("retry", model=model, path=path, attempt=attempt, error=error, wait=wait)

    if expected.hub is not None and expected.hub.commit is None:
        # First pull of a hub-tier file: the Hub says which commit and sha256 to expect.
        try:
            expected = resolve_hub(expected.hub.repo, expected.hub.file, expected, label=label)
        except (DownloadError, ChecksumMismatchError) as exc:
            origin = origin_source(file)
            raise _no_source(label, path, [_attempt(origin.kind, origin.where, exc)], [exc])  # the same error, with its attempt
        if expected.sha256 is not None and cache.has_blob(expected.sha256):
            cache.record(expected, expected.sha256)
            return _file_result(file, expected.sha256, cache, "cache")
    request = FetchRequest(
        cache, expected, label, options.policy, client, on_bytes, on_retry, options.connections
    )
    attempts: list[SourceAttempt] = []
    failures: list[_SourceFailure] = []
    for source in sources_for(file, options.mirrors, str(shared.root) if shared is not None else None):
        if options.offline and not source.local:
            continue
        try:
            result = source.fetch(request)
        except (DownloadError, ChecksumMismatchError, UnsafeFileError) as exc:
            attempts.append(_attempt(source.kind, source.where, exc))
            failures.append(exc)
            if source.kind == "mirror":
                # A broken or stale mirror must not stop a pull the origin can serve.
                options.emit("fallback", model=model, path=path, source=source.where, error=str(exc))
            continue
        if isinstance(result, Absent):
            attempts.append(SourceAttempt(source.kind, source.where, None, result.message, result.status))
            continue
        options.emit(
            "fetched",
            model=model,
            path=path,
            source=result.source,
            where=result.where,
            fetched=result.fetched,
            resumed_from=result.resumed_from,
            attempts=result.attempts,
            connections=result.connections,
            sha256=result.sha256,
        )
        return _file_result(file, result.sha256, cache, result.source)
    raise _no_source(label, path, attempts, failures, options.offline)


def _file_result(file: FileInfo, sha256: str, cache: Cache, source: str) -> PulledFile:
    pin = cache.hub_pin(file)
    return PulledFile(
        file.path, cache.blob_path(sha256).stat().st_size, sha256, source, file.hash, pin["commit"] if pin is not None else None
    )


def pull_files(name: str, version: str, files: Sequence[FileInfo], options: PullOptions) -> PullResult:
    """Pulls the given files of one version and links them into ``models/<name>/<version>/``."""
    # The use lock (shared) from the first commit to the last link: gc never takes a blob between the two.
    with options.cache.in_use():
        return _pull_files_in_use(name, version, files, options)


def _pull_files_in_use(name: str, version: str, files: Sequence[FileInfo], options: PullOptions) -> PullResult:
    model = f"{name}@{version}"
    cache = options.cache
    shared = _shared_tier(cache)
    if shared is not None:
        for f in files:
            cache.adopt_record(shared, f)  # what the shared cache's first pull found (hub commits, weak pins)
    missing = [f for f in files if not cache.has_file(f)]
    options.emit(
        "start",
        model=model,
        files=len(files),
        bytes=sum(f.size or 0 for f in files),
        missing=len(missing),
        missing_bytes=sum(f.size or 0 for f in missing),
    )
    if options.offline:
        # Offline means no network; a mirror folder on this machine is still fine.
        folders = [m for m in options.mirrors if mirror_source(m).local]
        missing = [f for f in missing if not _in_folder_mirror(f, cache, folders) and not (shared and shared.has_file(f))]
    if missing and options.offline:
        listing = ", ".join(f"{f.path} ({f.size or 'unknown'} bytes)" for f in missing)
        raise OfflineError(
            f"{model}: offline mode (ZOO_OFFLINE) is on and {len(missing)} file(s) are not in the cache: "
            f"{listing}. Pull it once with network access, import it with 'zoo cache import DIR', "
            "or point ZOO_MIRROR at a local mirror folder."
        )
    results: list[PulledFile] = []
    client = make_client(options.policy) if missing else None
    try:
        for f in files:
            expected = cache.expected(f)
            event = {"model": model, "path": f.path, "size": f.size, "sha256": expected.sha256}
            if not cache.has_file(f):
                options.emit("file", **event, status="fetching")
                with cache.lock(expected.key):
                    # Another process may have fetched it while we waited.
                    if not cache.has_file(f):
                        results.append(_fetch_one(model, f, cache.expected(f), options, client, shared))
                        continue
            options.emit("file", **event, status="cached")
            results.append(_file_result(f, cache.recall(f) or "", cache, "cache"))
    finally:
        if client is not None:
            client.close()
    folder = cache.link(name, version, {r.path: r.sha256 for r in results})
    options.emit("done", model=model, path=str(folder))
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
    """True when a folder mirror has the file, or a link in its place for ``fetch_folder`` to judge.

    A link is not followed here: one that leaves the mirror must reach ``fetch_folder``, which refuses it
    by name, rather than be stat'ed here (or reported as a file missing offline).
    """
    sha256 = cache.recall(file)
    places = (Path(m) / mirror_blob(sha256) for m in mirrors) if sha256 is not None else ()
    return any(os.path.lexists(p) and (os.path.islink(p) or os.path.islink(p.parent) or p.is_file()) for p in places)


def check_pinned(versions: Sequence[tuple[str, Sequence[FileInfo]]], required: bool | None) -> None:
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
    connections: int | None = None,
) -> list[PullResult]:
    """Pulls several models; see :func:`pull`. With ``require_pinned``, every file of every model is checked first."""
    options = PullOptions.of(cache=cache, offline=offline, mirrors=mirrors, policy=policy, connections=connections, progress=progress)
    catalog = load_catalog(registries)
    infos = [catalog.info(model_id) for model_id in model_ids]
    _refuse_remote_code(infos)
    # A snapshot's files come from its listing (recorded, or asked of the Hub now): known before any download.
    _check_snapshots_pinned(infos, require_pinned)
    files = [files_of(info, options.cache, offline=options.offline) for info in infos]
    check_pinned([(info.id, f) for info, f in zip(infos, files)], require_pinned)
    return [_pull_version_files(info, f, options) for info, f in zip(infos, files)]


def _pull_version_files(info: ModelInfo, files: Sequence[FileInfo], options: PullOptions) -> PullResult:
    result = pull_files(info.name, info.version, files, options)
    if info.snapshot is not None:
        record_pulled(info, options.cache, result.files)
    return result


def _check_snapshots_pinned(infos: Sequence[ModelInfo], required: bool | None) -> None:
    """Refuses snapshot versions when pins are required: the registry pins their commit, not their files' sha256.

    What a first pull recorded does not count (as for every file): ``zoo registry lock`` writes the sha256 of
    each file of the snapshot into a lock file one can review, and ``zoo pull --lock`` pulls exactly that.
    """
    if not (_settings.require_pinned() if required is None else required):
        return
    for info in infos:
        if info.snapshot is not None and not info.files:
            raise UnpinnedFileError(info.id, f"the files of {info.snapshot.repo}@{info.snapshot.revision[:10]}", "hub")


def _refuse_remote_code(infos: Sequence[ModelInfo]) -> None:
    """Refuses, before anything is listed or fetched, versions the registry says need their publisher's code."""
    for info in infos:
        if "remote-code" in info.requires:
            raise RemoteCodeError(
                f"{info.id}: needs its publisher's Python code (the registry says requires: remote-code), which zoo "
                "never downloads or runs (trust_remote_code stays off); pick a model that transformers builds on its "
                "own ('zoo list --modality text' lists only those)",
                model=info.id,
            )


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
    connections: int | None = None,
) -> Path:
    """Downloads (or finds in the cache) every file of a model version, verified.

    Args:
        model_id: ``[family/]name[@version]``.
        registries: Extra registries, as for :func:`zoo.list_models`.
        progress: Called with progress events (see :mod:`zoo.resolve`).
        offline: Never use the network (default: ``ZOO_OFFLINE``).
        mirrors: URLs, ``s3://bucket/prefix`` or folders tried before the origin (default: ``ZOO_MIRROR``).
        cache: The cache (default: under ``ZOO_HOME``).
        policy: Retries and timeouts.
        require_pinned: Refuse, before any download, files the registry does
            not pin by sha256 or sha384 (default: ``ZOO_REQUIRE_PINNED``);
            pin them with :func:`lock_models` and pull with :func:`pull_lock`.
        connections: Parallel ``Range`` streams for each file of 64 MiB or
            more from an http(s) source (default: ``ZOO_CONNECTIONS``, else 1);
            one stream when the server ignores ``Range``.

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
        connections=connections,
    )[0].path


def pull_version(
    info: ModelInfo,
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
    options = PullOptions.of(offline=offline, progress=progress)
    _refuse_remote_code([info])
    _check_snapshots_pinned([info], require_pinned)
    files = [f for f in files_of(info, options.cache, offline=options.offline) if paths is None or f.path in set(paths)]
    check_pinned([(f"{info.name}@{info.version}", files)], require_pinned)
    return _pull_version_files(info, files, options).path


