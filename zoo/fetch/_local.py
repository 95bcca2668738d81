"""The origin of a ``local: true`` file: there is none, so this source only says where the bytes come from.

A file written by ``zoo registry import-folder`` (a team's own weights) has
no URL, repo or wheel. Its bytes enter the cache through ``zoo cache import
DIR`` (matched by size and sha256), or from a mirror or shared cache that
holds them, which a pull tries before the origin. When none of them has the
file, this source answers :class:`~zoo.fetch.Absent` with what to do.
"""

from __future__ import annotations

from zoo.fetch._source import Absent, FetchRequest, FetchResult

__all__ = ["LocalOnly"]


class LocalOnly:
    """The origin of a file that has none (``source: {local: true}``)."""

    kind = "local"
    where = "local (no origin)"
    local = True  # asking it needs no network

    def fetch(self, request: FetchRequest) -> FetchResult | Absent:
        return Absent(
            "no origin to download from: adopt the file from the folder it was imported from with "
            "'zoo cache import DIR', or point ZOO_MIRROR at a mirror that holds it"
        )
