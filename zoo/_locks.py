"""Inter-process locks: exclusive locks per blob or job, and the cache's shared *use* lock.

Exclusive locks are ``filelock`` locks: ``flock`` on the file, which the
kernel releases when the holder dies, so a lock file left by a killed process
never blocks anyone. On a file system without ``flock`` (some network file
systems) filelock falls back to a marker file holding the owner's pid and host;
a marker whose process is gone on this host is broken by the next waiter.
zoo says once per folder when that happens (``ZOO_LOCKS=soft`` forces it).

Every holder also writes who it is (pid, host, command, since) next to the
lock, so a waiter that gives up (``ZOO_LOCK_TIMEOUT`` seconds, default: wait
for ever) raises :class:`LockTimeoutError` naming the holder.

The use lock (:func:`using`) is ``locks/cache.lock`` held *shared* by every
process working in the cache and taken *exclusively* only by ``zoo cache gc``
(:func:`idle`), which then knows nobody is between committing a blob and
linking it, or reading a derived file.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zoo import _atomic, _layout
from zoo._settings import lock_timeout, soft_locks
from zoo.errors import LockTimeoutError

__all__ = ["exclusive", "using", "idle", "can_tell", "holder_of", "uses_cache"]

_log = logging.getLogger("zoo")
_WARNED: set[str] = set()


def _holder_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".holder")


def holder_of(lock: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What the current (or last) holder of a lock wrote about itself, or None."""
    try:
        data = json.loads(_holder_path(Path(lock)).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "a process that recorded nothing about itself"
    alive = _alive(holder)
    since = holder.get("since")
    age = f", for {time.time() - since:.0f} s" if isinstance(since, (int, float)) else ""
    state = "" if alive else " (no longer running: remove the lock file)"
    return f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('command', '?')}{age}){state}"


def _alive(holder: dict[str, Any]) -> bool:
    pid = holder.get("pid")
    return not isinstance(pid, int) or _layout.pid_alive(pid, str(holder.get("host")))


def _make_lock(path: Path, timeout: float) -> Any:
    import filelock

    if soft_locks():
        return filelock.SoftFileLock(str(path), timeout=timeout)
    return filelock.FileLock(str(path), timeout=timeout)


def _say_soft(path: Path) -> None:
    folder = str(path.parent)
    if folder not in _WARNED:
        _WARNED.add(folder)
        _log.warning(
            "the file system of %s does not support flock: zoo uses marker-file locks there "
            "(a lock left by a killed process on another host must be removed by hand)", folder,
        )


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str], *, timeout: float | None = None, what: str = "") -> Iterator[None]:
    """Holds the exclusive lock at ``path`` (created with its folder).

    Args:
        timeout: Seconds to wait (None: ``ZOO_LOCK_TIMEOUT``; -1 for ever; 0 fails at once).
        what: What the lock protects, for the timeout message.

    Raises:
        LockTimeoutError: Another process held it for longer than ``timeout``.
    """
    import filelock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = lock_timeout() if timeout is None else timeout
    lock = _make_lock(path, wait)
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = holder_of(path)
            raise LockTimeoutError(
                f"{what or path.name}: waited {time.monotonic() - start:.0f} s for the lock {path}, held by "
                f"{_describe(holder)}; wait for it to finish, or raise ZOO_LOCK_TIMEOUT",
                path=str(path), holder=holder, waited=time.monotonic() - start,
            ) from None
    if not soft_locks() and any("SoftFileLock" in str(w.message) for w in caught):
        _say_soft(path)
    try:
        with contextlib.suppress(OSError):
            record = {"pid": os.getpid(), "host": _atomic.HOST, "command": " ".join(sys.argv[:3])[:200], "since": time.time()}
            _atomic.write_text(_holder_path(path), json.dumps(record))
        yield
    finally:
        lock.release()


def _flock(fd: int, how: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, how)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


def _use_fd(root: Path) -> int | None:
    path = _layout.Layout(root).use_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def can_tell(root: str | os.PathLike[str]) -> bool:
    """True when the use lock works at ``root`` (``flock`` supported and not ``ZOO_LOCKS=soft``)."""
    import fcntl

    if soft_locks():
        return False
    fd = _use_fd(Path(root))
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def _use_lock(root: str | os.PathLike[str], how: int) -> Iterator[bool]:
    """Holds the use lock in mode ``how`` (``fcntl.LOCK_SH``, or ``LOCK_EX | LOCK_NB``); yields whether it is held."""
    import fcntl

    fd = _use_fd(Path(root))
    held = False
    if fd is not None and not soft_locks():
        try:
            held = _flock(fd, how)
        except OSError:
            held = False  # no flock on this file system
    try:
        yield held
    finally:
        if fd is not None:
            if held:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@contextlib.contextmanager
def using(root: str | os.PathLike[str]) -> Iterator[None]:
    """Marks this process as working in the cache at ``root`` (the use lock, shared) while the block runs.

    The cache at ``root`` is the current one meanwhile (:func:`zoo._layout.use`), so what the block
    derives lands under it. Without ``flock`` support the block runs unmarked and ``gc`` falls back
    to its pid checks alone.
    """
    import fcntl

    with _layout.use(root), _use_lock(root, fcntl.LOCK_SH):
        yield


@contextlib.contextmanager
def idle(root: str | os.PathLike[str]) -> Iterator[bool]:
    """Tries to take the use lock exclusively; yields True when no other process works in the cache.

    Yields False (and holds nothing) when another process holds it or the file
    system cannot tell (no ``flock``): the caller must then only remove what
    provably belongs to nobody.
    """
    import fcntl

    with _use_lock(root, fcntl.LOCK_EX | fcntl.LOCK_NB) as held:
        yield held


def uses_cache(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a function that works in a cache: the one passed as its ``cache=`` keyword, else the current one.

    The function holds that cache's use lock (shared) while it runs, and the cache is the current one
    meanwhile, so every path it and its callees take from :func:`zoo._layout.current` is under its root.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        handed = kwargs.get("cache")
        with using(handed.root if handed is not None else _layout.current().root):
            return func(*args, **kwargs)

    return wrapper
