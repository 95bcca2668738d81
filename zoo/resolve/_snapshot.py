"""Hub snapshots: versions named by a repo and a commit, whose files the first pull lists.

MTEB pins a commit, not files. A ``snapshot`` version's files are the
repo's files at that commit that a model needs (:data:`zoo.schema.SNAPSHOT_FILES`:
configs, tokenizer files, sentence-transformers modules, ``*.safetensors``);
pickles (``*.bin``, ``*.pt``, ``*.pkl``, ``*.h5``, ``*.msgpack``) and Python
files are never fetched. The first pull asks the Hub's tree API for the
listing, which states each LFS file's sha256 and each small file's git blob
id; every file is then checked against that as it arrives, and the listing
is recorded (trust on first use, :mod:`zoo._tofu`) with the sha256 found for
each small file.

Later pulls, ``zoo verify`` and ``zoo registry lock`` use the record, so a
snapshot works offline once pulled and locks to sha256 pins like any file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from zoo import _tofu
from zoo.cache import Cache
from zoo.errors import OfflineError, UnsupportedModelError
from zoo.registry import FileInfo, HubSnapshot, ModelInfo

__all__ = ["SnapshotListing", "files_of", "known_files", "listing", "record_pulled"]

_WEIGHTS = ".safetensors"


def wanted(path: str) -> bool:
    """True for a repo path a model needs (:data:`zoo.schema.SNAPSHOT_FILES`), at the top or in a module folder."""
    from zoo.schema import SNAPSHOT_FILES

    return any(fnmatch.fnmatchcase(path, pattern) for pattern in SNAPSHOT_FILES) and not path.startswith((".", "onnx/", "openvino/"))


class SnapshotListing:
    """What a snapshot holds: the files kept (as registry file records) and the paths left out."""

    def __init__(self, snapshot: HubSnapshot, files: list[dict[str, Any]], left_out: list[str]):
        self.snapshot = snapshot
        self.files = files
        self.left_out = left_out

    def infos(self) -> tuple[FileInfo, ...]:
        """The files as :class:`~zoo.registry.FileInfo` s: LFS files pinned by sha256, small files by git blob id
        until their sha256 is recorded."""
        out = []
        for f in self.files:
            record: dict[str, Any] = {
                "path": f["path"],
                "size": f["size"],
                "source": {"hf": self.snapshot.repo, "revision": self.snapshot.revision, "file": f["path"]},
            }
            if f.get("sha256"):
                record["sha256"] = f["sha256"]
            else:
                record["hash"] = {"git-blob": f["blob_id"]}
            out.append(FileInfo.of(record))
        return tuple(out)


def _recorded(cache: Cache, snapshot: HubSnapshot) -> SnapshotListing | None:
    found = _tofu.read_listing(cache.layout, snapshot.repo, snapshot.revision)
    return SnapshotListing(snapshot, *found) if found is not None else None


def _record(cache: Cache, listing: SnapshotListing) -> None:
    _tofu.write_listing(cache.layout, listing.snapshot.repo, listing.snapshot.revision, listing.files, listing.left_out)


def listing(info: ModelInfo, cache: Cache, *, offline: bool) -> SnapshotListing:
    """The listing of a snapshot version: recorded in ``cache``, else asked of the Hub (and recorded).

    Raises:
        OfflineError: Offline and never listed in this cache.
        DownloadError: The Hub cannot be reached or has no such repo or commit.
        UnsupportedModelError: The commit holds no ``*.safetensors`` weights
            (only pickles, which zoo never loads), or no ``config.json``.
    """
    snapshot = info.snapshot
    if snapshot is None:
        raise ValueError(f"{info.id} is not a snapshot version")
    found = _recorded(cache, snapshot)
    if found is not None:
        return found
    if offline:
        raise OfflineError(
            f"{info.id}: offline mode (ZOO_OFFLINE) is on and the files of {snapshot.repo} at {snapshot.revision[:10]} "
            "were never listed in this cache (its architecture and stage count come with its config.json). Pull it once "
            "with network access (zoo pull "
            f"{info.id}), or import a folder of its files with 'zoo cache import DIR' after a pull on another machine.",
            reason="offline",
        )
    from zoo.fetch import list_hub_tree

    tree = list_hub_tree(snapshot.repo, snapshot.revision, label=info.id)
    kept = [t for t in tree if wanted(t.path)]
    left_out = sorted(t.path for t in tree if not wanted(t.path))
    if not any(t.path.endswith(_WEIGHTS) for t in kept):
        pickles = [p for p in left_out if p.endswith((".bin", ".pt", ".pth", ".pkl", ".h5", ".msgpack", ".ckpt"))]
        raise UnsupportedModelError(
            f"{info.id}: {snapshot.repo} at commit {snapshot.revision[:10]} has no safetensors weights"
            + (f" (only {', '.join(pickles[:3])}: pickled files, which zoo never loads)" if pickles else "")
            + ". Convert the weights to safetensors and register that commit, or pick another model.",
            model=info.id, reason="no-safetensors", file=pickles[0] if pickles else None,
        )
    if not any(t.path == "config.json" for t in kept):
        raise UnsupportedModelError(
            f"{info.id}: {snapshot.repo} at commit {snapshot.revision[:10]} has no config.json, so no architecture "
            "can be built from it; pick another model",
            model=info.id, reason="no-config", file="config.json",
        )
    files = [
        {"path": t.path, "size": t.size, **({"sha256": t.sha256} if t.sha256 else {"blob_id": t.blob_id})} for t in kept
    ]
    result = SnapshotListing(snapshot, files, left_out)
    _record(cache, result)
    return result


def files_of(info: ModelInfo, cache: Cache, *, offline: bool) -> tuple[FileInfo, ...]:
    """A version's files: the registry's, or for a snapshot its listing (see :func:`listing`)."""
    return info.files if info.snapshot is None or info.files else listing(info, cache, offline=offline).infos()


def known_files(info: ModelInfo, cache: Cache) -> tuple[FileInfo, ...]:
    """A version's files as far as this cache knows them without asking anyone: a snapshot's recorded listing
    (empty before its first pull), else the registry's (what export and embedding keys and metadata name)."""
    if info.snapshot is None or info.files:
        return info.files
    found = _recorded(cache, info.snapshot)
    return found.infos() if found is not None else ()


def record_pulled(info: ModelInfo, cache: Cache, pulled: Sequence[Any]) -> None:
    """Records the sha256 found for each small file of a snapshot once verified, so later pulls are by sha256."""
    snapshot = info.snapshot
    if snapshot is None:
        return
    found = _recorded(cache, snapshot)
    if found is None:
        return
    sha = {p.path: p.sha256 for p in pulled}  # PulledFile s
    changed = False
    for f in found.files:
        if not f.get("sha256") and f["path"] in sha:
            f["sha256"] = sha[f["path"]]
            f.pop("blob_id", None)
            changed = True
    if changed:
        _record(cache, found)
