"""Export a cut model to ONNX, proven equal to torch, with its provenance inside.

``export("resnet50", until="layer3", output="r50.onnx")``:

1. builds the cut module (:func:`zoo.features.load`, pulling if needed);
2. exports it with ``torch.onnx.export``: the dynamo exporter first, the
   TorchScript one if dynamo fails (the result says which), with a dynamic
   batch axis (and sequence axis for text);
3. runs the same inputs through torch and ONNX Runtime: random ones plus, for
   vision, a natural-looking image made in code, for text, real sentences
   through the model's tokenizer; and fails with :class:`ParityError` (writing
   nothing at ``output``) when they differ beyond ``atol + rtol * |torch|``;
4. writes the file atomically with ``metadata_props`` (model, version, stage,
   channels, stride, input spec, source sha256s, parity, zoo version) after
   ``onnx.checker.check_model``; over 2 GB, weights go to external data.

Exports are cached under ``$ZOO_HOME/exports/``, keyed by the weights' sha256,
the stage, opset, batch mode, exporter choice and zoo version; an identical
second export is a file copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo import _settings
from zoo._version import __version__
from zoo.errors import ExportError, ParityError, WeightsError
from zoo.features import dummy_inputs, load, resolve_stage
from zoo.registry import ModelInfo, load_catalog

__all__ = ["ExportResult", "Parity", "export", "read_metadata", "session", "Session", "DEFAULT_OPSET"]

DEFAULT_OPSET = 18
_TWO_GB = 2 * 1024**3
_META_PREFIX = "zoo."
_SENTENCES = (
    "A man is playing a guitar on the street.",
    "The quick brown fox jumps over the lazy dog.",
    "Pretrained backbones make transfer learning cheap.",
)


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
# Inputs for export and parity
# --------------------------------------------------------------------------


def natural_image(size: tuple[int, int] = (256, 320), seed: int = 0) -> Any:
    """A natural-looking test image made in code (uint8, H x W x 3): sky, sun, hills, texture.

    Real photographs have smooth gradients, edges and texture, which random
    noise lacks; parity on such an image exercises the value ranges a real
    input produces.
    """
    import numpy as np

    h, w = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = 1.0 - y / h
    img[..., 0] = 90 + 80 * sky
    img[..., 1] = 140 + 70 * sky
    img[..., 2] = 200 + 55 * sky
    sun = (x - 0.75 * w) ** 2 + (y - 0.25 * h) ** 2 < (0.08 * min(h, w)) ** 2
    img[sun] = (255, 230, 120)
    hill = y > 0.6 * h + 0.08 * h * np.sin(x / w * 6.0)
    img[hill] = np.stack([40 + 30 * np.sin(x[hill] / 7.0), 120 + 40 * np.cos(y[hill] / 5.0), 50 + 0 * x[hill]], -1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _vision_inputs(info: ModelInfo, batch: int) -> list[tuple[Any, ...]]:
    import torch

    from zoo.features import preprocess_for

    c, h, w = info.input["shape"]
    gen = torch.Generator().manual_seed(0)
    natural = preprocess_for(info)(natural_image()).unsqueeze(0)
    return [(torch.randn(batch, c, h, w, generator=gen),), (natural,), (torch.randn(1, c, h, w, generator=gen),)]


def _text_inputs(info: ModelInfo, folder: Path | None, vocab: int) -> list[tuple[Any, ...]]:
    import torch

    inputs: list[tuple[Any, ...]] = []
    spec = info.input or {}
    if folder is not None and spec.get("tokenizer"):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        batch = tok(list(_SENTENCES), padding=True, return_tensors="pt")
        inputs.append((batch["input_ids"], batch["attention_mask"]))
        one = tok(_SENTENCES[:1], return_tensors="pt")
        inputs.append((one["input_ids"], one["attention_mask"]))
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, max(2, min(vocab, 1000)), (2, 13), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    inputs.append((ids, mask))
    return inputs


# --------------------------------------------------------------------------
# Exporters
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silences the exporters' progress prints and tracer warnings (they are reported through our result)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OP = re.compile(r"(aten::[A-Za-z0-9_.]+|torch\.ops\.[A-Za-z0-9_.]+|prims::[A-Za-z0-9_.]+)")


def _io_spec(info: ModelInfo, batch: str | int) -> tuple[list[str], list[str], dict[str, dict[int, str]]]:
    dyn_batch = batch == "dynamic"
    if info.adapter == "word-vectors":
        axes = {n: {1: "sequence", **({0: "batch"} if dyn_batch else {})} for n in ("input_ids", "features")}
        return ["input_ids"], ["features"], axes
    if info.modality == "vision":
        names = ["image"]
        axes = {"image": {0: "batch"}, "features": {0: "batch"}} if dyn_batch else {}
    else:
        names = ["input_ids", "attention_mask"]
        axes = {n: {1: "sequence"} for n in names + ["features"]}
        if dyn_batch:
            for n in axes:
                axes[n][0] = "batch"
    return names, ["features"], axes


def _export_torch(module: Any, args: tuple[Any, ...], path: Path, info: ModelInfo, opset: int, batch: str | int, exporter: str) -> str:
    """Exports with dynamo, falling back to TorchScript; returns the exporter used."""
    import torch

    names, outputs, axes = _io_spec(info, batch)
    order = {"auto": ["dynamo", "torchscript"], "dynamo": ["dynamo"], "torchscript": ["torchscript"]}[exporter]
    failures = []
    for kind in order:
        for stale in (path, path.with_name(path.name + ".data")):
            stale.unlink(missing_ok=True)
        try:
            with _quiet():
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    input_names=names,
                    output_names=outputs,
                    dynamic_axes=axes or None,
                    opset_version=opset,
                    dynamo=kind == "dynamo",
                    verbose=False,
                )
            return kind
        except Exception as exc:  # noqa: BLE001 - every exporter failure is reported below
            failures.append((kind, exc))
    ops = sorted({op for _, exc in failures for op in _OP.findall(str(exc))})
    detail = "; ".join(f"{kind}: {_ANSI.sub('', str(exc)).strip().splitlines()[0][:300]}" for kind, exc in failures)
    what = f"unsupported op(s) {', '.join(ops)}" if ops else "the exporter failed"
    raise ExportError(
        f"{info.id}: cannot export stage {module.zoo_stage['name'] if getattr(module, 'zoo_stage', None) else '(whole model)'} "
        f"at opset {opset}: {what} ({detail}). Try an earlier stage (--until) or another opset (--opset)."
    )


# --------------------------------------------------------------------------
# Parity
# --------------------------------------------------------------------------


def _ort_session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _parity(reference: Callable[..., Any], sess: Any, inputs: Sequence[tuple[Any, ...]], atol: float, rtol: float) -> Parity:
    import numpy as np
    import torch

    names = [i.name for i in sess.get_inputs()]
    max_abs = max_rel = 0.0
    cosine = 1.0
    ok = True
    for args in inputs:
        with torch.no_grad():
            expected = reference(*args)
        expected = expected.detach().cpu().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
        feeds = {n: (a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)) for n, a in zip(names, args)}
        (actual,) = sess.run(None, feeds)
        if actual.shape != expected.shape:
            raise ParityError(f"ONNX Runtime output shape {actual.shape} differs from torch's {expected.shape}")
        a64, e64 = actual.astype(np.float64), expected.astype(np.float64)
        diff = np.abs(a64 - e64)
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        big = np.abs(e64) > atol
        if big.any():
            max_rel = max(max_rel, float((diff[big] / np.abs(e64[big])).max()))
        ok &= bool(np.all(diff <= atol + rtol * np.abs(e64)))
        denom = float(np.linalg.norm(a64) * np.linalg.norm(e64))
        cos = float((a64.ravel() @ e64.ravel()) / denom) if denom > 0 else (1.0 if not a64.any() and not e64.any() else 0.0)
        cosine = min(cosine, cos)
    return Parity(max_abs, max_rel, cosine, atol, rtol, len(inputs), ok)


# --------------------------------------------------------------------------
# Metadata, cache, writing
# --------------------------------------------------------------------------


def _metadata(
    info: ModelInfo, stage: dict[str, Any] | None, exporter: str, opset: int, batch: str | int, parity: Parity | None
) -> dict[str, str]:
    from zoo.cache import Cache

    cache = Cache()  # weakly pinned files: the sha256 recorded when they were pulled
    meta = {
        "model": info.id,
        "name": info.name,
        "version": info.version,
        "architecture": info.architecture,
        "license": info.license,
        "stage": stage["name"] if stage else "",
        "channels": str(stage["channels"]) if stage else "",
        "stride": str(stage["stride"]) if stage else "",
        "input": json.dumps(info.input or {}, sort_keys=True),
        "files": json.dumps({f["path"]: cache.recall(f) or _pin(f) for f in info.files}, sort_keys=True),
        "exporter": exporter,
        "opset": str(opset),
        "batch": str(batch),
        "parity": json.dumps(asdict(parity), sort_keys=True) if parity else "not checked",
        "zoo_version": __version__,
    }
    return {_META_PREFIX + k: v for k, v in meta.items()}


def _pin(file: dict[str, Any]) -> str:
    """A file's sha256, or ``md5:<hex>`` for a weakly pinned one."""
    return file.get("sha256") or ":".join(next(iter(file["hash"].items())))


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
    """Returns the ``zoo.*`` metadata of an ONNX file (without loading its weights)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key[len(_META_PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(_META_PREFIX)}


def _dims(values: Any) -> dict[str, list[Any]]:
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def _cache_key(
    info: ModelInfo, stage: dict[str, Any] | None, opset: int, batch: str | int, exporter: str, head: bool, vocab: int | None
) -> str:
    parts = {
        "vocab": vocab,
        "weights": sorted(_pin(f) for f in info.files),
        "model": info.id,
        "stage": stage["name"] if stage else None,
        "head": head,
        "opset": opset,
        "batch": str(batch),
        "exporter": exporter,
        "zoo": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _copy_atomic(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


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

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    onnx.checker.check_model(str(path))


def _all_tensors(model: Any) -> Iterator[Any]:
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t


def export(
    model_id: str,
    until: str | None = None,
    output: str | os.PathLike[str] | None = None,
    *,
    head: bool = False,
    vocab: int | None = None,
    opset: int = DEFAULT_OPSET,
    batch: str | int = "dynamic",
    atol: float = 1e-4,
    rtol: float = 1e-3,
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
        until: The stage to cut after (None: the whole feature trunk).
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
    if exporter not in ("auto", "dynamo", "torchscript"):
        raise ValueError(f"exporter must be auto, dynamo or torchscript, not {exporter!r}")
    if batch != "dynamic" and not (isinstance(batch, int) and batch > 0):
        raise ValueError(f"batch must be 'dynamic' or a positive int, not {batch!r}")
    info = load_catalog(registries).info(model_id)
    stage = None if head else resolve_stage(info, until)
    dest = _prepare_output(output or f"{info.name}-{stage['name'] if stage else 'full'}.onnx".replace("/", "_"))
    key = _cache_key(info, stage, opset, batch, exporter, head, vocab)
    cache_dir = _settings.home() / "exports"
    cached = cache_dir / f"{key}.onnx"
    if use_cache and cached.is_file():
        _copy_atomic(cached, dest)
        meta = read_metadata(dest)
        model = onnx.load(str(dest), load_external_data=False)
        parity = Parity(**json.loads(meta["parity"])) if meta.get("parity", "").startswith("{") else None
        return ExportResult(
            dest, info.id, meta.get("stage") or None, meta["exporter"], opset, _dims(model.graph.input), _dims(model.graph.output),
            dest.stat().st_size, parity, time.perf_counter() - start, True, {_META_PREFIX + k: v for k, v in meta.items()},
        )

    module = load(info.id, until, head=head, vocab=vocab, registries=registries, offline=offline, progress=progress)
    from zoo.resolve import pull

    folder = pull(info.id, registries=registries, offline=offline)
    work = Path(_settings.home()) / "tmp" / f"export-{uuid.uuid4().hex}"
    work.mkdir(parents=True)
    try:
        raw = work / "model.onnx"
        if info.adapter == "onnx":
            kind = "onnx"
            onnx.save(module.model, str(raw))
            reference: Callable[..., Any] = _onnx_reference(info, folder, stage)
        elif info.adapter == "caffe":
            # Converted by zoo.caffe; the reference is its independent torch implementation.
            from zoo.adapters import get_adapter

            kind = "caffe"
            onnx.save(module.model, str(raw))
            opset = next((o.version for o in module.model.opset_import if o.domain in ("", "ai.onnx")), opset)
            reference = get_adapter("caffe").reference(info, folder, stage, head=head)
        else:
            kind = _export_torch(module, _export_args(info, batch), raw, info, opset, batch, exporter)
            reference = module
        data = raw.with_name(raw.name + ".data")
        big = raw.stat().st_size + (data.stat().st_size if data.exists() else 0) >= _TWO_GB
        # Under 2 GB the weights are pulled inline (the dynamo exporter writes them apart).
        model = onnx.load(str(raw), load_external_data=not big)
        parity = None
        if check:
            if info.modality == "vision":
                inputs = _vision_inputs(info, batch if isinstance(batch, int) else 2)
            elif info.adapter == "word-vectors":
                inputs = _word_inputs(module)
            else:
                inputs = _text_inputs(info, folder, _vocab_size(module))
            if isinstance(batch, int):
                inputs = [tuple(_fit_batch(a, batch) for a in args) for args in inputs]
            sess = _ort_session(str(raw) if big else _finalize_graph(model, {}).SerializeToString())
            parity = _parity(reference, sess, inputs, atol, rtol)
            if not parity.ok:
                raise ParityError(
                    f"{info.id} at {stage['name'] if stage else 'the whole model'}: ONNX Runtime differs from torch beyond "
                    f"tolerance (max abs {parity.max_abs:.3g}, max rel {parity.max_rel:.3g}, cosine {parity.cosine:.6f}; "
                    f"atol {atol:g}, rtol {rtol:g}); nothing was written to {dest}. Try the other exporter "
                    "(--exporter), another opset, or an earlier stage."
                )
        meta = _metadata(info, stage, kind, opset, batch, parity)
        if info.adapter == "word-vectors":
            # The vocabulary makes the file usable on its own: row i is the vector of word i.
            meta[_META_PREFIX + "vocab_size"] = str(len(module.kv))
            meta[_META_PREFIX + "vocab"] = "\n".join(module.kv.words)
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
        dest, info.id, stage["name"] if stage else None, kind, opset, _dims(final.graph.input), _dims(final.graph.output),
        size, parity, time.perf_counter() - start, False, meta,
    )


def _vocab_size(module: Any) -> int:
    embedding = getattr(module, "embedding", None)
    if embedding is not None:
        return int(embedding.num_embeddings)
    config = getattr(getattr(module, "model", None), "config", None)
    return int(getattr(config, "vocab_size", 100) or 100)


def _word_inputs(module: Any) -> list[tuple[Any, ...]]:
    """Ids of the most frequent words (real text starts there) and random ids over the whole vocabulary."""
    import torch

    vocab = _vocab_size(module)
    gen = torch.Generator().manual_seed(0)
    frequent = torch.arange(min(vocab, 24)).reshape(2, -1) if vocab >= 2 else torch.zeros(2, 1, dtype=torch.long)
    return [(frequent,), (torch.randint(0, vocab, (3, 17), generator=gen),)]


def _fit_batch(tensor: Any, batch: int) -> Any:
    if tensor.shape[0] == batch:
        return tensor
    reps = [(batch + tensor.shape[0] - 1) // tensor.shape[0]] + [1] * (tensor.dim() - 1)
    return tensor.repeat(*reps)[:batch]


def _export_args(info: ModelInfo, batch: str | int) -> tuple[Any, ...]:
    return dummy_inputs(info, batch=batch if isinstance(batch, int) else 2, seq_len=16)


def _onnx_reference(info: ModelInfo, folder: Path, stage: dict[str, Any] | None) -> Callable[..., Any]:
    """The original ONNX model, with the stage tensor added as an output: an independent reference."""
    import onnx

    model = onnx.load(str(folder / next(f["path"] for f in info.files if f["path"].endswith(".onnx"))))
    name = stage["name"] if stage else model.graph.output[0].name
    if stage:
        inferred = onnx.shape_inference.infer_shapes(model)
        vi = next((v for v in inferred.graph.value_info if v.name == name), None)
        model.graph.output.append(vi or onnx.helper.make_empty_tensor_value_info(name))
    sess = _ort_session(model.SerializeToString())

    def run(*args: Any) -> Any:
        feeds = {i.name: (a.numpy() if hasattr(a, "numpy") else a) for i, a in zip(sess.get_inputs(), args)}
        return sess.run([name], feeds)[0]

    return run


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


def session(
    model_id: str,
    until: str | None = None,
    *,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    **export_options: Any,
) -> Session:
    """Returns an ONNX Runtime session for a cut model, exporting it on first use (cached after)."""
    from zoo import features

    info = load_catalog(registries).info(model_id)
    target = _settings.home() / "sessions" / f"{info.name}-{info.version}-{until or 'trunk'}.onnx".replace("/", "_")
    result = export(model_id, until, target, registries=registries, offline=offline, **export_options)
    pre = features.preprocess_for(info) if info.modality == "vision" else None
    tok = None
    if info.modality == "text" and (info.input or {}).get("tokenizer"):
        try:
            tok = features.tokenizer(info.id, registries=registries, offline=offline)
        except WeightsError:
            tok = None
    return Session(_ort_session(result.path.read_bytes()), result.path, read_metadata(result.path), pre, tok)
