"""The cache's layout: every area under ``$ZOO_HOME`` named once, with what it holds and how it is cleaned.

Modules ask :func:`area` for their folder instead of spelling it; ``zoo cache
du`` lists every area, ``zoo cache gc`` cleans each by its rule, and nothing a
live process holds is removed:

- A writer's temp files and work folders carry its pid in their name
  (:func:`zoo._atomic.temp_name`, :func:`work_dir`); gc removes them only once
  that process is gone.
- Every process that adds to or reads from the cache (pull, import, export,
  embed, vectors conversion) holds the cache's *use* lock shared
  (:func:`zoo._locks.using`); gc removes unreferenced blobs, partial downloads
  and derived files only when it can take that lock exclusively, i.e. when no
  such process runs. Otherwise it leaves them and says so.

Example:
    >>> [a.name for a in AREAS][:3]
    ['blobs', 'models', 'locks']
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from zoo import _atomic

__all__ = ["Area", "AREAS", "area", "work_dir", "work_owner", "pid_alive", "DERIVED"]


@dataclass(frozen=True)
class Area:
    """One folder under ``$ZOO_HOME``.

    Attributes:
        name: The folder's name.
        holds: What is in it.
        gc: What ``zoo cache gc`` does there.
        derived: Everything in it can be rebuilt from the blobs and the registry
            (``zoo cache gc --derived`` empties it when no process uses the cache).
    """

    name: str
    holds: str
    gc: str
    derived: bool = False


AREAS: tuple[Area, ...] = (
    Area("blobs", "model files by sha256 (blobs/sha256/<hex>), and .partial downloads", "unreferenced blobs and partials, when idle"),
    Area("models", "one folder per model version: links into blobs/ and a manifest", "nothing (zoo cache rm removes versions)"),
    Area("locks", "inter-process locks (one per blob, job and export; the cache's use lock)", "nothing"),
    Area("tofu", "what first pulls found out (sha256 of md5/sha384/prefix-pinned files, hub pins)", "nothing"),
    Area("tmp", "work folders of running pulls, exports and classifiers", "folders of processes that are gone"),
    Area("index", "the registry index", "nothing", derived=True),
    Area("stages", "stages derived from architectures", "everything, with --derived", derived=True),
    Area("exports", "parity-checked ONNX exports, by export key", "everything, with --derived", derived=True),
    Area("sessions", "ONNX files behind zoo.session()", "everything, with --derived", derived=True),
    Area("vectors", "word vectors converted to safetensors, by source sha256", "folders whose source blob is gone; everything with --derived", derived=True),
    Area("embeds", "resumable embedding jobs (shards and done markers)", "everything, with --derived", derived=True),
)
_BY_NAME = {a.name: a for a in AREAS}
DERIVED = tuple(a.name for a in AREAS if a.derived and a.name != "index")
_WORK = re.compile(r"^(?P<purpose>[a-z0-9_]+)-(?P<host>[A-Za-z0-9_.]*)-(?P<pid>\d+)-[0-9a-f]{12}$")


def area(root: str | os.PathLike[str], name: str) -> Path:
    """The folder of one area under ``root`` (not created)."""
    if name not in _BY_NAME:
        raise KeyError(f"no cache area {name!r}; the areas are {', '.join(_BY_NAME)}")
    return Path(root) / name


def _host() -> str:
    return _atomic.HOST


def work_dir(root: str | os.PathLike[str], purpose: str) -> Path:
    """Creates and returns a new work folder ``tmp/<purpose>-<host>-<pid>-<random>`` owned by this process."""
    path = area(root, "tmp") / f"{purpose}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def work_owner(path: str | os.PathLike[str]) -> tuple[str, int] | None:
    """``(host, pid)`` of the process that made a work folder, or None for another name."""
    match = _WORK.match(Path(path).name)
    return (match["host"], int(match["pid"])) if match else None


def pid_alive(pid: int, host: str | None = None) -> bool:
    """True when ``pid`` runs on this machine; a process on another host is assumed alive."""
    if host is not None and host != _host():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
