"""Which files a file-defined architecture is read from (the ``stage_files`` ability of :mod:`zoo._plugins`).

Deriving the stages of an ONNX graph, a Caffe prototxt or a pinned
``config.json`` needs those files only, fetched alone when the version is not
pulled yet. Each function takes the version and returns the paths; the
adapter table names them, so the files an adapter reads are known without
importing its framework (this module imports none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.errors import WeightsError

if TYPE_CHECKING:
    from zoo.registry import FileInfo, ModelInfo

__all__ = ["config_json", "prototxt", "file_with_suffix"]


def config_json(info: ModelInfo) -> list[str]:
    """The pinned ``config.json`` is the architecture (transformers); without one, ``arch`` + ``arch_args`` are.

    A Hub snapshot (files listed on first pull) always has one: its listing is refused without it.
    """
    if info.snapshot is not None and not info.files:
        return ["config.json"]
    return [f.path for f in info.files if f.path == "config.json"]


def prototxt(info: ModelInfo) -> list[str]:
    """The deploy prototxt ``arch`` names (else the first ``.prototxt``): a Caffe model's architecture."""
    return [file_with_suffix(info, ".prototxt", info.arch).path]


def file_with_suffix(info: ModelInfo, suffix: str, preferred: str | None = None) -> FileInfo:
    """The version's file at ``preferred``, else its first file ending in ``suffix``.

    Raises:
        WeightsError: No file ends in ``suffix``.
    """
    files = [f for f in info.files if f.path.endswith(suffix)]
    for f in files:
        if f.path == preferred:
            return f
    if not files:
        raise WeightsError(
            f"{info.id}: none of its files is a {suffix} ({', '.join(f.path for f in info.files)}); "
            "a Caffe model needs its deploy .prototxt and its .caffemodel"
        )
    return files[0]
