"""``zoo embed --engine ray``: the embedding pipeline of :mod:`zoo.transfer._local` on Ray Data.

The driver lists the dataset (as the local engine does) and hands Ray rows
that carry paths or texts only, never pixels, cut into blocks of exactly
``batch_size`` rows so every forward pass sees the batch the local engine
would. A pool of actors, one :class:`~zoo.transfer._runtime.Encoder` (so one
ONNX Runtime session) each for its whole life, reads and encodes the items
with the same :meth:`Encoder.encode`, so the vectors equal the local
engine's. An item that cannot be read comes back as a row with a
``skipped`` reason and an empty embedding; those rows are dropped before
writing and listed in the result::

    driver                          actors (one Encoder each)          output
    ──────                          ─────────────────────────          ──────
    read_dataset  ─ rows: index,    encode(batch) ─ rows: index, id,   x.parquet: streamed by the
                    id, path, label,  path, label, embedding,            driver (iter_batches)
                    text              skipped                          folder/URL: part files written
                                                                         by Ray tasks + _zoo.json

Output, by the name given:

* ``….parquet`` (a path or a URL): one file, the local engine's schema and
  ``zoo.*`` metadata (``engine: ray``). Parquet holds its schema in the
  footer but pyarrow fixes it when the writer opens, and the skipped count is
  known only at the end; so batches stream into a temp file under
  ``$ZOO_HOME/embeds/``, then into the output with the final metadata.
* anything else, a folder or URL (``s3://bucket/feats/``): Ray tasks write
  ``part-<first index>-<run>.parquet`` files (about 4,096 rows each, the
  same schema and metadata but ``zoo.skipped``) straight to the storage, and
  the driver then writes ``_zoo.json`` (the metadata, the skipped items, the
  files) and removes the files of an earlier run into the same folder. Readers
  that skip ``_``-prefixed files (pyarrow, Spark) see only the shards; file
  names sort in dataset order.

Workers get the driver's ``ZOO_*`` settings (``ZOO_HOME`` only where that
folder exists, as on the driver's machine), and the exported ONNX file through
the object store when the cluster has other machines. Cloud credentials are
not forwarded: a cluster reads ``s3://`` with its own.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from zoo import _atomic, _layout
from zoo.datasets import Dataset, Item, Skipped, open_fs
from zoo.errors import (
    DatasetError,
    InvalidOptionError,
    MissingDependencyError,
    ZooError,
)
from zoo.transfer._output import (
    META_FILE,
    EmbedResult,
    Progress,
    emit,
    metadata,
    open_output,
    schema,
)
from zoo.transfer._runtime import Encoder

__all__ = ["embed_ray"]

# Rows per part file of a folder output (the local engine's shard size is 1,024: these are 4x fewer files).
_ROWS_PER_FILE = 4096
# Settings whose value is a local path: forwarded only where the path exists.
_PATH_SETTINGS = ("ZOO_HOME", "ZOO_REGISTRY")


def embed_ray(
    encoder: Encoder,
    dataset: Dataset,
    output: str,
    *,
    address: str | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    progress: Progress | None = None,
) -> EmbedResult:
    """Embeds ``dataset`` with ``encoder`` on a Ray cluster and writes the vectors.

    Args:
        encoder: What :func:`~zoo.transfer._runtime.encoder_for` built (for the
            ``onnx`` runtime, its ONNX file is on the driver's disk).
        dataset: The items, as :func:`~zoo.datasets.read_dataset` listed them.
        output: A ``.parquet`` file (path or URL), or a folder or URL for part files.
        address: A cluster to connect to (``"auto"``, ``"ray://host:10001"``);
            None: ``$RAY_ADDRESS``, else the Ray this process is already
            connected to, else a local cluster of this machine's CPUs, shut
            down at the end.
        batch_size: Inputs per forward pass.
        workers: Actors (default: the cluster's CPUs / the encoder's threads).
        progress: Gets ``start``, ``progress`` (``done``, ``total``, ``items_per_s``),
            ``skipped`` and ``done`` events, as from the local engine.

    Returns:
        An :class:`~zoo.transfer._output.EmbedResult` with ``engine="ray"``.

    Raises:
        MissingDependencyError: Ray (or Ray Client, for ``ray://``) is not installed.
        ZooError: No cluster at ``address``.
        DatasetError: No input could be read, or the output folder holds other files.
        ValueError: A ``.npy`` output (the Ray engine writes Parquet).
    """
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("The Ray engine needs Ray Data: pip install 'zoo[ray]'.") from None
    if output.endswith(".npy"):
        raise InvalidOptionError(f"{output}: the Ray engine writes Parquet (a .parquet file or a folder); for .npy use engine='local'")
    single = output.endswith(".parquet")
    folder = None if single else _Folder.open(output)
    started = _connect(ray, address)
    try:
        with _quiet_console():
            return _run(ray, encoder, dataset, output, folder, batch_size, workers, progress)
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, address: str | None) -> bool:
    """Connects to Ray; returns True when this call did (and the caller must shut it down)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # Ray turns token authentication on for a new local cluster and warns that it did. The warning says
            # nothing to act on; RAY_AUTH_MODE would silence it only if set before Ray is imported.
            auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = auth.level
            auth.setLevel(logging.ERROR)
            try:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
            finally:
                auth.setLevel(level)
    except ConnectionError as exc:
        raise ZooError(
            f"No Ray cluster at {address!r} ({exc}). Start one with 'ray start --head', give its address "
            "(ray://host:10001), or leave the address out to run on a local cluster of this machine."
        ) from exc
    except SystemExit as exc:
        # Ray exits the process when nothing answers at an explicit GCS address (after about two minutes).
        raise ZooError(
            f"No Ray cluster answered at {address!r}. Check the address ('ray status' on the head node prints it), "
            "or leave it out to run on a local cluster of this machine."
        ) from exc
    except ValueError as exc:
        if "ray[client]" in str(exc):
            raise MissingDependencyError(f"Connecting to {address} needs Ray Client: pip install 'ray[client]'.") from exc
        raise
    return True


class _ConsoleFilter(logging.Filter):
    """Keeps Ray Data's warnings and errors on the console, not its per-run INFO lines (its log file keeps all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and not record.getMessage().startswith("Progress bars disabled")


@contextmanager
def _quiet_console() -> Iterator[None]:
    import ray.data  # noqa: F401 (configures the "ray.data" logger)

    handlers = [h for h in logging.getLogger("ray.data").handlers if type(h).__name__ != "SessionFileHandler"]
    quiet = _ConsoleFilter()
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)


def _run(
    ray: Any, encoder: Encoder, dataset: Dataset, output: str, folder: _Folder | None, batch_size: int, workers: int | None, progress: Progress | None
) -> EmbedResult:
    threads = encoder.threads or 1
    # One intra-op thread per CPU the actor holds: ONNX Runtime's default (all cores) per actor oversubscribes the machine.
    remote = replace(encoder, threads=threads, _state={})
    cpus = int(ray.cluster_resources().get("CPU", 1))
    size = workers or max(1, cpus // threads)
    onnx = _ship_onnx(ray, encoder)
    items = dataset.items
    # One block per batch, aligned with the local engine's batches: the same inputs padded together, the same results.
    blocks = [_rows(items, start, batch_size) for start in range(0, len(items), batch_size)]
    ds = ray.data.from_arrow(blocks)
    del blocks  # in the object store now
    ds.context.execution_options.preserve_order = True
    ds.context.enable_progress_bars = progress is not None and folder is not None
    mapped = ds.map_batches(
        _EmbedActor,
        fn_constructor_kwargs={"encoder": remote, "settings": _settings_for_workers(), "onnx": onnx},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=threads,
    )
    meta = metadata(encoder, "ray", 0)
    total = len(items)
    emit(progress, "start", total=total, model=encoder.info.id, stage=encoder.stages[0], workers=size)
    skipped: list[Skipped] = list(dataset.skipped)
    began = time.perf_counter()

    def advance(done: int) -> None:
        emit(progress, "progress", done=done, total=total, items_per_s=done / max(time.perf_counter() - began, 1e-9))

    if folder is None:
        rows, dims, more = _write_single(mapped, output, meta, len(skipped), advance)
    else:
        writes = mapped.map_batches(
            _write_part,
            fn_kwargs={"fs": folder.fs, "root": folder.root, "meta": {k: v for k, v in meta.items() if k != "zoo.skipped"}, "run": folder.run},
            batch_size=_ROWS_PER_FILE,
            batch_format="pyarrow",
            zero_copy_batch=True,
        )
        rows, dims, more = folder.write(writes, advance)
    skipped += more
    if not dims:
        raise DatasetError(f"{dataset.root}: no input could be read ({len(skipped)} skipped); nothing was written", path=dataset.root)
    if folder is not None:
        folder.commit(meta, skipped, rows, dims)
    for s in skipped:
        emit(progress, "skipped", id=s.id, reason=s.reason)
    result = EmbedResult(output, encoder.info.id, encoder.stages[0], encoder.pool, encoder.runtime, "ray", rows, dims, skipped, 0)
    emit(progress, "done", **{k: v for k, v in result.to_dict().items() if k != "skipped"}, skipped=len(skipped))
    return result


def _rows(items: list[Item], start: int, size: int) -> Any:
    import pyarrow as pa

    chunk = items[start : start + size]
    return pa.table(
        {
            "index": pa.array(range(start, start + len(chunk)), pa.int64()),
            "id": pa.array([i.id for i in chunk], pa.string()),
            "path": pa.array([i.path for i in chunk], pa.string()),
            "label": pa.array([i.label for i in chunk], pa.string()),
            "text": pa.array([i.text for i in chunk], pa.string()),
        }
    )


def _settings_for_workers() -> dict[str, str]:
    """The driver's ``ZOO_*`` variables, paths made absolute (a worker's working folder is not the driver's)."""
    found = {k: v for k, v in os.environ.items() if k.startswith("ZOO_")}
    for key in _PATH_SETTINGS:
        if found.get(key):
            found[key] = os.pathsep.join(os.path.abspath(os.path.expanduser(p)) for p in found[key].split(os.pathsep) if p.strip())
    found["ZOO_HOME"] = os.path.abspath(_layout.current().root)  # the cache the job was handed, if one was
    return found


def _ship_onnx(ray: Any, encoder: Encoder) -> list[Any] | None:
    """The ONNX file in the object store when workers may not see the driver's disk (other machines, Ray Client)."""
    if encoder.runtime != "onnx" or not encoder.onnx_path:
        return None
    client = getattr(getattr(ray, "util", None), "client", None)
    remote_driver = bool(client and client.ray.is_connected())
    if not remote_driver and len([n for n in ray.nodes() if n.get("Alive")]) <= 1:
        return None
    with open(encoder.onnx_path, "rb") as f:
        # In a list, so that Ray passes the reference and an actor fetches the bytes only when it lacks the file.
        return [ray.put(f.read())]


class _EmbedActor:
    """A Ray Data actor: one Encoder for its whole life; a batch of rows in, the same rows with embeddings out."""

    def __init__(self, encoder: Encoder, settings: dict[str, str], onnx: list[Any] | None) -> None:
        for key, value in settings.items():
            if key in _PATH_SETTINGS:
                value = os.pathsep.join(p for p in value.split(os.pathsep) if os.path.exists(p))
                if not value:
                    continue
            os.environ[key] = value
        if encoder.onnx_path and not os.path.isfile(encoder.onnx_path):
            encoder = replace(encoder, onnx_path=_fetch_onnx(encoder.onnx_path, onnx), _state={})
        self.encoder = encoder
        self.stage = encoder.stages[0]

    def __call__(self, batch: Any) -> Any:
        import numpy as np
        import pyarrow as pa

        cols = batch.to_pydict()
        items = [Item(i, label, path, text) for i, label, path, text in zip(cols["id"], cols["label"], cols["path"], cols["text"])]
        encoded = self.encoder.encode(items)
        vectors = encoded.vectors.get(self.stage)
        dims = 0 if vectors is None else int(vectors.shape[1])
        kept = {item.id for item in encoded.items}
        reasons = {s.id: s.reason for s in encoded.skipped}
        # encode() keeps the order of the items it keeps: their vectors concatenate in row order.
        lengths = [dims if i in kept else 0 for i in cols["id"]]
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        values = pa.array(np.zeros(0, np.float32) if vectors is None else np.ascontiguousarray(vectors, np.float32).reshape(-1))
        return pa.table(
            {
                "index": batch.column("index"),
                "id": batch.column("id"),
                "path": batch.column("path"),
                "label": batch.column("label"),
                "embedding": pa.ListArray.from_arrays(offsets, values),
                "skipped": pa.array([None if i in kept else reasons.get(i, "not encoded") for i in cols["id"]], pa.string()),
            }
        )


def _fetch_onnx(path: str, onnx: list[Any] | None) -> str:
    """Writes the driver's ONNX file from the object store into this node's session cache; returns its path."""
    if not onnx:
        raise ZooError(f"{path}: the exported model is not on this Ray node and the driver did not send it; run zoo on a node of the cluster")
    import hashlib

    import ray

    data = ray.get(onnx[0])
    target = _layout.current().session(f"ray-{hashlib.sha256(data).hexdigest()[:16]}-{os.path.basename(path)}")
    if not target.is_file():
        _atomic.write_bytes(target, data)
    return str(target)


def _split(batch: Any, dims: int | None) -> tuple[Any, list[Skipped], int | None]:
    """The kept rows of an actor batch as an embeddings table (fixed-size vectors), the skipped items, the vector length."""
    import pyarrow as pa
    import pyarrow.compute as pc

    gone = batch.filter(pc.is_valid(batch.column("skipped")))
    skipped = [Skipped(i, r) for i, r in zip(gone.column("id").to_pylist(), gone.column("skipped").to_pylist())]
    kept = batch.filter(pc.is_null(batch.column("skipped")))
    if not kept.num_rows:
        return None, skipped, dims
    flat = kept.column("embedding").combine_chunks()
    lengths = pc.list_value_length(flat)
    found = pc.min_max(lengths).as_py()
    if found["min"] != found["max"] or (dims is not None and found["min"] != dims):
        lengths = sorted({found["min"], found["max"], dims} - {None})
        raise ZooError(f"the encoder returned vectors of different lengths ({', '.join(map(str, lengths))}) in one run")
    dims = found["min"]
    vectors = pa.FixedSizeListArray.from_arrays(flat.flatten(), dims)
    out = pa.Table.from_arrays([kept.column("id"), kept.column("path"), kept.column("label"), vectors], schema=schema(dims))
    return out, skipped, dims


def _write_single(mapped: Any, output: str, meta: dict[str, str], skipped_before: int, advance: Any) -> tuple[int, int | None, list[Skipped]]:
    """Streams the actors' batches into one Parquet file (through a temp file: the metadata needs the skipped count)."""
    import pyarrow.parquet as pq

    tmp = _layout.current().embeds / f".ray-{uuid.uuid4().hex}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    rows = done = 0
    dims: int | None = None
    skipped: list[Skipped] = []
    try:
        for batch in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
            done += batch.num_rows
            kept, gone, dims = _split(batch, dims)
            skipped += gone
            if kept is not None:
                writer = writer or pq.ParquetWriter(tmp, schema(dims))
                writer.write_table(kept)
                rows += kept.num_rows
            advance(done)
        if writer is None:
            return 0, None, skipped
        writer.close()
        writer = None
        final = {**meta, "zoo.skipped": str(skipped_before + len(skipped))}
        handle, commit = open_output(output)
        out = pq.ParquetWriter(handle, schema(dims, final))
        for part in pq.ParquetFile(tmp).iter_batches(batch_size=_ROWS_PER_FILE):
            out.write_batch(part.replace_schema_metadata(final))
        out.close()
        commit()
        return rows, dims, skipped
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)


def _write_part(batch: Any, *, fs: Any, root: str, meta: dict[str, str], run: str) -> Any:
    """A Ray task: writes the kept rows of a batch as one part file; returns one row saying what it did."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch = batch.sort_by("index")  # in order already (preserve_order); cheap insurance for the file names
    first = batch.column("index")[0].as_py() if batch.num_rows else 0
    kept, skipped, dims = _split(batch, None)
    name = None
    if kept is not None:
        name = f"part-{first:010d}-{run}.parquet"
        path = f"{root}/{name}"
        # Local files appear whole (a hidden temp file, renamed); object stores make an object visible only once written.
        local = _is_local(fs)
        target = f"{root}/.{name}.tmp" if local else path
        with fs.open(target, "wb") as f:
            pq.write_table(kept.replace_schema_metadata(meta), f)
        if local:
            fs.mv(target, path)
    return pa.table(
        {
            "file": pa.array([name], pa.string()),
            "rows": pa.array([0 if kept is None else kept.num_rows], pa.int64()),
            "dims": pa.array([dims or 0], pa.int64()),
            "done": pa.array([batch.num_rows], pa.int64()),
            "skipped": pa.array([json.dumps([s.__dict__ for s in skipped])], pa.string()),
        }
    )


class _Folder:
    """A folder (or URL prefix) of part files and its ``_zoo.json``."""

    def __init__(self, fs: Any, root: str, output: str, previous: list[str]) -> None:
        self.fs, self.root, self.output, self.previous = fs, root, output, previous
        self.run = uuid.uuid4().hex[:8]
        self.files: list[str] = []

    @classmethod
    def open(cls, output: str) -> _Folder:
        """Checks that ``output`` is new, empty, or an earlier zoo output (whose files the commit replaces)."""
        fs, root = open_fs(output)
        root = root.rstrip("/")
        previous: list[str] = []
        if fs.exists(root):
            if not fs.isdir(root):
                raise DatasetError(f"{output}: is a file; give a folder for the Ray engine's part files, or a .parquet file name", path=output)
            names = {os.path.basename(p.rstrip("/")) for p in fs.ls(root, detail=False)}
            if META_FILE in names:
                previous = list(json.loads(fs.cat_file(f"{root}/{META_FILE}")).get("files", []))
            others = sorted(n for n in names - set(previous) - {META_FILE} if not n.startswith("."))
            if others:
                shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
                raise DatasetError(
                    f"{output}: the folder holds files that are not a zoo embeddings output ({shown}); give an empty or new folder",
                    path=output,
                )
        return cls(fs, root, output, previous)

    def write(self, writes: Any, advance: Any) -> tuple[int, int | None, list[Skipped]]:
        """Runs the part writers; returns rows, vector length, skipped items. On failure removes this run's files."""
        rows = done = 0
        dims: int | None = None
        skipped: list[Skipped] = []
        self.fs.makedirs(self.root, exist_ok=True)
        try:
            for batch in writes.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in batch.to_pylist():
                    if row["file"]:
                        self.files.append(row["file"])
                        if dims is not None and row["dims"] != dims:
                            raise ZooError(f"{self.output}: part files of different vector lengths ({dims}, {row['dims']})")
                        dims = row["dims"]
                    rows += row["rows"]
                    done += row["done"]
                    skipped += [Skipped(**s) for s in json.loads(row["skipped"])]
                advance(done)
        except BaseException:
            self._remove(self._run_files())
            raise
        if dims is None:
            self._remove(self._run_files())
        return rows, dims, skipped

    def commit(self, meta: dict[str, str], skipped: list[Skipped], rows: int, dims: int) -> None:
        """Writes ``_zoo.json``, then removes the files of the run it replaces."""
        files = sorted(self.files)
        doc = {
            **{k.removeprefix("zoo."): v for k, v in meta.items()},
            "weights": json.loads(meta["zoo.weights"]),
            "skipped": [s.__dict__ for s in skipped],
            "rows": rows,
            "dims": dims,
            "files": files,
        }
        data = json.dumps(doc, indent=1).encode()
        target = f"{self.root}/{META_FILE}"
        if _is_local(self.fs):
            tmp = f"{self.root}/.{META_FILE}.{self.run}.tmp"
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, target)
        else:
            self.fs.pipe_file(target, data)
        self._remove(set(self.previous) - set(files))

    def _run_files(self) -> list[str]:
        try:
            names = [os.path.basename(p) for p in self.fs.ls(self.root, detail=False)]
        except OSError:
            return []
        return [n for n in names if self.run in n]

    def _remove(self, names: Iterable[str]) -> None:
        for name in names:
            try:
                self.fs.rm_file(f"{self.root}/{name}")
            except OSError:
                pass


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)
