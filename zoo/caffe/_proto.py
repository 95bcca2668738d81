"""The subset of BVLC ``caffe.proto`` zoo reads, built at run time as a protobuf descriptor.

zoo does not vendor Caffe or its ``caffe.proto``. The messages are declared
here in a small Python form that mirrors proto2 (:func:`message`,
:func:`field`, :func:`enum`), with BVLC's field numbers and types, and turned
into a ``FileDescriptorProto`` and message classes by protobuf itself
(``descriptor_pb2``, ``descriptor_pool``, ``message_factory``). Packed floats
stay packed, so files written by real Caffe parse.

Who declares what:

* This module: the messages every layer shares (``BlobShape``, ``BlobProto``,
  ``NetParameter``, ``NetStateRule``, the ``Phase`` enum) and the common part
  of ``LayerParameter`` and the legacy ``V1LayerParameter`` (name, type,
  bottom, top, blobs, include/exclude), with the V1 ``LayerType`` values of
  the layer types zoo does not convert.
* Each layer type class (:mod:`zoo.caffe.layers`): its own parameter message
  (``PoolingParameter``...), the field that holds it on ``LayerParameter``
  (and ``V1LayerParameter``), and its V1 ``LayerType`` value.
  :func:`proto` assembles them from the registered classes.

protobuf is imported only when :func:`proto` first runs.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from typing import Any

from zoo.caffe._layer_type import registered

__all__ = ["Enum", "Field", "Message", "enum", "enum_name", "field", "message", "proto", "v1_type_names"]

_PACKAGE = "caffe"
_SCALARS = frozenset({"double", "float", "int32", "int64", "uint32", "uint64", "bool", "string", "bytes"})


@dataclass(frozen=True)
class Field:
    """One field of a message: ``optional float alpha = 2 [default = 1];``.

    Attributes:
        name: The field's name.
        number: Its number in BVLC ``caffe.proto``.
        type: A scalar type (``"uint32"``), or the name of an enum or message:
            one nested in the same message first, else one of the file's.
        repeated: ``repeated`` rather than ``optional``.
        default: The proto2 default (an enum default by its value's name).
        packed: ``[packed = true]`` (repeated scalars only).
    """

    name: str
    number: int
    type: str
    repeated: bool = False
    default: Any = None
    packed: bool = False


@dataclass(frozen=True)
class Enum:
    """An enum: its name and ``(value name, number)`` pairs."""

    name: str
    values: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Message:
    """A message: its name, fields, and the enums nested in it."""

    name: str
    fields: tuple[Field, ...]
    enums: tuple[Enum, ...] = ()


def field(name: str, number: int, type: str, **options: Any) -> Field:
    """Declares a field; ``options`` are ``repeated``, ``default`` and ``packed`` (see :class:`Field`)."""
    return Field(name, number, type, **options)


def enum(name: str, **values: int) -> Enum:
    """Declares an enum: ``enum("PoolMethod", MAX=0, AVE=1, STOCHASTIC=2)``."""
    return Enum(name, tuple(values.items()))


def message(name: str, *parts: Field | Enum) -> Message:
    """Declares a message from its fields and nested enums, in any order."""
    return Message(
        name,
        tuple(p for p in parts if isinstance(p, Field)),
        tuple(p for p in parts if isinstance(p, Enum)),
    )


_PHASE = enum("Phase", TRAIN=0, TEST=1)

_SHARED = (
    message("BlobShape", field("dim", 1, "int64", repeated=True, packed=True)),
    message(
        "BlobProto",
        field("shape", 7, "BlobShape"),
        field("data", 5, "float", repeated=True, packed=True),
        field("double_data", 8, "double", repeated=True, packed=True),
        field("num", 1, "int32", default=0),
        field("channels", 2, "int32", default=0),
        field("height", 3, "int32", default=0),
        field("width", 4, "int32", default=0),
    ),
    message(
        "NetParameter",
        field("name", 1, "string"),
        field("input", 3, "string", repeated=True),
        field("input_shape", 8, "BlobShape", repeated=True),
        field("input_dim", 4, "int32", repeated=True),
        field("layer", 100, "LayerParameter", repeated=True),
        field("layers", 2, "V1LayerParameter", repeated=True),
    ),
    message("NetStateRule", field("phase", 1, "Phase")),
)

_LAYER_FIELDS = (
    field("name", 1, "string"),
    field("type", 2, "string"),
    field("bottom", 3, "string", repeated=True),
    field("top", 4, "string", repeated=True),
    field("phase", 10, "Phase"),
    field("blobs", 7, "BlobProto", repeated=True),
    field("include", 8, "NetStateRule", repeated=True),
    field("exclude", 9, "NetStateRule", repeated=True),
)

_V1_LAYER_FIELDS = (
    field("bottom", 2, "string", repeated=True),
    field("top", 3, "string", repeated=True),
    field("name", 4, "string"),
    field("include", 32, "NetStateRule", repeated=True),
    field("exclude", 33, "NetStateRule", repeated=True),
    field("type", 5, "LayerType"),
    field("blobs", 6, "BlobProto", repeated=True),
)

# V1LayerParameter.LayerType values of the types zoo does not convert, each with the
# modern type string of Caffe's UpgradeV1LayerType. The converted ones are declared
# by their layer classes.
_V1_OTHER_TYPES = {
    "NONE": (0, "NONE"), "ABSVAL": (35, "AbsVal"), "ACCURACY": (1, "Accuracy"), "ARGMAX": (30, "ArgMax"),
    "BNLL": (2, "BNLL"), "CONTRASTIVE_LOSS": (37, "ContrastiveLoss"), "DATA": (5, "Data"),
    "DECONVOLUTION": (39, "Deconvolution"), "DUMMY_DATA": (32, "DummyData"), "EUCLIDEAN_LOSS": (7, "EuclideanLoss"),
    "EXP": (38, "Exp"), "HDF5_DATA": (9, "HDF5Data"), "HDF5_OUTPUT": (10, "HDF5Output"), "HINGE_LOSS": (28, "HingeLoss"),
    "IM2COL": (11, "Im2col"), "IMAGE_DATA": (12, "ImageData"), "INFOGAIN_LOSS": (13, "InfogainLoss"),
    "MEMORY_DATA": (29, "MemoryData"), "MULTINOMIAL_LOGISTIC_LOSS": (16, "MultinomialLogisticLoss"), "MVN": (34, "MVN"),
    "POWER": (26, "Power"), "SIGMOID": (19, "Sigmoid"), "SIGMOID_CROSS_ENTROPY_LOSS": (27, "SigmoidCrossEntropyLoss"),
    "SILENCE": (36, "Silence"), "SOFTMAX_LOSS": (21, "SoftmaxWithLoss"), "SPLIT": (22, "Split"), "SLICE": (33, "Slice"),
    "TANH": (23, "TanH"), "WINDOW_DATA": (24, "WindowData"), "THRESHOLD": (31, "Threshold"),
}


def _declared() -> tuple[Message, ...]:
    """Every message of the file, the registered layer types' parts added."""
    kinds = registered()
    layer_fields, v1_fields, own = list(_LAYER_FIELDS), list(_V1_LAYER_FIELDS), []
    v1_values = {name: number for name, (number, _) in _V1_OTHER_TYPES.items()}
    for kind in kinds:
        if kind.v1 is not None:
            v1_values[kind.v1[0]] = kind.v1[1]
        spec = kind.params
        if spec is None:
            continue
        own.append(spec.message)
        layer_fields.append(field(spec.field, spec.number, spec.message.name))
        if spec.v1_number is not None:
            v1_fields.append(field(spec.field, spec.v1_number, spec.message.name))
    layer_type = Enum("LayerType", tuple(sorted(v1_values.items(), key=lambda item: item[1])))
    return (
        *_SHARED,
        message("LayerParameter", *layer_fields),
        *own,
        Message("V1LayerParameter", tuple(v1_fields), (layer_type,)),
    )


def _file_descriptor() -> Any:
    """The declared messages as a ``FileDescriptorProto``, every type name resolved."""
    from google.protobuf import descriptor_pb2

    fdp_type = descriptor_pb2.FieldDescriptorProto
    messages = _declared()
    fdp = descriptor_pb2.FileDescriptorProto(name="zoo/caffe_subset.proto", package=_PACKAGE, syntax="proto2")
    fdp.enum_type.add(name=_PHASE.name).value.extend(
        descriptor_pb2.EnumValueDescriptorProto(name=n, number=v) for n, v in _PHASE.values
    )
    names = {m.name for m in messages}
    for msg in messages:
        out = fdp.message_type.add(name=msg.name)
        for en in msg.enums:
            out.enum_type.add(name=en.name).value.extend(
                descriptor_pb2.EnumValueDescriptorProto(name=n, number=v) for n, v in en.values
            )
        nested = {en.name for en in msg.enums}
        for f in msg.fields:
            fld = out.field.add(
                name=f.name, number=f.number, label=fdp_type.LABEL_REPEATED if f.repeated else fdp_type.LABEL_OPTIONAL
            )
            if f.type in _SCALARS:
                fld.type = fdp_type.Type.Value(f"TYPE_{f.type.upper()}")
            elif f.type in nested:
                fld.type, fld.type_name = fdp_type.TYPE_ENUM, f".{_PACKAGE}.{msg.name}.{f.type}"
            elif f.type == _PHASE.name:
                fld.type, fld.type_name = fdp_type.TYPE_ENUM, f".{_PACKAGE}.{f.type}"
            elif f.type in names:
                fld.type, fld.type_name = fdp_type.TYPE_MESSAGE, f".{_PACKAGE}.{f.type}"
            else:
                raise RuntimeError(f"zoo's caffe proto: field {msg.name}.{f.name} has unknown type {f.type!r}")
            if f.packed:
                fld.options.packed = True
            if f.default is not None:
                fld.default_value = ("true" if f.default else "false") if isinstance(f.default, bool) else str(f.default)
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
        get_class = message_factory.MessageFactory(pool).GetPrototype
    return types.SimpleNamespace(
        **{m.name: get_class(pool.FindMessageTypeByName(f"{_PACKAGE}.{m.name}")) for m in fdp.message_type}
    )


@functools.cache
def v1_type_names() -> dict[str, str]:
    """Legacy V1 ``LayerType`` enum name -> the modern type string (``"POOLING"`` -> ``"Pooling"``)."""
    names = {name: modern for name, (_, modern) in _V1_OTHER_TYPES.items()}
    names.update({kind.v1[0]: kind.type for kind in registered() if kind.v1 is not None})
    return names


def enum_name(msg: Any, name: str) -> str:
    """The symbolic name of an enum field's value (``"MAX"``), whatever protobuf exposes."""
    fld = msg.DESCRIPTOR.fields_by_name[name]
    return fld.enum_type.values_by_number[getattr(msg, name)].name
