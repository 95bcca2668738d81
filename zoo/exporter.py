"""Export a cut model to ONNX, proven equal to its reference, with its provenance inside.

``export("resnet50", until="layer3", output="r50.onnx")`` (or
``until=["layer2", "layer3"]``: one file, one output per stage):

1. builds the cut module through the version's adapter (pulling if needed);
2. has the adapter write the graph (:meth:`zoo.adapters._base.Adapter.export_graph`):
   torch models through ``torch.onnx.export``, the dynamo exporter first, the
   TorchScript one if dynamo fails (the result says which), with a dynamic
   batch axis (and sequence axis for text); ONNX and Caffe models as the
   cut/converted graph;
3. runs the adapter's parity inputs (random ones plus, for vision, a
   natural-looking image made in code, for text, real sentences through the
   model's tokenizer) through the adapter's reference (the torch module; the
   whole original ONNX graph; Caffe's independent torch implementation) and
   ONNX Runtime, and fails with :class:`ParityError` (writing nothing at
   ``output``) when any output differs beyond ``atol + rtol * |reference|``;
4. writes the file atomically with ``metadata_props`` (model, version, stage,
   channels, stride, input spec, source sha256s, parity, zoo version) after
   ``onnx.checker.check_model``; over 2 GB, weights go to external data.

Exports are cached under ``$ZOO_HOME/exports/``, keyed by the weights' sha256,
the stage, opset, batch mode, exporter choice and zoo version; an identical
second export is a file copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo import _atomic, _layout, _locks, _settings
from zoo._defaults import EXPORT_ATOL, EXPORT_OPSET, EXPORT_RTOL, EXPORTERS
from zoo._onnx_files import read_onnx
from zoo._version import __version__
from zoo.adapters import get_adapter
from zoo.adapters._base import Cut
from zoo.adapters._onnx import ort_session
from zoo.errors import ExportError, InvalidOptionError, ParityError, WeightsError
from zoo.features import _build, cut_for
from zoo.registry import FileInfo, ModelInfo, load_catalog

__all__ = ["ExportResult", "Parity", "export", "read_metadata", "session", "Session", "DEFAULT_OPSET"]

DEFAULT_OPSET = EXPORT_OPSET
_TWO_GB = 2 * 1024**3
_META_PREFIX = "zoo."
@dataclass(frozen=True)
class Parity:
    """How ONNX Runtime's output compares with torch's, over every parity input.

    Attributes:
        max_abs: Largest absolute difference.
        max_rel: Largest difference relative to torch's magnitude
            (``|ort - torch| / |torch|`` over elements with ``|torch| > atol``).
        cosine: Lowest cosine similarity between the flattened outputs of one input.
        atol, rtol: The tolerances checked (``|ort - torch| <= atol + rtol * |torch|``).
        inputs: How many inputs were compared.
        ok: Whether every element was within tolerance.
    """

    max_abs: float
    max_rel: float
    cosine: float
    atol: float
    rtol: float
    inputs: int
    ok: bool


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


# --------------------------------------------------------------------------
# Parity
# --------------------------------------------------------------------------


def _as_list(out: Any) -> list[Any]:
    import numpy as np
    import torch

    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o.detach().cpu().numpy() if isinstance(o, torch.Tensor) else np.asarray(o) for o in outs]


def _parity(reference: Callable[..., Any], sess: Any, inputs: Sequence[tuple[Any, ...]], atol: float, rtol: float) -> Parity:
    """Runs every input through the reference and ONNX Runtime and compares every output."""
    import numpy as np
    import torch

    names = [i.name for i in sess.get_inputs()]
    max_abs = max_rel = 0.0
    cosine = 1.0
    ok = True
    for args in inputs:
        with torch.no_grad():
            expected_all = _as_list(reference(*args))
        feeds = {n: (a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)) for n, a in zip(names, args)}
        actual_all = sess.run(None, feeds)
        if len(actual_all) != len(expected_all):
            raise ParityError(f"ONNX Runtime gives {len(actual_all)} outputs, the reference {len(expected_all)}")
        for actual, expected in zip(actual_all, expected_all):
            if actual.shape != expected.shape:
                raise ParityError(f"ONNX Runtime output shape {actual.shape} differs from the reference's {expected.shape}")
            a64, e64 = actual.astype(np.float64), expected.astype(np.float64)
            diff = np.abs(a64 - e64)
            max_abs = max(max_abs, float(diff.max(initial=0.0)))
            big = np.abs(e64) > atol
            if big.any():
                max_rel = max(max_rel, float((diff[big] / np.abs(e64[big])).max()))
            ok &= bool(np.allclose(a64, e64, atol=atol, rtol=rtol))
            denom = float(np.linalg.norm(a64) * np.linalg.norm(e64))
            cos = float((a64.ravel() @ e64.ravel()) / denom) if denom > 0 else (1.0 if not a64.any() and not e64.any() else 0.0)
            cosine = min(cosine, cos)
    return Parity(max_abs, max_rel, cosine, atol, rtol, len(inputs), ok)


# --------------------------------------------------------------------------
# Metadata, cache, writing
# --------------------------------------------------------------------------


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
        "files": json.dumps({f.path: cache.recall(f) or _pin(f) for f in info.files}, sort_keys=True),
        "exporter": exporter,
        "opset": str(opset),
        "batch": str(batch),
        "parity": json.dumps(asdict(parity), sort_keys=True) if parity else "not checked",
        "zoo_version": __version__,
    }
    return {_META_PREFIX + k: v for k, v in meta.items()}


def _pin(file: FileInfo) -> str:
    """A file's sha256, or ``md5:<hex>`` for a weakly pinned one (a hub-tier file: its repo and path)."""
    if file.sha256:
        return file.sha256
    if file.hash is not None:
        return ":".join(file.hash)
    return f"hub:{file.source.hf}/{file.source.file}"


