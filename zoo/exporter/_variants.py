"""Optimized, int8 and fp16 variants of an exported graph, each behind an accuracy gate.

``zoo.export(..., optimize=True)`` saves ONNX Runtime's offline-optimized graph
at ``ORT_ENABLE_ALL`` for its CPU execution provider (layout transforms
included; measured: ``ORT_ENABLE_EXTENDED`` saved offline runs *slower* than
the plain graph, 0.95x vs 1.6x torch on resnet50@layer3, because its fusions
block the CPU layout transforms). Such a file is for ONNX Runtime on a CPU of
the same kind (the metadata says which); it stays float32, so the usual
parity check applies to it. ``quantize="int8"`` and ``fp16=True`` change the numbers,
so they are judged by a gate instead (:mod:`._gate`): on held-back inputs the
variant's features are compared with the float32 torch reference, and the
export fails (nothing written) when they fall below the bounds.

How to quantize is chosen per model family, by measurement (the figures are in
``bench/quantized_export.py`` and the issue notes), and written into the file
(``zoo.variant`` metadata; ``zoo info FILE.onnx`` shows it):

- text encoders (transformers): dynamic int8 on MatMul and the embedding
  Gathers (weights int8 per channel, activations quantized at run time): no
  calibration needed;
- image models (timm, torchvision, ONNX, Caffe): static int8 in QDQ form,
  weights int8 per channel, activations uint8 from Percentile calibration
  (99.999th, 2048 bins) on the user's images (``calibrate=``) or, without
  them, on natural-looking images made in code. Measured: per-tensor weights
  ruin EfficientNet-Lite (cosine 0.865: its depthwise weights, BN folded in,
  differ by orders of magnitude between channels); QOperator runs at QDQ's
  speed with QDQ's accuracy; int8 activations (s8s8) run 2.5-3x slower than
  uint8 on this CPU; Percentile edges MinMax on EfficientNet-Lite1 (0.985 vs
  0.984 at blocks.6 on photo crops, 75 vs 72 % top-1 agreement of the
  classifier) at 1.5x the calibration time; real Entropy clips too much;
- fp16: weights and compute in float16, inputs and outputs kept float32
  (``onnxconverter_common``).

A transfer classifier's appended pooling, Gemm and Softmax stay float32
(``float_nodes``): quantizing them took a ResNet classifier's agreement with
its float32 file from 100 % to 30 % (the head's folded scaler amplifies the
small differences it separates classes by), for no gain in size or speed.

Everything is done by onnxruntime.quantization and onnxconverter-common; no
quantizer is written here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo._ort import ort_session
from zoo.adapters import Modality, modality_of
from zoo.errors import AccuracyGateError, InvalidOptionError, ParityError
from zoo.exporter._gate import Gate, measure_gate
from zoo.exporter._parity import measure_parity

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["Variant", "Recipe", "recipe_for", "apply_variant", "build_variant", "MIN_COSINE", "MIN_AGREEMENT"]

QUANTIZE_MODES = ("int8",)
# The gate's default bounds (the bench judges its rows by these too): mean cosine per mode, top-1 agreement.
MIN_COSINE = {"int8": 0.99, "fp16": 0.9995}
MIN_AGREEMENT = 0.99


@dataclass(frozen=True)
class Variant:
    """What the user asked for beyond a float32 export.

    Attributes:
        optimize: Save ONNX Runtime's offline-optimized graph.
        quantize: ``"int8"``, or None.
        fp16: Float16 weights and compute (inputs and outputs stay float32).
        calibrate: A dataset (image folder or text file, as ``zoo embed`` reads)
            whose items calibrate static quantization and, held back, feed the gate.
        min_cosine: The gate's bound on the mean cosine similarity of the
            features (None: the mode's default, 0.99 for int8, 0.9995 for fp16).
        min_agreement: The gate's bound on top-1 agreement for classifiers
            (None: 0.99).
        text_field: For text datasets, the field holding the text.
    """

    optimize: bool = False
    quantize: str | None = None
    fp16: bool = False
    calibrate: str | None = None
    min_cosine: float | None = None
    min_agreement: float | None = None
    text_field: str | None = None

    def __post_init__(self) -> None:
        if self.calibrate is not None and not isinstance(self.calibrate, str):
            object.__setattr__(self, "calibrate", os.fspath(self.calibrate))  # a Path names the same dataset
        if self.quantize is not None and self.quantize not in QUANTIZE_MODES:
            raise InvalidOptionError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}, not {self.quantize!r}")
        if self.quantize and self.fp16:
            raise InvalidOptionError("choose int8 quantization or fp16, not both")
        for name in ("min_cosine", "min_agreement"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise InvalidOptionError(f"{name} must be between 0 and 1, not {value!r}")
        if self.calibrate is not None and not (self.quantize or self.fp16):
            raise InvalidOptionError("calibrate= is for quantized (or fp16) exports; add quantize='int8'")

    @property
    def active(self) -> bool:
        """True when the export is not a plain float32 one."""
        return self.optimize or self.quantize is not None or self.fp16

    @property
    def changes_numbers(self) -> bool:
        """True for int8 and fp16: judged by the accuracy gate, not by parity tolerances."""
        return self.quantize is not None or self.fp16

    def cosine_bound(self) -> float:
        """The gate's bound on the mean cosine: ``min_cosine``, else :data:`MIN_COSINE` of the mode."""
        return self.min_cosine if self.min_cosine is not None else MIN_COSINE["int8" if self.quantize else "fp16"]

    def agreement_bound(self) -> float:
        """The gate's bound on top-1 agreement: ``min_agreement``, else :data:`MIN_AGREEMENT`."""
        return self.min_agreement if self.min_agreement is not None else MIN_AGREEMENT

    def key(self) -> dict[str, Any]:
        """What of the variant changes the file (the export cache key includes it)."""
        return {
            "optimize": self.optimize, "quantize": self.quantize, "fp16": self.fp16,
            "calibrate": self.calibrate, "text_field": self.text_field,
        }


@dataclass(frozen=True)
class Recipe:
    """How a graph is quantized or converted (written into the file as ``zoo.variant``)."""

    mode: str  # "optimize", "int8-dynamic", "int8-static", "fp16"
    details: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, **self.details}, sort_keys=True)


