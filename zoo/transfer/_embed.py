"""``zoo embed``: a dataset through a cut backbone into a Parquet (or ``.npy``) file; the front that picks an engine.

The embedding modules of the package import one way (an arrow: imports)::

    _embed    this front: checks the options and the dataset, builds the encoder, picks the engine
      ├─> _local    the local engine: resumable shards in a work folder, assembled into one file
      ├─> _ray      the Ray Data engine (imported only for engine="ray")
      └─> _output   used by both engines: the table, its zoo.* metadata, atomic writes, read_embeddings
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from zoo import _locks
from zoo.datasets import Dataset, read_dataset
from zoo.errors import InvalidOptionError
from zoo.registry import ModelInfo, load_catalog
from zoo.transfer._local import embed_local
from zoo.transfer._output import EmbedResult, Progress, emit
from zoo.transfer._runtime import Encoder, encoder_for

if TYPE_CHECKING:
    from zoo.cache import Cache

__all__ = ["ENGINES", "check_modality", "embed"]

ENGINES = ("local", "ray")
_OUTPUTS = (".parquet", ".npy")


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
    cache: Cache | None = None,
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
        cache: The cache to pull into and keep the export and the job's shards in (default: ``$ZOO_HOME``).

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
    result = embed_local(encoder, dataset, output, batch_size=batch_size, shard_size=shard_size, progress=progress)
    result.seconds = time.perf_counter() - start
    emit(progress, "done", **{k: v for k, v in result.to_dict().items() if k != "skipped"}, skipped=len(result.skipped))
    return result


def check_modality(encoder: Encoder, dataset: Dataset) -> None:
    """Raises DatasetError when images go to a text model or texts to an image model, or the dataset is empty."""
    _check_kind(encoder.info, dataset)


def _check_kind(info: ModelInfo, dataset: Dataset) -> None:
    from zoo.adapters import modality_of

    modality_of(info).check_dataset(info, dataset)