def _finalize_graph(model: Any, metadata: dict[str, str]) -> Any:
    """Writes the provenance into ``metadata_props`` (the last step before checking and saving)."""
    import onnx

    keep = [p for p in model.metadata_props if not p.key.startswith(_META_PREFIX)]
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
    return {p.key[len(_META_PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(_META_PREFIX)}


def _dims(values: Any) -> dict[str, list[Any]]:
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def _cache_key(info: ModelInfo, cut: Cut, opset: int, batch: str | int, exporter: str, vocab: int | None) -> str:
    parts = {
        "vocab": vocab,
        "weights": sorted(_pin(f) for f in info.files),
        "model": info.id,
        "stages": list(cut.names),
        "head": cut.head,
        "opset": opset,
        "batch": str(batch),
        "exporter": exporter,
        "zoo": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _copy_atomic(src: Path, dest: Path) -> None:
    with _atomic.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _prepare_output(output: str | os.PathLike[str]) -> Path:
    dest = Path(output)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the output folder {dest.parent}: {exc.strerror or exc}; choose another -o path") from exc
    if not os.access(dest.parent, os.W_OK):
        raise ExportError(f"cannot write to {dest.parent} (permission denied); choose another -o path")
    return dest


def _save(model: Any, path: Path) -> None:
    """Checks the model and saves it atomically (models under 2 GB, weights inline)."""
    import onnx

    onnx.checker.check_model(model)
    with _atomic.atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _save_external(model: Any, data: Path, path: Path) -> None:
    """Saves a model whose weights stay in external data (over 2 GB): ``<name>.onnx`` + ``<name>.onnx.data``."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    location = path.name + ".data"
    for tensor in _all_tensors(model):
        if uses_external_data(tensor):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
    _copy_atomic(data, path.with_name(location))
    with _atomic.atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    onnx.checker.check_model(str(path))


def _all_tensors(model: Any) -> Iterator[Any]:
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t


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
) -> ExportResult:
    """Exports a model version cut after a stage to ONNX, checked against torch.

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
    info = load_catalog(registries).info(model_id)
    adapter = get_adapter(info.adapter)
    cut = cut_for(info, until, head=head)
    stem = "-".join(cut.names) if cut.stages else "full"
    dest = _prepare_output(output or f"{info.name}-{stem}.onnx".replace("/", "_"))
    key = _cache_key(info, cut, opset, batch, exporter, vocab)
    cache_dir = _settings.home() / "exports"
    cached = cache_dir / f"{key}.onnx"
    if use_cache and cached.is_file():
        _copy_atomic(cached, dest)
        meta = read_metadata(dest)
        model = onnx.load(str(dest), load_external_data=False)
        parity = Parity(**json.loads(meta["parity"])) if meta.get("parity", "").startswith("{") else None
        return ExportResult(
            dest, info.id, meta.get("stage") or None, meta["exporter"], int(meta.get("opset", opset)), _dims(model.graph.input),
            _dims(model.graph.output), dest.stat().st_size, parity, time.perf_counter() - start, True,
            {_META_PREFIX + k: v for k, v in meta.items()},
        )

    module, cut, folder = _build(info, until, head=head, pretrained=True, vocab=vocab, offline=offline, progress=progress)
    work = _layout.work_dir(_settings.home(), "export")
    try:
        raw = work / "model.onnx"
        kind, opset = adapter.export_graph(module, info, cut, raw, opset=opset, batch=batch, exporter=exporter)
        data = raw.with_name(raw.name + ".data")
        big = raw.stat().st_size + (data.stat().st_size if data.exists() else 0) >= _TWO_GB
        # Under 2 GB the weights are pulled inline (the dynamo exporter writes them apart).
        model = onnx.load(str(raw), load_external_data=not big)
        parity = None
        if check:
            inputs = adapter.parity_inputs(info, folder, module, batch if isinstance(batch, int) else 2)
            if isinstance(batch, int):
                inputs = [tuple(_fit_batch(a, batch) for a in args) for args in inputs]
            sess = ort_session(str(raw) if big else _finalize_graph(model, {}).SerializeToString())
            parity = _parity(adapter.reference(info, folder, cut, module), sess, inputs, atol, rtol)
            if not parity.ok:
                raise ParityError(
                    f"{info.id} at {cut.label}: ONNX Runtime differs from the reference beyond "
                    f"tolerance (max abs {parity.max_abs:.3g}, max rel {parity.max_rel:.3g}, cosine {parity.cosine:.6f}; "
                    f"atol {atol:g}, rtol {rtol:g}); nothing was written to {dest}. Try the other exporter "
                    "(--exporter), another opset, or an earlier stage.",
                    model=info.id, stage=cut.label, parity=parity,
                )
        meta = _metadata(info, cut, kind, opset, batch, parity)
        meta.update({_META_PREFIX + k: v for k, v in adapter.export_metadata(module).items()})
        final = _finalize_graph(model, meta)
        if big:
            _save_external(final, data, dest)  # too big for the export cache's single-file copies
        elif use_cache:
            cache_dir.mkdir(parents=True, exist_ok=True)
            _save(final, cached)
            _copy_atomic(cached, dest)
        else:
            _save(final, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data_file = dest.with_name(dest.name + ".data")
    size = dest.stat().st_size + (data_file.stat().st_size if big and data_file.exists() else 0)
    return ExportResult(
        dest, info.id, ",".join(cut.names) or None, kind, opset, _dims(final.graph.input), _dims(final.graph.output),
        size, parity, time.perf_counter() - start, False, meta,
    )


def _fit_batch(tensor: Any, batch: int) -> Any:
    if tensor.shape[0] == batch:
        return tensor
    reps = [(batch + tensor.shape[0] - 1) // tensor.shape[0]] + [1] * (tensor.dim() - 1)
    return tensor.repeat(*reps)[:batch]


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------


@dataclass
class Session:
    """An ONNX Runtime session over an exported cut model, with its preprocessing.

    Attributes:
        session: The ``onnxruntime.InferenceSession``.
        path: The ONNX file (in the export cache).
        metadata: Its ``zoo.*`` metadata.
        preprocess: Image -> tensor for vision models, else None.
        tokenizer: The tokenizer for text models with pinned tokenizer files, else None.
    """

    session: Any
    path: Path
    metadata: dict[str, str]
    preprocess: Callable[[Any], Any] | None = None
    tokenizer: Any = None

    def __call__(self, *inputs: Any) -> Any:
        """Runs the model on numpy arrays (or torch tensors) given in input order."""
        import numpy as np

        names = [i.name for i in self.session.get_inputs()]
        feeds = {n: (x.numpy() if hasattr(x, "numpy") else np.asarray(x)) for n, x in zip(names, inputs)}
        return self.session.run(None, feeds)[0]


@_locks.uses_cache
def session(
    model_id: str,
    until: str | Sequence[str] | None = None,
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    **export_options: Any,
) -> Session:
    """Returns an ONNX Runtime session for a cut model, exporting it on first use (cached after)."""
    from zoo import features

    info = load_catalog(registries).info(model_id)
    stem = (until if isinstance(until, str) else "-".join(until)) if until else "trunk"
    target = _settings.home() / "sessions" / f"{info.name}-{info.version}-{stem}.onnx".replace("/", "_")
    result = export(model_id, until, target, registries=registries, offline=offline, **export_options)
    pre = features.preprocess_for(info) if info.modality == "vision" else None
    tok = None
    if info.modality == "text" and info.input is not None and info.input.tokenizer:
        try:
            tok = features.tokenizer(info.id, registries=registries, offline=offline)
        except WeightsError:
            tok = None
    return Session(ort_session(result.path.read_bytes()), result.path, read_metadata(result.path), pre, tok)
