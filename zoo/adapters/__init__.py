"""Framework adapters: one class per framework behind one contract (:class:`Adapter`).

The adapters zoo knows are the rows of :data:`zoo._plugins.ADAPTERS`;
``get_adapter(name)`` imports the implementing class on first use (adapters
import torch and friends) and returns its single instance. The contract is
documented in :mod:`zoo.adapters._base`. What the layers above share is
re-exported here (:class:`Cut`, :func:`preprocess_for`, the remote-code
checks, :func:`read_json`), so they never import an adapter's private module. What differs between image and text
models is the version's :class:`Modality` (:func:`modality_of`), chosen once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from zoo._plugins import ADAPTERS
from zoo.adapters._base import Cut
from zoo.adapters._hf_files import check_remote_code, check_requires, read_json
from zoo.adapters._inputs import preprocess_for
from zoo.adapters._modality import Modality, modality_named, modality_of
from zoo.errors import MissingDependencyError

if TYPE_CHECKING:
    from zoo.adapters._base import Adapter

__all__ = ["get_adapter", "Modality", "modality_of", "modality_named", "Cut", "check_remote_code", "check_requires", "preprocess_for", "read_json"]

_INSTANCES: dict[str, Adapter] = {}


def get_adapter(name: str) -> Adapter:
    """Returns the adapter registered as ``name`` (``timm``, ``torchvision``, ...).

    Raises:
        MissingDependencyError: No such adapter, or its framework is not installed
            (names the pip extra that installs it).
    """
    if name in _INSTANCES:
        return _INSTANCES[name]
    spec = ADAPTERS.get(name)
    if spec is None:
        raise MissingDependencyError(
            f"no loader for adapter {name!r} (known: {', '.join(ADAPTERS)}); "
            "the model can be pulled but not loaded as a module"
        )
    module_name, _, class_name = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {name} adapter needs {exc.name or 'a missing package'}: pip install 'zoo[{spec.extra}]'"
        ) from exc
    adapter: Adapter = getattr(module, class_name)(spec)
    _INSTANCES[name] = adapter
    return adapter
