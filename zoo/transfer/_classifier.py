"""Export a backbone cut, its pooling and a fitted linear head as one ONNX classifier.

``export_classifier("resnet50", "head.safetensors", "cats.onnx")`` writes a
file that maps the model's inputs straight to class probabilities:

1. checks that the :class:`~zoo.transfer._head.Head` was fitted on this
   model version and stage (before anything is exported);
2. exports the backbone cut with :func:`zoo.exporter.export` (parity-checked
   against torch and cached there);
3. appends plain ONNX nodes to that graph: the pooling, the same operations
   as :func:`zoo.transfer._pooling.pool` for the cut's output rank, then one
   ``Gemm`` with the scaler folded into the weights (:meth:`Head.folded`),
   then ``Softmax``. The graph's only output is ``probabilities`` ``(N, K)``,
   columns in the order of the head's classes;
4. runs the reference (torch cut, numpy pooling, :meth:`Head.predict_proba`)
   and ONNX Runtime on the same inputs and fails with :class:`ParityError`,
   writing nothing, when a probability differs by more than ``atol`` or a
   predicted class differs;
5. with ``optimize``, ``quantize="int8"`` or ``fp16``, makes that variant of
   the whole checked classifier graph (the family's recipe, as
   :func:`zoo.exporter.export` does) and judges it against the float32
   classifier: an optimized graph by the same ``atol``; int8 and fp16 by the
   accuracy gate on held-back inputs (``calibrate`` data, else generated
   images or real sentences): top-1 agreement at least ``min_agreement``
   (default 99 %) and mean cosine of the probabilities at least ``min_cosine``,
   else :class:`AccuracyGateError` and nothing is written;
6. writes the file atomically, with the backbone's ``zoo.*`` metadata plus
   ``classes``, ``head_pool``, ``head_scores``, ``head_parity``, ``task`` and
   ``output`` (and ``variant`` and ``gate`` for a variant).

The appended nodes, by output rank of the cut (``x``: its output; ``mask``:
the graph's ``attention_mask`` input, text models only)::

    (N, C, H, W[, T])  avg: ReduceMean(x, spatial axes)   max: ReduceMax   none: Flatten
    (N, T, D)          mean/avg: ReduceSum(x * mask) / Max(ReduceSum(mask), 1e-9)
                       mean_sqrt_len: the same over Sqrt(...)   max: ReduceMax(Where(mask > 0, x, -inf))
                       cls / lasttoken: ReduceSum(x * one-hot of ArgMax(mask > 0), first or last index)
                       weightedmean: ReduceSum(x * w) / ReduceSum(w), w = mask * (position + 1 - first)
                       several joined by '+': Concat(axis=1) in that order;  none: Flatten (no mask only)
                       (no mask: a mask of ones, ConstantOfShape)
    (N, D)             used as it is
    then               Gemm(pooled, W', b', transB=1) -> Softmax(axis=-1) -> probabilities

Design note: the head is appended to the cached backbone export rather than
exported from torch as one module, so the backbone stays the file that was
proven equal to torch, and the head is plain initializers a reader can check
against the ``.safetensors`` file. Opset differences (``axes`` became an input
of ReduceSum and Unsqueeze at 13, of ReduceMean and ReduceMax at 18) follow
the exported graph's opset.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from zoo import _layout, exporter
from zoo._ort import ort_session
from zoo.adapters import get_adapter, modality_of
from zoo.errors import DatasetError, ExportError, ParityError, WeightsError
from zoo.exporter import DEFAULT_OPSET, ExportResult, Parity
from zoo.features import build, cut_for
from zoo.registry import ModelInfo, load_catalog
from zoo.transfer._head import Head
from zoo.transfer._pooling import TOKEN_POOLS, check_pool, pool, pool_modes

__all__ = ["OUTPUT", "export_classifier"]

OUTPUT = "probabilities"
_PREFIX = "zoo_head/"  # names of the appended tensors and nodes, apart from the backbone's
_NO_FLATTEN = "pooling 'none' needs a fixed-size output; texts vary in length: use mean, cls or max"
_TOKENS_ONLY = "pooling {how!r} is for token sequences; this cut gives feature maps of rank {rank}: use avg or max"
_TIE = 1e-6  # reference probabilities this close are a tie: either class is a correct argmax


def export_classifier(
    model_id: str,
    head: Head | str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    until: str | None = None,
    samples: Sequence[tuple[Any, ...]] | None = None,
    atol: float = 1e-4,
    opset: int = DEFAULT_OPSET,
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
) -> ExportResult:
    """Exports a model cut, the head's pooling and the head as one ONNX file giving class probabilities.

    Args:
        model_id: ``[family/]name[@version]``; must resolve to the head's model.
        head: A :class:`Head`, or the path of one saved by ``zoo probe --save-head``.
        output: The ``.onnx`` path (default: ``<name>-<stage>-classifier.onnx``
            here). Missing folders are created.
        until: The stage (name or alias); must be the head's stage. Default: the head's.
        samples: Model inputs (tuples of torch tensors or arrays, as the
            adapter's parity inputs) to compare ONNX Runtime and torch on.
            Default: the adapter's parity inputs.
        atol: Largest accepted difference of a probability.
        opset: ONNX opset of the backbone export.
        registries, offline, progress: As for :func:`zoo.pull`.
        optimize, quantize, fp16, calibrate, min_cosine, min_agreement, text_field:
            A variant of the classifier, as for :func:`zoo.export`; the gate
            compares it with the float32 classifier.

    Returns:
        An :class:`~zoo.exporter.ExportResult` whose ``parity`` compares the
        float32 probabilities with torch + head (``rtol`` 0), whose ``gate``
        holds a variant's figures, and whose ``outputs`` is ``{"probabilities": [batch, K]}``.

    Raises:
        WeightsError: The head was fitted on another model or stage, or on
            features of another width; nothing was exported.
        StageNotFoundError: ``until`` (or the head's stage) is not a stage.
        DatasetError: The head's pooling does not apply to the cut's output.
        ParityError: ONNX Runtime and the reference disagree; nothing is written at ``output``.
        AccuracyGateError: The int8 or fp16 classifier disagrees with the float32 one beyond the bounds.
        ExportError: The backbone could not be exported, or the output is not writable.
    """
    import onnx

    start = time.perf_counter()
    variant = exporter.Variant(
        optimize=optimize, quantize=quantize, fp16=fp16, calibrate=calibrate,
        min_cosine=min_cosine, min_agreement=min_agreement, text_field=text_field,
    )
    if not isinstance(head, Head):
        head = Head.load(head)
    check_pool(head.pool)
    info = load_catalog(registries).info(model_id)
    if head.model != info.id:
        raise WeightsError(
            f"The head was fitted on features of {head.model}, not {info.id} ({model_id!r}); a head only fits the "
            f"model version it was fitted on. Export it with model {head.model!r}, or fit a head on {info.id}."
        )
    stage = cut_for(info, until if until is not None else head.stage).stages[0]
    if head.stage != stage.name and head.stage not in stage.aliases:
        raise WeightsError(
            f"The head was fitted on {info.id} at stage {head.stage!r}, but until={until!r} names stage "
            f"{stage.name!r}. Omit until (or pass until={head.stage!r}), or fit a head on {stage.name}."
        )
    _check_width(info, stage, head)
    dest = exporter.prepare_output(output or f"{info.name}-{stage.name}-classifier.onnx".replace("/", "_"))

    work = _layout.current().work_dir("classifier")
    try:
        backbone = exporter.export(
            model_id, stage.name, work / "backbone.onnx", opset=opset, registries=registries, offline=offline, progress=progress
        )
        if backbone.path.with_name(backbone.path.name + ".data").exists():
            raise ExportError(
                f"{info.id} at {stage.name}: the backbone is over 2 GB (external data); a classifier file of it "
                "cannot be checked in memory. Export an earlier stage."
            )
        model = onnx.load(str(backbone.path))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    graph_opset = _opset(model)
    mask_name = modality_of(info).mask_input([i.name for i in model.graph.input])
    _append_head(model, head, mask_name, graph_opset)

    module, _, folder = build(info, stage.name, head=False, pretrained=True, vocab=None, offline=offline, progress=progress)
    if samples is None:
        samples = get_adapter(info.adapter).parity_inputs(info, folder, module, 2)
    mask_at = [i.name for i in model.graph.input].index(mask_name) if mask_name else None
    meta = {p.key: p.value for p in model.metadata_props if p.key.startswith(exporter.META_PREFIX)}
    sess = ort_session(exporter.finalize_graph(model, meta).SerializeToString())
    parity = _compare(module, head, sess, samples, mask_at, atol)
    if not parity.ok:
        what = (
            f"probabilities differ from torch + head by up to {parity.max_abs:.3g} (atol {atol:g})"
            if parity.max_abs > atol
            else f"probabilities are within atol {atol:g} (max abs {parity.max_abs:.3g}) but predict another class"
        )
        raise ParityError(
            f"{info.id} at {stage.name} + head: ONNX Runtime's {what}; nothing was written to {dest}. Check that "
            f"the head was fitted on {head.pool!r}-pooled features of this cut, try another opset, or raise atol "
            "if the difference is float rounding.",
            model=info.id, stage=stage.name, parity=parity,
        )
    prefix = exporter.META_PREFIX
    gate = None
    if variant.active:
        model, gate, recipe = _variant(model, meta, sess, variant, info, stage.name, dest, folder, samples, atol)
        meta[prefix + "variant"] = recipe.to_json()
        meta[prefix + "gate"] = json.dumps(gate.to_dict(), sort_keys=True) if gate else "not checked"
    meta.update({
        prefix + "classes": json.dumps(list(head.classes)),
        prefix + "head_pool": head.pool,
        prefix + "head_scores": json.dumps(head.scores, sort_keys=True),
        prefix + "head_parity": json.dumps(asdict(parity), sort_keys=True),
        prefix + "task": "classification",
        prefix + "output": OUTPUT,
    })
    final = exporter.finalize_graph(model, meta)
    exporter.save_model(final, dest)
    return ExportResult(
        dest, info.id, stage.name, backbone.exporter, graph_opset, exporter.tensor_dims(final.graph.input),
        exporter.tensor_dims(final.graph.output), dest.stat().st_size, parity, time.perf_counter() - start, False, meta, gate,
    )


def _variant(
    model: Any, meta: dict[str, str], fp32: Any, variant: Any, info: ModelInfo, stage: str, dest: Any, folder: Any,
    samples: Sequence[tuple[Any, ...]], atol: float,
) -> tuple[Any, Any, Any]:
    """The optimized, int8 or fp16 classifier, judged against the float32 one (``fp32``, its checked session)."""
    names = [i.name for i in fp32.get_inputs()]

    def reference(*args: Any) -> list[Any]:
        feeds = {n: (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)) for n, a in zip(names, args)}
        return fp32.run([OUTPUT], feeds)

    work = _layout.current().work_dir("classifier")
    try:
        return exporter.build_variant(
            exporter.finalize_graph(model, meta), variant, info, reference=reference, work=work / "variant",
            label=f"{stage} + head", dest=dest, folder=folder, classifier=True, parity_inputs=lambda: samples,
            atol=atol, rtol=0.0, reference_name="float32 classifier", float_nodes=_PREFIX,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_width(info: ModelInfo, stage: Any, head: Head) -> None:
    """Refuses, before exporting, a head whose pooling or feature width does not fit the cut's output."""
    shape = tuple(stage.shape or ())
    if head.pool == "none" and modality_of(info).tokens and len(shape) == 2:
        raise DatasetError(_NO_FLATTEN, field="pool")
    tokens_only = [mode for mode in pool_modes(head.pool) if mode in TOKEN_POOLS]
    if tokens_only and len(shape) >= 3:
        raise DatasetError(_TOKENS_ONLY.format(how=tokens_only[0], rank=len(shape) + 1), field="pool")
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        return  # not measured: the graph and the parity check decide
    if len(shape) == 1:
        width = shape[0]
    elif head.pool == "none":
        width = int(np.prod(shape))
    else:  # tokens (T, D) give D; maps (C, H, W[, T]) give C, as pool() reads them; each pooling combined adds one
        width = (shape[-1] if len(shape) == 2 else shape[0]) * len(pool_modes(head.pool))
    if width != head.dims:
        raise WeightsError(
            f"The head expects {head.dims} features, but {info.id} at {stage.name} pooled with {head.pool!r} gives "
            f"{width}; the head was fitted on other features. Fit it again on this cut."
        )


# --------------------------------------------------------------------------
# The appended graph
# --------------------------------------------------------------------------


def _opset(model: Any) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


class _Builder:
    """Appends nodes to a graph, naming every tensor under :data:`_PREFIX`, with opset-dependent ``axes``."""

    def __init__(self, graph: Any, opset: int):
        self.graph = graph
        self.opset = opset
        self.count = 0

    def name(self, what: str) -> str:
        self.count += 1
        return f"{_PREFIX}{what}_{self.count}"

    def const(self, what: str, value: Any) -> str:
        from onnx import numpy_helper

        name = self.name(what)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = output or self.name(op_type.lower())
        self.graph.node.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out

    def axes_op(self, op_type: str, x: str, axes: list[int], **attrs: Any) -> str:
        """ReduceMean/ReduceMax/ReduceSum/Unsqueeze over ``axes``, as an input or an attribute by opset."""
        as_input = {"ReduceMean": 18, "ReduceMax": 18, "ReduceSum": 13, "Unsqueeze": 13}[op_type]
        if self.opset >= as_input:
            return self.op(op_type, [x, self.const("axes", np.array(axes, np.int64))], **attrs)
        return self.op(op_type, [x], axes=axes, **attrs)


def _append_head(model: Any, head: Head, mask: str | None, opset: int) -> None:
    """Replaces the graph's single output by pooling + Gemm + Softmax -> ``probabilities``."""
    from onnx import TensorProto, helper

    graph = model.graph
    if len(graph.output) != 1:
        raise ExportError(f"the backbone graph has {len(graph.output)} outputs; a classifier needs one stage")
    feature = graph.output[0]
    dims = feature.type.tensor_type.shape.dim
    rank = len(dims)
    b = _Builder(graph, opset)
    pooled = _pool_nodes(b, feature.name, rank, head.pool, mask)
    weight, bias = head.folded()
    logits = b.op(
        "Gemm", [pooled, b.const("weight", weight.astype(np.float32)), b.const("bias", bias.astype(np.float32))],
        transB=1,
    )
    b.op("Softmax", [logits], OUTPUT, axis=-1)
    batch = (dims[0].dim_param or dims[0].dim_value) if rank else "batch"
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [batch, len(head.classes)]))


