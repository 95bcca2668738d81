"""The ONNX path's plan: every layer's tensors, shapes, blob shapes and conversion problems.

:func:`plan_of` walks the layers as Caffe's forward pass would, applying each
layer type's shape rule (:meth:`LayerType.infer`) at the prototxt's input
size, with the batch left symbolic (``"N"``). Each write of a blob gets its
own tensor name; the *last* writer of a blob keeps the Caffe name, so a cut
at ``conv1`` is conv1 after its in-place ReLU, which is what Caffe's blob
holds after a forward pass.

The reader uses the plan to check caffemodel blobs; the torch reference does
not use it at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo.caffe._layer_type import Unsupported, lookup
from zoo.caffe._shapes import Shape
from zoo.caffe._topology import cannot_convert, needed, no_weights, tops_of
from zoo.errors import CaffeFormatError

if TYPE_CHECKING:
    from zoo.caffe._net import Layer, Net

__all__ = ["Plan", "Step", "check_weights", "plan_of", "steps_for"]


@dataclass
class Step:
    """One layer in the plan.

    Attributes:
        layer: The layer.
        index: Its position in ``net.layers``.
        inputs: The tensors it reads (one per bottom).
        outputs: The tensors it writes (one per top).
        in_shapes: The bottoms' shapes (None: not known, an earlier layer cannot be converted).
        out_shapes: The tops' shapes.
        expected: The blob shapes the caffemodel must have; None if the layer cannot be converted.
        attrs: What the shape rule worked out, for :meth:`LayerType.emit`.
        problem: Why the layer cannot be converted, or None.
    """

    layer: Layer
    index: int
    inputs: list[str]
    outputs: list[str]
    in_shapes: list[Shape | None]
    out_shapes: list[Shape | None]
    expected: list[tuple[int, ...]] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


@dataclass
class Plan:
    """The plan of a whole net.

    Attributes:
        steps: One per layer, in order.
        inputs: Input blob -> its tensor.
        final: Blob -> the tensor of its last writer.
        order: The tops in order of first appearance (inputs left out).
        shapes: Tensor -> shape (None: not known).
    """

    steps: list[Step]
    inputs: dict[str, str]
    final: dict[str, str]
    order: list[str]
    shapes: dict[str, Shape | None]


def _tensor_namer(net: Net) -> Any:
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

    return new_tensor


def _apply_rule(net: Net, layer: Layer, in_shapes: list[Shape | None]) -> tuple[list[Any], list | None, dict, str | None]:
    """The layer's rule on its input shapes: (top shapes, blob shapes, attrs, problem)."""
    unknown: list[Any] = [None] * len(layer.tops)
    kind = lookup(layer.type)
    if kind is None:
        return unknown, None, {}, f"zoo cannot convert layer type {layer.type!r}"
    if any(s is None for s in in_shapes):
        return unknown, None, {}, "it depends on a layer zoo cannot convert"
    if not layer.bottoms:
        raise CaffeFormatError(f"{net.source}: layer {layer.name!r} ({layer.type}) has no bottom")
    try:
        kind.check(layer)
        outs, expected, attrs = kind.infer(layer, in_shapes)
    except Unsupported as exc:
        return unknown, None, {}, str(exc)
    except CaffeFormatError as exc:
        raise CaffeFormatError(f"{net.source}: {exc}") from None
    if len(layer.tops) != len(outs):
        raise CaffeFormatError(
            f"{net.source}: layer {layer.name!r} ({layer.type}) has {len(layer.tops)} tops; it makes {len(outs)}"
        )
    return list(outs), expected, attrs, None


def plan_of(net: Net) -> Plan:
    """Walks the layers as Caffe's forward pass would: tensor names, shapes, problems.

    Raises:
        CaffeFormatError: A layer's parameters do not fit its input (names the layer).
    """
    new_tensor = _tensor_namer(net)
    current: dict[str, str] = {}
    shapes: dict[str, Shape | None] = {}
    inputs = {}
    for blob, shape in net.inputs.items():
        tensor = new_tensor(blob)
        inputs[blob] = current[blob] = tensor
        shapes[tensor] = ("N", *(int(d) for d in shape[1:]))
    steps = []
    for index, layer in enumerate(net.layers):
        ins = [current[b] for b in layer.bottoms]
        in_shapes = [shapes[t] for t in ins]
        out_shapes, expected, attrs, problem = _apply_rule(net, layer, in_shapes)
        tensors = [new_tensor(t) for t in layer.tops]
        for top, tensor, shape in zip(layer.tops, tensors, out_shapes):
            current[top] = tensor
            shapes[tensor] = shape
        steps.append(Step(layer, index, ins, tensors, in_shapes, out_shapes, expected, attrs, problem))
    return Plan(steps, inputs, dict(current), tops_of(net), shapes)


def steps_for(net: Net, plan: Plan, tops: Sequence[str]) -> list[Step]:
    """The steps the tops depend on, in order.

    Raises:
        ExportError: One of them cannot be converted (names its type and layer).
    """
    indices, _ = needed(net, tops)
    steps = [plan.steps[i] for i in indices]
    for step in steps:
        if step.problem is not None and not any(s is None for s in step.in_shapes):
            writers = {t: s.index for s in plan.steps for t in s.outputs}
            usable = [
                t for t in plan.order
                if plan.shapes[plan.final[t]] is not None and writers[plan.final[t]] < step.index
            ]
            raise cannot_convert(net, step.layer, step.problem, usable)
    return steps


def check_weights(net: Net, steps: Sequence[Step]) -> None:
    """Raises ExportError if a step that needs blobs has none."""
    for step in steps:
        if step.expected and not step.layer.blobs:
            raise no_weights(net, step.layer)
