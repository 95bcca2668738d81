"""Caffe models: read ``deploy.prototxt`` + ``.caffemodel``, convert to ONNX, cut at any top blob.

A Caffe model is two files. ``deploy.prototxt`` is protobuf *text* format and
describes the network: a ``NetParameter`` with ``layer`` (or the legacy V1
``layers``) entries, each naming its ``bottom`` and ``top`` blobs. The
``.caffemodel`` is protobuf *binary* format: the same ``NetParameter`` whose
layers carry the learned ``blobs`` (``BlobProto``: ``data`` or
``double_data`` plus a ``shape``, or the legacy num/channels/height/width).

zoo does not vendor Caffe or its ``caffe.proto``. :func:`proto` builds, at run
time and through a ``FileDescriptorProto``, only the messages and fields zoo
reads, with the field numbers and types of BVLC's ``caffe.proto`` (packed
floats stay packed, so files written by real Caffe parse).

Conversion (:func:`to_onnx`) covers the layers of the BVLC Model Zoo nets:
Input, Convolution, InnerProduct, Pooling, ReLU, LRN, Concat, Dropout,
Softmax, BatchNorm, Scale, Eltwise, Flatten and Reshape. :class:`TorchNet` is
an independent interpretation of the same layers with
``torch.nn.functional``, used as the parity reference.

Where Caffe and ONNX differ, and what zoo does:

* Pooling output size. Caffe rounds up, ``ceil((H + 2p - k) / s) + 1``, then
  drops the last window if it would start at or past ``H + p`` (only when
  ``p > 0``). zoo computes that size itself and emits ONNX pooling with
  ``ceil_mode=0`` and explicit extra bottom/right padding, so the result does
  not depend on how a runtime implements ``ceil_mode``.
* Average pooling divisor. Caffe divides by the window clipped to the padded
  input ``[-p, H + p)``: the zero padding counts, the ceil overflow does not.
  zoo pads explicitly with zeros (a ``Pad`` node) and then averages with
  ``count_include_pad=0`` over the overflow.
* LRN. Caffe's ``alpha`` is divided by ``local_size`` (``k + alpha/n * sum``),
  which is also ONNX's convention; parameters map one to one.
* BatchNorm. Caffe stores mean and variance multiplied by a moving-average
  factor ``s`` (third blob); zoo divides by ``s`` (``s == 0`` means zero
  statistics, as in Caffe) and folds the result into a Mul + Add.
* InnerProduct flattens everything from ``axis`` (default 1), like ONNX
  ``Flatten`` + ``Gemm(transB=1)``.
* In-place layers (``top == bottom``, e.g. ReLU, Dropout) overwrite a blob.
  Each write gets its own ONNX tensor; the *last* writer of a blob keeps the
  Caffe name, so ``until="conv1"`` means conv1 after its in-place ReLU, which
  is what Caffe's blob holds after a forward pass.

Input convention. BVLC models take BGR images in 0-255 minus the ImageNet
mean ``[104, 117, 123]`` (B, G, R). zoo's vision preprocessing produces RGB
``(x / 255 - mean) / std``; with ``mean = [123, 117, 104] / 255`` (RGB order)
and ``std = [1 / 255] * 3`` that is exactly RGB 0-255 minus the mean. The
channel reversal to BGR is then done inside the model: ``rgb_input=True`` on
:func:`to_onnx` and :class:`TorchNet` (registry ``arch_args:
{channel_order: bgr}``, the caffe adapter's default) adds it as the first op.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import CaffeFormatError, ExportError, StageNotFoundError

__all__ = [
    "SUPPORTED_LAYERS",
    "Layer",
    "Net",
    "TorchNet",
    "proto",
    "read_frontmatter",
    "load_net",
    "random_weights",
    "to_onnx",
    "stages_of",
    "param_count",
    "registry_entry",
]

# protobuf refuses messages of 2 GiB or more; check before reading a byte.
_MAX_CAFFEMODEL_BYTES = 2**31 - 1
_MAX_PROTOTXT_BYTES = 64 * 1024 * 1024
_MAX_README_BYTES = 1024 * 1024

# --------------------------------------------------------------------------
# The proto: the subset of BVLC caffe.proto zoo reads, same numbers and types.
# Parsed by _file_descriptor() below into a FileDescriptorProto.
# --------------------------------------------------------------------------

_PROTO = """
message BlobShape {
  repeated int64 dim = 1 [packed = true];
}

message BlobProto {
  optional BlobShape shape = 7;
  repeated float data = 5 [packed = true];
  repeated double double_data = 8 [packed = true];
  optional int32 num = 1 [default = 0];
  optional int32 channels = 2 [default = 0];
  optional int32 height = 3 [default = 0];
  optional int32 width = 4 [default = 0];
}

message NetParameter {
  optional string name = 1;
  repeated string input = 3;
  repeated BlobShape input_shape = 8;
  repeated int32 input_dim = 4;
  repeated LayerParameter layer = 100;
  repeated V1LayerParameter layers = 2;
}

enum Phase {
  TRAIN = 0;
  TEST = 1;
}

message NetStateRule {
  optional Phase phase = 1;
}

message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional Phase phase = 10;
  repeated BlobProto blobs = 7;
  repeated NetStateRule include = 8;
  repeated NetStateRule exclude = 9;
  optional BatchNormParameter batch_norm_param = 139;
  optional ConcatParameter concat_param = 104;
  optional ConvolutionParameter convolution_param = 106;
  optional DropoutParameter dropout_param = 108;
  optional EltwiseParameter eltwise_param = 110;
  optional FlattenParameter flatten_param = 135;
  optional InnerProductParameter inner_product_param = 117;
  optional InputParameter input_param = 143;
  optional LRNParameter lrn_param = 118;
  optional PoolingParameter pooling_param = 121;
  optional ReLUParameter relu_param = 123;
  optional ReshapeParameter reshape_param = 133;
  optional ScaleParameter scale_param = 142;
  optional SoftmaxParameter softmax_param = 125;
}

message BatchNormParameter {
  optional bool use_global_stats = 1;
  optional float moving_average_fraction = 2 [default = 0.999];
  optional float eps = 3 [default = 1e-5];
}

message ConcatParameter {
  optional int32 axis = 2 [default = 1];
  optional uint32 concat_dim = 1 [default = 1];
}

message ConvolutionParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  repeated uint32 pad = 3;
  repeated uint32 kernel_size = 4;
  repeated uint32 stride = 6;
  repeated uint32 dilation = 18;
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_h = 11;
  optional uint32 kernel_w = 12;
  optional uint32 stride_h = 13;
  optional uint32 stride_w = 14;
  optional uint32 group = 5 [default = 1];
  optional int32 axis = 16 [default = 1];
}

message DropoutParameter {
  optional float dropout_ratio = 1 [default = 0.5];
}

message EltwiseParameter {
  enum EltwiseOp {
    PROD = 0;
    SUM = 1;
    MAX = 2;
  }
  optional EltwiseOp operation = 1 [default = SUM];
  repeated float coeff = 2;
  optional bool stable_prod_grad = 3 [default = true];
}

message FlattenParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 end_axis = 2 [default = -1];
}

message InnerProductParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  optional int32 axis = 5 [default = 1];
  optional bool transpose = 6 [default = false];
}

message InputParameter {
  repeated BlobShape shape = 1;
}

message LRNParameter {
  optional uint32 local_size = 1 [default = 5];
  optional float alpha = 2 [default = 1];
  optional float beta = 3 [default = 0.75];
  enum NormRegion {
    ACROSS_CHANNELS = 0;
    WITHIN_CHANNEL = 1;
  }
  optional NormRegion norm_region = 4 [default = ACROSS_CHANNELS];
  optional float k = 5 [default = 1];
}

message PoolingParameter {
  enum PoolMethod {
    MAX = 0;
    AVE = 1;
    STOCHASTIC = 2;
  }
  optional PoolMethod pool = 1 [default = MAX];
  optional uint32 pad = 4 [default = 0];
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_size = 2;
  optional uint32 kernel_h = 5;
  optional uint32 kernel_w = 6;
  optional uint32 stride = 3 [default = 1];
  optional uint32 stride_h = 7;
  optional uint32 stride_w = 8;
  optional bool global_pooling = 12 [default = false];
  enum RoundMode {
    CEIL = 0;
    FLOOR = 1;
  }
  optional RoundMode round_mode = 13 [default = CEIL];
}

message ReLUParameter {
  optional float negative_slope = 1 [default = 0];
}

message ReshapeParameter {
  optional BlobShape shape = 1;
  optional int32 axis = 2 [default = 0];
  optional int32 num_axes = 3 [default = -1];
}

message ScaleParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 num_axes = 2 [default = 1];
  optional bool bias_term = 4 [default = false];
}

message SoftmaxParameter {
  optional int32 axis = 2 [default = 1];
}