def _pool_nodes(b: _Builder, x: str, rank: int, how: str, mask: str | None) -> str:
    """The nodes of :func:`zoo.transfer._pooling.pool` for an output of ``rank``; returns the (N, D) tensor."""
    from onnx import TensorProto

    if rank == 2:
        return x
    if how == "none":
        if mask is not None and rank == 3:
            raise DatasetError(_NO_FLATTEN, field="pool")
        return b.op("Flatten", [x], axis=1)
    modes = pool_modes(how)
    if rank == 3:
        if mask is None:  # every token counts: a mask of ones shaped like the tokens
            shape = b.op("Slice", [b.op("Shape", [x]), b.const("start", np.array([0], np.int64)), b.const("end", np.array([2], np.int64))])
            m = b.op("ConstantOfShape", [shape], value=_tensor(np.array([1.0], np.float32)))
        else:
            m = b.op("Cast", [mask], to=TensorProto.FLOAT)
        parts = [_token_nodes(b, x, mode, m) for mode in modes]
        return parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=1)
    tokens_only = [mode for mode in modes if mode in TOKEN_POOLS]
    if tokens_only:
        raise DatasetError(_TOKENS_ONLY.format(how=tokens_only[0], rank=rank), field="pool")
    parts = [b.axes_op("ReduceMax" if mode == "max" else "ReduceMean", x, list(range(2, rank)), keepdims=0) for mode in modes]
    return parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=1)


