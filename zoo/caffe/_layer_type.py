"""The contract of a Caffe layer type, and the registry of them.

Everything zoo knows about one Caffe layer type lives in one class, a
:class:`LayerType` subclass decorated with :func:`register` in
:mod:`zoo.caffe.layers`. Adding a layer type is adding one such class there;
the reader, the ONNX converter, the torch reference and the proto descriptor
find it in the registry.

What a class holds:

* ``type``: the modern type string (``"Pooling"``); ``v1``: the legacy
  ``V1LayerParameter.LayerType`` value, ``("POOLING", 17)``, if V1 had one.
* ``params``: its parameter message (``PoolingParameter``, declared with
  :func:`zoo.caffe._proto.message` and BVLC's field numbers) and the field
  that holds it on ``LayerParameter`` / ``V1LayerParameter``.
* ``blob_roles``: what its learned blobs are, in caffemodel order; ``trainable``:
  whether they count as parameters (BatchNorm's statistics do not).
* :meth:`LayerType.check`: refuses parameters zoo cannot convert, from the
  parameters alone (shared by both paths: it reads, it does not size).
* :meth:`LayerType.infer`: the shape rule for the ONNX path: output shapes,
  the blob shapes the caffemodel must have, and attributes for
  :meth:`LayerType.emit`, which writes the ONNX nodes.
* :meth:`LayerType.forward`: the torch reference, computed from the
  prototxt parameters and the actual input tensors only; it must not use
  :meth:`infer`'s results or any shape helper of the ONNX path, so that a
  mistake in one path shows up as a parity failure.

The registry is filled when :mod:`zoo.caffe.layers` is imported, which
``zoo/caffe/__init__.py`` does first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from zoo.caffe._net import Layer
    from zoo.caffe._onnx import OnnxGraph
    from zoo.caffe._plan import Step
    from zoo.caffe._proto import Message
    from zoo.caffe._shapes import Shape

__all__ = ["LayerType", "Params", "Unsupported", "lookup", "register", "registered"]


class Unsupported(Exception):
    """A valid Caffe construct that zoo cannot convert.

    Internal: zoo.caffe turns it into an :class:`~zoo.errors.ExportError` that
    names the layer before it leaves the package.
    """


@dataclass(frozen=True)
class Params:
    """Where a layer type's parameter message lives.

    Attributes:
        field: The field on ``LayerParameter`` (``"pooling_param"``).
        number: Its number there (BVLC: 121).
        v1_number: Its number on ``V1LayerParameter`` (19), or None if V1 had
            no such field (the layer then gets the message's defaults).
        message: The message itself.
    """

    field: str
    number: int
    v1_number: int | None
    message: Message


class LayerType:
    """One Caffe layer type: its proto, its blobs, its ONNX conversion and its torch reference."""

    type: ClassVar[str]
    v1: ClassVar[tuple[str, int] | None] = None
    params: ClassVar[Params | None] = None
    blob_roles: ClassVar[tuple[str, ...]] = ()
    trainable: ClassVar[bool] = True

    def declared_inputs(self, layer: Layer, source: str) -> dict[str, list[int]] | None:
        """The net inputs the layer declares (blob -> shape), or None for a computing layer."""
        return None

    def check(self, layer: Layer) -> None:
        """Raises :class:`Unsupported` for parameters zoo cannot convert (from the parameters alone)."""

    def infer(self, layer: Layer, shapes: list[Shape]) -> tuple[list[Shape], list[tuple[int, ...]], dict[str, Any]]:
        """Caffe's shape rule, for the ONNX path.

        Args:
            layer: The layer.
            shapes: Its bottoms' shapes; a dimension is an int or ``"N"`` (the batch).

        Returns:
            ``(top shapes, blob shapes the caffemodel must have, attributes for emit)``.

        Raises:
            Unsupported: A valid construct zoo cannot convert.
            CaffeFormatError: The parameters do not fit the input.
        """
        raise NotImplementedError(f"{self.type} has no shape rule")

    def emit(self, g: OnnxGraph, step: Step, ins: list[str], outs: list[str]) -> None:
        """Writes the layer's ONNX nodes into ``g``, from ``ins`` to ``outs``."""
        raise NotImplementedError(f"{self.type} has no ONNX conversion")

    def forward(self, layer: Layer, xs: list[Any], blobs: list[Any]) -> list[Any]:
        """The torch reference: the layer's tops from its bottoms ``xs`` and blobs (torch tensors)."""
        raise NotImplementedError(f"{self.type} has no torch reference")

    def init_blobs(self, rng: np.random.Generator, shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> list[np.ndarray]:
        """Random blobs of the given shapes: He-scaled normal weights, small normal biases."""
        return self.he_normal(rng, shapes, math.prod(shapes[0][1:]))

    @staticmethod
    def he_normal(rng: np.random.Generator, shapes: list[tuple[int, ...]], fan_in: int) -> list[np.ndarray]:
        """He-scaled normal weights for ``fan_in`` inputs (first shape), small normal biases (the rest)."""
        weights = rng.normal(0, math.sqrt(2.0 / max(fan_in, 1)), shapes[0])
        return [weights] + [rng.normal(0, 0.1, shape) for shape in shapes[1:]]


_TYPES: dict[str, LayerType] = {}


def register(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: makes ``cls`` the implementation of the Caffe type ``cls.type``.

    Raises:
        ValueError: The type is registered already.
    """
    if cls.type in _TYPES:
        raise ValueError(f"Caffe layer type {cls.type!r} is registered already (by {type(_TYPES[cls.type]).__name__})")
    _TYPES[cls.type] = cls()
    return cls


def lookup(type_name: str) -> LayerType | None:
    """The registered implementation of a Caffe type string, or None if zoo does not convert it."""
    return _TYPES.get(type_name)


def registered() -> tuple[LayerType, ...]:
    """Every registered layer type, in registration order."""
    return tuple(_TYPES.values())
