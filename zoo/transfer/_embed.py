"""``zoo embed``: a dataset through a cut backbone into a Parquet (or ``.npy``) file, resumable.

Work is cut into shards of ``shard_size`` items, in dataset order. Each
shard is written to a work folder as ``shard-NNNNN.parquet`` (a unique temp
name, then renamed) and only then marked done by ``shard-NNNNN.json`` (rows,
skipped items, the shard's sha256). The work folder is keyed by everything
the result depends on (model version and its file pins, stage, pooling,
runtime, batch size, the dataset's ids), so rerunning the same command
after a crash or ``kill -9`` reuses every shard marked done and redoes the
rest; the result equals an uninterrupted run's. The final file is assembled
from the shards (streamed, one shard in memory at a time), written
atomically, and the work folder removed::

    $ZOO_HOME/embeds/<key>/
    ├── job.json                what the key stands for
    ├── shard-00000.parquet     id, path, label, embedding
    ├── shard-00000.json        done: {"rows", "dims", "skipped", "sha256"}
    └── shard-00001.parquet     (no .json yet: redone on the next run)
    $ZOO_HOME/locks/embed-<key>.lock   held while a run works on <key>

A shard is trusted only when its file's sha256 is the one its marker
recorded: a shard damaged after it was marked is redone. Two runs of the same
job (the same key) take turns on the lock, so one never removes the work
folder under the other. Vectors of a resumed run are bit-identical to an
uninterrupted run's as long as the runtime is deterministic for a given
batch, which ONNX Runtime and torch on CPU are: batches never straddle a
shard, so each batch holds the same items in both runs.

The output's columns: ``id`` (string), ``path`` (string, null for texts),
``label`` (string, null when unlabelled), ``embedding``
(fixed_size_list<float32>[D]). Its schema metadata names the model id,
stage, pooling, runtime, the weights' sha256 and zoo's version
(``zoo.model``, ``zoo.stage``, ...). A ``.npy`` output holds the
``(N, D)`` float32 matrix; the ``.json`` beside it holds ``ids``, ``paths``,
``labels`` and ``metadata``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import _atomic, _layout, _locks, _settings
from zoo._version import __version__
from zoo.datasets import Dataset, Item, Skipped, read_dataset
from zoo.errors import DatasetError, InvalidOptionError, LockTimeoutError
from zoo.registry import ModelInfo, load_catalog
from zoo.resolve import known_files
from zoo.transfer._runtime import Encoded, Encoder, encoder_for

__all__ = ["EmbedResult", "embed", "read_embeddings", "ENGINES"]

ENGINES = ("local", "ray")
_SHARD = "shard-{:05d}"
_OUTPUTS = (".parquet", ".npy")
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


def _emit(progress: Progress | None, event: str, **data: Any) -> None:
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
        **({"zoo.prompt": encoder.prompt, "zoo.normalize": str(encoder.normalize).lower()} if encoder.info.modality == "text" else {}),
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


def _job_key(encoder: Encoder, dataset: Dataset, batch_size: int, shard_size: int) -> tuple[str, dict[str, Any]]:
    # Texts are part of the key: the ids of a text file are row numbers, the same after an edit.
    items = hashlib.sha256()
    for i in dataset.items:
        items.update(json.dumps([i.id, i.label, i.path, i.text]).encode() + b"\n")
    from zoo.cache import Cache

    cache = Cache()
    job = {
        "model": encoder.info.id,
        # What the cache knows of each file (a hub-tier file has no pin in the registry): sha256, else the path.
        "weights": sorted(f"{f.path}={cache.recall(f) or ':'.join(f.hash or ())}" for f in known_files(encoder.info, cache)),
        "snapshot": encoder.info.snapshot.to_dict() if encoder.info.snapshot is not None else None,
        "stages": list(encoder.stages),
        "pool": encoder.pool,
        "prompt": encoder.prompt,
        "normalize": encoder.normalize,
        "sentence": repr(encoder.sentence),
        "runtime": encoder.runtime,
        "onnx": hashlib.sha256(Path(encoder.onnx_path).read_bytes()).hexdigest() if encoder.onnx_path else None,
        "source": dataset.root,
        "items": items.hexdigest(),
        "batch_size": batch_size,
        "shard_size": shard_size,
        "zoo": __version__,
    }
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:24], job


def _sha256(path: Path) -> str:
    from zoo._hashing import hash_file

    return hash_file(path)[0]  # (hex digest, size)


def _shard_done(work: Path, index: int) -> dict[str, Any] | None:
    """The done marker of shard ``index`` when its file is intact, else None (the shard is redone)."""
    name = _SHARD.format(index)
    try:
        done = json.loads((work / f"{name}.json").read_text())
        if done.get("sha256") == _sha256(work / f"{name}.parquet"):
            return done
    except (OSError, ValueError):
        pass
    return None


def _write_shard(work: Path, index: int, encoded: list[Any], skipped: list[Skipped], dims: int | None) -> int:
    """Writes one shard, then its done marker; returns the vectors' length."""
    import numpy as np
    import pyarrow.parquet as pq

    items = [i for e in encoded for i in e.items]
    vectors = [e.vectors[next(iter(e.vectors))] for e in encoded if e.items]
    width = int(vectors[0].shape[1]) if vectors else dims or 0
    # Arrow has no zero-width lists: a shard whose every input was skipped before any width was known
    # is written one wide and empty (assembly skips empty shards).
    stack = np.concatenate(vectors) if vectors else np.zeros((0, width or 1), np.float32)
    name = _SHARD.format(index)
    with _atomic.atomic_path(work / f"{name}.parquet") as tmp:
        pq.write_table(table([i.id for i in items], [i.path for i in items], [i.label for i in items], stack), tmp)
    done = {"rows": len(items), "dims": width, "skipped": [s.__dict__ for s in skipped], "sha256": _sha256(work / f"{name}.parquet")}
    _atomic.write_text(work / f"{name}.json", json.dumps(done))
    return width


