"""Caffe net -> ONNX graph, cut at one or more top blobs.

The graph is built from the plan (:mod:`zoo.caffe._plan`): each layer type
writes its own nodes (:meth:`LayerType.emit`), weights become initializers
(or typed graph inputs, for shape-only graphs), and each requested top is a
graph output under its Caffe name.

Input convention. BVLC models take BGR images in 0-255 minus the ImageNet
mean ``[104, 117, 123]`` (B, G, R). zoo's vision preprocessing produces RGB
``(x / 255 - mean) / std``; with ``mean = [123, 117, 104] / 255`` (RGB order)
and ``std = [1 / 255] * 3`` that is exactly RGB 0-255 minus the mean. The
channel reversal to BGR is then done inside the model: ``rgb_input=True``
(registry ``arch_args: {channel_order: bgr}``, the caffe adapter's default)
adds it as the first op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.caffe._layer_type import lookup
from zoo.caffe._plan import Plan, check_weights, plan_of, steps_for
from zoo.caffe._topology import needed, wanted_tops
from zoo.errors import ExportError, InvalidOptionError

if TYPE_CHECKING:
    from zoo.caffe._net import Net

__all__ = ["OnnxGraph", "build_model", "to_onnx"]


class OnnxGraph:
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
        """A fresh tensor name (or a name fresh in ``taken``) starting with ``base``."""
        taken = self.names if taken is None else taken
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    def const(self, base: str, array: Any) -> str:
        """A constant initializer; returns its tensor name."""
        name = self.unique(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, base: str, array: np.ndarray) -> str:
        """A float32 weight: an initializer, or a typed graph input in a shape-only graph."""
        if not self.weights_as_inputs:
            return self.const(base, np.ascontiguousarray(array, dtype=np.float32))
        name = self.unique(base)
        self.weight_inputs.append(self.helper.make_tensor_value_info(name, self.float, list(array.shape)))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> None:
        """Appends a node named (uniquely) after ``name``."""
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=self.unique(name, self.node_names), **attrs))


def build_model(
    net: Net,
    plan: Plan,
    tops: Sequence[str],
    *,
    opset: int,
    batch: str | int,
    rgb_input: bool,
    weights_as_inputs: bool = False,
    doc: str = "",
) -> Any:
    """The ONNX model computing ``tops`` (the outputs, in that order); not yet checked.

    Raises:
        ExportError: A layer the tops need cannot be converted, or the RGB
            reversal is asked for a net whose input is not 3-channel.
    """
    import onnx

    steps = steps_for(net, plan, tops)
    _, input_blobs = needed(net, tops)
    g = OnnxGraph(weights_as_inputs)
    g.names.update(plan.shapes)
    batch_dim: str | int = "batch" if batch == "dynamic" else batch
    graph_inputs, rename = [], {}
    for blob in input_blobs:
        tensor = plan.inputs[blob]
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
            order = g.const(f"{tensor}/bgr_order", np.array([2, 1, 0], np.int64))
            g.node("Gather", [tensor, order], [bgr], f"{tensor}/rgb_to_bgr", axis=1)
            rename[tensor] = bgr
    for step in steps:
        lookup(step.layer.type).emit(g, step, [rename.get(t, t) for t in step.inputs], step.outputs)
    outputs = []
    for top in tops:
        tensor = plan.final[top]
        dims = [batch_dim if d == "N" else d if isinstance(d, int) else None for d in plan.shapes[tensor]]
        outputs.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, dims))
    graph = onnx.helper.make_graph(
        g.nodes, net.name or "caffe", graph_inputs + g.weight_inputs, outputs, initializer=g.initializers, doc_string=doc
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="zoo.caffe")
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    return model


def to_onnx(
    net: Net,
    *,
    until: str | Sequence[str] | None = None,
    opset: int = 17,
    batch: str | int = "dynamic",
    rgb_input: bool = False,
) -> Any:
    """Converts a Caffe net to an ONNX model, cut at one or more top blobs.

    Args:
        net: From :func:`load_net` (with its caffemodel) or :func:`random_weights`.
        until: A top blob name (``"inception_4e/output"``), or a list of
            them; the graph has one output per name, in the order given, and
            only the layers they need. For a blob written in place (``conv1``
            then ``relu1`` on ``conv1``) it is the last writer's value, as in
            Caffe. None: the net's last top.
        opset: ONNX opset (13 or later).
        batch: ``"dynamic"`` (a symbolic ``batch`` dimension) or a fixed size.
        rgb_input: Take RGB input and reverse it to the BGR order the net
            was trained on (the zoo convention for BVLC models).

    Returns:
        An ``onnx.ModelProto`` that passed ``onnx.checker.check_model``: the
        input blob(s) as graph inputs, weights as initializers, each
        ``until`` blob (under its Caffe name) as an output.

    Raises:
        StageNotFoundError: A name in ``until`` is not a top of the net; lists them.
        ExportError: A layer the outputs need has a type zoo cannot convert
            (names type and layer), or the net has no weights.
        ValueError: ``until`` is an empty list or names a top twice; a bad
            ``opset`` or ``batch``.
    """
    import onnx

    if not isinstance(opset, int) or opset < 13:
        raise InvalidOptionError(f"opset must be 13 or later (Softmax over one axis), not {opset!r}")
    if batch != "dynamic" and not (isinstance(batch, int) and batch > 0):
        raise InvalidOptionError(f"batch must be 'dynamic' or a positive int, not {batch!r}")
    tops = wanted_tops(net, until)
    plan = plan_of(net)
    check_weights(net, steps_for(net, plan, tops))
    doc = f"Converted from the Caffe net {net.name!r} ({net.source}) by zoo.caffe, cut at {', '.join(map(repr, tops))}."
    model = build_model(net, plan, tops, opset=opset, batch=batch, rgb_input=rgb_input, doc=doc)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(
            f"{net.name}: the converted graph fails onnx.checker ({exc}); this is a bug in zoo.caffe, please report it"
        ) from exc
    return model
