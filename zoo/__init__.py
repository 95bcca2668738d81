"""zoo: a versioned registry and verified downloader of pretrained models.

Example:
    >>> import zoo
    >>> "resnet50" in [m.name for m in zoo.list_models()]
    True
    >>> zoo.info("resnet50").architecture
    'ResNet-50'

``import zoo`` stays light: torch, timm, transformers and onnx are imported
only by the functions that need them.
"""

from zoo._ids import ModelId, parse_model_id
from zoo._version import __version__
from zoo.registry import (
    ModelInfo,
    ModelSummary,
    info,
    list_models,
    search,
    validate_paths as validate_registry,
)

__all__ = [
    "__version__",
    "ModelId",
    "ModelInfo",
    "ModelSummary",
    "info",
    "list_models",
    "parse_model_id",
    "search",
    "validate_registry",
]