def recipe_for(modality: Modality, variant: Variant) -> Recipe:
    """The recipe for a model of this modality (int8: the modality's, see the module docstring for why)."""
    if variant.fp16:
        return Recipe("fp16", {"keep_io_types": True, "tool": "onnxconverter_common.float16", "optimize": variant.optimize})
    if variant.quantize == "int8":
        mode, details = modality.int8_recipe(bool(variant.calibrate))
        return Recipe(mode, {**details, "optimize": variant.optimize})
    return Recipe("optimize", _optimize_details())


def _optimize_details() -> dict[str, Any]:
    import platform

    return {
        "level": "ORT_ENABLE_ALL", "execution_provider": "CPUExecutionProvider", "machine": platform.machine(),
        "tool": "onnxruntime.SessionOptions.optimized_model_filepath",
    }


class _Reader:
    """An onnxruntime CalibrationDataReader over prepared input tuples."""

    def __init__(self, names: Sequence[str], batches: Sequence[tuple[Any, ...]]):
        self._feeds: Iterator[dict[str, Any]] = iter([dict(zip(names, _numpy(b))) for b in batches])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def _numpy(args: tuple[Any, ...]) -> list[Any]:
    import numpy as np

    return [a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a) for a in args]


def _optimize(src: Path, dest: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(dest)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def apply_variant(model: Any, recipe: Recipe, work: Path, calibration: Sequence[tuple[Any, ...]]) -> Any:
    """Returns the variant of ``model`` (an ``onnx.ModelProto`` with its weights inline) that ``recipe`` describes.

    Args:
        model: The float32 graph, parity-checked.
        work: A folder for intermediate files.
        calibration: Input tuples for static calibration (unused otherwise).
    """
    import onnx

    src = work / "fp32.onnx"
    onnx.save(model, str(src))
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    prefix = recipe.details.get("float_nodes")
    keep = [n.name for n in model.graph.node if prefix and n.name.startswith(prefix)]
    # quantize_dynamic first rewrites each Gemm as "<name>_MatMul" + "<name>_Add"; keep those float too.
    keep += [f"{n}_MatMul" for n in keep]
    out = work / "variant.onnx"
    if recipe.mode == "fp16":
        from onnxconverter_common import float16

        converted = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=keep or None)
        onnx.save(converted, str(out))
    elif recipe.mode == "int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(src), str(out), weight_type=QuantType.QInt8, per_channel=recipe.details["per_channel"],
            op_types_to_quantize=recipe.details["op_types"], nodes_to_exclude=keep,
        )
    elif recipe.mode == "int8-static":
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        if not calibration:
            raise InvalidOptionError("static int8 quantization needs calibration inputs; give calibrate= a dataset")
        pre = work / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(out), _Reader(names, calibration), quant_format=QuantFormat.QDQ,
            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, per_channel=recipe.details["per_channel"],
            calibrate_method=getattr(CalibrationMethod, recipe.details["calibrate_method"]), nodes_to_exclude=keep,
        )
    else:
        _optimize(src, out)
    if recipe.mode != "optimize" and recipe.details.get("optimize"):
        optimized = work / "variant-optimized.onnx"
        _optimize(out, optimized)
        out = optimized
    return onnx.load(str(out))