def _open_output(output: str) -> tuple[Any, Callable[[], None]]:
    """A writable binary file for ``output`` and a commit function (local: temp file + rename; URLs: fsspec)."""
    handle, commit, _ = _open_abortable(output)
    return handle, commit


def _open_abortable(output: str) -> tuple[Any, Callable[[], None], Callable[[], None]]:
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


def _write_output(output: str, write: Callable[[Any], None]) -> None:
    """Calls ``write(handle)`` on a new file for ``output``; the file appears only if it returns."""
    handle, commit, abort = _open_abortable(output)
    try:
        write(handle)
    except BaseException:
        abort()
        raise
    commit()


def _assemble(work: Path, shards: int, output: str, meta: dict[str, str], dims: int) -> int:
    """Streams the shards, in order, into ``output`` (Parquet or ``.npy``); returns the rows written."""
    import pyarrow.parquet as pq

    parts = [work / f"{_SHARD.format(i)}.parquet" for i in range(shards)]
    # A shard whose every input was skipped has no vectors (and maybe no width): left out.
    rows = [(part, n) for part in parts if (n := pq.read_metadata(part).num_rows)]
    total = sum(n for _, n in rows)
    if output.lower().endswith(".npy"):
        import numpy as np

        ids: list[str] = []
        paths: list[str | None] = []
        labels: list[str | None] = []

        def write_npy(handle: Any) -> None:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": (total, dims)}
            np.lib.format.write_array_header_1_0(handle, header)
            for part, _ in rows:
                t = pq.read_table(part)
                vectors = t.column("embedding").combine_chunks().flatten().to_numpy()
                handle.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
                ids.extend(t.column("id").to_pylist())
                paths.extend(t.column("path").to_pylist())
                labels.extend(t.column("label").to_pylist())

        _write_output(output, write_npy)
        side = {"ids": ids, "paths": paths, "labels": labels, "metadata": meta}
        _write_output(output[: -len(".npy")] + ".json", lambda handle: handle.write(json.dumps(side).encode()))
        return total

    def write_parquet(handle: Any) -> None:
        with pq.ParquetWriter(handle, schema(dims, meta)) as writer:
            for part, _ in rows:
                writer.write_table(pq.read_table(part).replace_schema_metadata(meta).cast(schema(dims, meta)))

    _write_output(output, write_parquet)
    return total


