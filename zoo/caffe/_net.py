"""Reading a Caffe net: ``deploy.prototxt`` + ``.caffemodel`` into a :class:`Net`.

A Caffe model is two files. ``deploy.prototxt`` is protobuf *text* format and
describes the network: a ``NetParameter`` with ``layer`` (or the legacy V1
``layers``) entries, each naming its ``bottom`` and ``top`` blobs. The
``.caffemodel`` is protobuf *binary* format: the same ``NetParameter`` whose
layers carry the learned ``blobs`` (``BlobProto``: ``data`` or
``double_data`` plus a ``shape``, or the legacy num/channels/height/width).

Both files are size-checked before a byte is read. Layers are matched to the
caffemodel by name, TEST-phase rules are applied, V1 enum types are mapped to
the modern type strings, and every blob is checked against the shape the
prototxt implies (the ONNX path's shape rules, :mod:`zoo.caffe._plan`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.caffe._layer_type import lookup
from zoo.caffe._plan import Plan, plan_of
from zoo.caffe._proto import enum_name, proto, v1_type_names
from zoo.caffe._topology import check_bottoms
from zoo.errors import CaffeFormatError

__all__ = ["Layer", "Net", "load_net", "param_count", "random_weights", "read_limited"]

# protobuf refuses messages of 2 GiB or more; check before reading a byte.
_MAX_CAFFEMODEL_BYTES = 2**31 - 1
_MAX_PROTOTXT_BYTES = 64 * 1024 * 1024
# Caffe's Blob::Reshape refuses more than INT_MAX values.
_MAX_BLOB_VALUES = 2**31 - 1


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

    Every bottom is produced by an earlier layer or is an input
    (:func:`load_net` checks it).

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


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """The file's bytes; CaffeFormatError if it is missing or larger than a ``what`` can be."""
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

    data = read_limited(path, _MAX_PROTOTXT_BYTES, "prototxt")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaffeFormatError(
            f"{path}: not UTF-8 text at byte {exc.start}; a prototxt is protobuf text format "
            "(is this the binary .caffemodel?)"
        ) from None
    msg = proto().NetParameter()
    try:
        text_format.Parse(text, msg, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise CaffeFormatError(f"{path}: not a valid Caffe prototxt: {exc}. Fix the text at that line.") from None
    except RecursionError:
        # protobuf's text parser recurses once per nested '{': a net nests a few levels, not hundreds.
        depth = text.count("{")
        raise CaffeFormatError(
            f"{path}: not a valid Caffe prototxt: braces nested too deeply to parse ({depth} '{{' in the file); "
            "a Caffe net nests a few levels. Fix or replace the file."
        ) from None
    return msg


def _parse_caffemodel(path: Path) -> Any:
    from google.protobuf.message import DecodeError

    data = read_limited(path, _MAX_CAFFEMODEL_BYTES, "caffemodel")
    msg = proto().NetParameter()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise CaffeFormatError(
            f"{path}: truncated or corrupt caffemodel ({len(data)} bytes; protobuf: {exc}). "
            "Delete it and download it again ('zoo pull' re-checks its hash)."
        ) from None
    if not msg.layer and not msg.layers:
        raise CaffeFormatError(
            f"{path}: parses but holds no layers; it is not a caffemodel (or it is cut short). "
            "Delete it and download it again."
        )
    return msg


def _in_test_phase(raw: Any) -> bool:
    """Caffe's StateMeetsRule for the TEST phase, on ``phase`` only."""
    if raw.include:
        return any(not r.HasField("phase") or enum_name(r, "phase") == "TEST" for r in raw.include)
    return not any(not r.HasField("phase") or enum_name(r, "phase") == "TEST" for r in raw.exclude)


def _params_of(raw: Any, kind: str) -> Any:
    implementation = lookup(kind)
    spec = implementation.params if implementation is not None else None
    if spec is None:
        return None
    if spec.field in raw.DESCRIPTOR.fields_by_name:
        return getattr(raw, spec.field)
    # A type the V1 format had no parameters for (Flatten): Caffe's defaults.
    return getattr(proto(), spec.message.name)()


def _legacy_inputs(msg: Any, source: str) -> dict[str, list[int]]:
    """The inputs of ``input:`` + ``input_shape`` (or ``input_dim``) at the top of the net."""
    names = list(msg.input)
    if not names:
        return {}
    if msg.input_shape:
        if len(msg.input_shape) != len(names):
            raise CaffeFormatError(
                f"{source}: {len(names)} 'input' blobs but {len(msg.input_shape)} 'input_shape'; "
                "give one input_shape per input"
            )
        return dict(zip(names, [list(s.dim) for s in msg.input_shape]))
    dims = list(msg.input_dim)
    if len(dims) != 4 * len(names):
        raise CaffeFormatError(
            f"{source}: {len(names)} 'input' blobs need {4 * len(names)} 'input_dim' "
            f"values (N, C, H, W each), found {len(dims)}"
        )
    return {name: dims[4 * i : 4 * i + 4] for i, name in enumerate(names)}


def _net_from_message(msg: Any, source: str) -> Net:
    if msg.layer and msg.layers:
        raise CaffeFormatError(
            f"{source}: uses both 'layer' and the legacy 'layers'; a net must use one of them. "
            "Upgrade it with Caffe's upgrade_net_proto_text or keep one kind."
        )
    inputs = _legacy_inputs(msg, source)
    v1 = bool(msg.layers)
    v1_names = v1_type_names()
    layers: list[Layer] = []
    for raw in msg.layers if v1 else msg.layer:
        if not _in_test_phase(raw):
            continue
        if v1:
            legacy = enum_name(raw, "type")
            kind = v1_names.get(legacy, legacy)
        else:
            kind = raw.type
        layer = Layer(raw.name, kind, list(raw.bottom), list(raw.top), _params_of(raw, kind), [])
        implementation = lookup(kind)
        declared = implementation.declared_inputs(layer, source) if implementation is not None else None
        if declared is None:
            layers.append(layer)
        else:
            inputs.update(declared)
    if not inputs:
        raise CaffeFormatError(
            f"{source}: declares no input blob; a deploy prototxt starts with an Input layer "
            "(input_param { shape { dim: N dim: C dim: H dim: W } }) or 'input:' + 'input_shape'"
        )
    for name, shape in inputs.items():
        if not shape or any(d <= 0 for d in shape):
            raise CaffeFormatError(f"{source}: input {name!r} has shape {shape}; every dimension must be positive")
    net = Net(msg.name or Path(source).stem, inputs, layers, source)
    check_bottoms(net)
    return net


def _blob_array(blob: Any, where: str) -> tuple[np.ndarray, bool]:
    """A BlobProto as a float32 array, and whether its shape came from the legacy 4-D fields."""
    if blob.HasField("shape"):
        dims, legacy = tuple(int(d) for d in blob.shape.dim), False
    else:
        dims, legacy = (blob.num, blob.channels, blob.height, blob.width), True
    if any(d < 0 for d in dims) or math.prod(d for d in dims if d) > _MAX_BLOB_VALUES:
        raise CaffeFormatError(
            f"{where}: has shape {dims}, which no Caffe blob can have (dimensions must be >= 0 and the blob hold "
            f"at most {_MAX_BLOB_VALUES} values); the caffemodel is corrupt. Delete it and download it again."
        )
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


def _fits(array: np.ndarray, legacy: bool, want: tuple[int, ...]) -> bool:
    # Legacy blobs are 4-D (num, channels, height, width): Caffe compares them
    # with the wanted shape padded on the left with 1s.
    if legacy:
        return len(want) <= 4 and array.shape == (1,) * (4 - len(want)) + tuple(want)
    return array.shape == tuple(want)


def _attach_blobs(net: Net, plan: Plan, weights: dict[str, list[tuple[np.ndarray, bool]]], model: str) -> None:
    """Gives each layer its caffemodel blobs, checked against the shapes the prototxt implies."""
    listing = ", ".join(list(weights)[:12]) + (f" and {len(weights) - 12} more" if len(weights) > 12 else "")
    for step in plan.steps:
        layer, expected = step.layer, step.expected
        raw = weights.get(layer.name, [])
        if expected is None:
            layer.blobs = [a for a, _ in raw]
            continue
        if not expected:
            layer.blobs = []
            continue
        implementation = lookup(layer.type)
        roles = implementation.blob_roles if implementation is not None else ()
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
        for j, ((array, legacy), want) in enumerate(zip(raw, expected)):
            if not _fits(array, legacy, want):
                role = roles[j] if j < len(roles) else f"blob {j}"
                raise CaffeFormatError(
                    f"{model}: layer {layer.name!r} ({layer.type}) {role} has shape {tuple(array.shape)}, but "
                    f"{net.source} needs {tuple(want)} (from its parameters and input size). The prototxt and the "
                    "caffemodel do not belong together: use the deploy.prototxt published with these weights."
                )
        layer.blobs = [array.reshape(want) for (array, _), want in zip(raw, expected)]


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
    plan = plan_of(net)
    if caffemodel is not None:
        caffemodel = Path(caffemodel)
        msg = _parse_caffemodel(caffemodel)
        weights: dict[str, list[tuple[np.ndarray, bool]]] = {}
        for raw in list(msg.layer) + list(msg.layers):
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
    layers = []
    for step in plan_of(net).steps:
        layer = step.layer
        if layer.blobs or not step.expected:
            layers.append(dataclasses.replace(layer, blobs=list(layer.blobs)))
            continue
        blobs = lookup(layer.type).init_blobs(rng, step.expected, step.attrs)
        layers.append(dataclasses.replace(layer, blobs=[np.asarray(b, dtype=np.float32) for b in blobs]))
    return dataclasses.replace(net, layers=layers, inputs=dict(net.inputs))


def param_count(net: Net) -> int:
    """Learnable parameters of the net (convolution, inner product and scale blobs), from the prototxt alone."""
    total = 0
    for step in plan_of(net).steps:
        if step.expected and lookup(step.layer.type).trainable:
            total += sum(math.prod(s) for s in step.expected)
    return total
