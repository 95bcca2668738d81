"""The cached matrix as safetensors: written with safetensors, read back (memory-mapped) from the header parsed here.

Reading needs neither safetensors nor torch: the 8-byte header length, the JSON header,
then the tensor's bytes at the offsets it names, checked against its shape.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import MissingDependencyError, VectorsFormatError

__all__ = ["DTYPES", "map_tensor", "writer"]

DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}


def writer() -> Callable[..., Any]:
    """safetensors' ``save_file`` for numpy arrays.

    Raises:
        MissingDependencyError: safetensors is not installed.
    """
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise MissingDependencyError(
            "Writing cached vectors needs safetensors: pip install safetensors (or zoo[torch])."
        ) from None
    return save_file


def map_tensor(path: Path, name: str, mmap: bool) -> np.ndarray:
    """Maps one tensor of a safetensors file read-only, from the header we parse here."""
    where = f"{path}"
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) != 8:
                raise ValueError("shorter than the 8-byte header length")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > 100 * 1024 * 1024:
                raise ValueError(f"header length {header_len} is implausible")
            header = json.loads(fh.read(header_len))
        entry = header[name]
        dtype = np.dtype(DTYPES[entry["dtype"]])
        shape = tuple(int(s) for s in entry["shape"])
        begin, end = (int(o) for o in entry["data_offsets"])
        if end - begin != int(np.prod(shape)) * dtype.itemsize:
            raise ValueError(f"data_offsets {begin}..{end} do not fit shape {shape}")
        offset = 8 + header_len + begin
        if os.path.getsize(path) < offset + (end - begin):
            raise ValueError("the file is shorter than its header says")
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise VectorsFormatError(
            f"{where}: not a valid vectors file ({type(exc).__name__}: {exc}). "
            "Convert the source file again with zoo.vectors.convert."
        ) from None
    if not mmap or end == begin:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return np.fromfile(fh, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
