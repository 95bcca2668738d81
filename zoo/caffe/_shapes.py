"""Symbolic shapes for the ONNX path's shape rules (:meth:`LayerType.infer`).

A dimension is an int, ``"N"`` (the batch, dynamic in ONNX) or None (not
known). The torch reference never uses these: it reads sizes off its tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.caffe._layer_type import Unsupported
from zoo.errors import CaffeFormatError

if TYPE_CHECKING:
    from zoo.caffe._net import Layer

__all__ = ["Dim", "Shape", "check_axis", "fmt", "need_ints", "sym_prod"]

Dim = Any  # int | Literal["N"] | None
Shape = tuple  # tuple[Dim, ...]


def sym_prod(dims: Any) -> Dim:
    """The product of dimensions: an int, ``"N"`` (the batch times 1), or None."""
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


def check_axis(axis: int, rank: int, layer: Layer, what: str = "axis") -> int:
    """``axis`` made non-negative; CaffeFormatError if a ``rank``-D input has no such axis."""
    if not -rank <= axis < rank:
        raise CaffeFormatError(f"layer {layer.name!r} ({layer.type}): {what} {axis} is out of range for a {rank}-D input")
    return axis % rank


def need_ints(dims: Any, what: str) -> tuple[int, ...]:
    """The dimensions as ints; Unsupported if one depends on the batch size."""
    if not all(isinstance(d, int) for d in dims):
        raise Unsupported(f"its {what} depends on the batch size")
    return tuple(dims)


def fmt(shape: Any) -> str:
    """A shape for messages: ``(N, 64, 56, 56)``, ``?`` for an unknown dimension."""
    return "(" + ", ".join("N" if d == "N" else "?" if d is None else str(d) for d in shape) + ")"
