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
  weights int8 per channel, activations uint8 from MinMax calibration on the
  user's images (``calibrate=``) or, without them, on natural-looking images
  made in code;
- fp16: weights and compute in float16, inputs and outputs kept float32
  (``onnxconverter_common``).

Everything is done by onnxruntime.quantization and onnxconverter-common; no
quantizer is written here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import InvalidOptionError

__all__ = ["Variant", "Recipe", "recipe_for", "apply_variant"]

QUANTIZE_MODES = ("int8",)


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
        return self.min_cosine if self.min_cosine is not None else (0.99 if self.quantize else 0.9995)

    def agreement_bound(self) -> float:
        return self.min_agreement if self.min_agreement is not None else 0.99

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


def recipe_for(info: Any, variant: Variant) -> Recipe:
    """The recipe for this model family (see the module docstring for why)."""
    if variant.fp16:
        return Recipe("fp16", {"keep_io_types": True, "tool": "onnxconverter_common.float16", "optimize": variant.optimize})
    if variant.quantize == "int8":
        if info.modality == "text":
            return Recipe("int8-dynamic", {
                "weight_type": "QInt8", "per_channel": True, "op_types": ["MatMul", "Gather"], "optimize": variant.optimize,
                "tool": "onnxruntime.quantization.quantize_dynamic",
            })
        return Recipe("int8-static", {
            "format": "QDQ", "weight_type": "QInt8", "activation_type": "QUInt8", "per_channel": True,
            "calibrate_method": "MinMax", "optimize": variant.optimize,
            "calibration": "user data" if variant.calibrate else "generated natural-looking images",
            "tool": "onnxruntime.quantization.quantize_static",
        })
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
    out = work / "variant.onnx"
    if recipe.mode == "fp16":
        from onnxconverter_common import float16

        onnx.save(float16.convert_float_to_float16(model, keep_io_types=True), str(out))
    elif recipe.mode == "int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(src), str(out), weight_type=QuantType.QInt8, per_channel=recipe.details["per_channel"],
            op_types_to_quantize=recipe.details["op_types"],
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
            calibrate_method=CalibrationMethod.MinMax,
        )
    else:
        _optimize(src, out)
    if recipe.mode != "optimize" and recipe.details.get("optimize"):
        optimized = work / "variant-optimized.onnx"
        _optimize(out, optimized)
        out = optimized
    return onnx.load(str(out))
