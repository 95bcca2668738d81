"""Paths inside archives and folders that could land outside them: the one rule, for every reader of archives.

Layer 0 (the standard library only): a wheel pull (:mod:`zoo.fetch`), the zip
reader of word vectors (:mod:`zoo.vectors`) and the registry's schema use it
without importing pydantic for it.
"""

from __future__ import annotations

import re

__all__ = ["unsafe_member"]

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_member(name: str, mode: int = 0) -> str | None:
    """Why an archive member could land outside the folder it is unpacked in, or None if it cannot.

    Args:
        name: The member's name as the archive stores it.
        mode: Its Unix mode bits when the archive records them (a zip entry's
            ``external_attr >> 16``); 0 when unknown.

    Returns:
        ``absolute-path`` for ``/x``, ``\\x`` or a drive (``C:x``); ``path-escape`` for a
        ``..`` part, with ``/`` or ``\\`` as the separator (Windows tools split on both);
        ``symlink`` for a symbolic link, which unpacked would point anywhere. These are
        :class:`zoo.errors.UnsafeFileError` reasons, so callers pass them on as they are.

    Example:
        >>> unsafe_member("pkg/models/weights.bin"), unsafe_member("../../evil.txt"), unsafe_member("/tmp/abs.txt")
        (None, 'path-escape', 'absolute-path')
        >>> unsafe_member("pkg/weights.bin", mode=0o120777)
        'symlink'
    """
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "absolute-path"
    if ".." in re.split(r"[/\\]", name):
        return "path-escape"
    if mode & 0o170000 == 0o120000:  # S_IFLNK
        return "symlink"
    return None
