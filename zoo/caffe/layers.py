"""The Caffe layer types zoo converts: one class per type (the contract is in :mod:`zoo.caffe._layer_type`).

Each class holds the type's name (and legacy V1 enum value), its parameter
message with BVLC ``caffe.proto`` field numbers, its blob roles, its shape
rule and ONNX emission, and its torch reference. The classes are registered
in the order of :data:`SUPPORTED_LAYERS`.

Where Caffe and ONNX differ, and what zoo does:

* Pooling output size. Caffe rounds up, ``ceil((H + 2p - k) / s) + 1``, then
  drops the last window if it would start at or past ``H + p`` (only when
  ``p > 0``). The ONNX emission computes that size and emits pooling with
  ``ceil_mode=0`` and explicit extra bottom/right padding, so the result does
  not depend on how a runtime implements ``ceil_mode``.
* Average pooling divisor. Caffe divides by the window clipped to the padded
  input ``[-p, H + p)``: the zero padding counts, the ceil overflow does not.
  ONNX: an explicit zero ``Pad`` node, then ``count_include_pad=0`` over the
  overflow. The torch reference instead unfolds the windows and divides each
  sum by its own clipped window size.
* LRN. Caffe's ``alpha`` is divided by ``local_size`` (``k + alpha/n * sum``),
  which is also ONNX's convention; parameters map one to one.
* BatchNorm. Caffe stores mean and variance multiplied by a moving-average
  factor ``s`` (third blob); zoo divides by ``s`` (``s == 0`` means zero
  statistics, as in Caffe) and folds the result into a Mul + Add.
* InnerProduct flattens everything from ``axis`` (default 1), like ONNX
  ``Flatten`` + ``Gemm(transB=1)``.

The torch reference (each class's ``forward``) reads the prototxt
parameters and the actual tensors only: no shape rule, plan or ONNX
attribute, so that a mistake in one path fails the exporter's parity check.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.caffe._layer_type import LayerType, Params, Unsupported, register, registered
from zoo.caffe._proto import enum, enum_name, field, message
from zoo.caffe._shapes import Shape, check_axis, fmt, need_ints, sym_prod
from zoo.errors import CaffeFormatError

if TYPE_CHECKING:
    from zoo.caffe._net import Layer
    from zoo.caffe._onnx import OnnxGraph
    from zoo.caffe._plan import Step

__all__ = [
    "SUPPORTED_LAYERS",
    "BatchNorm",
    "Concat",
    "Convolution",
    "Dropout",
    "Eltwise",
    "Flatten",
    "InnerProduct",
    "Input",
    "LRN",
    "Pooling",
    "ReLU",
    "Reshape",
    "Scale",
    "Softmax",
]

Inferred = tuple[list[Shape], list[tuple[int, ...]], dict[str, Any]]


def _onnx_reshape(g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
    shape = g.const(f"{step.layer.name}/shape", np.array(step.attrs["onnx_shape"], np.int64))
    g.node("Reshape", [ins[0], shape], outs, step.layer.name)


def _bias_node(g: OnnxGraph, step: Step, product: str, outs: list[str]) -> None:
    """Adds the layer's bias blob (``blobs[1]``, shaped as ``step.attrs["broadcast"]`` if given) to ``product``."""
    bias = step.layer.blobs[1]
    if "broadcast" in step.attrs:
        bias = bias.reshape(step.attrs["broadcast"])
    g.node("Add", [product, g.weight(f"{step.layer.name}/bias", bias)], outs, step.layer.name)


# ---- Input -----------------------------------------------------------------------------------


@register
class Input(LayerType):
    """The net's input blobs: ``input_param { shape { dim: N dim: C dim: H dim: W } }``."""

    type = "Input"
    params = Params("input_param", 143, None, message("InputParameter", field("shape", 1, "BlobShape", repeated=True)))

    def declared_inputs(self, layer: Layer, source: str) -> dict[str, list[int]]:
        shapes = [list(s.dim) for s in layer.params.shape]
        if len(shapes) not in (1, len(layer.tops)):
            raise CaffeFormatError(
                f"{source}: Input layer {layer.name!r} has {len(layer.tops)} tops but {len(shapes)} shapes; "
                "give one shape, or one per top"
            )
        return {top: shapes[i if len(shapes) > 1 else 0] for i, top in enumerate(layer.tops)}


# ---- Convolution -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ConvParams:
    kernel: tuple[int, int]
    pad: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    num_output: int
    group: int
    bias: bool