def build_variant(
    model: Any, variant: Variant, info: ModelInfo, *, reference: Callable[..., Any], work: Path, label: str, dest: Path,
    folder: Path | None = None, classifier: bool = False, parity_inputs: Callable[[], Sequence[tuple[Any, ...]]] | None = None,
    check: bool = True, atol: float = 1e-4, rtol: float = 1e-3, reference_name: str = "float32 torch",
    float_nodes: str | None = None,
) -> tuple[Any, Gate | None, Recipe]:
    """The optimized, int8 or fp16 graph of a checked float32 one, with its gate (None when not checked).

    Args:
        model: The float32 graph (weights inline), already checked against ``reference``.
        reference: Maps one input tuple to the float32 outputs the variant is judged against.
        work: A folder that does not exist yet, for intermediate files.
        label: The cut, as error messages name it; dest: where the file would go (named in errors).
        folder: The model's pulled files (the tokenizer of text models).
        classifier: The outputs are class scores: the gate also checks top-1 agreement.
        parity_inputs: Inputs for the parity check of an optimized (float32) graph.
        reference_name: What ``reference`` is, as the gate records it.
        float_nodes: A node-name prefix of nodes left in float32 (a transfer
            classifier's appended pooling, Gemm and Softmax).

    Raises:
        ParityError: The optimized graph differs from the reference beyond ``atol``/``rtol``.
        AccuracyGateError: The int8 or fp16 variant fails the gate's bounds.
    """
    modality = modality_of(info)
    recipe = recipe_for(modality, variant)
    if float_nodes and recipe.mode != "optimize":
        recipe = Recipe(recipe.mode, {**recipe.details, "float_nodes": float_nodes})
    tokenizer = None
    if modality.tokens and folder is not None and info.input is not None and info.input.tokenizer:

        def tokenizer() -> Any:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)

    calibration, held, source = ([], [], "")
    if variant.changes_numbers and (check or recipe.mode == "int8-static"):
        calibration, held, source = modality.gate_inputs(info, variant.calibrate, tokenizer, variant.text_field)
    work.mkdir()
    out = apply_variant(model, recipe, work, calibration)
    if not check:
        return out, None, recipe
    sess = ort_session(out.SerializeToString())
    if not variant.changes_numbers:
        parity = measure_parity(reference, sess, parity_inputs() if parity_inputs else held, atol, rtol)
        if not parity.ok:
            raise ParityError(
                f"{info.id} at {label}: the optimized graph differs from the reference beyond tolerance "
                f"(max abs {parity.max_abs:.3g}, cosine {parity.cosine:.6f}); nothing was written to {dest}. "
                "Export without --optimize.",
                model=info.id, stage=label, parity=parity,
            )
        return out, None, recipe
    gate = measure_gate(
        reference, sess, held, classifier=classifier, min_cosine=variant.cosine_bound(),
        min_agreement=variant.agreement_bound(), source=source, reference_name=reference_name,
    )
    if not gate.ok:
        tries = ["calibrate on your own data (--calibrate DATA)"] if source == "generated" else []
        tries += ["use --fp16"] if recipe.mode.startswith("int8") else []
        tries += ["cut at an earlier stage", "lower the bound explicitly (--min-cosine / --min-agreement)"]
        raise AccuracyGateError(
            f"{info.id} at {label}: the {recipe.mode} variant fails the accuracy gate against the {reference_name} "
            f"model: {gate.summary()}; nothing was written to {dest}. Try: {'; '.join(tries)}.",
            model=info.id, stage=label, gate=gate,
        )
    return out, gate, recipe
