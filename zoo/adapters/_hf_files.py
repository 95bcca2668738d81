"""Reading a pulled Hugging Face folder's small JSON files, and refusing models that need remote code.

Everything here is the standard library only: it runs before transformers is
imported, so a model that would need its publisher's Python code is refused
with one line, not a transformers traceback, and nothing of it is run.

A JSON file is read only if it is at most :data:`JSON_LIMIT` bytes (the
folder is zoo's own verified pull, whose files link to the cache's blobs);
it must hold a JSON object (or list, where asked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import RemoteCodeError, UnsafeFileError, UnsupportedModelError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["JSON_LIMIT", "read_json", "check_requires", "check_remote_code"]

JSON_LIMIT = 1 << 20  # configs are kilobytes; a megabyte is far beyond any real one
_REMOTE_FILES = ("config.json", "tokenizer_config.json")


def read_json(folder: Path, path: str, *, model: str | None = None, expect: type = dict) -> Any:
    """The JSON object (``expect=list``: array) in ``folder/path``, or None when the file is absent.

    Raises:
        UnsafeFileError: The file is over :data:`JSON_LIMIT`.
        UnsupportedModelError: It is not valid JSON of that kind (``reason`` ``sentence-config``).
    """
    root = Path(folder)
    target = root / path
    if not target.is_file():
        return None
    size = target.stat().st_size
    if size > JSON_LIMIT:
        raise UnsafeFileError(
            f"{target}: {size:,} bytes, over the {JSON_LIMIT:,}-byte limit for a model's JSON file; it is not read",
            path=str(target), reason="too-large", size=size, limit=JSON_LIMIT,
        )
    try:
        data = json.loads(target.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedModelError(
            f"{model or root}: {path} is not valid JSON ({exc}); run 'zoo verify' to check the cached files",
            model=model, reason="sentence-config", file=path,
        ) from exc
    if not isinstance(data, expect):
        want = "an object" if expect is dict else "a list"
        raise UnsupportedModelError(
            f"{model or root}: {path} holds a JSON {type(data).__name__}, not {want}", model=model, reason="sentence-config", file=path
        )
    return data


def check_requires(info: ModelInfo) -> None:
    """Refuses a registry version that says ``requires: [remote-code]``, before anything is pulled.

    Raises:
        RemoteCodeError: The version needs its publisher's code.
    """
    if "remote-code" in tuple(getattr(info, "requires", ()) or ()):
        raise RemoteCodeError(
            f"{info.id}: the registry says this model needs its publisher's Python code (requires: remote-code), "
            "which zoo never runs; nothing was downloaded. Choose a model that transformers builds on its own.",
            model=info.id,
        )


def check_remote_code(info: ModelInfo, folder: Path | None) -> None:
    """Refuses a model whose registry entry or pulled ``config.json``/``tokenizer_config.json`` names remote code.

    Raises:
        RemoteCodeError: ``requires: [remote-code]``, or an ``auto_map`` in one
            of the configs (``file`` names it).
    """
    check_requires(info)
    if folder is None:
        return
    for name in _REMOTE_FILES:
        data = read_json(folder, name, model=info.id)
        if data and data.get("auto_map"):
            classes = data["auto_map"]
            named = ", ".join(sorted(map(str, classes))) if isinstance(classes, dict) else str(classes)
            raise RemoteCodeError(
                f"{info.id}: {name} maps {named} to the publisher's own Python code (auto_map), which zoo never runs "
                "(trust_remote_code is always False); nothing was run. Choose a model that transformers builds on its own.",
                model=info.id, file=name,
            )