@register
class Convolution(LayerType):
    """2-D convolution: ONNX ``Conv``; torch ``conv2d``."""

    type = "Convolution"
    v1 = ("CONVOLUTION", 4)
    params = Params(
        "convolution_param", 106, 10,
        message(
            "ConvolutionParameter",
            field("num_output", 1, "uint32"),
            field("bias_term", 2, "bool", default=True),
            field("pad", 3, "uint32", repeated=True),
            field("kernel_size", 4, "uint32", repeated=True),
            field("stride", 6, "uint32", repeated=True),
            field("dilation", 18, "uint32", repeated=True),
            field("pad_h", 9, "uint32", default=0),
            field("pad_w", 10, "uint32", default=0),
            field("kernel_h", 11, "uint32"),
            field("kernel_w", 12, "uint32"),
            field("stride_h", 13, "uint32"),
            field("stride_w", 14, "uint32"),
            field("group", 5, "uint32", default=1),
            field("axis", 16, "int32", default=1),
        ),
    )
    blob_roles = ("weights", "bias")

    @staticmethod
    def _pair(layer: Layer, name: str, h: str, w: str, default: int) -> tuple[int, int]:
        """``name`` (repeated: one value, or one per axis) or its ``h``/``w`` pair."""
        p = layer.params
        values = list(getattr(p, name))
        if p.HasField(h) or p.HasField(w):
            if values:
                raise CaffeFormatError(f"layer {layer.name!r}: give either {name} or {h}/{w}, not both")
            return getattr(p, h), getattr(p, w)
        if len(values) > 2:
            raise CaffeFormatError(f"layer {layer.name!r}: {len(values)} {name} values for a 2-D convolution; give 1 or 2")
        return (values[0], values[-1]) if values else (default, default)

    def read(self, layer: Layer) -> _ConvParams:
        """The convolution's parameters, validated (they do not depend on the input)."""
        p = layer.params
        kernel = self._pair(layer, "kernel_size", "kernel_h", "kernel_w", 0)
        pad = self._pair(layer, "pad", "pad_h", "pad_w", 0)
        stride = self._pair(layer, "stride", "stride_h", "stride_w", 1)
        dil = list(p.dilation) or [1]
        if len(dil) > 2:
            raise CaffeFormatError(f"layer {layer.name!r}: {len(dil)} dilation values for a 2-D convolution; give 1 or 2")
        dilation = (dil[0], dil[-1])
        if min(kernel) <= 0 or min(stride) <= 0 or min(dilation) <= 0 or p.num_output <= 0 or p.group <= 0:
            raise CaffeFormatError(
                f"layer {layer.name!r}: kernel {kernel}, stride {stride}, dilation {dilation}, num_output "
                f"{p.num_output} and group {p.group} must all be positive"
            )
        return _ConvParams(kernel, pad, stride, dilation, p.num_output, p.group, p.bias_term)

    def check(self, layer: Layer) -> None:
        if layer.params.axis != 1:
            raise Unsupported("convolution over an axis other than 1")

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        if len(x) != 4:
            raise Unsupported(f"a {len(x) - 2}-D convolution (only 2-D is converted)")
        c = self.read(layer)
        (channels,) = need_ints(x[1:2], "input channels")
        if channels % c.group or c.num_output % c.group:
            raise CaffeFormatError(
                f"layer {layer.name!r}: group {c.group} must divide both the input channels ({channels}) and "
                f"num_output ({c.num_output})"
            )
        size = []
        for d, k, s, q, r in zip(need_ints(x[2:], "input size"), c.kernel, c.stride, c.pad, c.dilation):
            out = (d + 2 * q - (r * (k - 1) + 1)) // s + 1
            if out <= 0:
                raise CaffeFormatError(
                    f"layer {layer.name!r}: a {c.kernel[0]}x{c.kernel[1]} kernel does not fit its "
                    f"{x[2]}x{x[3]} input (pad {c.pad}); the prototxt's input size is too small"
                )
            size.append(out)
        blobs = [(c.num_output, channels // c.group, *c.kernel)] + ([(c.num_output,)] if c.bias else [])
        return [(x[0], c.num_output, *size)], blobs, {"conv": c}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        c, layer = step.attrs["conv"], step.layer
        inputs = [ins[0], g.weight(f"{layer.name}/weights", layer.blobs[0])]
        if c.bias:
            inputs.append(g.weight(f"{layer.name}/bias", layer.blobs[1]))
        ph, pw = c.pad
        g.node(
            "Conv", inputs, outs, layer.name, kernel_shape=list(c.kernel), pads=[ph, pw, ph, pw],
            strides=list(c.stride), dilations=list(c.dilation), group=c.group,
        )

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch.nn.functional as F

        c = self.read(layer)
        return [F.conv2d(xs[0], blobs[0], blobs[1] if c.bias else None, c.stride, c.pad, c.dilation, c.group)]


# ---- InnerProduct ----------------------------------------------------------------------------


@register
class InnerProduct(LayerType):
    """A fully connected layer over everything from ``axis``: ONNX ``Gemm`` (or MatMul); torch ``linear``."""

    type = "InnerProduct"
    v1 = ("INNER_PRODUCT", 14)
    params = Params(
        "inner_product_param", 117, 17,
        message(
            "InnerProductParameter",
            field("num_output", 1, "uint32"),
            field("bias_term", 2, "bool", default=True),
            field("axis", 5, "int32", default=1),
            field("transpose", 6, "bool", default=False),
        ),
    )
    blob_roles = ("weights", "bias")

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        p = layer.params
        axis = check_axis(p.axis, len(x), layer)
        k = sym_prod(x[axis:])
        if not isinstance(k, int):
            raise Unsupported("the flattened input size depends on the batch size")
        if p.num_output <= 0:
            raise CaffeFormatError(f"layer {layer.name!r}: num_output must be positive")
        n = p.num_output
        blobs = [(k, n) if p.transpose else (n, k)] + ([(n,)] if p.bias_term else [])
        return [(*x[:axis], n)], blobs, {"axis": axis, "k": k, "transpose": p.transpose, "bias": p.bias_term}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        a, layer = step.attrs, step.layer
        (x,) = ins
        weights = layer.blobs[0]
        if a["axis"] == 1:
            if len(step.in_shapes[0]) != 2:
                flat = g.unique(f"{layer.name}/flatten")
                g.node("Flatten", [x], [flat], f"{layer.name}/flatten", axis=1)
                x = flat
            inputs = [x, g.weight(f"{layer.name}/weights", weights)]
            if a["bias"]:
                inputs.append(g.weight(f"{layer.name}/bias", layer.blobs[1]))
            g.node("Gemm", inputs, outs, layer.name, transB=0 if a["transpose"] else 1)
            return
        flat = g.unique(f"{layer.name}/flatten")
        shape = g.const(f"{layer.name}/shape", np.array([0] * a["axis"] + [a["k"]], np.int64))
        g.node("Reshape", [x, shape], [flat], f"{layer.name}/flatten")
        matrix = weights if a["transpose"] else weights.T
        product = g.unique(f"{layer.name}/matmul") if a["bias"] else outs[0]
        g.node("MatMul", [flat, g.weight(f"{layer.name}/weights", matrix)], [product], f"{layer.name}/matmul")
        if a["bias"]:
            _bias_node(g, step, product, outs)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch.nn.functional as F

        p = layer.params
        x = xs[0].flatten(p.axis % xs[0].dim())
        weights = blobs[0].t() if p.transpose else blobs[0]
        return [F.linear(x, weights, blobs[1] if p.bias_term else None)]

    def init_blobs(self, rng: np.random.Generator, shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> list[np.ndarray]:
        return self.he_normal(rng, shapes, attrs["k"])


# ---- Pooling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PoolParams:
    method: str  # MAX or AVE
    global_pooling: bool
    kernel: tuple[int, int] | None  # None for global pooling: the input's size
    pad: tuple[int, int]
    stride: tuple[int, int]
    ceil: bool


@register
class Pooling(LayerType):
    """Max or average pooling with Caffe's output size and divisor (see the module docstring)."""

    type = "Pooling"
    v1 = ("POOLING", 17)
    params = Params(
        "pooling_param", 121, 19,
        message(
            "PoolingParameter",
            enum("PoolMethod", MAX=0, AVE=1, STOCHASTIC=2),
            field("pool", 1, "PoolMethod", default="MAX"),
            field("pad", 4, "uint32", default=0),
            field("pad_h", 9, "uint32", default=0),
            field("pad_w", 10, "uint32", default=0),
            field("kernel_size", 2, "uint32"),
            field("kernel_h", 5, "uint32"),
            field("kernel_w", 6, "uint32"),
            field("stride", 3, "uint32", default=1),
            field("stride_h", 7, "uint32"),
            field("stride_w", 8, "uint32"),
            field("global_pooling", 12, "bool", default=False),
            enum("RoundMode", CEIL=0, FLOOR=1),
            field("round_mode", 13, "RoundMode", default="CEIL"),
        ),
    )

    def read(self, layer: Layer) -> _PoolParams:
        """The pooling's parameters, validated (they do not depend on the input)."""
        p = layer.params
        name = layer.name
        has_hw = p.HasField("kernel_h") or p.HasField("kernel_w")
        kernel: tuple[int, int] | None
        if p.global_pooling:
            if p.HasField("kernel_size") or has_hw:
                raise CaffeFormatError(f"layer {name!r}: global_pooling takes no kernel size; remove it")
            kernel = None
        elif p.HasField("kernel_size"):
            if has_hw:
                raise CaffeFormatError(f"layer {name!r}: give either kernel_size or kernel_h/kernel_w, not both")
            kernel = (p.kernel_size, p.kernel_size)
        elif p.HasField("kernel_h") and p.HasField("kernel_w"):
            kernel = (p.kernel_h, p.kernel_w)
        else:
            raise CaffeFormatError(f"layer {name!r}: pooling needs kernel_size, or kernel_h and kernel_w")
        pad = (p.pad_h, p.pad_w) if p.HasField("pad_h") or p.HasField("pad_w") else (p.pad, p.pad)
        stride = (p.stride_h, p.stride_w) if p.HasField("stride_h") or p.HasField("stride_w") else (p.stride, p.stride)
        if min(kernel or (1,)) <= 0 or min(stride) <= 0:
            raise CaffeFormatError(f"layer {name!r}: kernel {kernel} and stride {stride} must be positive")
        if p.global_pooling and (any(pad) or stride != (1, 1)):
            raise CaffeFormatError(f"layer {name!r}: global_pooling needs pad 0 and stride 1")
        if kernel and (pad[0] >= kernel[0] or pad[1] >= kernel[1]):
            raise CaffeFormatError(f"layer {name!r}: pad {pad} must be smaller than the kernel {kernel}")
        ceil = enum_name(p, "round_mode") == "CEIL"
        return _PoolParams(enum_name(p, "pool"), p.global_pooling, kernel, pad, stride, ceil)

    def check(self, layer: Layer) -> None:
        if enum_name(layer.params, "pool") == "STOCHASTIC":
            raise Unsupported("STOCHASTIC pooling (a probability-weighted average at test time)")

    # -- ONNX: Caffe's size as floor-mode pooling with extra bottom/right padding

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        if len(x) != 4:
            raise CaffeFormatError(f"layer {layer.name!r}: pooling needs a 4-D input, got {len(x)}-D")
        size = need_ints(x[2:], "input size")
        p = self.read(layer)
        kernel = p.kernel or size
        out, extra = [], []
        for d, k, s, q in zip(size, kernel, p.stride, p.pad):
            span = d + 2 * q - k
            if span < 0:
                raise CaffeFormatError(f"layer {layer.name!r}: a {k}-wide pooling window does not fit its {d}-wide input")
            o = (-(-span // s) if p.ceil else span // s) + 1
            # Caffe: with padding, the last window must start inside the image (not in the padding).
            if q and (o - 1) * s >= d + q:
                o -= 1
            if (o - 1) * s - q >= d:
                raise Unsupported(f"its last {k}-wide pooling window (stride {s}) would lie entirely outside the input")
            out.append(o)
            # Bottom/right padding that makes floor-mode pooling produce Caffe's size.
            extra.append(max((o - 1) * s + k - (d + 2 * q), 0))
        return [(x[0], x[1], *out)], [], {"pool": p, "kernel": kernel, "extra": tuple(extra)}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        p, name = step.attrs["pool"], step.layer.name
        (x,) = ins
        if p.global_pooling:
            g.node("GlobalMaxPool" if p.method == "MAX" else "GlobalAveragePool", [x], outs, name)
            return
        (ph, pw), (eh, ew) = p.pad, step.attrs["extra"]
        common = {"kernel_shape": list(step.attrs["kernel"]), "strides": list(p.stride), "ceil_mode": 0}
        if p.method == "MAX":
            # Max ignores padding, so Caffe's ceil-mode size is just extra bottom/right padding.
            g.node("MaxPool", [x], outs, name, pads=[ph, pw, ph + eh, pw + ew], **common)
            return
        # Caffe averages over the window clipped to [-pad, H + pad): the zero padding
        # counts in the divisor, the ceil overflow does not. Pad explicitly, then let
        # count_include_pad=0 leave out only the overflow.
        if ph or pw:
            padded = g.unique(f"{name}/pad")
            pads = g.const(f"{name}/pads", np.array([0, 0, ph, pw, 0, 0, ph, pw], np.int64))
            g.node("Pad", [x, pads], [padded], f"{name}/pad", mode="constant")
            x = padded
        g.node("AveragePool", [x], outs, name, pads=[0, 0, eh, ew], count_include_pad=0, **common)

    # -- torch: Caffe's PoolingLayer computed directly on the tensor

    @staticmethod
    def torch_axis(layer: Layer, size: int, kernel: int, stride: int, pad: int, ceil: bool) -> tuple[int, int, int]:
        """Along one axis: Caffe's pooled size, and the padding before and after the input its windows take."""
        if size + 2 * pad < kernel:
            raise CaffeFormatError(f"layer {layer.name!r}: a {kernel}-wide pooling window does not fit its {size}-wide input")
        windows = (size + 2 * pad - kernel) / stride
        pooled = (math.ceil(windows) if ceil else math.floor(windows)) + 1
        if pad > 0 and (pooled - 1) * stride >= size + pad:
            pooled -= 1  # Caffe drops a last window that would start in the bottom/right padding
        last_start = (pooled - 1) * stride - pad
        if last_start >= size:
            raise Unsupported(f"its last {kernel}-wide pooling window (stride {stride}) would lie entirely outside the input")
        return pooled, pad, max(last_start + kernel - size, 0)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch
        import torch.nn.functional as F

        (x,) = xs
        p = self.read(layer)
        if p.global_pooling:
            return [x.amax(dim=(2, 3), keepdim=True) if p.method == "MAX" else x.mean(dim=(2, 3), keepdim=True)]
        height, width = x.shape[2:]
        (kh, kw), (sh, sw), (ph, pw) = p.kernel, p.stride, p.pad
        oh, top, bottom = self.torch_axis(layer, height, kh, sh, ph, p.ceil)
        ow, left, right = self.torch_axis(layer, width, kw, sw, pw, p.ceil)
        # Max: padding never wins. Average: zeros, which add nothing to a window's sum.
        fill = float("-inf") if p.method == "MAX" else 0.0
        padded = F.pad(x, (left, right, top, bottom), value=fill)
        windows = padded.unfold(2, kh, sh).unfold(3, kw, sw)[:, :, :oh, :ow]
        if p.method == "MAX":
            return [windows.amax(dim=(-2, -1))]
        # Caffe's divisor: each window clipped to the zero-padded input [-pad, size + pad).
        rows = torch.arange(oh) * sh - ph
        cols = torch.arange(ow) * sw - pw
        row_counts = torch.clamp(rows + kh, max=height + ph) - rows
        col_counts = torch.clamp(cols + kw, max=width + pw) - cols
        divisor = (row_counts[:, None] * col_counts[None, :]).to(x.dtype)
        return [windows.sum(dim=(-2, -1)) / divisor]


# ---- ReLU, LRN -------------------------------------------------------------------------------


@register
class ReLU(LayerType):
    """ReLU, or leaky ReLU with ``negative_slope``."""

    type = "ReLU"
    v1 = ("RELU", 18)
    params = Params("relu_param", 123, 30, message("ReLUParameter", field("negative_slope", 1, "float", default=0)))

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        return [shapes[0]], [], {"slope": float(layer.params.negative_slope)}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        slope = step.attrs["slope"]
        if slope:
            g.node("LeakyRelu", ins, outs, step.layer.name, alpha=slope)
        else:
            g.node("Relu", ins, outs, step.layer.name)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch.nn.functional as F

        slope = float(layer.params.negative_slope)
        return [F.leaky_relu(xs[0], slope) if slope else F.relu(xs[0])]


@register
class LRN(LayerType):
    """Local response normalization across channels: ONNX ``LRN``; torch ``local_response_norm``."""

    type = "LRN"
    v1 = ("LRN", 15)
    params = Params(
        "lrn_param", 118, 18,
        message(
            "LRNParameter",
            field("local_size", 1, "uint32", default=5),
            field("alpha", 2, "float", default=1),
            field("beta", 3, "float", default=0.75),
            enum("NormRegion", ACROSS_CHANNELS=0, WITHIN_CHANNEL=1),
            field("norm_region", 4, "NormRegion", default="ACROSS_CHANNELS"),
            field("k", 5, "float", default=1),
        ),
    )

    def read(self, layer: Layer) -> dict[str, Any]:
        """``size``, ``alpha``, ``beta`` and ``k``; Caffe requires an odd size."""
        p = layer.params
        if p.local_size % 2 != 1:
            raise CaffeFormatError(f"layer {layer.name!r}: LRN local_size must be odd (Caffe requires it), got {p.local_size}")
        return {"size": p.local_size, "alpha": float(p.alpha), "beta": float(p.beta), "k": float(p.k)}

    def check(self, layer: Layer) -> None:
        if enum_name(layer.params, "norm_region") != "ACROSS_CHANNELS":
            raise Unsupported("LRN with norm_region WITHIN_CHANNEL")

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        attrs = self.read(layer)
        if len(x) != 4:
            raise CaffeFormatError(f"layer {layer.name!r}: LRN needs a 4-D input, got {len(x)}-D")
        return [x], [], attrs

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        a = step.attrs
        # ONNX LRN is x / (bias + alpha / size * sum(x^2))^beta: Caffe's convention.
        g.node("LRN", ins, outs, step.layer.name, size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["k"])

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch.nn.functional as F

        a = self.read(layer)
        return [F.local_response_norm(xs[0], a["size"], a["alpha"], a["beta"], a["k"])]


# ---- Concat, Dropout, Softmax ----------------------------------------------------------------


@register
class Concat(LayerType):
    """Concatenation along ``axis`` (or the legacy ``concat_dim``)."""

    type = "Concat"
    v1 = ("CONCAT", 3)
    params = Params(
        "concat_param", 104, 9,
        message("ConcatParameter", field("axis", 2, "int32", default=1), field("concat_dim", 1, "uint32", default=1)),
    )

    @staticmethod
    def axis(layer: Layer) -> int:
        """The axis as given (possibly negative): ``axis``, else the legacy ``concat_dim``."""
        p = layer.params
        return p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        first = shapes[0]
        axis = check_axis(self.axis(layer), len(first), layer)
        for s in shapes[1:]:
            if len(s) != len(first) or any(
                i != axis and isinstance(a, int) and isinstance(b, int) and a != b for i, (a, b) in enumerate(zip(first, s))
            ):
                raise CaffeFormatError(
                    f"layer {layer.name!r}: cannot concatenate shapes {fmt(first)} and {fmt(s)} along axis {axis}"
                )
        dims = [s[axis] for s in shapes]
        total = sum(dims) if all(isinstance(d, int) for d in dims) else None
        return [(*first[:axis], total, *first[axis + 1 :])], [], {"axis": axis}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        g.node("Concat", ins, outs, step.layer.name, axis=step.attrs["axis"])

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch

        return [torch.cat(xs, dim=self.axis(layer))]


@register
class Dropout(LayerType):
    """Dropout: the identity at test time."""

    type = "Dropout"
    v1 = ("DROPOUT", 6)
    params = Params("dropout_param", 108, 12, message("DropoutParameter", field("dropout_ratio", 1, "float", default=0.5)))

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        return [shapes[0]], [], {}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        g.node("Identity", ins[:1], outs, step.layer.name)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        return [xs[0]]


@register
class Softmax(LayerType):
    """Softmax over ``axis``."""

    type = "Softmax"
    v1 = ("SOFTMAX", 20)
    params = Params("softmax_param", 125, 39, message("SoftmaxParameter", field("axis", 2, "int32", default=1)))

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        return [shapes[0]], [], {"axis": check_axis(layer.params.axis, len(shapes[0]), layer)}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        g.node("Softmax", ins, outs, step.layer.name, axis=step.attrs["axis"])

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch

        return [torch.softmax(xs[0], dim=layer.params.axis)]


# ---- BatchNorm, Scale ------------------------------------------------------------------------


@register
class BatchNorm(LayerType):
    """Inference BatchNorm with Caffe's stored statistics (mean and variance times a moving-average factor)."""

    type = "BatchNorm"
    params = Params(
        "batch_norm_param", 139, None,
        message(
            "BatchNormParameter",
            field("use_global_stats", 1, "bool"),
            field("moving_average_fraction", 2, "float", default=0.999),
            field("eps", 3, "float", default=1e-5),
        ),
    )
    blob_roles = ("mean", "variance", "moving-average factor")
    trainable = False

    def check(self, layer: Layer) -> None:
        p = layer.params
        if p.HasField("use_global_stats") and not p.use_global_stats:
            raise Unsupported("BatchNorm with use_global_stats: false (it normalizes with batch statistics)")

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        (channels,) = need_ints((x[1] if len(x) > 1 else 1,), "channel count")
        return [x], [(channels,), (channels,), (1,)], {"eps": float(layer.params.eps), "channels": channels}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        layer, a = step.layer, step.attrs
        mean, var, factor = (np.asarray(b, np.float64) for b in layer.blobs)
        s = float(factor.reshape(-1)[0])
        scale = 0.0 if s == 0 else 1.0 / s  # Caffe: a zero factor means zero statistics
        inv_std = 1.0 / np.sqrt(var * scale + a["eps"])
        shape = (a["channels"],) + (1,) * max(len(step.in_shapes[0]) - 2, 0)
        mul = g.unique(f"{layer.name}/normalized")
        g.node("Mul", [ins[0], g.weight(f"{layer.name}/inv_std", inv_std.reshape(shape))], [mul], f"{layer.name}/mul")
        g.node("Add", [mul, g.weight(f"{layer.name}/shift", (-mean * scale * inv_std).reshape(shape))], outs, layer.name)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch.nn.functional as F

        mean, var, factor = blobs
        s = float(factor.reshape(-1)[0])
        mean, var = (mean / s, var / s) if s else (mean * 0, var * 0)
        return [F.batch_norm(xs[0], mean, var, training=False, eps=float(layer.params.eps))]

    def init_blobs(self, rng: np.random.Generator, shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> list[np.ndarray]:
        mean, var, factor = shapes
        return [rng.normal(0, 0.1, mean), rng.uniform(0.5, 1.5, var), np.ones(factor)]


@register
class Scale(LayerType):
    """A learned per-channel (or per-``axis`` span) scale, optionally with a bias."""

    type = "Scale"
    params = Params(
        "scale_param", 142, None,
        message(
            "ScaleParameter",
            field("axis", 1, "int32", default=1),
            field("num_axes", 2, "int32", default=1),
            field("bias_term", 4, "bool", default=False),
        ),
    )
    blob_roles = ("scale", "bias")

    def check(self, layer: Layer) -> None:
        if len(layer.bottoms) != 1:
            raise Unsupported("Scale with a second bottom (the scale as an input blob)")

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        p = layer.params
        axis = check_axis(p.axis, len(x), layer) if x else 0
        if p.num_axes < -1:
            raise CaffeFormatError(f"layer {layer.name!r}: num_axes must be -1 or more, got {p.num_axes}")
        end = len(x) if p.num_axes == -1 else axis + p.num_axes
        if end > len(x):
            raise CaffeFormatError(f"layer {layer.name!r}: axis {axis} + num_axes {p.num_axes} exceeds the {len(x)}-D input")
        shape = need_ints(x[axis:end], "scale shape")
        broadcast = (1,) * axis + shape + (1,) * (len(x) - end)
        return [x], [shape] + ([shape] if p.bias_term else []), {"broadcast": broadcast, "bias": p.bias_term}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        layer, a = step.layer, step.attrs
        scaled = g.unique(f"{layer.name}/scaled") if a["bias"] else outs[0]
        scale = layer.blobs[0].reshape(a["broadcast"])
        g.node("Mul", [ins[0], g.weight(f"{layer.name}/scale", scale)], [scaled], f"{layer.name}/mul")
        if a["bias"]:
            _bias_node(g, step, scaled, outs)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        x = xs[0]
        # The blobs cover the axes from ``axis`` on; torch broadcasts the leading ones.
        trailing = x.dim() - layer.params.axis % max(x.dim(), 1) - blobs[0].dim()
        scale, *bias = (b.reshape(*b.shape, *[1] * trailing) for b in blobs)
        y = x * scale
        return [y + bias[0] if layer.params.bias_term else y]

    def init_blobs(self, rng: np.random.Generator, shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> list[np.ndarray]:
        return [rng.normal(1.0, 0.1, shapes[0])] + [rng.normal(0, 0.1, s) for s in shapes[1:]]


# ---- Eltwise ---------------------------------------------------------------------------------


@register
class Eltwise(LayerType):
    """Element-wise SUM (with coefficients), PROD or MAX of two or more bottoms."""

    type = "Eltwise"
    v1 = ("ELTWISE", 25)
    params = Params(
        "eltwise_param", 110, 24,
        message(
            "EltwiseParameter",
            enum("EltwiseOp", PROD=0, SUM=1, MAX=2),
            field("operation", 1, "EltwiseOp", default="SUM"),
            field("coeff", 2, "float", repeated=True),
            field("stable_prod_grad", 3, "bool", default=True),
        ),
    )

    def read(self, layer: Layer) -> tuple[str, list[float]]:
        """The operation and one coefficient per bottom (all 1 unless SUM gives them)."""
        p, n = layer.params, len(layer.bottoms)
        op = enum_name(p, "operation")
        if n < 2:
            raise CaffeFormatError(f"layer {layer.name!r}: Eltwise needs at least two bottoms")
        coeff = [float(c) for c in p.coeff]
        if coeff and op != "SUM":
            raise CaffeFormatError(f"layer {layer.name!r}: Eltwise takes coeff only for SUM, not {op}")
        if coeff and len(coeff) != n:
            raise CaffeFormatError(f"layer {layer.name!r}: {len(coeff)} coeff values for {n} bottoms; give one per bottom")
        return op, coeff or [1.0] * n

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        op, coeff = self.read(layer)
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(first, s)):
                raise CaffeFormatError(f"layer {layer.name!r}: Eltwise inputs differ in shape: {fmt(first)} vs {fmt(s)}")
        return [first], [], {"op": op, "coeff": coeff}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        layer, op = step.layer, step.attrs["op"]
        if op == "MAX":
            g.node("Max", ins, outs, layer.name)
            return
        if op == "PROD":
            acc = ins[0]
            for i, x in enumerate(ins[1:], start=1):
                out = outs[0] if i == len(ins) - 1 else g.unique(f"{layer.name}/prod{i}")
                g.node("Mul", [acc, x], [out], f"{layer.name}/mul{i}")
                acc = out
            return
        terms = []
        for i, (x, c) in enumerate(zip(ins, step.attrs["coeff"])):
            if c == 1.0:
                terms.append(x)
                continue
            term = g.unique(f"{layer.name}/term{i}")
            g.node("Mul", [x, g.const(f"{layer.name}/coeff{i}", np.array(c, np.float32))], [term], f"{layer.name}/coeff{i}")
            terms.append(term)
        g.node("Sum", terms, outs, layer.name)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        import torch

        op, coeff = self.read(layer)
        if op == "SUM":
            return [sum(c * x for c, x in zip(coeff, xs))]
        return [functools.reduce(operator.mul if op == "PROD" else torch.maximum, xs)]


# ---- Flatten, Reshape ------------------------------------------------------------------------


@register
class Flatten(LayerType):
    """Flattens the axes ``axis`` to ``end_axis`` into one."""

    type = "Flatten"
    v1 = ("FLATTEN", 8)
    params = Params(
        "flatten_param", 135, None,
        message("FlattenParameter", field("axis", 1, "int32", default=1), field("end_axis", 2, "int32", default=-1)),
    )

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        p = layer.params
        start = check_axis(p.axis, len(x), layer)
        end = check_axis(p.end_axis, len(x), layer, "end_axis")
        if end < start:
            raise CaffeFormatError(f"layer {layer.name!r}: end_axis {p.end_axis} comes before axis {p.axis}")
        suffix = x[end + 1 :]
        if not all(isinstance(d, int) for d in suffix):
            raise Unsupported("the kept trailing dimensions depend on the batch size")
        out = (*x[:start], sym_prod(x[start : end + 1]), *suffix)
        return [out], [], {"onnx_shape": [0] * start + [-1] + list(suffix)}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        _onnx_reshape(g, step, ins, outs)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        p, rank = layer.params, xs[0].dim()
        return [xs[0].flatten(p.axis % rank, p.end_axis % rank)]


@register
class Reshape(LayerType):
    """Caffe's Reshape: ``0`` copies a dimension, ``-1`` infers one, over the span ``axis`` + ``num_axes``."""

    type = "Reshape"
    params = Params(
        "reshape_param", 133, None,
        message(
            "ReshapeParameter",
            field("shape", 1, "BlobShape"),
            field("axis", 2, "int32", default=0),
            field("num_axes", 3, "int32", default=-1),
        ),
    )

    @staticmethod
    def _inferred_dim(layer: Layer, x: Shape, out: list[Any], at: int, spec: list[int]) -> Any:
        """The ``-1`` dimension at ``out[at]``: an int, ``"N"`` (the batch), or None."""
        others = out[:at] + out[at + 1 :]
        n_in, n_other = sum(d == "N" for d in x), sum(d == "N" for d in others)
        p_in = sym_prod([d for d in x if d != "N"])
        p_other = sym_prod([d for d in others if d != "N"])
        if not (isinstance(p_in, int) and isinstance(p_other, int)):
            return None
        if n_in == n_other:
            if p_other == 0 or p_in % p_other:
                raise CaffeFormatError(
                    f"layer {layer.name!r}: cannot reshape {fmt(x)} to {spec}: {p_in} values do not divide by {p_other}"
                )
            return p_in // p_other
        return "N" if n_in == n_other + 1 and p_in == p_other else None

    @staticmethod
    def _onnx_shape(x: Shape, start: int, end: int, spec: list[int]) -> list[int]:
        # ONNX: 0 copies the input dim at the same index, so the kept prefix is all 0s;
        # the kept suffix stays aligned only when the reshaped span keeps its length.
        shape = [0] * start + spec
        aligned, free = len(spec) == end - start, -1 not in spec
        for d in x[end:]:
            if aligned:
                shape.append(0)
            elif isinstance(d, int):
                shape.append(d)
            elif free:
                shape.append(-1)
                free = False
            else:
                raise Unsupported("the reshaped layout depends on the batch size")
        return shape

    def infer(self, layer: Layer, shapes: list[Shape]) -> Inferred:
        (x,) = shapes
        p = layer.params
        rank = len(x)
        start = p.axis if p.axis >= 0 else rank + p.axis + 1
        if not 0 <= start <= rank:
            raise CaffeFormatError(f"layer {layer.name!r}: reshape axis {p.axis} is out of range for a {rank}-D input")
        if p.num_axes < -1:
            raise CaffeFormatError(f"layer {layer.name!r}: num_axes must be -1 or more, got {p.num_axes}")
        end = rank if p.num_axes == -1 else start + p.num_axes
        if end > rank:
            raise CaffeFormatError(f"layer {layer.name!r}: axis {p.axis} + num_axes {p.num_axes} exceeds the {rank}-D input")
        spec = [int(d) for d in p.shape.dim]
        if spec.count(-1) > 1 or any(d < -1 for d in spec):
            raise CaffeFormatError(f"layer {layer.name!r}: reshape dims {spec}: at most one -1 and no other negative value")
        mid: list[Any] = []
        for i, d in enumerate(spec):
            if d == 0 and start + i >= rank:
                raise CaffeFormatError(f"layer {layer.name!r}: dim {i} is 0 (copy) but the input has no axis {start + i}")
            mid.append(x[start + i] if d == 0 else d)
        out = [*x[:start], *mid, *x[end:]]
        if -1 in spec:
            at = start + spec.index(-1)
            out[at] = self._inferred_dim(layer, x, out, at, spec)
        else:
            before, after = sym_prod(x), sym_prod(out)
            if before is not None and after is not None and before != after:
                raise CaffeFormatError(f"layer {layer.name!r}: cannot reshape {fmt(x)} ({before} values) to {fmt(out)}")
        return [tuple(out)], [], {"onnx_shape": self._onnx_shape(x, start, end, spec)}

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        _onnx_reshape(g, step, ins, outs)

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        # Caffe's own rule, evaluated on the actual tensor: 0 copies, -1 infers.
        p, x = layer.params, xs[0]
        rank = x.dim()
        start = p.axis if p.axis >= 0 else rank + p.axis + 1
        end = rank if p.num_axes == -1 else start + p.num_axes
        mid = [x.shape[start + i] if d == 0 else d for i, d in enumerate(p.shape.dim)]
        return [x.reshape(*x.shape[:start], *mid, *x.shape[end:])]


SUPPORTED_LAYERS = tuple(kind.type for kind in registered())
"""The Caffe layer types zoo converts, in registration order."""