message V1LayerParameter {
  repeated string bottom = 2;
  repeated string top = 3;
  optional string name = 4;
  repeated NetStateRule include = 32;
  repeated NetStateRule exclude = 33;
  enum LayerType {
    NONE = 0;
    ABSVAL = 35;
    ACCURACY = 1;
    ARGMAX = 30;
    BNLL = 2;
    CONCAT = 3;
    CONTRASTIVE_LOSS = 37;
    CONVOLUTION = 4;
    DATA = 5;
    DECONVOLUTION = 39;
    DROPOUT = 6;
    DUMMY_DATA = 32;
    EUCLIDEAN_LOSS = 7;
    ELTWISE = 25;
    EXP = 38;
    FLATTEN = 8;
    HDF5_DATA = 9;
    HDF5_OUTPUT = 10;
    HINGE_LOSS = 28;
    IM2COL = 11;
    IMAGE_DATA = 12;
    INFOGAIN_LOSS = 13;
    INNER_PRODUCT = 14;
    LRN = 15;
    MEMORY_DATA = 29;
    MULTINOMIAL_LOGISTIC_LOSS = 16;
    MVN = 34;
    POOLING = 17;
    POWER = 26;
    RELU = 18;
    SIGMOID = 19;
    SIGMOID_CROSS_ENTROPY_LOSS = 27;
    SILENCE = 36;
    SOFTMAX = 20;
    SOFTMAX_LOSS = 21;
    SPLIT = 22;
    SLICE = 33;
    TANH = 23;
    WINDOW_DATA = 24;
    THRESHOLD = 31;
  }
  optional LayerType type = 5;
  repeated BlobProto blobs = 6;
  optional ConcatParameter concat_param = 9;
  optional ConvolutionParameter convolution_param = 10;
  optional DropoutParameter dropout_param = 12;
  optional EltwiseParameter eltwise_param = 24;
  optional InnerProductParameter inner_product_param = 17;
  optional LRNParameter lrn_param = 18;
  optional PoolingParameter pooling_param = 19;
  optional ReLUParameter relu_param = 30;
  optional SoftmaxParameter softmax_param = 39;
}
"""

# Caffe's UpgradeV1LayerType: legacy enum -> the modern type string.
_V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# Layer type -> its parameter field on LayerParameter / V1LayerParameter.
_PARAM_FIELDS = {
    "BatchNorm": "batch_norm_param",
    "Concat": "concat_param",
    "Convolution": "convolution_param",
    "Dropout": "dropout_param",
    "Eltwise": "eltwise_param",
    "Flatten": "flatten_param",
    "InnerProduct": "inner_product_param",
    "Input": "input_param",
    "LRN": "lrn_param",
    "Pooling": "pooling_param",
    "ReLU": "relu_param",
    "Reshape": "reshape_param",
    "Scale": "scale_param",
    "Softmax": "softmax_param",
}

_SCALAR_TYPES = {
    "double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "bool": 8, "string": 9, "bytes": 12, "uint32": 13,
}  # FieldDescriptorProto.Type values
_TYPE_MESSAGE, _TYPE_ENUM = 11, 14
_LABELS = {"optional": 1, "repeated": 3}


def _file_descriptor() -> Any:
    """Parses :data:`_PROTO` (a small proto2 subset) into a ``FileDescriptorProto``."""
    from google.protobuf import descriptor_pb2

    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|-?[0-9][0-9.eE+-]*|[{}=;\[\],]", _PROTO)
    fdp = descriptor_pb2.FileDescriptorProto(name="zoo/caffe_subset.proto", package="caffe", syntax="proto2")
    pending: list[tuple[Any, str, str]] = []  # (field, type token, enclosing message)
    enums: set[str] = set()
    messages: set[str] = set()
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        token = tokens[pos]
        if expected is not None and token != expected:
            raise RuntimeError(f"zoo's caffe proto: expected {expected!r} at token {pos}, got {token!r}")
        pos += 1
        return token

    def enum_into(container: Any, scope: str) -> None:
        name = take()
        enums.add(f"{scope}.{name}")
        enum = container.enum_type.add(name=name)
        take("{")
        while tokens[pos] != "}":
            value = take()
            take("=")
            enum.value.add(name=value, number=int(take()))
            take(";")
        take("}")

    while pos < len(tokens):
        kind = take()
        if kind == "enum":
            enum_into(fdp, "")
            continue
        if kind != "message":
            raise RuntimeError(f"zoo's caffe proto: unexpected {kind!r}")
        msg_name = take()
        messages.add(msg_name)
        message = fdp.message_type.add(name=msg_name)
        take("{")
        while tokens[pos] != "}":
            if tokens[pos] == "enum":
                take()
                enum_into(message, msg_name)
                continue
            label, type_token, name = take(), take(), take()
            take("=")
            fld = message.field.add(name=name, number=int(take()), label=_LABELS[label])
            if tokens[pos] == "[":
                take()
                while True:
                    option = take()
                    take("=")
                    value = take()
                    if option == "packed":
                        fld.options.packed = value == "true"
                    else:
                        fld.default_value = value
                    if take() == "]":
                        break
            take(";")
            pending.append((fld, type_token, msg_name))
        take("}")
    for fld, type_token, scope in pending:
        if type_token in _SCALAR_TYPES:
            fld.type = _SCALAR_TYPES[type_token]
        elif f"{scope}.{type_token}" in enums:
            fld.type, fld.type_name = _TYPE_ENUM, f".caffe.{scope}.{type_token}"
        elif f".{type_token}" in enums:
            fld.type, fld.type_name = _TYPE_ENUM, f".caffe.{type_token}"
        elif type_token in messages:
            fld.type, fld.type_name = _TYPE_MESSAGE, f".caffe.{type_token}"
        else:
            raise RuntimeError(f"zoo's caffe proto: unknown type {type_token!r}")
    return fdp


@functools.cache
def proto() -> types.SimpleNamespace:
    """Returns the Caffe message classes zoo reads, built at run time from a descriptor.

    Only the messages and fields zoo uses, with BVLC ``caffe.proto``'s field
    numbers and types, in a private descriptor pool (no clash with another
    ``caffe`` package loaded in the process).

    Example:
        >>> pb = proto()
        >>> blob = pb.BlobProto(shape=pb.BlobShape(dim=[2]), data=[1.0, 2.0])
        >>> pb.BlobProto.FromString(blob.SerializeToString()).shape.dim[0]
        2
    """
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    fdp = _file_descriptor()
    pool.Add(fdp)
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is None:  # protobuf < 4.21
        factory = message_factory.MessageFactory(pool)
        get_class = factory.GetPrototype
    return types.SimpleNamespace(
        **{m.name: get_class(pool.FindMessageTypeByName(f"caffe.{m.name}")) for m in fdp.message_type}
    )


def _enum_name(message: Any, name: str) -> str:
    """The symbolic name of an enum field's value (``"MAX"``), whatever protobuf exposes."""
    fld = message.DESCRIPTOR.fields_by_name[name]
    return fld.enum_type.values_by_number[getattr(message, name)].name


# --------------------------------------------------------------------------
# The parsed network
# --------------------------------------------------------------------------

SUPPORTED_LAYERS = (
    "Input", "Convolution", "InnerProduct", "Pooling", "ReLU", "LRN", "Concat", "Dropout", "Softmax",
    "BatchNorm", "Scale", "Eltwise", "Flatten", "Reshape",
)


@dataclass
class Layer:
    """One Caffe layer.

    Attributes:
        name: The layer's name.
        type: The modern type string (``"Convolution"``); legacy V1 enum types
            are mapped to these names.
        bottoms: Input blob names.
        tops: Output blob names (equal to a bottom for in-place layers).
        params: The type's parameter message (e.g. ``ConvolutionParameter``),
            with Caffe's defaults for unset fields; None for types zoo does
            not read.
        blobs: The learned arrays, float32, in Caffe's shapes (conv weights
            ``(out, in/group, kh, kw)``, biases ``(out,)``...).
    """

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    params: Any = None
    blobs: list[np.ndarray] = field(default_factory=list)


@dataclass
class Net:
    """A parsed prototxt, with the caffemodel's weights if one was given.

    Attributes:
        name: The net's ``name`` (``"GoogleNet"``).
        inputs: Input blob name -> shape (N, C, H, W) as the prototxt gives it.
        layers: The layers in execution order, Input layers and layers
            excluded from the TEST phase left out.
        source: The prototxt's file name, for messages.
    """

    name: str
    inputs: dict[str, list[int]]
    layers: list[Layer]
    source: str = "deploy.prototxt"


def _read_limited(path: Path, limit: int, what: str) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CaffeFormatError(f"{path}: no such {what}; check the path") from None
    if size > limit:
        raise CaffeFormatError(
            f"{path}: {size} bytes is more than a {what} can be ({limit} bytes); this is not a valid {what}"
        )
    return path.read_bytes()