def _tensor(value: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(value)


def _token_nodes(b: _Builder, x: str, mode: str, m: str) -> str:
    """One token pooling of ``x`` (N, T, D) under the float mask ``m`` (N, T), as :func:`~zoo.transfer._pooling.pool` does it."""
    from onnx import TensorProto

    zero = b.const("zero", np.array(0.0, np.float32))
    eps = b.const("eps", np.array(1e-9, np.float32))

    def weighted_sum(weights: str) -> str:  # sum over tokens of x * weights
        return b.axes_op("ReduceSum", b.op("Mul", [x, b.axes_op("Unsqueeze", weights, [2])]), [1], keepdims=0)

    def positions() -> str:  # 0 .. T-1 as float (1, T)
        length = b.op("Gather", [b.op("Shape", [x]), b.const("one", np.array(1, np.int64))], axis=0)
        steps = b.op("Range", [b.const("start", np.array(0, np.int64)), length, b.const("step", np.array(1, np.int64))])
        return b.axes_op("Unsqueeze", b.op("Cast", [steps], to=TensorProto.FLOAT), [0])

    def pick(index: str) -> str:  # a one-hot (N, T) float of each row's ``index`` (N, 1) int64
        return b.op("Cast", [b.op("Equal", [positions(), b.op("Cast", [index], to=TensorProto.FLOAT)])], to=TensorProto.FLOAT)

    kept = b.op("Cast", [b.op("Greater", [m, zero])], to=TensorProto.FLOAT)
    if mode == "cls":  # the first kept token
        return weighted_sum(pick(b.op("ArgMax", [kept], axis=1, keepdims=1)))
    if mode == "lasttoken":  # the last kept token (an all-padding row: zeros, as the mask is 0 there)
        last = b.op("ArgMax", [kept], axis=1, keepdims=1, select_last_index=1)
        return weighted_sum(b.op("Mul", [pick(last), m]))
    if mode == "max":
        keep = b.axes_op("Unsqueeze", b.op("Greater", [m, zero]), [2])
        masked = b.op("Where", [keep, x, b.const("neg_inf", np.array(-np.inf, np.float32))])
        return b.axes_op("ReduceMax", masked, [1], keepdims=0)
    if mode == "weightedmean":  # weights 1, 2, ... from each row's first token
        first = b.op("Cast", [b.op("ArgMax", [kept], axis=1, keepdims=1)], to=TensorProto.FLOAT)
        ramp = b.op("Sub", [b.op("Add", [positions(), b.const("one_f", np.array(1.0, np.float32))]), first])
        weights = b.op("Mul", [m, ramp])
        total = b.axes_op("ReduceSum", weights, [1], keepdims=1)
        return b.op("Div", [weighted_sum(weights), b.op("Max", [total, eps])])
    # mean, avg, mean_sqrt_len; the clamp keeps an all-padding row finite, as in pool().
    count = b.op("Max", [b.axes_op("ReduceSum", m, [1], keepdims=1), eps])
    return b.op("Div", [weighted_sum(m), b.op("Sqrt", [count]) if mode == "mean_sqrt_len" else count])


# --------------------------------------------------------------------------
# Parity
# --------------------------------------------------------------------------


def _compare(module: Any, head: Head, sess: Any, samples: Sequence[tuple[Any, ...]], mask_at: int | None, atol: float) -> Parity:
    """Runs every sample through torch + pool + head and through ONNX Runtime; compares the probabilities."""
    import torch

    names = [i.name for i in sess.get_inputs()]
    max_abs = max_rel = 0.0
    cosine = 1.0
    ok = True
    for args in samples:
        tensors = tuple(torch.as_tensor(a) for a in args)
        with torch.inference_mode():
            out = exporter.as_numpy(module(*tensors))[0]
        mask = tensors[mask_at].numpy() if mask_at is not None and mask_at < len(tensors) else None
        expected = head.predict_proba(pool(out, head.pool, mask))
        actual = sess.run([OUTPUT], {n: t.numpy() for n, t in zip(names, tensors)})[0].astype(np.float64)
        if actual.shape != expected.shape:
            raise ParityError(f"ONNX Runtime gives probabilities of shape {actual.shape}, the reference {expected.shape}")
        diff = np.abs(actual - expected)
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        big = np.abs(expected) > atol
        if big.any():
            max_rel = max(max_rel, float((diff[big] / np.abs(expected[big])).max()))
        rows = np.arange(len(expected))
        # Another argmax counts unless the reference itself ties those two classes.
        flipped = expected[rows, expected.argmax(1)] - expected[rows, actual.argmax(1)] > _TIE
        ok &= bool(np.allclose(actual, expected, atol=atol, rtol=0.0)) and not flipped.any()
        denom = float(np.linalg.norm(actual) * np.linalg.norm(expected))
        cosine = min(cosine, float(actual.ravel() @ expected.ravel()) / denom if denom > 0 else 0.0)
    return Parity(max_abs, max_rel, cosine, atol, 0.0, len(samples), ok)