@_locks.uses_cache
def embed(
    model_id: str,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    until: str | None = None,
    pool: str | None = None,
    runtime: str = "onnx",
    engine: str = "local",
    address: str | None = None,
    batch_size: int = 32,
    shard_size: int = 1024,
    threads: int | None = None,
    workers: int | None = None,
    text_field: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    progress: Progress | None = None,
    prompt: str | None = None,
    prompt_text: str | None = None,
    normalize: bool | None = None,
) -> EmbedResult:
    """Embeds a dataset with a model cut after a stage and writes the vectors.

    Args:
        model_id: ``[family/]name[@version]``.
        source: An image folder (ImageFolder layout or flat) or a text file
            (``.csv``, ``.tsv``, ``.jsonl``, ``.txt``, ``.parquet``); a path or fsspec URL.
        output: A ``.parquet`` file, a ``.npy`` file (plus ``.json`` with ids
            and labels beside it), or with the Ray engine a folder/URL for
            sharded Parquet.
        until: The stage (None: the whole feature trunk).
        pool: ``avg``, ``max``, ``mean``, ``cls``, ``mean_sqrt_len``,
            ``weightedmean``, ``lasttoken`` or ``none`` (None: a text model's own
            sentence-transformers pooling, else ``avg`` for images, ``mean`` for texts).
        runtime: ``onnx`` (ONNX Runtime on the exported cut, cached) or ``torch``.
        engine: ``local`` or ``ray`` (Ray Data; ``address`` of a cluster, or a local one).
        batch_size: Inputs per forward pass.
        shard_size: Inputs per resumable shard (local engine).
        threads: Intra-op threads per runtime.
        workers: Ray actors (default: the cluster's CPUs / ``threads``).
        text_field, label_field, id_field: Fields of a text file.
        registries, offline, progress: As for :func:`zoo.pull`; progress also
            gets ``{"event": "progress", "done", "total", "items_per_s"}``.
        prompt: Text models: the name of one of the model's prompts (``query``);
            None: its ``default_prompt_name``, if it has one.
        prompt_text: Text models: the prompt's text itself, prepended to every text.
        normalize: L2-normalize the vectors (None: as the model's ``modules.json`` says).

    Returns:
        An :class:`EmbedResult`.

    Raises:
        DatasetError: The dataset is unreadable, empty, or does not fit the model's modality.
        StageNotFoundError: ``until`` is not a stage.
    """
    start = time.perf_counter()
    if engine not in ENGINES:
        raise InvalidOptionError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if batch_size < 1 or shard_size < 1:
        raise InvalidOptionError("batch_size and shard_size must be positive")
    if until is not None and not isinstance(until, str):
        raise InvalidOptionError("embed takes one stage; to compare stages use zoo.probe(..., stages='all')")
    output = os.fspath(output)
    if engine == "local" and not output.lower().endswith(_OUTPUTS):
        raise InvalidOptionError(f"{output}: the output is a .parquet or a .npy file (a folder of Parquet shards needs engine='ray')")
    if engine == "ray" and output.lower().endswith(".npy"):
        raise InvalidOptionError(f"{output}: the Ray engine writes Parquet (a .parquet file, or a folder or URL for shards)")
    dataset = read_dataset(source, text_field=text_field, label_field=label_field, id_field=id_field)
    # Before the export, which can take minutes: a dataset of the wrong kind fails at once.
    _check_kind(load_catalog(registries).info(model_id), dataset)
    encoder = encoder_for(
        model_id, until, pool_=pool, runtime=runtime, threads=threads, registries=registries, offline=offline, progress=progress,
        prompt=prompt, prompt_text=prompt_text, normalize=normalize,
    )
    check_modality(encoder, dataset)
    if engine == "ray":
        from zoo.transfer._ray import embed_ray

        result = embed_ray(encoder, dataset, output, address=address, batch_size=batch_size, workers=workers, progress=progress)
        result.seconds = time.perf_counter() - start
        return result
    key, job = _job_key(encoder, dataset, batch_size, shard_size)
    with _job_lock(key, progress):
        result = _embed_local(encoder, dataset, output, key, job, batch_size, shard_size, progress)
    result.seconds = time.perf_counter() - start
    _emit(progress, "done", **{k: v for k, v in result.to_dict().items() if k != "skipped"}, skipped=len(result.skipped))
    return result


@contextmanager
def _job_lock(key: str, progress: Progress | None) -> Iterator[None]:
    """Holds the job's inter-process lock; a second run of the same job waits for the first."""
    path = _layout.area(_settings.home(), "locks") / f"embed-{key}.lock"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_locks.exclusive(path, timeout=0, what="embedding job"))
        except LockTimeoutError:
            _emit(progress, "waiting", reason=f"another run of the same embedding job holds {path}")
            stack.enter_context(_locks.exclusive(path, what="embedding job"))
        yield


