"""The torch reference: a Caffe net interpreted layer by layer with torch, for parity with the ONNX graph.

Independent of the ONNX path by construction: it never runs the plan or a
shape rule. Which layers to run comes from the blob graph
(:mod:`zoo.caffe._topology`, names only); each layer's output comes from
its type's :meth:`LayerType.forward`, which reads the prototxt parameters
and the tensors it is given. Blobs are kept by name and overwritten in
place, as in Caffe.

torch is imported when :func:`torch_net_class` first runs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.caffe._layer_type import Unsupported, lookup
from zoo.caffe._topology import cannot_convert, needed, no_weights, wanted_tops
from zoo.errors import ExportError

if TYPE_CHECKING:
    from zoo.caffe._net import Layer, Net

__all__ = ["torch_net_class"]


def _usable_before(net: Net, index: int) -> list[str]:
    """Tops written before layer ``index`` by layer types zoo converts (for the error's hint)."""
    usable: dict[str, None] = {}
    for layer in net.layers[:index]:
        if lookup(layer.type) is not None:
            usable.update((t, None) for t in layer.tops if t not in net.inputs)
    return list(usable)


def _runnable(net: Net, indices: Sequence[int]) -> list[Layer]:
    """The layers at ``indices``, checked: a converted type, parameters zoo handles, weights if it has any."""
    layers = []
    for index in indices:
        layer = net.layers[index]
        kind = lookup(layer.type)
        try:
            if kind is None:
                raise Unsupported(f"zoo cannot convert layer type {layer.type!r}")
            kind.check(layer)
        except Unsupported as exc:
            raise cannot_convert(net, layer, str(exc), _usable_before(net, index)) from None
        if kind.blob_roles and not layer.blobs:
            raise no_weights(net, layer)
        layers.append(layer)
    return layers


@functools.cache
def torch_net_class() -> type:
    """Builds :class:`TorchNet` (a ``torch.nn.Module``), importing torch."""
    import torch

    class TorchNet(torch.nn.Module):
        """A Caffe net interpreted with torch: the parity reference for :func:`to_onnx`.

        Independent of the ONNX graph: each layer is computed by torch
        (``conv2d``, ``linear``, pooling over explicitly padded, unfolded
        windows with Caffe's output size and average divisor,
        ``local_response_norm``, ``batch_norm``...) from the prototxt's
        parameters and the actual input tensors.

        Args:
            net: A :class:`Net` with weights.
            until: The top blob to return, or a list of them (None: the last top).
            rgb_input: Reverse RGB input to BGR first (as :func:`to_onnx`).

        Raises:
            StageNotFoundError: A name in ``until`` is not a top of the net.
            ExportError: A layer the outputs need cannot be converted, or has no weights.
            ValueError: ``until`` is an empty list or names a top twice.

        ``forward(*inputs)`` takes the net's input blobs that the outputs
        need, in the net's order, and returns a tensor, or, when ``until``
        is a list, a tuple of tensors in that order.
        """

        def __init__(self, net: Net, until: str | Sequence[str] | None = None, *, rgb_input: bool = False):
            super().__init__()
            self.outputs = wanted_tops(net, until)
            self.single = until is None or isinstance(until, str)
            indices, self.input_names = needed(net, self.outputs)
            # The layers without their numpy blobs: the module holds them as tensors.
            self.layers = [dataclasses.replace(layer, blobs=[]) for layer in _runnable(net, indices)]
            self.rgb_input = rgb_input
            self.net_name = net.name
            self.blob_counts = []
            for i, index in enumerate(indices):
                layer = net.layers[index]
                self.blob_counts.append(len(layer.blobs))
                for j, blob in enumerate(layer.blobs):
                    tensor = torch.from_numpy(np.array(blob, dtype=np.float32))
                    if lookup(layer.type).trainable:
                        self.register_parameter(f"blob{i}_{j}", torch.nn.Parameter(tensor, requires_grad=False))
                    else:
                        self.register_buffer(f"blob{i}_{j}", tensor)
            self.eval()

        def forward(self, *xs: Any) -> Any:
            if len(xs) != len(self.input_names):
                raise TypeError(
                    f"{self.net_name} takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), got {len(xs)}"
                )
            if self.rgb_input:
                xs = tuple(x.flip(1) for x in xs)
            blobs = dict(zip(self.input_names, xs))
            for i, layer in enumerate(self.layers):
                weights = [getattr(self, f"blob{i}_{j}") for j in range(self.blob_counts[i])]
                try:
                    tops = lookup(layer.type).forward(layer, [blobs[b] for b in layer.bottoms], weights)
                except Unsupported as exc:
                    raise ExportError(f"{self.net_name}: layer {layer.name!r} ({layer.type}): {exc}") from None
                blobs.update(zip(layer.tops, tops))
            results = tuple(blobs[t] for t in self.outputs)
            return results[0] if self.single else results

    TorchNet.__module__ = "zoo.caffe"
    TorchNet.__qualname__ = "TorchNet"
    return TorchNet
