"""Team mirrors: a folder served as it is by nginx (or any static server), or an S3 prefix, that other machines pull from.

``sync("/srv/zoo-mirror", ["resnet50"])`` (or ``sync("s3://models/zoo", ...)``) writes::

    /srv/zoo-mirror/                 (or s3://models/zoo/)
    ├── sha256/<hex>           every file of the mirrored versions, named by its sha256 (ZOO_MIRROR)
    ├── registry/<family>.yaml the registry entries of those versions (ZOO_REGISTRY): air-gapped
    │                          machines resolve the same names to the same hashes
    ├── locks/<name>           lock files mirrored with --lock
    └── index.json             what the mirror holds: blob -> size, model -> files (``zoo mirror verify``)

A sync is incremental: models already there stay (the registry snapshot is
merged, version by version), blobs already there are not copied again, and
every copied blob comes from the local cache, verified by the pull that put
it there. ``verify`` re-hashes what the mirror holds and lists blobs whose
bytes are not their name and files the index names that are missing.

The package, by job: ``_store`` (the :class:`Store` protocol), ``_folder_store``
(:class:`FolderStore`) and ``_s3_store`` (``S3Store``), ``_open`` (:func:`open_store`
picks one by the destination), ``_sync``, ``_verify``. Pulling *from* a
mirror is :mod:`zoo.fetch` (``FolderSource``, ``HttpMirror``, ``S3Mirror``).
"""

from zoo.mirror._folder_store import FolderStore
from zoo.mirror._open import open_store
from zoo.mirror._store import Store
from zoo.mirror._sync import INDEX, SyncReport, sync
from zoo.mirror._verify import MirrorCheck, verify_mirror

__all__ = ["INDEX", "FolderStore", "MirrorCheck", "Store", "SyncReport", "open_store", "sync", "verify_mirror"]
