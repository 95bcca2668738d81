"""What ``zoo embed`` writes and reads back: the embeddings table, its ``zoo.*`` metadata, files that appear whole.

Both engines (``_local``, ``_ray``) write through this module and
:func:`read_embeddings` reads what either wrote; it imports neither engine.

The output's columns: ``id`` (string), ``path`` (string, null for texts),
``label`` (string, null when unlabelled), ``embedding``
(fixed_size_list<float32>[D]). Its schema metadata names the model id,
stage, pooling, runtime, the weights' sha256 and zoo's version
(``zoo.model``, ``zoo.stage``, ...). A ``.npy`` output holds the
``(N, D)`` float32 matrix; the ``.json`` beside it holds ``ids``, ``paths``,
``labels`` and ``metadata``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo._version import __version__
from zoo.datasets import Skipped
from zoo.resolve import known_files
from zoo.transfer._runtime import Encoder

__all__ = ["META_FILE", "EmbedResult", "Progress", "emit", "metadata", "open_output", "read_embeddings", "schema", "table", "write_output"]

# The Ray engine's folder output: the metadata, the skipped items and the part files, written last.
META_FILE = "_zoo.json"
Progress = Callable[[dict[str, Any]], None]


@dataclass
class EmbedResult:
    """What :func:`embed` did.

    Attributes:
        output: The file (or folder, for the Ray engine's sharded output) written.
        model, stage, pool, runtime, engine: What computed the vectors.
        rows: Vectors written.
        dims: Their length.
        skipped: Inputs left out, with the reason (corrupt images, empty texts).
        resumed: Items whose shard an earlier, interrupted run had finished.
        seconds: Wall time.
    """

    output: str
    model: str
    stage: str
    pool: str
    runtime: str
    engine: str
    rows: int
    dims: int
    skipped: list[Skipped] = field(default_factory=list)
    resumed: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**self.__dict__, "skipped": [s.__dict__ for s in self.skipped]}


def emit(progress: Progress | None, event: str, **data: Any) -> None:
    """Sends ``{"event": event, **data}`` to ``progress`` when there is one."""
    if progress is not None:
        progress({"event": event, **data})


def metadata(encoder: Encoder, engine: str, skipped: int) -> dict[str, str]:
    """The ``zoo.*`` schema metadata of an embeddings file."""
    from zoo.cache import Cache

    cache = Cache()
    weights = {f.path: cache.recall(f) or f.sha256 or "" for f in known_files(encoder.info, cache)}
    return {
        "zoo.model": encoder.info.id,
        "zoo.stage": ",".join(encoder.stages),
        "zoo.pool": encoder.pool,
        "zoo.runtime": encoder.runtime,
        "zoo.engine": engine,
        "zoo.weights": json.dumps(weights, sort_keys=True),
        "zoo.skipped": str(skipped),
        "zoo.zoo_version": __version__,
        # A text model's vectors also depend on the prompt and the normalization.
        **({"zoo.prompt": encoder.prompt, "zoo.normalize": str(encoder.normalize).lower()} if encoder.modality.tokens else {}),
    }


def schema(dims: int, meta: dict[str, str] | None = None) -> Any:
    """The Arrow schema of an embeddings table."""
    import pyarrow as pa

    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("label", pa.string()),
        pa.field("embedding", pa.list_(pa.float32(), dims), nullable=False),
    ]
    return pa.schema(fields, metadata=meta)


def table(ids: Sequence[str], paths: Sequence[str | None], labels: Sequence[str | None], vectors: Any) -> Any:
    """An embeddings table from its columns (``vectors``: ``(N, D)`` float32)."""
    import numpy as np
    import pyarrow as pa

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dims = vectors.shape[1]
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.Table.from_arrays(
        [pa.array(list(ids), pa.string()), pa.array(list(paths), pa.string()), pa.array(list(labels), pa.string()),
         pa.FixedSizeListArray.from_arrays(flat, dims)],
        schema=schema(dims),
    )


def open_output(output: str) -> tuple[Any, Callable[[], None]]:
    """A writable binary file for ``output`` and a commit function (local: temp file + rename; URLs: fsspec)."""
    handle, commit, _ = open_abortable(output)
    return handle, commit


def open_abortable(output: str) -> tuple[Any, Callable[[], None], Callable[[], None]]:
    """A writable binary file for ``output``, a commit and an abort function.

    Local paths (and ``file://``) are written to a temp file beside the target
    and renamed into place on commit; other URLs are written through fsspec
    (the object appears when the file is closed, as the store allows).
    """
    if "://" in output and not output.startswith("file://"):
        import fsspec

        opened = fsspec.open(output, "wb", auto_mkdir=True)
        handle = opened.open()

        def abort_remote() -> None:
            handle.close()
            try:
                opened.fs.rm(opened.path)
            except (OSError, ValueError):
                pass

        return handle, handle.close, abort_remote
    path = Path(output.removeprefix("file://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic.temp_name(path)
    handle = open(tmp, "wb")  # noqa: SIM115 (closed by commit or abort)

    def commit() -> None:
        handle.close()
        os.replace(tmp, path)

    def abort() -> None:
        handle.close()
        tmp.unlink(missing_ok=True)

    return handle, commit, abort


def write_output(output: str, write: Callable[[Any], None]) -> None:
    """Calls ``write(handle)`` on a new file for ``output``; the file appears only if it returns."""
    handle, commit, abort = open_abortable(output)
    try:
        write(handle)
    except BaseException:
        abort()
        raise
    commit()


def read_embeddings(path: str | os.PathLike[str]) -> tuple[Any, list[str], list[str | None], dict[str, str]]:
    """Reads an embeddings file back: ``(vectors (N, D) float32, ids, labels, zoo metadata)``.

    Args:
        path: A Parquet file or folder of Parquet shards, or a ``.npy`` file
            with its ``.json`` beside it; a local path or an fsspec URL.
    """
    import numpy as np
    import pyarrow.parquet as pq

    from zoo.datasets import open_fs

    text = os.fspath(path)
    fs, where = open_fs(text)
    if text.lower().endswith(".npy"):
        with fs.open(where, "rb") as f:
            vectors = np.load(f, allow_pickle=False)
        with fs.open(where[: -len(".npy")] + ".json", "rb") as f:
            side = json.load(f)
        return vectors.astype(np.float32, copy=False), side["ids"], side["labels"], side["metadata"]
    t = pq.read_table(text) if "://" not in text else pq.read_table(where, filesystem=fs)
    meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items() if k.startswith(b"zoo.")}
    side = f"{where.rstrip('/')}/{META_FILE}"
    if fs.isdir(where) and fs.exists(side):  # the Ray engine's folder output: the skipped count is known at the end
        meta["zoo.skipped"] = str(len(json.loads(fs.cat_file(side))["skipped"]))
    col = t.column("embedding").combine_chunks()
    dims = col.type.list_size
    vectors = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dims).astype(np.float32)
    return vectors, t.column("id").to_pylist(), t.column("label").to_pylist(), meta
