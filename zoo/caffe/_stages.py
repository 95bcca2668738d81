"""Stages of a Caffe net: every top blob with its channels and stride, measured by ONNX shape inference.

The net is converted with its weights as typed graph inputs (no weight data
is needed or copied) and every convertible top as an output, and
``onnx.shape_inference`` runs on it at the prototxt's input size: the
shapes come from ONNX's own operator rules, not from zoo's Caffe rules.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.caffe._onnx import build_model
from zoo.caffe._plan import plan_of
from zoo.errors import ExportError

if TYPE_CHECKING:
    from zoo.caffe._net import Net

__all__ = ["stage_shapes", "stages_of"]


def _inferred_shapes(net: Net) -> dict[str, list[int | None]]:
    """Top -> its shape at the prototxt's input size, batch 1, for every convertible top (execution order)."""
    import onnx

    plan = plan_of(net)
    tops = [t for t in plan.order if plan.shapes[plan.final[t]] is not None]
    if not tops:
        return {}
    # Shapes only: stand-in weights of the right shapes that take no memory.
    shaped = dataclasses.replace(
        net,
        layers=[
            dataclasses.replace(s.layer, blobs=[np.broadcast_to(np.float32(0), shape) for shape in (s.expected or [])])
            for s in plan.steps
        ],
    )
    shaped_plan = plan_of(shaped)
    model = build_model(shaped, shaped_plan, tops, opset=17, batch=1, rgb_input=False, weights_as_inputs=True)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ExportError(f"{net.name}: ONNX shape inference fails on the converted graph ({exc}); please report it") from exc
    found: dict[str, list[int | None]] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        found[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    shapes = {}
    for top in tops:
        dims = found.get(shaped_plan.final[top])
        if dims and len(dims) >= 2 and isinstance(dims[1], int) and dims[1] > 0:
            shapes[top] = dims
    return shapes


def _nearest_power_of_two(value: float) -> int:
    return 2 ** max(0, round(math.log2(value))) if value > 0 else 1


def stages_of(net: Net) -> list[dict[str, Any]]:
    """Every top blob as a stage: name, channels and stride, measured by ONNX shape inference.

    Returns:
        ``[{"name": top, "channels": C, "stride": S}, ...]`` in execution order,
        one per distinct top (an in-place blob once), the input left out, and
        tops that depend on an unconvertible layer left out. ``stride`` is the
        input height over the output height rounded to the nearest power of
        two (in log scale). Outputs without a spatial extent (2-D, like
        InnerProduct or Softmax, or 1x1 after global pooling) get
        ``channels`` = their features and ``stride`` = the input height: one
        position covers the whole image.
    """
    first = next(iter(net.inputs.values()))
    height = int(first[2]) if len(first) == 4 else None
    stages = []
    for top, dims in _inferred_shapes(net).items():
        if height and len(dims) == 4 and isinstance(dims[2], int) and dims[2] > 1:
            stride = _nearest_power_of_two(height / dims[2])
        else:
            stride = height or 1
        stages.append({"name": top, "channels": dims[1], "stride": stride})
    return stages


def stage_shapes(net: Net) -> dict[str, tuple[int | None, ...]]:
    """Each stage's output size for one sample at the prototxt's input size, by ONNX shape inference.

    Returns:
        Top -> its shape without the batch dimension (``(64, 56, 56)``;
        ``(1000,)`` after an InnerProduct), for the same tops as
        :func:`stages_of`, in the same order.
    """
    return {top: tuple(dims[1:]) for top, dims in _inferred_shapes(net).items()}
