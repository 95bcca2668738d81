"""Writing registry entries: reading one back as schema objects, adding one to a file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo.registry._catalog import load_catalog
from zoo.registry._load import _strip, _yaml_loader, validate_paths


def get_entry(model_id: str, *, registries: Sequence[str | os.PathLike[str]] | None = None) -> tuple[Any, Any]:
    """Returns the validated ``(ModelEntry, ModelVersion)`` for ``model_id``.

    For code that needs the typed schema objects (downloaders, adapters); it
    imports pydantic, unlike :func:`info`.
    """
    from zoo.schema import ModelEntry

    catalog = load_catalog(registries)
    name, version = catalog.resolve(model_id)
    entry = ModelEntry.model_validate(_strip(catalog.models[name]))
    return entry, entry.versions[version]


def add_entry(path: str | os.PathLike[str], name: str, entry: dict[str, Any]) -> Path:
    """Adds (or replaces) one model in a registry file, validating the result before writing.

    Creates the file if needed; writes atomically. Comments in an existing
    file are not kept (it is rewritten from its data).

    Raises:
        RegistryError: The resulting file would not validate; nothing is written.
    """
    import yaml

    target = Path(path)
    doc: dict[str, Any] = {"schema_version": 1, "models": {}}
    if target.exists():
        loaded = yaml.load(target.read_text(encoding="utf-8"), Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        if isinstance(loaded, dict):
            doc = loaded
            doc.setdefault("models", {})
    doc["models"][name] = entry
    with _atomic.atomic_path(target, suffix=".yaml") as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        validate_paths([tmp])
    return target
