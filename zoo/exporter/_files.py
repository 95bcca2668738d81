"""ONNX files zoo writes: provenance in ``metadata_props``, atomic saves, external data over 2 GB."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo._onnx_files import read_onnx
from zoo._version import __version__
from zoo.errors import ExportError

__all__ = ["META_PREFIX", "TWO_GB", "finalize_graph", "read_metadata", "tensor_dims", "copy_atomic", "prepare_output", "save_model", "save_external", "all_tensors"]

META_PREFIX = "zoo."
TWO_GB = 2 * 1024**3


def finalize_graph(model: Any, metadata: dict[str, str]) -> Any:
    """Writes the provenance into ``metadata_props`` (the last step before checking and saving)."""
    import onnx

    keep = [p for p in model.metadata_props if not p.key.startswith(META_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in keep}, **metadata})
    model.producer_name = "zoo"
    model.producer_version = __version__
    return model


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Returns the ``zoo.*`` metadata of an ONNX file (without loading its weights).

    Raises:
        OnnxFormatError: The file is not an ONNX model.
        UnsafeFileError: The file is over protobuf's 2 GiB limit.
    """
    model = read_onnx(path)
    return {p.key[len(META_PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}


def tensor_dims(values: Any) -> dict[str, list[Any]]:
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def copy_atomic(src: Path, dest: Path) -> None:
    with _atomic.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def prepare_output(output: str | os.PathLike[str]) -> Path:
    dest = Path(output)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the output folder {dest.parent}: {exc.strerror or exc}; choose another -o path") from exc
    if not os.access(dest.parent, os.W_OK):
        raise ExportError(f"cannot write to {dest.parent} (permission denied); choose another -o path")
    return dest


def save_model(model: Any, path: Path) -> None:
    """Checks the model and saves it atomically (models under 2 GB, weights inline)."""
    import onnx

    onnx.checker.check_model(model)
    with _atomic.atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def save_external(model: Any, data: Path, path: Path) -> None:
    """Saves a model whose weights stay in external data (over 2 GB): ``<name>.onnx`` + ``<name>.onnx.data``."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    location = path.name + ".data"
    for tensor in all_tensors(model):
        if uses_external_data(tensor):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
    copy_atomic(data, path.with_name(location))
    with _atomic.atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    onnx.checker.check_model(str(path))


def all_tensors(model: Any) -> Iterator[Any]:
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
