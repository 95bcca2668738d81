"""Caffe models: read ``deploy.prototxt`` + ``.caffemodel``, convert to ONNX, cut at any top blob.

zoo does not vendor Caffe: the proto is built at run time with BVLC's field
numbers, and conversion (:func:`to_onnx`) covers the layers of the BVLC
Model Zoo nets (:data:`SUPPORTED_LAYERS`). :class:`TorchNet` is an
independent interpretation of the same layers with torch, used as the
parity reference.

Where things are:

* ``_proto.py``: the descriptor (shared messages; each layer type adds its own).
* ``_layer_type.py``: the contract of a layer type, and the registry.
* ``layers.py``: one class per Caffe layer type, registered with ``@register``.
  Adding a type is adding one class there.
* ``_net.py``: :class:`Net`, :class:`Layer`, :func:`load_net`,
  :func:`random_weights`, :func:`param_count`.
* ``_topology.py``: blob order and the layers a cut needs (names only).
* ``_shapes.py``, ``_plan.py``, ``_onnx.py``: the ONNX path (shape rules,
  plan, graph building).
* ``_torch.py``: :class:`TorchNet`, independent of the ONNX path.
* ``_stages.py``: :func:`stages_of`, :func:`stage_shapes`.
* ``_authoring.py``: Caffe Model Zoo folders -> registry entries.

Importing this package imports neither torch nor onnx: :class:`TorchNet` is
built on first access.
"""

from __future__ import annotations

from typing import Any

# Importing the layer types registers them; everything else looks them up.
from zoo.caffe.layers import SUPPORTED_LAYERS  # isort: skip
from zoo.caffe._authoring import read_frontmatter, registry_entry
from zoo.caffe._net import Layer, Net, load_net, param_count, random_weights
from zoo.caffe._onnx import to_onnx
from zoo.caffe._proto import proto
from zoo.caffe._stages import stage_shapes, stages_of

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
    "stage_shapes",
    "param_count",
    "registry_entry",
]


def __getattr__(name: str) -> Any:
    # TorchNet subclasses torch.nn.Module; it is built on first use so that
    # importing zoo.caffe does not import torch.
    if name == "TorchNet":
        from zoo.caffe._torch import torch_net_class

        cls = torch_net_class()
        globals()["TorchNet"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
