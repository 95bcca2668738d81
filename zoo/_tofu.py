"""Trust on first use: what a cache's first pulls found out, recorded under its ``tofu/`` area.

Files the registry pins by another digest (sha384, a sha256 prefix, md5 or
sha1) are stored by their sha256 too: the first pull checks that digest,
computes the sha256 and records it; later pulls, ``verify`` and lock files use
the sha256. A prefix record is keyed by the source as well, since a 32-bit
prefix is cheap to collide: one entry's first pull cannot decide what another
entry with the same prefix is.

A ``hub``-tier file (a Hugging Face file named without commit or hash) is
pinned the same way, by the Hub file: its first pull records the commit
``main`` pointed at and the sha256 and size the Hub advertised and the bytes
matched. Later pulls fetch that commit and check that sha256; the pin is never
moved (remove the record to re-resolve).

A Hub snapshot's first pull records the repo's listing at the commit (each
file's size and sha256 or git blob id; :mod:`zoo.resolve._snapshot` decides
what it means). This module is the only reader and writer of ``tofu/``; where
each record lives is the layout's (:class:`zoo._layout.Layout`)::

    tofu/
    ├── md5/c289…1813                  sha256 of the file with that md5 (also sha1/, sha384/)
    ├── sha256_prefix/f37072fd-9c1e…   sha256 of the file with that prefix, per source URL
    ├── hf/timm/resnet50.a1_in1k/
    │   └── model.safetensors.json     {repo, file, commit, sha256, size} of a hub-tier file
    └── hf-snapshot/<owner>/<repo>/<commit>.json
                                       {repo, revision, files: [{path, size, sha256 | blob_id}], left_out}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _atomic
from zoo._hashing import GIT_BLOB, Expected
from zoo._layout import Layout

if TYPE_CHECKING:
    from zoo.registry import FileInfo

__all__ = ["record_path", "hub_pin", "recall", "expected", "adopt", "record", "read_listing", "write_listing"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
# A recorded listing larger than this is not one zoo wrote.
_MAX_LISTING = 16 * 1024 * 1024


def record_path(layout: Layout, expected: Expected) -> Path | None:
    """Where what a first pull found about such a file is recorded (None: nothing to record).

    Removing a hub-tier file's record makes its next pull resolve ``main`` again.
    """
    if expected.hub is not None:
        return layout.hub_pin(expected.hub.repo, expected.hub.file)
    if expected.weak is None or expected.weak[0] == GIT_BLOB:
        return None
    algo, hexdigest = expected.weak
    if algo == "sha256_prefix":
        return layout.weak_pin(algo, hexdigest, expected.origin) if expected.origin else None
    return layout.weak_pin(algo, hexdigest)


def hub_pin(layout: Layout, file: FileInfo) -> dict[str, Any] | None:
    """The recorded ``{repo, file, commit, sha256, size}`` of a hub-tier file, or None."""
    if file.tier != "hub":
        return None
    path = record_path(layout, Expected.of(file.record))
    try:
        pin = json.loads(path.read_text())  # type: ignore[union-attr]
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(pin, dict)
        and _HEX40.match(str(pin.get("commit")))
        and _SHA256.match(str(pin.get("sha256")))
        and isinstance(pin.get("size"), int)
    )
    return pin if ok else None


def recall(layout: Layout, file: FileInfo) -> str | None:
    """The sha256 of a registry file: pinned, or recorded on first pull; None if unknown."""
    if file.sha256:
        return file.sha256
    if file.tier == "hub":
        pin = hub_pin(layout, file)
        return pin["sha256"] if pin else None
    path = record_path(layout, Expected.of(file.record))
    if path is None:
        return None
    try:
        value = path.read_text().strip()
    except OSError:
        return None
    return value if _SHA256.match(value) else None


def expected(layout: Layout, file: FileInfo) -> Expected:
    """What a registry file's bytes must be, with what first pulls recorded filled in."""
    pin = hub_pin(layout, file)
    if pin is not None:
        return Expected.of(file.record, pin["sha256"], commit=pin["commit"], size=pin["size"])
    return Expected.of(file.record, recall(layout, file))


def adopt(layout: Layout, other: Layout, file: FileInfo) -> bool:
    """Copies what ``other`` (a shared cache) recorded on its first pull of ``file``, when ``layout`` has nothing.

    Returns True when a record was copied: this cache then expects the same bytes (commit and sha256
    of a hub-tier file, the sha256 of a weakly pinned one). Nothing is written to ``other``.
    """
    path = record_path(layout, Expected.of(file.record))
    if path is None or path.exists() or recall(other, file) is None:
        return False
    theirs = record_path(other, Expected.of(file.record))
    try:
        data = theirs.read_bytes()  # type: ignore[union-attr]
    except OSError:
        return False
    _atomic.write_bytes(path, data)
    return True


def record(layout: Layout, expected: Expected, sha256: str) -> None:
    """Records what a verified first pull found, so later pulls, ``verify`` and locks use the sha256.

    A hub-tier file's pin (commit, sha256, size) is written once and never
    moved by later pulls.

    Args:
        expected: What the bytes were checked against.
        sha256: Their sha256.
    """
    path = record_path(layout, expected)
    if path is None or (expected.hub is not None and (expected.hub.recorded or expected.hub.commit is None)):
        return
    if expected.hub is not None:
        hub = expected.hub
        text = json.dumps({"repo": hub.repo, "file": hub.file, "commit": hub.commit, "sha256": sha256, "size": expected.size}, indent=1)
    else:
        text = sha256
    _atomic.write_text(path, text + "\n", fsync=True)


def read_listing(layout: Layout, repo: str, revision: str) -> tuple[list[dict[str, Any]], list[str]] | None:
    """The recorded listing of ``repo`` at ``revision``: ``(files, left out paths)``; None when none is (or it is not zoo's).

    Each file is ``{path, size, sha256}`` or ``{path, size, blob_id}``.
    """
    path = layout.snapshot_listing(repo, revision)
    try:
        if path.stat().st_size > _MAX_LISTING:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = [
            {"path": str(f["path"]), "size": int(f["size"]), **({"sha256": f["sha256"]} if f.get("sha256") else {"blob_id": f["blob_id"]})}
            for f in doc["files"]
        ]
        if doc["repo"] != repo or doc["revision"] != revision:
            return None
        if not all(_SHA256.match(f.get("sha256", "")) or _HEX40.match(f.get("blob_id", "")) for f in files):
            return None
        return files, [str(p) for p in doc.get("left_out", ())]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_listing(layout: Layout, repo: str, revision: str, files: list[dict[str, Any]], left_out: list[str]) -> None:
    """Records the listing of ``repo`` at ``revision`` (replacing an earlier one)."""
    doc = {"repo": repo, "revision": revision, "files": files, "left_out": left_out}
    _atomic.write_text(layout.snapshot_listing(repo, revision), json.dumps(doc, indent=1) + "\n", fsync=True)
