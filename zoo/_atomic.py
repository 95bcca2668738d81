"""Atomic writes: a file or folder appears whole under its name, or not at all.

Every writer in zoo goes through here, so there is one temp-name rule: a
temp sits next to its target (same file system, so the rename is atomic) and
is named ``.<name>.<host>-<pid>-<random>.tmp``: unique per writer, so two
processes writing the same target never share a temp file, and ``zoo cache gc``
can tell a live writer's temp (its pid is alive) from one a killed process left.

``fsync=True`` flushes the data before the rename and the folder after it, so
the new name survives a power cut with the new bytes behind it; the cache's
blobs, pins and manifests use it. Outputs a user can simply re-run (exports,
reports) skip it.

Example:
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("{}")
    >>> target.read_text()
    '{}'
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from zoo.errors import InsufficientSpaceError

__all__ = ["atomic_path", "atomic_folder", "write_bytes", "write_text", "temp_name", "temp_owner", "is_temp", "no_space", "is_no_space", "fsync_file", "fsync_dir", "HOST", "SPACE_HINT"]

HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40]
_TEMP = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_.]*)-(?P<pid>\d+)-[0-9a-f]{12}\.tmp(\.[a-z]+)?$")


def temp_name(target: str | os.PathLike[str], suffix: str = "") -> Path:
    """A fresh temp path next to ``target``: ``.<name>.<host>-<pid>-<random>.tmp[suffix]``.

    ``suffix`` (e.g. ``.yaml``) is for writers that check the temp with a tool keyed on extensions.
    """
    target = Path(target)
    return target.with_name(f".{target.name}.{HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp{suffix}")


def is_temp(path: str | os.PathLike[str]) -> bool:
    """True for a name :func:`temp_name` makes."""
    return _TEMP.match(Path(path).name) is not None


def temp_owner(path: str | os.PathLike[str]) -> tuple[str, int] | None:
    """``(host, pid)`` of the process that made a temp name, or None if it is not one."""
    match = _TEMP.match(Path(path).name)
    return (match["host"], int(match["pid"])) if match else None


SPACE_HINT = (
    "free some space ('zoo cache rm' a model you no longer need, or 'zoo cache gc', which also drops interrupted "
    "downloads) or point ZOO_HOME at a bigger disk, then run it again"
)


def no_space(exc: OSError, path: str | os.PathLike[str], needed: int | None = None) -> InsufficientSpaceError:
    """The :class:`InsufficientSpaceError` for an ``ENOSPC``/``EDQUOT`` raised while writing under ``path``."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    need = f"{needed:,} more bytes are needed, " if needed else ""
    return InsufficientSpaceError(
        f"no space left on the file system of {folder} ({need}{free:,} bytes free); {SPACE_HINT}",
        path=str(folder), needed=needed, free=free,
    )


def is_no_space(exc: BaseException) -> bool:
    """True for the ``OSError`` a full disk (or quota) raises."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is still atomic
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _space_errors(folder: Path) -> Iterator[None]:
    """Turns a full disk's ``OSError`` in the block into :class:`InsufficientSpaceError` for ``folder``."""
    try:
        yield
    except OSError as exc:
        if is_no_space(exc):
            raise no_space(exc, folder) from exc
        raise


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, fsync: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yields a temp path next to ``target``; on success renames it onto ``target``.

    Write the file at the yielded path (with any library: ``onnx.save``,
    ``safetensors``, ``pyarrow``). If the block raises, the temp is removed and
    ``target`` is untouched. A full disk becomes :class:`InsufficientSpaceError`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target, suffix)
    try:
        with _space_errors(target.parent):
            yield tmp
            if fsync:
                fsync_file(tmp)
            os.replace(tmp, target)
            if fsync:
                fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Writes ``data`` to ``target`` atomically; returns ``target``."""
    with atomic_path(target, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Writes ``text`` (UTF-8) to ``target`` atomically; returns ``target``."""
    return write_bytes(target, text.encode("utf-8"), fsync=fsync)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yields a new empty temp folder next to ``target``; on success it becomes ``target``.

    Readers see the old folder or the whole new one, never a half-filled one.
    With ``replace`` an existing ``target`` is moved aside and removed after
    the swap (there is a moment with no ``target``, never a mixed one);
    without it an existing ``target`` is left alone and the new folder dropped
    (another writer finished first).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    tmp.mkdir()
    try:
        with _space_errors(target.parent):
            yield tmp
            if target.exists() and replace:
                old = temp_name(target)
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            elif not target.exists():
                os.replace(tmp, target)
            fsync_dir(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
