"""The export itself: build the cut, write the graph, check parity, write the file (cached by export key)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _layout, _locks
from zoo._defaults import EXPORT_ATOL, EXPORT_OPSET, EXPORT_RTOL, EXPORTERS
from zoo._ort import ort_session
from zoo._version import __version__
from zoo.adapters import Cut, get_adapter
from zoo.errors import ExportError, InvalidOptionError, ParityError
from zoo.resolve import known_files
from zoo.exporter._files import (
    META_PREFIX,
    TWO_GB,
    copy_atomic,
    finalize_graph,
    prepare_output,
    read_metadata,
    save_external,
    save_model,
    tensor_dims,
)
from zoo.exporter._gate import Gate
from zoo.exporter._parity import Parity, measure_parity
from zoo.exporter._variants import Variant, build_variant
from zoo.features import build, cut_for
from zoo.registry import FileInfo, ModelInfo, load_catalog

if TYPE_CHECKING:
    from zoo.cache import Cache

__all__ = ["ExportResult", "export", "DEFAULT_OPSET"]

DEFAULT_OPSET = EXPORT_OPSET


@dataclass
class ExportResult:
    """What :func:`export` wrote.

    Attributes:
        path: The ONNX file.
        model: ``name@version``; stage: the stage cut at (None: whole model).
        exporter: ``dynamo`` or ``torchscript`` (``onnx`` for ONNX-native models).
        opset: The ONNX opset.
        inputs, outputs: ``{name: [dims]}``; dynamic dims are names.
        size: Bytes of the file (plus external data, if any).
        parity: The parity check (None with ``check=False``).
        seconds: Wall time of this call.
        cached: True when the file came from the export cache.
        metadata: The ``metadata_props`` written into the file.
        gate: For int8 and fp16 variants, the accuracy gate's figures (None otherwise).
    """

    path: Path
    model: str
    stage: str | None
    exporter: str
    opset: int
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]
    size: int
    parity: Parity | None
    seconds: float
    cached: bool
    metadata: dict[str, str] = field(default_factory=dict)
    gate: Gate | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _metadata(info: ModelInfo, cut: Cut, exporter: str, opset: int, batch: str | int, parity: Parity | None) -> dict[str, str]:
    from zoo.cache import Cache

    cache = Cache()  # weakly pinned files: the sha256 recorded when they were pulled
    meta = {
        "model": info.id,
        "name": info.name,
        "version": info.version,
        "architecture": info.architecture,
        "license": info.license,
        # One stage: its name, channels and stride; several: comma-separated, in output order.
        "stage": ",".join(cut.names),
        "channels": ",".join(str(s.channels) for s in cut.stages),
        "stride": ",".join(str(s.stride) for s in cut.stages),
        "input": json.dumps(info.input.to_dict() if info.input else {}, sort_keys=True),
        "files": json.dumps({f.path: cache.recall(f) or _pin(f) for f in known_files(info, cache)}, sort_keys=True),
        "exporter": exporter,
        "opset": str(opset),
        "batch": str(batch),
        "parity": json.dumps(asdict(parity), sort_keys=True) if parity else "not checked",
        "zoo_version": __version__,
    }
    return {META_PREFIX + k: v for k, v in meta.items()}


def _pin(file: FileInfo) -> str:
    """A file's sha256, or ``md5:<hex>`` for a weakly pinned one (a hub-tier file: its repo and path)."""
    if file.sha256:
        return file.sha256
    if file.hash is not None:
        return ":".join(file.hash)
    return f"hub:{file.source.hf}/{file.source.file}"


