"""The cache's layout: every area under ``$ZOO_HOME`` named once, with its typed paths and its gc rules as code.

Modules never spell a folder of the cache: they ask a :class:`Layout` for the
path of what they read or write (``layout.export(key)``, ``layout.hub_pin(repo,
file)``, ``layout.blob(sha256)``), as huggingface_hub's
``get_local_download_paths`` does. The layout is the one of the cache a call was
handed (``zoo.pull(..., cache=Cache(root))``, ``zoo.export(..., cache=...)``),
made current for the call by :func:`use`, else the one at ``$ZOO_HOME``
(:func:`current`)::

    <root>/
    ├── blobs/sha256/<hex>[.partial]    Layout.blob / Layout.partial (laid out as a mirror: sha256/<hex>)
    ├── models/<name>/<version>/        Layout.model
    ├── locks/<name>.lock, cache.lock   Layout.lock / Layout.use_lock
    ├── tofu/                           Layout.hub_pin / weak_pin / snapshot_listing (zoo._tofu writes them)
    ├── tmp/<what>-<host>-<pid>-<rand>  Layout.work_dir
    ├── index/                          Layout.index
    ├── stages/<key>.json               Layout.stage_set
    ├── exports/<key>.onnx              Layout.export
    ├── sessions/<name>                 Layout.session
    ├── vectors/<sha256>/               Layout.vectors_of
    └── embeds/<key>/                   Layout.embed_job

A mirror (a folder, an https base or an S3 prefix) holds its files at
:func:`mirror_blob` under its root.

``zoo cache du`` lists every area, ``zoo cache gc`` runs each area's rules
(:attr:`Area.gc`), and nothing a live process holds is removed:

- A writer's temp files and work folders carry its pid in their name
  (:func:`zoo._atomic.temp_name`, :meth:`Layout.work_dir`); gc removes them
  only once that process is gone.
- Every process that adds to or reads from the cache (pull, import, export,
  embed, vectors conversion) holds the cache's *use* lock shared
  (:func:`zoo._locks.using`); gc removes unreferenced blobs, partial downloads
  and derived files only when it can take that lock exclusively, i.e. when no
  such process runs. Otherwise it leaves them and says so.

Example:
    >>> [a.name for a in AREAS][:3]
    ['blobs', 'models', 'locks']
    >>> Layout("/z").export("k1").as_posix(), mirror_blob("ab" * 32)[:10]
    ('/z/exports/k1.onnx', 'sha256/aba')
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from zoo import _atomic, _settings

__all__ = [
    "Area", "AREAS", "DERIVED", "Layout", "Rule", "Sweep", "current", "use", "mirror_blob", "MIRROR_BLOBS", "PARTIAL",
    "work_owner", "pid_alive",
]

MIRROR_BLOBS = "sha256"
"""The folder of a mirror (and of the cache's ``blobs/``) that holds files by sha256."""
PARTIAL = ".partial"
_WORK = re.compile(r"^(?P<purpose>[a-z0-9_]+)-(?P<host>[A-Za-z0-9_.]*)-(?P<pid>\d+)-[0-9a-f]{12}$")


def mirror_blob(sha256: str) -> str:
    """The ``/``-separated path of a file's blob under a mirror's root (a folder, an https base, an S3 prefix)."""
    return f"{MIRROR_BLOBS}/{sha256}"


# ---- gc rules -------------------------------------------------------------


class Sweep(Protocol):
    """What a gc rule works with (``zoo.cache.Cache.gc`` provides it)."""

    idle: bool
    """No other process uses the cache (its use lock was taken exclusively)."""

    def drop(self, path: Path) -> None:
        """Removes a file or folder and reports it."""
        ...

    def keep(self, path: Path, why: str) -> None:
        """Reports what was left in place, and why."""
        ...

    def when_idle(self, path: Path, what: str) -> None:
        """Drops ``path`` when the cache is idle, else keeps it saying another process uses the cache."""
        ...

    def referenced(self) -> set[str]:
        """The sha256 of every blob a model version names."""
        ...

    def has_blob(self, sha256: str) -> bool:
        """True when the blob is in the cache."""
        ...


@dataclass(frozen=True)
class Rule:
    """One thing ``zoo cache gc`` does in an area.

    Attributes:
        summary: What it removes, in words (``zoo cache`` help, the docs).
        run: Called with the area's folder and the sweep.
        derived: Runs only with ``--derived`` (the area's files are rebuilt on demand).
    """

    summary: str
    run: Callable[[Path, Sweep], None]
    derived: bool = False


def _entries(folder: Path) -> list[Path]:
    """The sorted entries of a folder; none when it does not exist (or vanished meanwhile)."""
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _dead_temps(folder: Path, sweep: Sweep) -> None:
    # os.walk, not rglob: folders come and go under a running writer, and walk ignores that.
    for parent, dirs, names in os.walk(folder):
        temps = [Path(parent, n) for n in dirs + names if _atomic.is_temp(n)]
        dirs[:] = [d for d in dirs if not _atomic.is_temp(d)]
        for path in temps:
            owner = _atomic.temp_owner(path)
            if owner is not None and not pid_alive(owner[1], owner[0]):
                sweep.drop(path)


def _dead_work(folder: Path, sweep: Sweep) -> None:
    for path in _entries(folder):
        owner = work_owner(path) or _atomic.temp_owner(path)
        if owner is not None and pid_alive(owner[1], owner[0]):
            sweep.keep(path, f"work folder of running pid {owner[1]}")
        else:
            sweep.drop(path)  # a dead writer's, or a name no live writer makes


def _unreferenced(folder: Path, sweep: Sweep) -> None:
    keep = sweep.referenced()
    for path in _entries(folder / MIRROR_BLOBS):
        if not path.is_file() or _atomic.is_temp(path) or path.name in keep:
            continue
        sweep.when_idle(path, "partial download" if path.name.endswith(PARTIAL) else "unreferenced blob")


def _orphans(folder: Path, sweep: Sweep) -> None:
    for path in _entries(folder):
        if path.is_dir() and not _atomic.is_temp(path) and not sweep.has_blob(path.name) and sweep.idle:
            sweep.drop(path)


def _everything(folder: Path, sweep: Sweep) -> None:
    for path in _entries(folder):
        if not _atomic.is_temp(path):
            sweep.when_idle(path, "derived file")


DEAD_TEMPS = Rule("temp files of writers that are gone", _dead_temps)
DEAD_WORK = Rule("folders of processes that are gone", _dead_work)
UNREFERENCED = Rule("unreferenced blobs and partials, when idle", _unreferenced)
ORPHANS = Rule("folders whose source blob is gone, when idle", _orphans)
EVERYTHING = Rule("everything, with --derived, when idle", _everything, derived=True)


@dataclass(frozen=True)
class Area:
    """One folder under the cache root.

    Attributes:
        name: The folder's name.
        holds: What is in it.
        gc: The rules ``zoo cache gc`` runs there, in order (none: it keeps everything).
    """

    name: str
    holds: str
    gc: tuple[Rule, ...] = ()

    @property
    def derived(self) -> bool:
        """Everything in it can be rebuilt from the blobs and the registry (``zoo cache gc --derived`` empties it)."""
        return any(rule.derived for rule in self.gc)

    @property
    def policy(self) -> str:
        """What ``zoo cache gc`` does there, in words."""
        return "; ".join(rule.summary for rule in self.gc) or "nothing"


AREAS: tuple[Area, ...] = (
    Area("blobs", "model files by sha256 (blobs/sha256/<hex>), and .partial downloads", (DEAD_TEMPS, UNREFERENCED)),
    Area("models", "one folder per model version: links into blobs/ and a manifest (zoo cache rm removes versions)", (DEAD_TEMPS,)),
    Area("locks", "inter-process locks (one per blob, job and export; the cache's use lock)"),
    Area("tofu", "what first pulls found out (sha256 of md5/sha384/prefix-pinned files, hub pins, snapshot listings)", (DEAD_TEMPS,)),
    Area("tmp", "work folders of running pulls, exports and classifiers", (DEAD_WORK,)),
    Area("index", "the registry index (rebuilt from the registry when stale)"),
    Area("stages", "stages derived from architectures", (DEAD_TEMPS, EVERYTHING)),
    Area("exports", "parity-checked ONNX exports, by export key", (DEAD_TEMPS, EVERYTHING)),
    Area("sessions", "ONNX files behind zoo.session()", (DEAD_TEMPS, EVERYTHING)),
    Area("vectors", "word vectors converted to safetensors, by source sha256", (DEAD_TEMPS, ORPHANS, EVERYTHING)),
    Area("embeds", "resumable embedding jobs (shards and done markers)", (DEAD_TEMPS, EVERYTHING)),
)
_BY_NAME = {a.name: a for a in AREAS}
DERIVED = tuple(a.name for a in AREAS if a.derived)


# ---- typed paths ------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The typed paths of a cache at ``root`` (nothing is created).

    Attributes:
        root: The cache's root folder.
    """

    root: Path

    def __init__(self, root: str | os.PathLike[str]):
        object.__setattr__(self, "root", Path(root))

    def area(self, name: str) -> Path:
        """The folder of one area of :data:`AREAS`."""
        if name not in _BY_NAME:
            raise KeyError(f"no cache area {name!r}; the areas are {', '.join(_BY_NAME)}")
        return self.root / name

    # blobs
    @property
    def blobs_area(self) -> Path:
        """The blobs area, laid out as a mirror folder (a blob is at :func:`mirror_blob` under it)."""
        return self.area("blobs")

    @property
    def blobs(self) -> Path:
        """The folder of sha256 blobs."""
        return self.blobs_area / MIRROR_BLOBS

    def blob(self, sha256: str) -> Path:
        """Where the blob of ``sha256`` lives."""
        return self.blobs_area / mirror_blob(sha256)

    def partial(self, key: str) -> Path:
        """Where an interrupted download is kept for resuming."""
        return self.blobs / f"{key}{PARTIAL}"

    # models
    @property
    def models(self) -> Path:
        """The folder of model version folders."""
        return self.area("models")

    def model(self, name: str, version: str) -> Path:
        """The folder of one model version."""
        return self.models / name / version

    # locks
    def lock(self, name: str) -> Path:
        """The lock file of one blob (by sha256) or job (``vectors-<sha256>``, ``embed-<key>``...)."""
        return self.area("locks") / f"{name}.lock"

    @property
    def use_lock(self) -> Path:
        """The cache's use lock (:func:`zoo._locks.using`)."""
        return self.lock("cache")

    # trust on first use (written by zoo._tofu only)
    def hub_pin(self, repo: str, file: str) -> Path:
        """The record of a hub-tier file: ``{repo, file, commit, sha256, size}``."""
        return self.area("tofu") / "hf" / repo / f"{urllib.parse.quote(file, safe='')}.json"

    def weak_pin(self, algorithm: str, hexdigest: str, origin: str | None = None) -> Path:
        """The sha256 recorded for a file pinned by a weaker digest (a prefix record is keyed by its source too)."""
        name = f"{hexdigest}-{origin}" if origin is not None else hexdigest
        return self.area("tofu") / algorithm / name

    def snapshot_listing(self, repo: str, revision: str) -> Path:
        """The listing a Hub snapshot's first pull recorded."""
        return self.area("tofu") / "hf-snapshot" / repo / f"{revision}.json"

    # work folders
    @property
    def tmp(self) -> Path:
        """The folder of work folders (``tmp/``)."""
        return self.area("tmp")

    def work_dir(self, purpose: str) -> Path:
        """Creates and returns a new work folder ``tmp/<purpose>-<host>-<pid>-<random>`` owned by this process."""
        path = self.tmp / f"{purpose}-{_atomic.HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        path.mkdir(parents=True)
        return path

    # derived
    @property
    def index(self) -> Path:
        """The folder of registry indexes."""
        return self.area("index")

    def stage_set(self, key: str) -> Path:
        """A derived stage set, by its cache key."""
        return self.area("stages") / f"{key}.json"

    def export(self, key: str) -> Path:
        """A parity-checked ONNX export, by its export key."""
        return self.area("exports") / f"{key}.onnx"

    def session(self, name: str) -> Path:
        """An ONNX file behind a session or an encoder (``name`` is the file's name)."""
        return self.area("sessions") / name

    def vectors_of(self, sha256: str) -> Path:
        """The converted form of a word-vector file, by the source blob's sha256."""
        return self.area("vectors") / sha256

    @property
    def embeds(self) -> Path:
        """The folder of embedding jobs (and a Ray run's temp output)."""
        return self.area("embeds")

    def embed_job(self, key: str) -> Path:
        """The folder of one resumable embedding job."""
        return self.embeds / key


_CURRENT: contextvars.ContextVar[Layout | None] = contextvars.ContextVar("zoo_layout", default=None)


def current() -> Layout:
    """The layout of the cache the running call was handed (:func:`use`), else the one at ``$ZOO_HOME``."""
    return _CURRENT.get() or Layout(_settings.home())


@contextlib.contextmanager
def use(root: str | os.PathLike[str]) -> Iterator[Layout]:
    """Makes the cache at ``root`` the current one while the block runs (what :func:`current` returns)."""
    token = _CURRENT.set(Layout(root))
    try:
        yield _CURRENT.get()  # type: ignore[misc]
    finally:
        _CURRENT.reset(token)


def work_owner(path: str | os.PathLike[str]) -> tuple[str, int] | None:
    """``(host, pid)`` of the process that made a work folder, or None for another name."""
    match = _WORK.match(Path(path).name)
    return (match["host"], int(match["pid"])) if match else None


def pid_alive(pid: int, host: str | None = None) -> bool:
    """True when ``pid`` runs on this machine; a process on another host is assumed alive."""
    if host is not None and host != _atomic.HOST:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
