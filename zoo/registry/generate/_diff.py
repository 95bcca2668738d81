"""``zoo registry diff OLD NEW``: what changed between two registries, a changed pin never silent.

Both sides are read as the loader reads them (a folder with ``generated/``
merges as shipped) and compared version by version: versions added and
removed, files added and removed, and for a file both sides have (same
version, same path) its pin. A changed digest or size of an existing file is
the one change that must not slip through a review (a publisher replaced the
bytes, or the generator read the wrong manifest): :attr:`RegistryDiff.pin_changes`
lists them and the CLI prints each on a line starting ``CHANGED HASH`` /
``CHANGED SIZE`` and exits 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Change", "RegistryDiff", "diff"]

_PIN_KEYS = ("sha256", "hash", "size")
_FIELDS = ("adapter", "arch", "arch_args", "license", "params", "input", "metrics", "ids", "task", "weights_layout")


@dataclass(frozen=True)
class Change:
    """One changed file of one version.

    Attributes:
        version: ``name@version``.
        path: The file's path in the version.
        kind: ``hash``, ``size`` or ``source``.
        old, new: The two values.
    """

    version: str
    path: str
    kind: str
    old: Any
    new: Any

    def line(self) -> str:
        """One line for humans."""
        if self.kind in ("hash", "size"):
            return f"CHANGED {self.kind.upper()} {self.version} {self.path}: {_pin_text(self.old)} -> {_pin_text(self.new)}"
        return f"changed source {self.version} {self.path}: {self.old} -> {self.new}"


def _pin_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return str(value)


@dataclass
class RegistryDiff:
    """The differences between two registries (each list sorted)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def pin_changes(self) -> list[Change]:
        """Changed digests and sizes of files both sides have."""
        return [c for c in self.changes if c.kind in ("hash", "size")]

    @property
    def empty(self) -> bool:
        """True when nothing differs."""
        return not (self.added or self.removed or self.files_added or self.files_removed or self.changes or self.fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "added": self.added,
            "removed": self.removed,
            "files_added": self.files_added,
            "files_removed": self.files_removed,
            "changes": [c.__dict__ for c in self.changes],
            "fields": self.fields,
            "pin_changes": len(self.pin_changes),
        }


def _versions(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    from zoo.registry._load import _build_index, registry_parts

    index = _build_index([registry_parts(Path(path))])
    return {f"{name}@{v}": version for name, record in index["models"].items() for v, version in record["versions"].items()}


def _pin(f: dict[str, Any]) -> dict[str, Any]:
    out = {}
    if f.get("sha256"):
        out["sha256"] = f["sha256"]
    for kind, value in (f.get("hash") or {}).items():
        out[kind] = value
    return out


def diff(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> RegistryDiff:
    """Compares two registry files or folders.

    Raises:
        RegistryError: Either side does not validate.
    """
    before, after = _versions(old), _versions(new)
    result = RegistryDiff(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
    )
    for vid in sorted(set(before) & set(after)):
        a, b = before[vid], after[vid]
        files_a = {f["path"]: f for f in a["files"]}
        files_b = {f["path"]: f for f in b["files"]}
        result.files_added += [f"{vid} {p}" for p in sorted(set(files_b) - set(files_a))]
        result.files_removed += [f"{vid} {p}" for p in sorted(set(files_a) - set(files_b))]
        for p in sorted(set(files_a) & set(files_b)):
            fa, fb = files_a[p], files_b[p]
            pin_a, pin_b = _pin(fa), _pin(fb)
            # A digest only added (a lock pinned a hub file) is not a change of the bytes; a replaced one is.
            common = set(pin_a) & set(pin_b)
            if any(pin_a[k] != pin_b[k] for k in common) or (pin_a and pin_b and not common):
                result.changes.append(Change(vid, p, "hash", pin_a, pin_b))
            if fa.get("size") and fb.get("size") and fa["size"] != fb["size"]:
                result.changes.append(Change(vid, p, "size", fa["size"], fb["size"]))
            if fa["source"] != fb["source"]:
                result.changes.append(Change(vid, p, "source", fa["source"], fb["source"]))
        changed = [k for k in _FIELDS if a.get(k) != b.get(k)]
        if changed:
            result.fields[vid] = changed
    return result