def _parse_prototxt(path: Path) -> Any:
    from google.protobuf import text_format

    data = _read_limited(path, _MAX_PROTOTXT_BYTES, "prototxt")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaffeFormatError(
            f"{path}: not UTF-8 text at byte {exc.start}; a prototxt is protobuf text format "
            "(is this the binary .caffemodel?)"
        ) from None
    message = proto().NetParameter()
    try:
        text_format.Parse(text, message, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise CaffeFormatError(f"{path}: not a valid Caffe prototxt: {exc}. Fix the text at that line.") from None
    return message


def _parse_caffemodel(path: Path) -> Any:
    from google.protobuf.message import DecodeError

    data = _read_limited(path, _MAX_CAFFEMODEL_BYTES, "caffemodel")
    message = proto().NetParameter()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise CaffeFormatError(
            f"{path}: truncated or corrupt caffemodel ({len(data)} bytes; protobuf: {exc}). "
            "Delete it and download it again ('zoo pull' re-checks its hash)."
        ) from None
    if not message.layer and not message.layers:
        raise CaffeFormatError(
            f"{path}: parses but holds no layers; it is not a caffemodel (or it is cut short). "
            "Delete it and download it again."
        )
    return message


def _in_test_phase(layer: Any) -> bool:
    """Caffe's StateMeetsRule for the TEST phase, on ``phase`` only."""
    if layer.include:
        return any(not r.HasField("phase") or _enum_name(r, "phase") == "TEST" for r in layer.include)
    return not any(not r.HasField("phase") or _enum_name(r, "phase") == "TEST" for r in layer.exclude)


def _layer_type(layer: Any, v1: bool) -> str:
    if v1:
        name = _enum_name(layer, "type")
        return _V1_TYPES.get(name, name)
    return layer.type


def _params_of(layer: Any, kind: str) -> Any:
    field_name = _PARAM_FIELDS.get(kind)
    if field_name is None:
        return None
    if field_name in layer.DESCRIPTOR.fields_by_name:
        return getattr(layer, field_name)
    # A type the V1 format had no parameters for (Flatten): Caffe's defaults.
    message_type = proto().LayerParameter.DESCRIPTOR.fields_by_name[field_name].message_type
    return getattr(proto(), message_type.name)()


def _net_from_message(message: Any, source: str) -> Net:
    if message.layer and message.layers:
        raise CaffeFormatError(
            f"{source}: uses both 'layer' and the legacy 'layers'; a net must use one of them. "
            "Upgrade it with Caffe's upgrade_net_proto_text or keep one kind."
        )
    inputs: dict[str, list[int]] = {}
    legacy_inputs = list(message.input)
    if legacy_inputs:
        if message.input_shape:
            if len(message.input_shape) != len(legacy_inputs):
                raise CaffeFormatError(
                    f"{source}: {len(legacy_inputs)} 'input' blobs but {len(message.input_shape)} 'input_shape'; "
                    "give one input_shape per input"
                )
            shapes = [list(s.dim) for s in message.input_shape]
        else:
            dims = list(message.input_dim)
            if len(dims) != 4 * len(legacy_inputs):
                raise CaffeFormatError(
                    f"{source}: {len(legacy_inputs)} 'input' blobs need {4 * len(legacy_inputs)} 'input_dim' "
                    f"values (N, C, H, W each), found {len(dims)}"
                )
            shapes = [dims[4 * i : 4 * i + 4] for i in range(len(legacy_inputs))]
        inputs.update(zip(legacy_inputs, shapes))
    v1 = bool(message.layers)
    layers: list[Layer] = []
    for raw in message.layers if v1 else message.layer:
        if not _in_test_phase(raw):
            continue
        kind = _layer_type(raw, v1)
        params = _params_of(raw, kind)
        if kind == "Input":
            shapes = [list(s.dim) for s in params.shape]
            if len(shapes) not in (1, len(raw.top)):
                raise CaffeFormatError(
                    f"{source}: Input layer {raw.name!r} has {len(raw.top)} tops but {len(shapes)} shapes; "
                    "give one shape, or one per top"
                )
            for i, top in enumerate(raw.top):
                inputs[top] = shapes[i if len(shapes) > 1 else 0]
            continue
        layers.append(Layer(raw.name, kind, list(raw.bottom), list(raw.top), params, []))
    if not inputs:
        raise CaffeFormatError(
            f"{source}: declares no input blob; a deploy prototxt starts with an Input layer "
            "(input_param { shape { dim: N dim: C dim: H dim: W } }) or 'input:' + 'input_shape'"
        )
    for name, shape in inputs.items():
        if not shape or any(d <= 0 for d in shape):
            raise CaffeFormatError(f"{source}: input {name!r} has shape {shape}; every dimension must be positive")
    return Net(message.name or Path(source).stem, inputs, layers, source)


def _blob_array(blob: Any, where: str) -> tuple[np.ndarray, bool]:
    """A BlobProto as a float32 array, and whether its shape came from the legacy 4-D fields."""
    if blob.HasField("shape"):
        dims, legacy = tuple(int(d) for d in blob.shape.dim), False
    else:
        dims, legacy = (blob.num, blob.channels, blob.height, blob.width), True
    count = math.prod(dims)
    if len(blob.data):
        values = np.array(blob.data, dtype=np.float32)
    else:
        values = np.array(blob.double_data, dtype=np.float64).astype(np.float32)
    if values.size != count:
        raise CaffeFormatError(
            f"{where}: holds {values.size} values but its shape {dims} needs {count}; the caffemodel is corrupt. "
            "Delete it and download it again."
        )
    return values.reshape(dims), legacy


# --------------------------------------------------------------------------
# Shapes: Caffe's rules, per layer type
# --------------------------------------------------------------------------

# A dimension is an int, "N" (the batch, dynamic in ONNX) or None (unknown).
Dim = Any
Shape = tuple  # tuple[Dim, ...]


class _Unsupported(Exception):
    """A valid Caffe construct that zoo cannot convert."""


def _sym_prod(dims: Any) -> Dim:
    batch, product = 0, 1
    for d in dims:
        if d == "N":
            batch += 1
        elif isinstance(d, int):
            product *= d
        else:
            return None
    if batch == 0:
        return product
    return "N" if batch == 1 and product == 1 else None


def _axis(axis: int, rank: int, layer: Layer, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise CaffeFormatError(f"layer {layer.name!r} ({layer.type}): {what} {axis} is out of range for a {rank}-D input")
    return axis % rank


def _need_ints(layer: Layer, dims: Any, what: str) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in dims):
        raise _Unsupported(f"its {what} depends on the batch size")
    return tuple(dims)


def _conv_pair(p: Any, name: str, h: str, w: str, default: int, layer: Layer) -> tuple[int, int]:
    values = list(getattr(p, name))
    if p.HasField(h) or p.HasField(w):
        if values:
            raise CaffeFormatError(f"layer {layer.name!r}: give either {name} or {h}/{w}, not both")
        return getattr(p, h), getattr(p, w)
    if not values:
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise CaffeFormatError(f"layer {layer.name!r}: {len(values)} {name} values for a 2-D convolution; give 1 or 2")


def _rule_convolution(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    (x,) = shapes
    p = layer.params
    if p.axis != 1:
        raise _Unsupported("convolution over an axis other than 1")
    if len(x) != 4:
        raise _Unsupported(f"a {len(x) - 2}-D convolution (only 2-D is converted)")
    if p.HasField("kernel_h") or p.HasField("kernel_w"):
        if list(p.kernel_size):
            raise CaffeFormatError(f"layer {layer.name!r}: give either kernel_size or kernel_h/kernel_w, not both")
        kernel = (p.kernel_h, p.kernel_w)
    else:
        kernel = _conv_pair(p, "kernel_size", "kernel_h", "kernel_w", 0, layer)
    pad = _conv_pair(p, "pad", "pad_h", "pad_w", 0, layer)
    stride = _conv_pair(p, "stride", "stride_h", "stride_w", 1, layer)
    dil = list(p.dilation) or [1]
    if len(dil) > 2:
        raise CaffeFormatError(f"layer {layer.name!r}: {len(dil)} dilation values for a 2-D convolution; give 1 or 2")
    dilation = (dil[0], dil[-1])
    out_c, group = p.num_output, p.group
    if min(kernel) <= 0 or min(stride) <= 0 or min(dilation) <= 0 or out_c <= 0 or group <= 0:
        raise CaffeFormatError(
            f"layer {layer.name!r}: kernel {kernel}, stride {stride}, dilation {dilation}, num_output {out_c} "
            f"and group {group} must all be positive"
        )
    (c,) = _need_ints(layer, x[1:2], "input channels")
    if c % group or out_c % group:
        raise CaffeFormatError(
            f"layer {layer.name!r}: group {group} must divide both the input channels ({c}) and num_output ({out_c})"
        )
    size = []
    for i, d in enumerate(_need_ints(layer, x[2:], "input size")):
        extent = dilation[i] * (kernel[i] - 1) + 1
        out = (d + 2 * pad[i] - extent) // stride[i] + 1
        if out <= 0:
            raise CaffeFormatError(
                f"layer {layer.name!r}: a {kernel[0]}x{kernel[1]} kernel does not fit its "
                f"{x[2]}x{x[3]} input (pad {pad}); the prototxt's input size is too small"
            )
        size.append(out)
    blobs = [(out_c, c // group, *kernel)] + ([(out_c,)] if p.bias_term else [])
    attrs = {"kernel": kernel, "pad": pad, "stride": stride, "dilation": dilation, "group": group, "bias": p.bias_term}
    return [(x[0], out_c, *size)], blobs, attrs


def _rule_inner_product(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    (x,) = shapes
    p = layer.params
    axis = _axis(p.axis, len(x), layer)
    k = _sym_prod(x[axis:])
    if not isinstance(k, int):
        raise _Unsupported("the flattened input size depends on the batch size")
    if p.num_output <= 0:
        raise CaffeFormatError(f"layer {layer.name!r}: num_output must be positive")
    n = p.num_output
    blobs = [(k, n) if p.transpose else (n, k)] + ([(n,)] if p.bias_term else [])
    return [(*x[:axis], n)], blobs, {"axis": axis, "k": k, "transpose": p.transpose, "bias": p.bias_term}


def _pool_geometry(layer: Layer, x: Shape) -> dict:
    p = layer.params
    method = _enum_name(p, "pool")
    if method == "STOCHASTIC":
        raise _Unsupported("STOCHASTIC pooling (a probability-weighted average at test time)")
    if len(x) != 4:
        raise CaffeFormatError(f"layer {layer.name!r}: pooling needs a 4-D input, got {len(x)}-D")
    h, w = _need_ints(layer, x[2:], "input size")
    has_kernel_hw = p.HasField("kernel_h") or p.HasField("kernel_w")
    if p.global_pooling:
        if p.HasField("kernel_size") or has_kernel_hw:
            raise CaffeFormatError(f"layer {layer.name!r}: global_pooling takes no kernel size; remove it")
        kernel = (h, w)
    elif p.HasField("kernel_size"):
        if has_kernel_hw:
            raise CaffeFormatError(f"layer {layer.name!r}: give either kernel_size or kernel_h/kernel_w, not both")
        kernel = (p.kernel_size, p.kernel_size)
    elif p.HasField("kernel_h") and p.HasField("kernel_w"):
        kernel = (p.kernel_h, p.kernel_w)
    else:
        raise CaffeFormatError(f"layer {layer.name!r}: pooling needs kernel_size, or kernel_h and kernel_w")
    pad = (p.pad_h, p.pad_w) if p.HasField("pad_h") or p.HasField("pad_w") else (p.pad, p.pad)
    stride = (p.stride_h, p.stride_w) if p.HasField("stride_h") or p.HasField("stride_w") else (p.stride, p.stride)
    if min(kernel) <= 0 or min(stride) <= 0:
        raise CaffeFormatError(f"layer {layer.name!r}: kernel {kernel} and stride {stride} must be positive")
    if p.global_pooling and (any(pad) or stride != (1, 1)):
        raise CaffeFormatError(f"layer {layer.name!r}: global_pooling needs pad 0 and stride 1")
    if pad[0] >= kernel[0] or pad[1] >= kernel[1]:
        raise CaffeFormatError(f"layer {layer.name!r}: pad {pad} must be smaller than the kernel {kernel}")
    ceil = _enum_name(p, "round_mode") == "CEIL"
    out, extra = [], []
    for d, k, s, q in zip((h, w), kernel, stride, pad):
        span = d + 2 * q - k
        if span < 0:
            raise CaffeFormatError(f"layer {layer.name!r}: a {k}-wide pooling window does not fit its {d}-wide input")
        o = (-(-span // s) if ceil else span // s) + 1
        # Caffe: with padding, the last window must start inside the image (not in the padding).
        if q and (o - 1) * s >= d + q:
            o -= 1
        if (o - 1) * s - q >= d:
            raise _Unsupported(f"its last {k}-wide pooling window (stride {s}) would lie entirely outside the input")
        out.append(o)
        # Bottom/right padding that makes floor-mode pooling produce Caffe's size.
        extra.append(max((o - 1) * s + k - (d + 2 * q), 0))
    return {
        "method": method, "global": p.global_pooling, "kernel": kernel, "stride": stride, "pad": pad,
        "out": tuple(out), "extra": tuple(extra), "in": (h, w),
    }


def _rule_pooling(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    (x,) = shapes
    geo = _pool_geometry(layer, x)
    return [(x[0], x[1], *geo["out"])], [], geo


def _rule_relu(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    return [shapes[0]], [], {"slope": float(layer.params.negative_slope)}


def _rule_identity(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    return [shapes[0]], [], {}


def _rule_lrn(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    (x,) = shapes
    p = layer.params
    if _enum_name(p, "norm_region") != "ACROSS_CHANNELS":
        raise _Unsupported("LRN with norm_region WITHIN_CHANNEL")
    if p.local_size % 2 != 1:
        raise CaffeFormatError(f"layer {layer.name!r}: LRN local_size must be odd (Caffe requires it), got {p.local_size}")
    if len(x) != 4:
        raise CaffeFormatError(f"layer {layer.name!r}: LRN needs a 4-D input, got {len(x)}-D")
    return [x], [], {"size": p.local_size, "alpha": float(p.alpha), "beta": float(p.beta), "k": float(p.k)}


def _rule_concat(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    p = layer.params
    rank = len(shapes[0])
    axis = p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
    axis = _axis(axis, rank, layer)
    for s in shapes[1:]:
        if len(s) != rank or any(
            i != axis and isinstance(a, int) and isinstance(b, int) and a != b for i, (a, b) in enumerate(zip(shapes[0], s))
        ):
            raise CaffeFormatError(
                f"layer {layer.name!r}: cannot concatenate shapes {_fmt(shapes[0])} and {_fmt(s)} along axis {axis}"
            )
    dims = [s[axis] for s in shapes]
    total = sum(dims) if all(isinstance(d, int) for d in dims) else None
    return [(*shapes[0][:axis], total, *shapes[0][axis + 1 :])], [], {"axis": axis}


def _rule_softmax(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    return [shapes[0]], [], {"axis": _axis(layer.params.axis, len(shapes[0]), layer)}


def _rule_batch_norm(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    (x,) = shapes
    p = layer.params
    if p.HasField("use_global_stats") and not p.use_global_stats:
        raise _Unsupported("BatchNorm with use_global_stats: false (it normalizes with batch statistics)")
    channels = x[1] if len(x) > 1 else 1
    (channels,) = _need_ints(layer, (channels,), "channel count")
    return [x], [(channels,), (channels,), (1,)], {"eps": float(p.eps), "channels": channels}


def _rule_scale(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    x = shapes[0]
    p = layer.params
    if len(shapes) != 1:
        raise _Unsupported("Scale with a second bottom (the scale as an input blob)")
    axis = _axis(p.axis, len(x), layer) if x else 0
    if p.num_axes < -1:
        raise CaffeFormatError(f"layer {layer.name!r}: num_axes must be -1 or more, got {p.num_axes}")
    end = len(x) if p.num_axes == -1 else axis + p.num_axes
    if end > len(x):
        raise CaffeFormatError(f"layer {layer.name!r}: axis {axis} + num_axes {p.num_axes} exceeds the {len(x)}-D input")
    shape = _need_ints(layer, x[axis:end], "scale shape")
    broadcast = (1,) * axis + shape + (1,) * (len(x) - end)
    return [x], [shape] + ([shape] if p.bias_term else []), {"broadcast": broadcast, "bias": p.bias_term}


def _rule_eltwise(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    p = layer.params
    op = _enum_name(p, "operation")
    if len(shapes) < 2:
        raise CaffeFormatError(f"layer {layer.name!r}: Eltwise needs at least two bottoms")
    for s in shapes[1:]:
        if len(s) != len(shapes[0]) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(shapes[0], s)
        ):
            raise CaffeFormatError(f"layer {layer.name!r}: Eltwise inputs differ in shape: {_fmt(shapes[0])} vs {_fmt(s)}")
    coeff = [float(c) for c in p.coeff]
    if coeff and op != "SUM":
        raise CaffeFormatError(f"layer {layer.name!r}: Eltwise takes coeff only for SUM, not {op}")
    if coeff and len(coeff) != len(shapes):
        raise CaffeFormatError(f"layer {layer.name!r}: {len(coeff)} coeff values for {len(shapes)} bottoms; give one per bottom")
    return [shapes[0]], [], {"op": op, "coeff": coeff or [1.0] * len(shapes)}


def _rule_flatten(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
    (x,) = shapes
    p = layer.params
    start = _axis(p.axis, len(x), layer)
    end = _axis(p.end_axis, len(x), layer, "end_axis")
    if end < start:
        raise CaffeFormatError(f"layer {layer.name!r}: end_axis {p.end_axis} comes before axis {p.axis}")
    suffix = x[end + 1 :]
    if not all(isinstance(d, int) for d in suffix):
        raise _Unsupported("the kept trailing dimensions depend on the batch size")
    out = (*x[:start], _sym_prod(x[start : end + 1]), *suffix)
    return [out], [], {"onnx_shape": [0] * start + [-1] + list(suffix)}


def _rule_reshape(layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple], dict]:
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
    mid: list[Dim] = []
    for i, d in enumerate(spec):
        if d == 0:
            if start + i >= rank:
                raise CaffeFormatError(f"layer {layer.name!r}: dim {i} is 0 (copy) but the input has no axis {start + i}")
            mid.append(x[start + i])
        else:
            mid.append(d)
    out = [*x[:start], *mid, *x[end:]]
    if -1 in spec:
        at = start + spec.index(-1)
        others = out[:at] + out[at + 1 :]
        n_in, n_other = sum(d == "N" for d in x), sum(d == "N" for d in others)
        p_in = _sym_prod([d for d in x if d != "N"])
        p_other = _sym_prod([d for d in others if d != "N"])
        value: Dim = None
        if isinstance(p_in, int) and isinstance(p_other, int):
            if n_in == n_other:
                if p_other == 0 or p_in % p_other:
                    raise CaffeFormatError(
                        f"layer {layer.name!r}: cannot reshape {_fmt(x)} to {spec}: {p_in} values do not divide by {p_other}"
                    )
                value = p_in // p_other
            elif n_in == n_other + 1 and p_in == p_other:
                value = "N"
        out[at] = value
    else:
        before, after = _sym_prod(x), _sym_prod(out)
        if before is not None and after is not None and before != after:
            raise CaffeFormatError(f"layer {layer.name!r}: cannot reshape {_fmt(x)} ({before} values) to {_fmt(out)}")
    # ONNX: 0 copies the input dim at the same index, so the kept prefix is all 0s;
    # the kept suffix stays aligned only when the reshaped span keeps its length.
    onnx_shape: list[int] = [0] * start + spec
    aligned = len(spec) == end - start
    free = -1 not in spec
    for d in x[end:]:
        if aligned:
            onnx_shape.append(0)
        elif isinstance(d, int):
            onnx_shape.append(d)
        elif free:
            onnx_shape.append(-1)
            free = False
        else:
            raise _Unsupported("the reshaped layout depends on the batch size")
    return [tuple(out)], [], {"onnx_shape": onnx_shape}


_RULES = {
    "Convolution": _rule_convolution,
    "InnerProduct": _rule_inner_product,
    "Pooling": _rule_pooling,
    "ReLU": _rule_relu,
    "LRN": _rule_lrn,
    "Concat": _rule_concat,
    "Dropout": _rule_identity,
    "Softmax": _rule_softmax,
    "BatchNorm": _rule_batch_norm,
    "Scale": _rule_scale,
    "Eltwise": _rule_eltwise,
    "Flatten": _rule_flatten,
    "Reshape": _rule_reshape,
}

_BLOB_ROLES = {
    "Convolution": ("weights", "bias"),
    "InnerProduct": ("weights", "bias"),
    "BatchNorm": ("mean", "variance", "moving-average factor"),
    "Scale": ("scale", "bias"),
}


def _fmt(shape: Any) -> str:
    return "(" + ", ".join("N" if d == "N" else "?" if d is None else str(d) for d in shape) + ")"


# --------------------------------------------------------------------------
# The plan: blob versions, shapes, and what each layer needs
# --------------------------------------------------------------------------


@dataclass
class _Step:
    layer: Layer
    index: int
    inputs: list[str]
    outputs: list[str]
    in_shapes: list[Shape | None]
    out_shapes: list[Shape | None]
    expected: list[tuple] | None = None
    attrs: dict = field(default_factory=dict)
    problem: str | None = None


@dataclass
class _Plan:
    steps: list[_Step]
    inputs: dict[str, str]  # input blob -> its tensor
    final: dict[str, str]  # blob -> tensor of its last writer
    order: list[str]  # tops in order of first appearance (inputs excluded)
    shapes: dict[str, Shape | None]


def _plan(net: Net) -> _Plan:
    """Walks the layers as Caffe's forward pass would: tensor names, shapes, problems."""
    writes = Counter(list(net.inputs) + [t for layer in net.layers for t in layer.tops])
    seen: Counter = Counter()
    used: set[str] = set()

    def new_tensor(blob: str) -> str:
        seen[blob] += 1
        name = blob if seen[blob] == writes[blob] else f"{blob}__{seen[blob]}"
        while name in used:
            name += "_"
        used.add(name)
        return name

    current: dict[str, str] = {}
    shapes: dict[str, Shape | None] = {}
    inputs = {}
    for blob, shape in net.inputs.items():
        tensor = new_tensor(blob)
        inputs[blob] = current[blob] = tensor
        shapes[tensor] = ("N", *(int(d) for d in shape[1:]))
    steps, order = [], []
    for index, layer in enumerate(net.layers):
        for b in layer.bottoms:
            if b not in current:
                raise CaffeFormatError(
                    f"{net.source}: layer {layer.name!r} ({layer.type}) takes bottom {b!r}, which no earlier "
                    "layer or input produces; check the blob names"
                )
        ins = [current[b] for b in layer.bottoms]
        in_shapes = [shapes[t] for t in ins]
        out_shapes: list[Shape | None] = [None] * len(layer.tops)
        expected, attrs, problem = None, {}, None
        rule = _RULES.get(layer.type)
        if rule is None:
            problem = f"zoo cannot convert layer type {layer.type!r}"
        elif any(s is None for s in in_shapes):
            problem = "it depends on a layer zoo cannot convert"
        elif not layer.bottoms:
            raise CaffeFormatError(f"{net.source}: layer {layer.name!r} ({layer.type}) has no bottom")
        else:
            try:
                outs, expected, attrs = rule(layer, in_shapes)
            except _Unsupported as exc:
                problem = str(exc)
            except CaffeFormatError as exc:
                raise CaffeFormatError(f"{net.source}: {exc}") from None
            else:
                if len(layer.tops) != len(outs):
                    raise CaffeFormatError(
                        f"{net.source}: layer {layer.name!r} ({layer.type}) has {len(layer.tops)} tops; it makes {len(outs)}"
                    )
                out_shapes = list(outs)
        tensors = [new_tensor(t) for t in layer.tops]
        for top, tensor, shape in zip(layer.tops, tensors, out_shapes):
            current[top] = tensor
            shapes[tensor] = shape
            if top not in order and top not in net.inputs:
                order.append(top)
        steps.append(_Step(layer, index, ins, tensors, in_shapes, out_shapes, expected, attrs, problem))
    return _Plan(steps, inputs, dict(current), order, shapes)


def _attach_blobs(net: Net, plan: _Plan, weights: dict[str, list[tuple[np.ndarray, bool]]], model: str) -> None:
    """Gives each layer its caffemodel blobs, checked against the shapes the prototxt implies."""
    listing = ", ".join(list(weights)[:12]) + (f" and {len(weights) - 12} more" if len(weights) > 12 else "")
    for step in plan.steps:
        layer = step.layer
        raw = weights.get(layer.name, [])
        if step.expected is None:
            layer.blobs = [a for a, _ in raw]
            continue
        expected = step.expected
        if not expected:
            layer.blobs = []
            continue
        roles = _BLOB_ROLES.get(layer.type, ())
        if not raw:
            raise CaffeFormatError(
                f"{model}: has no weights for layer {layer.name!r} ({layer.type}) of {net.source}; its layers are "
                f"{listing or 'none'}. Use the caffemodel published with this prototxt."
            )
        if len(raw) != len(expected):
            raise CaffeFormatError(
                f"{model}: layer {layer.name!r} ({layer.type}) has {len(raw)} blobs, but {net.source} needs "
                f"{len(expected)} ({', '.join(roles[: len(expected)])}); check bias_term and that the prototxt "
                "belongs to these weights"
            )
        blobs = []
        for j, ((array, legacy), want) in enumerate(zip(raw, expected)):
            # Legacy blobs are 4-D (num, channels, height, width): Caffe compares them
            # with the wanted shape padded on the left with 1s.
            fits = (
                len(want) <= 4 and array.shape == (1,) * (4 - len(want)) + tuple(want)
                if legacy
                else array.shape == tuple(want)
            )
            if not fits:
                role = roles[j] if j < len(roles) else f"blob {j}"
                raise CaffeFormatError(
                    f"{model}: layer {layer.name!r} ({layer.type}) {role} has shape {tuple(array.shape)}, but "
                    f"{net.source} needs {tuple(want)} (from its parameters and input size). The prototxt and the "
                    "caffemodel do not belong together: use the deploy.prototxt published with these weights."
                )
            blobs.append(array.reshape(want))
        layer.blobs = blobs


def load_net(prototxt: str | Path, caffemodel: str | Path | None = None) -> Net:
    """Reads a deploy prototxt, and the caffemodel's weights if given.

    Caffemodel layers are matched to prototxt layers by name; caffemodel
    layers the prototxt does not have are ignored, as Caffe does. Every blob
    is checked against the shape the prototxt implies.

    Args:
        prototxt: The ``deploy.prototxt`` (protobuf text format).
        caffemodel: The ``.caffemodel`` (protobuf binary), or None for the
            architecture alone.

    Returns:
        A :class:`Net`.

    Raises:
        CaffeFormatError: A file is missing, malformed, truncated, or the two
            do not belong together (names the layer and both shapes).
    """
    prototxt = Path(prototxt)
    net = _net_from_message(_parse_prototxt(prototxt), prototxt.name)
    plan = _plan(net)
    if caffemodel is not None:
        caffemodel = Path(caffemodel)
        message = _parse_caffemodel(caffemodel)
        weights: dict[str, list[tuple[np.ndarray, bool]]] = {}
        for raw in list(message.layer) + list(message.layers):
            if raw.blobs:
                weights[raw.name] = [
                    _blob_array(b, f"{caffemodel.name}: layer {raw.name!r} blob {j}") for j, b in enumerate(raw.blobs)
                ]
            else:
                weights.setdefault(raw.name, [])
        _attach_blobs(net, plan, weights, caffemodel.name)
    return net


def random_weights(net: Net, *, seed: int = 0) -> Net:
    """Returns a copy of ``net`` whose layers without weights get random ones of the right shapes.

    For shape checks and tests: He-scaled normal weights, small biases,
    positive variances, a moving-average factor of 1.
    """
    rng = np.random.default_rng(seed)
    plan = _plan(net)
    layers = []
    for step in plan.steps:
        layer = step.layer
        if layer.blobs or not step.expected:
            layers.append(dataclasses.replace(layer, blobs=list(layer.blobs)))
            continue
        blobs = []
        for j, shape in enumerate(step.expected):
            if layer.type == "BatchNorm":
                value = [rng.normal(0, 0.1, shape), rng.uniform(0.5, 1.5, shape), np.ones(shape)][j]
            elif layer.type == "Scale":
                value = rng.normal(1.0 if j == 0 else 0.0, 0.1, shape)
            elif j == 0:
                fan_in = math.prod(shape[1:]) if layer.type == "Convolution" else step.attrs["k"]
                value = rng.normal(0, math.sqrt(2.0 / max(fan_in, 1)), shape)
            else:
                value = rng.normal(0, 0.1, shape)
            blobs.append(np.asarray(value, dtype=np.float32))
        layers.append(dataclasses.replace(layer, blobs=blobs))
    return dataclasses.replace(net, layers=layers, inputs=dict(net.inputs))


def param_count(net: Net) -> int:
    """Learnable parameters of the net (convolution, inner product and scale blobs), from the prototxt alone."""
    total = 0
    for step in _plan(net).steps:
        if step.expected and step.layer.type != "BatchNorm":
            total += sum(math.prod(s) for s in step.expected)
    return total


# --------------------------------------------------------------------------
# Cutting: which steps an output needs
# --------------------------------------------------------------------------


def _output_tensor(net: Net, plan: _Plan, until: str | None) -> str:
    if until is None:
        if not plan.order:
            raise ExportError(f"{net.name}: the net has no layers to convert")
        until = plan.order[-1]
    if until not in plan.order:
        raise StageNotFoundError(net.name, until, plan.order)
    return plan.final[until]


def _needed(net: Net, plan: _Plan, outputs: list[str]) -> list[_Step]:
    """The steps the outputs depend on, in order; ExportError if one cannot be converted."""
    wanted = set(outputs)
    steps = []
    for step in reversed(plan.steps):
        if wanted.intersection(step.outputs):
            steps.append(step)
            wanted.update(step.inputs)
    steps.reverse()
    for step in steps:
        if step.problem is not None and not any(s is None for s in step.in_shapes):
            earlier = [
                t for t in plan.order
                if plan.shapes[plan.final[t]] is not None and _producer_index(plan, t) < step.index
            ]
            hint = f" (the last convertible top before it is {earlier[-1]!r})" if earlier else ""
            raise ExportError(
                f"{net.name}: layer {step.layer.name!r} of type {step.layer.type!r} cannot be converted to ONNX: "
                f"{step.problem}. zoo converts {', '.join(SUPPORTED_LAYERS)}. Cut the network before this layer "
                f"with an earlier --until{hint}."
            )
    return steps


def _producer_index(plan: _Plan, top: str) -> int:
    tensor = plan.final[top]
    return next((s.index for s in plan.steps if tensor in s.outputs), -1)


def _check_weights(net: Net, steps: list[_Step]) -> None:
    for step in steps:
        if step.expected and not step.layer.blobs:
            raise ExportError(
                f"{net.name}: layer {step.layer.name!r} ({step.layer.type}) has no weights; load the net with its "
                "caffemodel (load_net(prototxt, caffemodel)), or use random_weights(net) for shape checks"
            )


# --------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------


class _OnnxGraph:
    """Collects nodes and tensors; weights become initializers, or typed graph inputs for shape-only graphs."""

    def __init__(self, weights_as_inputs: bool = False):
        from onnx import TensorProto, helper, numpy_helper

        self.helper, self.numpy_helper, self.float = helper, numpy_helper, TensorProto.FLOAT
        self.weights_as_inputs = weights_as_inputs
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.weight_inputs: list[Any] = []
        self.names: set[str] = set()  # tensors
        self.node_names: set[str] = set()  # nodes: a namespace of their own

    def unique(self, base: str, taken: set[str] | None = None) -> str:
        taken = self.names if taken is None else taken
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    def const(self, base: str, array: Any) -> str:
        name = self.unique(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, base: str, array: np.ndarray) -> str:
        if not self.weights_as_inputs:
            return self.const(base, np.ascontiguousarray(array, dtype=np.float32))
        name = self.unique(base)
        self.weight_inputs.append(self.helper.make_tensor_value_info(name, self.float, list(array.shape)))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> None:
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=self.unique(name, self.node_names), **attrs))


def _o_convolution(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    a, layer = step.attrs, step.layer
    inputs = [ins[0], g.weight(f"{layer.name}/weights", layer.blobs[0])]
    if a["bias"]:
        inputs.append(g.weight(f"{layer.name}/bias", layer.blobs[1]))
    ph, pw = a["pad"]
    g.node(
        "Conv", inputs, outs, layer.name, kernel_shape=list(a["kernel"]), pads=[ph, pw, ph, pw],
        strides=list(a["stride"]), dilations=list(a["dilation"]), group=a["group"],
    )


def _o_inner_product(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
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
    g.node("Reshape", [x, g.const(f"{layer.name}/shape", np.array([0] * a["axis"] + [a["k"]], np.int64))], [flat], f"{layer.name}/flatten")
    matrix = weights if a["transpose"] else weights.T
    product = g.unique(f"{layer.name}/matmul") if a["bias"] else outs[0]
    g.node("MatMul", [flat, g.weight(f"{layer.name}/weights", matrix)], [product], f"{layer.name}/matmul")
    if a["bias"]:
        g.node("Add", [product, g.weight(f"{layer.name}/bias", layer.blobs[1])], outs, layer.name)


def _o_pooling(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    a, name = step.attrs, step.layer.name
    (x,) = ins
    if a["global"]:
        g.node("GlobalMaxPool" if a["method"] == "MAX" else "GlobalAveragePool", [x], outs, name)
        return
    (ph, pw), (eh, ew) = a["pad"], a["extra"]
    common = {"kernel_shape": list(a["kernel"]), "strides": list(a["stride"]), "ceil_mode": 0}
    if a["method"] == "MAX":
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


def _o_relu(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    slope = step.attrs["slope"]
    if slope:
        g.node("LeakyRelu", ins, outs, step.layer.name, alpha=slope)
    else:
        g.node("Relu", ins, outs, step.layer.name)


def _o_lrn(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    a = step.attrs
    # ONNX LRN is x / (bias + alpha / size * sum(x^2))^beta: Caffe's convention.
    g.node("LRN", ins, outs, step.layer.name, size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["k"])


def _o_concat(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    g.node("Concat", ins, outs, step.layer.name, axis=step.attrs["axis"])


def _o_identity(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    g.node("Identity", ins[:1], outs, step.layer.name)


def _o_softmax(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    g.node("Softmax", ins, outs, step.layer.name, axis=step.attrs["axis"])


def _o_batch_norm(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    layer, a = step.layer, step.attrs
    mean, var, factor = (np.asarray(b, np.float64) for b in layer.blobs)
    s = float(factor.reshape(-1)[0])
    scale = 0.0 if s == 0 else 1.0 / s  # Caffe: a zero factor means zero statistics
    inv_std = 1.0 / np.sqrt(var * scale + a["eps"])
    rank = len(step.in_shapes[0])
    shape = (a["channels"],) + (1,) * max(rank - 2, 0)
    mul = g.unique(f"{layer.name}/normalized")
    g.node("Mul", [ins[0], g.weight(f"{layer.name}/inv_std", inv_std.reshape(shape))], [mul], f"{layer.name}/mul")
    g.node("Add", [mul, g.weight(f"{layer.name}/shift", (-mean * scale * inv_std).reshape(shape))], outs, layer.name)


def _o_scale(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    layer, a = step.layer, step.attrs
    shape = a["broadcast"]
    scaled = g.unique(f"{layer.name}/scaled") if a["bias"] else outs[0]
    g.node("Mul", [ins[0], g.weight(f"{layer.name}/scale", layer.blobs[0].reshape(shape))], [scaled], f"{layer.name}/mul")
    if a["bias"]:
        g.node("Add", [scaled, g.weight(f"{layer.name}/bias", layer.blobs[1].reshape(shape))], outs, layer.name)


def _o_eltwise(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    layer, a = step.layer, step.attrs
    op = a["op"]
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
    for i, (x, c) in enumerate(zip(ins, a["coeff"])):
        if c == 1.0:
            terms.append(x)
            continue
        term = g.unique(f"{layer.name}/term{i}")
        g.node("Mul", [x, g.const(f"{layer.name}/coeff{i}", np.array(c, np.float32))], [term], f"{layer.name}/coeff{i}")
        terms.append(term)
    g.node("Sum", terms, outs, layer.name)


def _o_reshape(g: _OnnxGraph, step: _Step, ins: list[str], outs: list[str]) -> None:
    shape = g.const(f"{step.layer.name}/shape", np.array(step.attrs["onnx_shape"], np.int64))
    g.node("Reshape", [ins[0], shape], outs, step.layer.name)


_ONNX_OPS = {
    "Convolution": _o_convolution,
    "InnerProduct": _o_inner_product,
    "Pooling": _o_pooling,
    "ReLU": _o_relu,
    "LRN": _o_lrn,
    "Concat": _o_concat,
    "Dropout": _o_identity,
    "Softmax": _o_softmax,
    "BatchNorm": _o_batch_norm,
    "Scale": _o_scale,
    "Eltwise": _o_eltwise,
    "Flatten": _o_reshape,
    "Reshape": _o_reshape,
}


def _build_onnx(
    net: Net,
    plan: _Plan,
    outputs: list[str],
    *,
    opset: int,
    batch: str | int,
    rgb_input: bool,
    weights_as_inputs: bool = False,
    doc: str = "",
) -> Any:
    import onnx

    steps = _needed(net, plan, outputs)
    g = _OnnxGraph(weights_as_inputs)
    g.names.update(plan.shapes)
    needed_inputs = {t for s in steps for t in s.inputs} | set(outputs)
    batch_dim: str | int = "batch" if batch == "dynamic" else batch
    graph_inputs, rename = [], {}
    for blob, tensor in plan.inputs.items():
        if tensor not in needed_inputs:
            continue
        shape = [batch_dim, *plan.shapes[tensor][1:]]
        graph_inputs.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, shape))
        if rgb_input:
            if shape[1:2] != [3]:
                raise ExportError(
                    f"{net.name}: input {blob!r} has {shape[1]} channels; the RGB->BGR channel reversal "
                    "(rgb_input / arch_args channel_order: bgr) needs 3. Set channel_order: rgb for this model."
                )
            # zoo feeds RGB; BVLC nets were trained on BGR: reverse the channels first.
            bgr = g.unique(f"{tensor}/bgr")
            g.node("Gather", [tensor, g.const(f"{tensor}/bgr_order", np.array([2, 1, 0], np.int64))], [bgr], f"{tensor}/rgb_to_bgr", axis=1)
            rename[tensor] = bgr
    for step in steps:
        _ONNX_OPS[step.layer.type](g, step, [rename.get(t, t) for t in step.inputs], step.outputs)
    value_infos = []
    for tensor in outputs:
        dims = [batch_dim if d == "N" else d if isinstance(d, int) else None for d in plan.shapes[tensor]]
        value_infos.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, dims))
    graph = onnx.helper.make_graph(
        g.nodes, net.name or "caffe", graph_inputs + g.weight_inputs, value_infos, initializer=g.initializers, doc_string=doc
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="zoo.caffe")
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    return model


def to_onnx(
    net: Net,
    *,
    until: str | None = None,
    opset: int = 17,
    batch: str | int = "dynamic",
    rgb_input: bool = False,
) -> Any:
    """Converts a Caffe net to an ONNX model, cut at a top blob.

    Args:
        net: From :func:`load_net` (with its caffemodel) or :func:`random_weights`.
        until: A top blob name (``"inception_4e/output"``); the graph ends
            there and later layers are not emitted. For a blob written in
            place (``conv1`` then ``relu1`` on ``conv1``) it is the last
            writer's value, as in Caffe. None: the net's last top.
        opset: ONNX opset (13 or later).
        batch: ``"dynamic"`` (a symbolic ``batch`` dimension) or a fixed size.
        rgb_input: Take RGB input and reverse it to the BGR order the net
            was trained on (the zoo convention for BVLC models).

    Returns:
        An ``onnx.ModelProto`` that passed ``onnx.checker.check_model``: the
        input blob(s) as graph inputs, weights as initializers, the ``until``
        blob (under its Caffe name) as the output.

    Raises:
        StageNotFoundError: ``until`` is not a top of the net; lists them.
        ExportError: A layer the output needs has a type zoo cannot convert
            (names type and layer), or the net has no weights.
    """
    import onnx

    if not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset must be 13 or later (Softmax over one axis), not {opset!r}")
    if batch != "dynamic" and not (isinstance(batch, int) and batch > 0):
        raise ValueError(f"batch must be 'dynamic' or a positive int, not {batch!r}")
    plan = _plan(net)
    output = _output_tensor(net, plan, until)
    _check_weights(net, _needed(net, plan, [output]))
    doc = f"Converted from the Caffe net {net.name!r} ({net.source}) by zoo.caffe, cut at {until or output!r}."
    model = _build_onnx(net, plan, [output], opset=opset, batch=batch, rgb_input=rgb_input, doc=doc)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(
            f"{net.name}: the converted graph fails onnx.checker ({exc}); this is a bug in zoo.caffe, please report it"
        ) from exc
    return model


# --------------------------------------------------------------------------
# Torch reference: the same layers, interpreted with torch.nn.functional
# --------------------------------------------------------------------------


def _t_convolution(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    a = step.attrs
    bias = blobs[1] if a["bias"] else None
    return [F.conv2d(xs[0], blobs[0], bias, a["stride"], a["pad"], a["dilation"], a["group"])]


def _t_inner_product(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    a = step.attrs
    x = xs[0].reshape(*xs[0].shape[: a["axis"]], -1)
    weights = blobs[0].t() if a["transpose"] else blobs[0]
    return [F.linear(x, weights, blobs[1] if a["bias"] else None)]


def _t_pooling(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    a = step.attrs
    x = xs[0]
    if a["global"]:
        return [x.amax(dim=(2, 3), keepdim=True) if a["method"] == "MAX" else x.mean(dim=(2, 3), keepdim=True)]
    (ph, pw), (eh, ew), (oh, ow) = a["pad"], a["extra"], a["out"]
    h, w = x.shape[2:]
    if a["method"] == "MAX":
        padded = F.pad(x, (pw, pw + ew, ph, ph + eh), value=float("-inf"))
        y = F.max_pool2d(padded, a["kernel"], a["stride"])
    else:
        # Sum over each window, divided by how much of it lies in the zero-padded input.
        sums = F.avg_pool2d(F.pad(x, (pw, pw + ew, ph, ph + eh)), a["kernel"], a["stride"], divisor_override=1)
        inside = F.pad(x.new_ones((1, 1, h + 2 * ph, w + 2 * pw)), (0, ew, 0, eh))
        y = sums / F.avg_pool2d(inside, a["kernel"], a["stride"], divisor_override=1)
    return [y[:, :, :oh, :ow]]


def _t_relu(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    slope = step.attrs["slope"]
    return [F.leaky_relu(xs[0], slope) if slope else F.relu(xs[0])]


def _t_lrn(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    a = step.attrs
    return [F.local_response_norm(xs[0], a["size"], a["alpha"], a["beta"], a["k"])]


def _t_concat(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    return [torch.cat(xs, dim=step.attrs["axis"])]


def _t_identity(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    return [xs[0]]


def _t_softmax(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    return [torch.softmax(xs[0], dim=step.attrs["axis"])]


def _t_batch_norm(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    mean, var, factor = blobs
    s = float(factor.reshape(-1)[0])
    scale = 0.0 if s == 0 else 1.0 / s
    return [F.batch_norm(xs[0], mean * scale, var * scale, training=False, eps=step.attrs["eps"])]


def _t_scale(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    shape = step.attrs["broadcast"]
    y = xs[0] * blobs[0].reshape(shape)
    return [y + blobs[1].reshape(shape) if step.attrs["bias"] else y]


def _t_eltwise(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    op = step.attrs["op"]
    if op == "SUM":
        return [sum(c * x for c, x in zip(step.attrs["coeff"], xs))]
    y = xs[0]
    for x in xs[1:]:
        y = y * x if op == "PROD" else torch.maximum(y, x)
    return [y]


def _t_flatten(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    p = step.layer.params
    rank = xs[0].dim()
    return [xs[0].flatten(p.axis % rank, p.end_axis % rank)]


def _t_reshape(F: Any, torch: Any, step: _Step, xs: list, blobs: list) -> list:
    # Caffe's own rule, evaluated on the actual tensor: 0 copies, -1 infers.
    p = step.layer.params
    x = xs[0]
    rank = x.dim()
    start = p.axis if p.axis >= 0 else rank + p.axis + 1
    end = rank if p.num_axes == -1 else start + p.num_axes
    mid = [x.shape[start + i] if d == 0 else d for i, d in enumerate(p.shape.dim)]
    return [x.reshape(*x.shape[:start], *mid, *x.shape[end:])]


_TORCH_OPS = {
    "Convolution": _t_convolution,
    "InnerProduct": _t_inner_product,
    "Pooling": _t_pooling,
    "ReLU": _t_relu,
    "LRN": _t_lrn,
    "Concat": _t_concat,
    "Dropout": _t_identity,
    "Softmax": _t_softmax,
    "BatchNorm": _t_batch_norm,
    "Scale": _t_scale,
    "Eltwise": _t_eltwise,
    "Flatten": _t_flatten,
    "Reshape": _t_reshape,
}


@functools.cache
def _torch_net_class() -> type:
    import torch
    import torch.nn.functional as F

    class TorchNet(torch.nn.Module):
        """A Caffe net interpreted with ``torch.nn.functional``: the parity reference for :func:`to_onnx`.

        Independent of the ONNX graph: each layer is computed by torch
        (``conv2d``, ``linear``, ``max_pool2d``/``avg_pool2d`` after explicit
        padding that reproduces Caffe's ceil-mode output size and average
        divisor, ``local_response_norm``, ``batch_norm``...).

        Args:
            net: A :class:`Net` with weights.
            until: The top blob to return (None: the last top).
            rgb_input: Reverse RGB input to BGR first (as :func:`to_onnx`).

        Raises:
            StageNotFoundError: ``until`` is not a top of the net.
            ExportError: A layer the output needs cannot be converted, or has no weights.
        """

        def __init__(self, net: Net, until: str | None = None, *, rgb_input: bool = False):
            super().__init__()
            plan = _plan(net)
            self.output = _output_tensor(net, plan, until)
            self.steps = _needed(net, plan, [self.output])
            _check_weights(net, self.steps)
            self.input_tensors = [t for t in plan.inputs.values() if any(t in s.inputs for s in self.steps) or t == self.output]
            self.rgb_input = rgb_input
            self.net_name = net.name
            for i, step in enumerate(self.steps):
                for j, blob in enumerate(step.layer.blobs):
                    tensor = torch.from_numpy(np.array(blob, dtype=np.float32))
                    if step.layer.type == "BatchNorm":
                        self.register_buffer(f"blob{i}_{j}", tensor)
                    else:
                        self.register_parameter(f"blob{i}_{j}", torch.nn.Parameter(tensor, requires_grad=False))
            self.eval()

        def forward(self, *xs: Any) -> Any:
            if len(xs) != len(self.input_tensors):
                raise TypeError(f"{self.net_name} takes {len(self.input_tensors)} inputs ({', '.join(self.input_tensors)}), got {len(xs)}")
            if self.rgb_input:
                xs = tuple(x.flip(1) for x in xs)
            env = dict(zip(self.input_tensors, xs))
            for i, step in enumerate(self.steps):
                blobs = [getattr(self, f"blob{i}_{j}") for j in range(len(step.layer.blobs))]
                outs = _TORCH_OPS[step.layer.type](F, torch, step, [env[t] for t in step.inputs], blobs)
                env.update(zip(step.outputs, outs))
            return env[self.output]

    TorchNet.__module__ = __name__
    TorchNet.__qualname__ = "TorchNet"
    return TorchNet


def __getattr__(name: str) -> Any:
    # TorchNet subclasses torch.nn.Module; it is built on first use so that
    # importing zoo.caffe does not import torch.
    if name == "TorchNet":
        cls = _torch_net_class()
        globals()["TorchNet"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------


def _nearest_power_of_two(value: float) -> int:
    return 2 ** max(0, round(math.log2(value))) if value > 0 else 1


def stages_of(net: Net) -> list[dict[str, Any]]:
    """Every top blob as a stage: name, channels and stride, measured by ONNX shape inference.

    The net is converted with its weights as typed graph inputs (no weight
    data is needed or copied) and every convertible top as an output, and
    ``onnx.shape_inference`` runs on it at the prototxt's input size.

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
    import onnx

    plan = _plan(net)
    tops = [t for t in plan.order if plan.shapes[plan.final[t]] is not None]
    if not tops:
        return []
    outputs = [plan.final[t] for t in tops]
    # Shapes only: stand-in weights of the right shapes that take no memory.
    shaped = dataclasses.replace(
        net,
        layers=[
            dataclasses.replace(s.layer, blobs=[np.broadcast_to(np.float32(0), shape) for shape in (s.expected or [])])
            for s in plan.steps
        ],
    )
    shaped_plan = _plan(shaped)
    model = _build_onnx(shaped, shaped_plan, outputs, opset=17, batch=1, rgb_input=False, weights_as_inputs=True)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ExportError(f"{net.name}: ONNX shape inference fails on the converted graph ({exc}); please report it") from exc
    found: dict[str, list[int | None]] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        found[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    first = next(iter(net.inputs.values()))
    height = int(first[2]) if len(first) == 4 else None
    stages = []
    for top, tensor in zip(tops, outputs):
        dims = found.get(tensor)
        if not dims or len(dims) < 2 or not isinstance(dims[1], int) or dims[1] <= 0:
            continue
        if height and len(dims) == 4 and isinstance(dims[2], int) and dims[2] > 1:
            stride = _nearest_power_of_two(height / dims[2])
        else:
            stride = height or 1
        stages.append({"name": top, "channels": dims[1], "stride": stride})
    return stages


# --------------------------------------------------------------------------
# Caffe Model Zoo folders: readme frontmatter, registry entries
# --------------------------------------------------------------------------

_REQUIRED_KEYS = ("caffemodel", "caffemodel_url", "sha1")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def read_frontmatter(model_dir: str | Path) -> dict[str, Any]:
    """Reads the YAML frontmatter of a Caffe Model Zoo folder's ``readme.md``.

    As BVLC's ``scripts/download_model_binary.py``: the YAML between the first
    ``---`` line and the next one (lines stripped), read with
    ``yaml.safe_load``; ``caffemodel``, ``caffemodel_url`` and ``sha1`` are
    required. ``sha1`` is returned as 40 lowercase hex characters.

    Raises:
        CaffeFormatError: No readme, no frontmatter, invalid YAML, or a
            required key missing; names the file and what to fix.
    """
    import yaml

    path = Path(model_dir) / "readme.md"
    text = _read_limited(path, _MAX_README_BYTES, "readme.md").decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    example = "---\\nname: ...\\ncaffemodel: NAME.caffemodel\\ncaffemodel_url: https://...\\nsha1: <40 hex>\\n---"
    try:
        top = lines.index("---")
        bottom = lines.index("---", top + 1)
    except ValueError:
        raise CaffeFormatError(
            f"{path}: no YAML frontmatter (a block between two '---' lines); add one as the BVLC readmes do: {example}"
        ) from None
    try:
        data = yaml.safe_load("\n".join(lines[top + 1 : bottom]))
    except yaml.YAMLError as exc:
        raise CaffeFormatError(f"{path}: the frontmatter is not valid YAML ({exc}); fix it") from None
    if not isinstance(data, dict):
        raise CaffeFormatError(f"{path}: the frontmatter must be a YAML mapping of keys to values, like {example}")
    missing = [k for k in _REQUIRED_KEYS if data.get(k) in (None, "")]
    if missing:
        raise CaffeFormatError(
            f"{path}: the frontmatter lacks {', '.join(missing)}; Caffe Model Zoo readmes need "
            f"{', '.join(_REQUIRED_KEYS)} (see BVLC's models/*/readme.md)"
        )
    sha1 = str(data["sha1"]).strip().lower()
    if not _SHA1.match(sha1):
        raise CaffeFormatError(
            f"{path}: sha1 {data['sha1']!r} is not 40 hex characters; copy it exactly (quote it if YAML reads it as a number)"
        )
    data["sha1"] = sha1
    return data


_PAPERS = {
    "bvlc_googlenet": {"title": "Going Deeper with Convolutions", "url": "https://arxiv.org/abs/1409.4842", "year": 2014},
    "bvlc_alexnet": {
        "title": "ImageNet Classification with Deep Convolutional Neural Networks",
        "url": "https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
        "year": 2012,
    },
}
_PAPERS["bvlc_reference_caffenet"] = _PAPERS["bvlc_alexnet"]

# BVLC's ImageNet mean, per channel in the BGR order the nets take (0-255 scale).
_BGR_MEAN = (104.0, 117.0, 123.0)


def _sha256_and_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def registry_entry(
    model_dir: str | Path,
    *,
    prototxt_url: str,
    caffemodel_url: str | None = None,
    paper: dict[str, Any] | None = None,
    prototxt: str = "deploy.prototxt",
    name: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Builds a registry entry (for ``zoo registry import-caffe``) from a Caffe Model Zoo folder.

    Input convention: the entry's ``input`` is zoo's RGB 0-1 spec with
    ``mean = [123, 117, 104] / 255`` (RGB order of BVLC's BGR mean
    ``[104, 117, 123]``) and ``std = [1 / 255] * 3``, so zoo's preprocessing
    yields RGB in 0-255 minus the mean; ``arch_args: {channel_order: bgr}``
    makes the caffe adapter reverse the channels to BGR inside the model.

    Args:
        model_dir: The folder with ``readme.md`` (frontmatter) and the prototxt.
        prototxt_url: Where the prototxt is published (https); pinned by the
            local file's size and sha256.
        caffemodel_url: Where the weights are (default: the frontmatter's
            ``caffemodel_url``); ``http://`` is rewritten to ``https://``
            because zoo fetches origins over https only. Pinned by the
            frontmatter's sha1 (weakly verified), without a size.
        paper: ``{title, url, year}``; required unless the caffemodel is one
            of bvlc_googlenet, bvlc_alexnet, bvlc_reference_caffenet.
        prototxt: The prototxt's file name in ``model_dir``.
        name: The registry name (default: the folder's name, lowercased).

    Returns:
        ``(model_name, entry)`` in the registry schema.

    Raises:
        CaffeFormatError: The readme or prototxt is malformed.
        ValueError: No paper for an unknown model, or a non-3-channel input.
    """
    model_dir = Path(model_dir)
    front = read_frontmatter(model_dir)
    caffemodel = str(front["caffemodel"]).strip()
    if "/" in caffemodel or "\\" in caffemodel or caffemodel in ("", ".", ".."):
        raise CaffeFormatError(f"{model_dir / 'readme.md'}: caffemodel {caffemodel!r} must be a plain file name")
    model_name = name or re.sub(r"[^a-z0-9._-]+", "-", model_dir.resolve().name.lower()).strip("-._")
    stem = caffemodel.removesuffix(".caffemodel")
    paper = paper or _PAPERS.get(stem)
    if paper is None:
        raise ValueError(
            f"{model_dir}: zoo does not know the paper of {caffemodel}; pass paper={{'title': ..., 'url': 'https://...', 'year': ...}}"
        )
    path = model_dir / prototxt
    net = load_net(path)
    shape = [int(d) for d in next(iter(net.inputs.values()))[1:]]
    if len(shape) != 3 or shape[0] != 3:
        raise ValueError(f"{path}: input shape {shape} is not a 3-channel image (C, H, W); write this entry by hand")
    sha256, size = _sha256_and_size(path)
    original_url = str(caffemodel_url or front["caffemodel_url"]).strip()
    url = "https://" + original_url[len("http://") :] if original_url.startswith("http://") else original_url
    provenance = [f"Caffe Model Zoo weights '{front.get('name', stem)}' ({caffemodel}), trained with Caffe"]
    if front.get("caffe_commit"):
        provenance.append(f"at commit {front['caffe_commit']}")
    if front.get("gist_id"):
        provenance.append(f"(gist {front['gist_id']})")
    description = (
        " ".join(provenance)
        + f". Published at {original_url} with only a SHA-1 and no size: weakly verified, zoo records the "
        "sha256 on first pull. The net takes BGR images in 0-255 minus the mean [104, 117, 123] (B, G, R); "
        "zoo's preprocessing gives RGB normalized with that mean in RGB order and std 1/255, and the model "
        "reverses the channels to BGR (arch_args channel_order: bgr). Converted to ONNX by zoo's own Caffe reader."
    )
    version: dict[str, Any] = {
        "adapter": "caffe",
        "arch": prototxt,
        "arch_args": {"channel_order": "bgr"},
        "license": str(front.get("license") or "unknown"),
        "description": description,
    }
    params = param_count(net)
    if params:
        version["params"] = params
    version["input"] = {
        "shape": shape,
        "mean": [m / 255.0 for m in reversed(_BGR_MEAN)],
        "std": [1.0 / 255.0] * 3,
        "interpolation": "bilinear",
        # BVLC nets were trained on 256x256 images, center-cropped at test time.
        "crop_pct": min(1.0, shape[1] / 256.0),
    }
    version["stages"] = stages_of(net)
    version["files"] = [
        {"path": prototxt, "size": size, "sha256": sha256, "source": {"url": prototxt_url}},
        {"path": caffemodel, "hash": {"sha1": front["sha1"]}, "source": {"url": url}},
    ]
    entry = {
        "task": "image-classification",
        "modality": "vision",
        "architecture": str(front.get("name") or stem),
        "paper": dict(paper),
        "tags": ["caffe"],
        "default": "bvlc",
        "versions": {"bvlc": version},
    }
    return model_name, entry
