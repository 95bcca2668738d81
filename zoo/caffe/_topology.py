"""Which blobs a Caffe net computes, in what order, which layers an output needs, and why a cut fails.

Blob names only, no shapes: both the ONNX path and the torch reference use
this, and neither's geometry is here. Caffe blobs may be written more than
once (in-place layers such as ReLU write their bottom); a blob's value after
the forward pass is its *last* writer's, and a layer reads the value its
bottom has at that point of the pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from zoo.caffe._layer_type import registered
from zoo.errors import (
    CaffeFormatError,
    ExportError,
    InvalidOptionError,
    StageNotFoundError,
)

if TYPE_CHECKING:
    from zoo.caffe._net import Layer, Net

__all__ = ["cannot_convert", "check_bottoms", "needed", "no_weights", "tops_of", "wanted_tops"]


def check_bottoms(net: Net) -> None:
    """Raises CaffeFormatError if a layer takes a bottom that no earlier layer or input produces."""
    known = set(net.inputs)
    for layer in net.layers:
        for bottom in layer.bottoms:
            if bottom not in known:
                raise CaffeFormatError(
                    f"{net.source}: layer {layer.name!r} ({layer.type}) takes bottom {bottom!r}, which no earlier "
                    "layer or input produces; check the blob names"
                )
        known.update(layer.tops)


def tops_of(net: Net) -> list[str]:
    """Every top blob once, in order of first appearance; the net's inputs left out."""
    order: dict[str, None] = {}
    for layer in net.layers:
        order.update((t, None) for t in layer.tops if t not in net.inputs)
    return list(order)


def wanted_tops(net: Net, until: str | Sequence[str] | None) -> list[str]:
    """The tops ``until`` asks for: None (the last top), one top name, or a list of them.

    Raises:
        StageNotFoundError: A name is not a top of the net; lists the tops.
        ExportError: The net has no layers.
        ValueError: An empty list, or a name given twice.
    """
    order = tops_of(net)
    if until is None:
        if not order:
            raise ExportError(f"{net.name}: the net has no layers to convert")
        return [order[-1]]
    names = [until] if isinstance(until, str) else list(until)
    if not names:
        raise InvalidOptionError("until is an empty list; give a top name, a list of top names, or None for the last top")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidOptionError(f"until names {', '.join(map(repr, twice))} more than once; give each top once")
    for name in names:
        if name not in order:
            raise StageNotFoundError(net.name, name, order)
    return names


def needed(net: Net, tops: Sequence[str]) -> tuple[list[int], list[str]]:
    """The layers the tops' final values depend on, and the net inputs they read.

    Returns:
        ``(layer indices in execution order, input blob names in the net's order)``.
    """
    wanted = set(tops)  # blobs whose value at the current point of the walk is needed
    indices = []
    for index in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[index]
        if wanted.intersection(layer.tops):
            indices.append(index)
            wanted.difference_update(layer.tops)
            wanted.update(layer.bottoms)
    indices.reverse()
    return indices, [blob for blob in net.inputs if blob in wanted]


def cannot_convert(net: Net, layer: Layer, problem: str, usable: Sequence[str]) -> ExportError:
    """The error for a needed layer zoo cannot convert, with the last usable top before it as a hint."""
    hint = f" (the last convertible top before it is {usable[-1]!r})" if usable else ""
    supported = ", ".join(kind.type for kind in registered())
    return ExportError(
        f"{net.name}: layer {layer.name!r} of type {layer.type!r} cannot be converted to ONNX: {problem}. "
        f"zoo converts {supported}. Cut the network before this layer with an earlier --until{hint}."
    )


def no_weights(net: Net, layer: Layer) -> ExportError:
    """The error for a needed layer that has learned blobs in Caffe but none in ``net``."""
    return ExportError(
        f"{net.name}: layer {layer.name!r} ({layer.type}) has no weights; load the net with its "
        "caffemodel (load_net(prototxt, caffemodel)), or use random_weights(net) for shape checks"
    )
