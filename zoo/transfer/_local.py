"""The local engine of ``zoo embed``: resumable shards in a work folder, assembled into one file.

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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo import _atomic, _layout, _locks
from zoo._version import __version__
from zoo.datasets import Dataset, Item, Skipped
from zoo.errors import DatasetError, LockTimeoutError
from zoo.resolve import known_files
from zoo.transfer._output import (
    EmbedResult,
    Progress,
    emit,
    metadata,
    schema,
    table,
    write_output,
)
from zoo.transfer._runtime import Encoded, Encoder

__all__ = ["embed_local"]

_SHARD = "shard-{:05d}"


def embed_local(
    encoder: Encoder, dataset: Dataset, output: str, *, batch_size: int, shard_size: int, progress: Progress | None,
) -> EmbedResult:
    """Embeds ``dataset`` into ``output`` (a ``.parquet`` or ``.npy`` file), reusing the shards an earlier run of the job marked done."""
    key, job = _job_key(encoder, dataset, batch_size, shard_size)
    with _job_lock(key, progress):
        return _embed_local(encoder, dataset, output, key, job, batch_size, shard_size, progress)


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

        write_output(output, write_npy)
        side = {"ids": ids, "paths": paths, "labels": labels, "metadata": meta}
        write_output(output[: -len(".npy")] + ".json", lambda handle: handle.write(json.dumps(side).encode()))
        return total

    def write_parquet(handle: Any) -> None:
        with pq.ParquetWriter(handle, schema(dims, meta)) as writer:
            for part, _ in rows:
                writer.write_table(pq.read_table(part).replace_schema_metadata(meta).cast(schema(dims, meta)))

    write_output(output, write_parquet)
    return total


@contextmanager
def _job_lock(key: str, progress: Progress | None) -> Iterator[None]:
    """Holds the job's inter-process lock; a second run of the same job waits for the first."""
    path = _layout.current().lock(f"embed-{key}")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_locks.exclusive(path, timeout=0, what="embedding job"))
        except LockTimeoutError:
            emit(progress, "waiting", reason=f"another run of the same embedding job holds {path}")
            stack.enter_context(_locks.exclusive(path, what="embedding job"))
        yield


def _embed_local(
    encoder: Encoder, dataset: Dataset, output: str, key: str, job: dict[str, Any], batch_size: int, shard_size: int,
    progress: Progress | None,
) -> EmbedResult:
    """The local engine, under the job's lock: reuse the shards marked done, compute the rest, assemble."""
    work = _layout.current().embed_job(key)
    work.mkdir(parents=True, exist_ok=True)
    (work / "job.json").write_text(json.dumps(job, sort_keys=True))
    total = len(dataset)
    shards = max(1, -(-total // shard_size))
    skipped = list(dataset.skipped)
    dims = None
    resumed = done_items = computed = 0
    emit(progress, "start", total=total, model=encoder.info.id, stage=encoder.stages[0])
    began = time.perf_counter()
    for index in range(shards):
        items = dataset.items[index * shard_size : (index + 1) * shard_size]
        done = _shard_done(work, index)
        if done is None:
            encoded = []
            shard_skipped: list[Skipped] = []
            # Batches start at the shard's first item: a resumed run feeds the runtime the same batches.
            # Texts are batched by length (less padding to compute), then put back in dataset order.
            order = _by_length(items) if encoder.modality.tokens else list(items)
            for batch in _batches(order, batch_size):
                e = encoder.encode(batch)
                encoded.append(e)
                shard_skipped += e.skipped
                done_items += len(batch)
                computed += len(batch)
                rate = computed / max(time.perf_counter() - began, 1e-9)
                emit(progress, "progress", done=done_items, total=total, items_per_s=rate)
            if order is not items:
                encoded = [_in_order(encoded, items)]
            _write_shard(work, index, encoded, shard_skipped, dims)
            done = _shard_done(work, index)
            if done is None:
                raise OSError(f"{work}: shard {index} was written but does not read back; is the disk full or shared?")
        else:
            resumed += len(items)
            done_items += len(items)
            emit(progress, "progress", done=done_items, total=total, items_per_s=0.0, resumed=resumed)
        dims = dims or done.get("dims") or None
        skipped += [Skipped(**s) for s in done.get("skipped", ())]
    if not dims:
        shutil.rmtree(work, ignore_errors=True)
        raise DatasetError(f"{dataset.root}: no input could be read ({len(skipped)} skipped); nothing was written", path=dataset.root)
    meta = metadata(encoder, "local", len(skipped))
    rows = _assemble(work, shards, output, meta, dims)
    shutil.rmtree(work, ignore_errors=True)
    for s in skipped:
        emit(progress, "skipped", id=s.id, reason=s.reason)
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