def _embed_local(
    encoder: Encoder, dataset: Dataset, output: str, key: str, job: dict[str, Any], batch_size: int, shard_size: int,
    progress: Progress | None,
) -> EmbedResult:
    """The local engine, under the job's lock: reuse the shards marked done, compute the rest, assemble."""
    work = _settings.home() / "embeds" / key
    work.mkdir(parents=True, exist_ok=True)
    (work / "job.json").write_text(json.dumps(job, sort_keys=True))
    total = len(dataset)
    shards = max(1, -(-total // shard_size))
    skipped = list(dataset.skipped)
    dims = None
    resumed = done_items = computed = 0
    _emit(progress, "start", total=total, model=encoder.info.id, stage=encoder.stages[0])
    began = time.perf_counter()
    for index in range(shards):
        items = dataset.items[index * shard_size : (index + 1) * shard_size]
        done = _shard_done(work, index)
        if done is None:
            encoded = []
            shard_skipped: list[Skipped] = []
            # Batches start at the shard's first item: a resumed run feeds the runtime the same batches.
            # Texts are batched by length (less padding to compute), then put back in dataset order.
            order = _by_length(items) if encoder.info.modality == "text" else list(items)
            for batch in _batches(order, batch_size):
                e = encoder.encode(batch)
                encoded.append(e)
                shard_skipped += e.skipped
                done_items += len(batch)
                computed += len(batch)
                rate = computed / max(time.perf_counter() - began, 1e-9)
                _emit(progress, "progress", done=done_items, total=total, items_per_s=rate)
            if order is not items:
                encoded = [_in_order(encoded, items)]
            _write_shard(work, index, encoded, shard_skipped, dims)
            done = _shard_done(work, index)
            if done is None:
                raise OSError(f"{work}: shard {index} was written but does not read back; is the disk full or shared?")
        else:
            resumed += len(items)
            done_items += len(items)
            _emit(progress, "progress", done=done_items, total=total, items_per_s=0.0, resumed=resumed)
        dims = dims or done.get("dims") or None
        skipped += [Skipped(**s) for s in done.get("skipped", ())]
    if not dims:
        shutil.rmtree(work, ignore_errors=True)
        raise DatasetError(f"{dataset.root}: no input could be read ({len(skipped)} skipped); nothing was written", path=dataset.root)
    meta = metadata(encoder, "local", len(skipped))
    rows = _assemble(work, shards, output, meta, dims)
    shutil.rmtree(work, ignore_errors=True)
    for s in skipped:
        _emit(progress, "skipped", id=s.id, reason=s.reason)
    return EmbedResult(output, encoder.info.id, encoder.stages[0], encoder.pool, encoder.runtime, "local", rows, dims, skipped, resumed)


def _by_length(items: Sequence[Item]) -> list[Item]:
    """Texts ordered by length (stable), so that a batch pads to nearly its own length."""
    return sorted(items, key=lambda item: len(item.text or ""))


def _in_order(encoded: list[Encoded], items: Sequence[Item]) -> Encoded:
    """The batches of a shard as one, back in dataset order."""
    import numpy as np

    rank = {item.id: i for i, item in enumerate(items)}
    kept = [(rank[item.id], item, e.vectors, row) for e in encoded for row, item in enumerate(e.items)]
    kept.sort(key=lambda k: k[0])
    stages = next((list(e.vectors) for e in encoded if e.items), [])
    vectors = {s: np.stack([v[s][row] for _, _, v, row in kept]) for s in stages} if kept else {}
    return Encoded([item for _, item, _, _ in kept], vectors, [s for e in encoded for s in e.skipped])


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    return (items[i : i + size] for i in range(0, len(items), size))


def check_modality(encoder: Encoder, dataset: Dataset) -> None:
    """Raises DatasetError when images go to a text model or texts to an image model, or the dataset is empty."""
    _check_kind(encoder.info, dataset)


def _check_kind(info: ModelInfo, dataset: Dataset) -> None:
    want = "text" if info.modality == "text" else "image"
    if dataset.kind != want:
        raise DatasetError(
            f"{dataset.root}: {info.id} is a {info.modality} model but this is a{'n' if dataset.kind == 'image' else ''} "
            f"{dataset.kind} dataset; give {'a text file (.csv, .jsonl, .txt, .parquet)' if want == 'text' else 'an image folder'}",
            path=dataset.root,
        )
    if not dataset.items:
        raise DatasetError(f"{dataset.root}: the dataset has no items", path=dataset.root)


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
    side = f"{where.rstrip('/')}/_zoo.json"
    if fs.isdir(where) and fs.exists(side):  # the Ray engine's folder output: the skipped count is known at the end
        meta["zoo.skipped"] = str(len(json.loads(fs.cat_file(side))["skipped"]))
    col = t.column("embedding").combine_chunks()
    dims = col.type.list_size
    vectors = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dims).astype(np.float32)
    return vectors, t.column("id").to_pylist(), t.column("label").to_pylist(), meta
