"""Framework adapters: turn a model version's cached files into a torch module.

One private module per framework, each with the same small interface::

    build(info, folder, stage, *, head=False) -> torch.nn.Module

``info`` is the :class:`zoo.registry.ModelInfo` of the version, ``folder`` the
pulled folder (None builds the architecture with random weights, for shape
checks), ``stage`` the registry stage dict to cut at (None with ``head=True``
keeps the whole model). The returned module is in eval mode and carries
``zoo_model``, ``zoo_stage`` and ``zoo_input`` attributes.

Adapters are imported only when used: they import torch and friends.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from zoo.errors import MissingDependencyError

__all__ = ["get_adapter", "ADAPTER_MODULES"]

ADAPTER_MODULES = {
    "timm": "zoo.adapters._timm",
    "torchvision": "zoo.adapters._torchvision",
    "transformers": "zoo.adapters._transformers",
    "onnx": "zoo.adapters._onnx",
    "word-vectors": "zoo.adapters._word_vectors",
    "caffe": "zoo.adapters._caffe",
}

_EXTRA = {"timm": "torch", "torchvision": "torch", "transformers": "torch", "onnx": "onnx", "word-vectors": "torch", "caffe": "onnx"}


def get_adapter(name: str) -> ModuleType:
    """Returns the adapter module for ``name`` (``timm``, ``torchvision``, ...)."""
    module = ADAPTER_MODULES.get(name)
    if module is None:
        raise MissingDependencyError(
            f"no loader for adapter {name!r} yet (known: {', '.join(ADAPTER_MODULES)}); "
            "the model can be pulled but not loaded as a module"
        )
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {name} adapter needs {exc.name or 'a missing package'}: "
            f"pip install 'zoo[{_EXTRA.get(name, 'all')}]'"
        ) from exc