def _cache_key(info: ModelInfo, cut: Cut, opset: int, batch: str | int, exporter: str, vocab: int | None, variant: Variant) -> str:
    parts = {
        "vocab": vocab,
        "weights": sorted(_pin(f) for f in info.files),
        # A Hub snapshot's files are pinned by its commit (and listed on first pull).
        "snapshot": info.snapshot.to_dict() if info.snapshot is not None else None,
        "model": info.id,
        "stages": list(cut.names),
        "head": cut.head,
        "opset": opset,
        "batch": str(batch),
        "exporter": exporter,
        "zoo": __version__,
        "variant": variant.key(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@_locks.uses_cache
def export(
    model_id: str,
    until: str | Sequence[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    *,
    head: bool = False,
    vocab: int | None = None,
    opset: int = DEFAULT_OPSET,
    batch: str | int = "dynamic",
    atol: float = EXPORT_ATOL,
    rtol: float = EXPORT_RTOL,
    check: bool = True,
    exporter: str = "auto",
    use_cache: bool = True,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    optimize: bool = False,
    quantize: str | None = None,
    fp16: bool = False,
    calibrate: str | os.PathLike[str] | None = None,
    min_cosine: float | None = None,
    min_agreement: float | None = None,
    text_field: str | None = None,
    cache: Cache | None = None,
) -> ExportResult:
    """Exports a model version cut after a stage to ONNX, checked against torch.

    ``optimize``, ``quantize="int8"`` and ``fp16`` write a variant of the
    checked float32 graph (:mod:`zoo.exporter._variants`): an optimized graph
    must pass the same parity check; int8 and fp16 must pass the accuracy gate
    (mean cosine of the features against torch on held-back inputs from
    ``calibrate`` or generated ones, at least ``min_cosine``; top-1 agreement at
    least ``min_agreement`` for classifiers), else :class:`AccuracyGateError`
    and nothing is written.

    Args:
        model_id: ``[family/]name[@version]``.
        until: The stage to cut after (None: the whole feature trunk), or a
            list of stages: one ONNX file with one output per stage (named
            by the stages), each checked.
        output: The ``.onnx`` path (default: ``<name>-<stage>.onnx`` here).
            Missing folders are created.
        head: Export the whole model with its classifier.
        vocab: Word-vector models: keep the ``vocab`` most frequent words
            (the vocabulary is stored in the file's metadata).
        opset: ONNX opset.
        batch: ``"dynamic"`` or a fixed batch size.
        atol, rtol: Parity tolerance: fail if any ``|ort - torch| > atol + rtol * |torch|``.
        check: Run the parity check (the default; turning it off is explicit).
        exporter: ``auto`` (dynamo, then TorchScript), ``dynamo`` or ``torchscript``.
        use_cache: Reuse an identical earlier export.
        registries, offline, progress: As for :func:`zoo.pull`.
        cache: The cache to pull into and keep the export in (default: ``$ZOO_HOME``).

    Returns:
        An :class:`ExportResult`.

    Raises:
        StageNotFoundError: ``until`` is not a stage.
        ParityError: ONNX Runtime disagrees with torch beyond tolerance; nothing is written.
        ExportError: The exporter failed (names the op and stage), or the output is not writable.
    """
    import onnx

    start = time.perf_counter()
    if exporter not in EXPORTERS:
        raise InvalidOptionError(f"exporter must be auto, dynamo or torchscript, not {exporter!r}")
    if batch != "dynamic" and not (isinstance(batch, int) and batch > 0):
        raise InvalidOptionError(f"batch must be 'dynamic' or a positive int, not {batch!r}")
    variant = Variant(
        optimize=optimize, quantize=quantize, fp16=fp16, calibrate=calibrate,
        min_cosine=min_cosine, min_agreement=min_agreement, text_field=text_field,
    )
    info = load_catalog(registries).info(model_id)
    adapter = get_adapter(info.adapter)
    cut = cut_for(info, until, head=head)
    stem = "-".join(cut.names) if cut.stages else "full"
    dest = prepare_output(output or f"{info.name}-{stem}.onnx".replace("/", "_"))
    key = _cache_key(info, cut, opset, batch, exporter, vocab, variant)
    cached = _layout.current().export(key)
    if use_cache and cached.is_file():
        copy_atomic(cached, dest)
        meta = read_metadata(dest)
        model = onnx.load(str(dest), load_external_data=False)
        parity = Parity(**json.loads(meta["parity"])) if meta.get("parity", "").startswith("{") else None
        gate = Gate(**json.loads(meta["gate"])) if meta.get("gate", "").startswith("{") else None
        return ExportResult(
            dest, info.id, meta.get("stage") or None, meta["exporter"], int(meta.get("opset", opset)), tensor_dims(model.graph.input),
            tensor_dims(model.graph.output), dest.stat().st_size, parity, time.perf_counter() - start, True,
            {META_PREFIX + k: v for k, v in meta.items()}, gate,
        )

    module, cut, folder = build(info, until, head=head, pretrained=True, vocab=vocab, offline=offline, progress=progress)
    work = _layout.current().work_dir("export")
    try:
        raw = work / "model.onnx"
        kind, opset = adapter.export_graph(module, info, cut, raw, opset=opset, batch=batch, exporter=exporter)
        data = raw.with_name(raw.name + ".data")
        big = raw.stat().st_size + (data.stat().st_size if data.exists() else 0) >= TWO_GB
        # Under 2 GB the weights are pulled inline (the dynamo exporter writes them apart).
        model = onnx.load(str(raw), load_external_data=not big)
        parity = None
        if check:
            inputs = adapter.parity_inputs(info, folder, module, batch if isinstance(batch, int) else 2)
            if isinstance(batch, int):
                inputs = [tuple(_fit_batch(a, batch) for a in args) for args in inputs]
            sess = ort_session(str(raw) if big else finalize_graph(model, {}).SerializeToString())
            parity = measure_parity(adapter.reference(info, folder, cut, module), sess, inputs, atol, rtol)
            if not parity.ok:
                raise ParityError(
                    f"{info.id} at {cut.label}: ONNX Runtime differs from the reference beyond "
                    f"tolerance (max abs {parity.max_abs:.3g}, max rel {parity.max_rel:.3g}, cosine {parity.cosine:.6f}; "
                    f"atol {atol:g}, rtol {rtol:g}); nothing was written to {dest}. Try the other exporter "
                    "(--exporter), another opset, or an earlier stage.",
                    model=info.id, stage=cut.label, parity=parity,
                )
        meta = _metadata(info, cut, kind, opset, batch, parity)
        meta.update({META_PREFIX + k: v for k, v in adapter.export_metadata(module).items()})
        gate = None
        if variant.active:
            if big:
                raise ExportError(f"{info.id}: optimized, int8 and fp16 variants of models over 2 GB are not supported yet")
            model, gate, recipe = build_variant(
                finalize_graph(model, {}), variant, info, reference=adapter.reference(info, folder, cut, module),
                work=work / "variant", label=cut.label, dest=dest, folder=folder, classifier=cut.head,
                parity_inputs=lambda: adapter.parity_inputs(info, folder, module, batch if isinstance(batch, int) else 2),
                check=check, atol=atol, rtol=rtol,
            )
            meta[META_PREFIX + "variant"] = recipe.to_json()
            meta[META_PREFIX + "gate"] = json.dumps(gate.to_dict(), sort_keys=True) if gate else "not checked"
        final = finalize_graph(model, meta)
        if big:
            save_external(final, data, dest)  # too big for the export cache's single-file copies
        elif use_cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            save_model(final, cached)
            copy_atomic(cached, dest)
        else:
            save_model(final, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data_file = dest.with_name(dest.name + ".data")
    size = dest.stat().st_size + (data_file.stat().st_size if big and data_file.exists() else 0)
    return ExportResult(
        dest, info.id, ",".join(cut.names) or None, kind, opset, tensor_dims(final.graph.input), tensor_dims(final.graph.output),
        size, parity, time.perf_counter() - start, False, meta, gate,
    )


def _fit_batch(tensor: Any, batch: int) -> Any:
    if tensor.shape[0] == batch:
        return tensor
    reps = [(batch + tensor.shape[0] - 1) // tensor.shape[0]] + [1] * (tensor.dim() - 1)
    return tensor.repeat(*reps)[:batch]
