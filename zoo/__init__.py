"""zoo: a versioned registry and verified downloader of pretrained models.

Example:
    >>> import zoo
    >>> "resnet50" in [m.name for m in zoo.list_models()]
    True
    >>> zoo.info("resnet50").architecture
    'ResNet-50'

``import zoo`` stays light: torch, timm, transformers and onnx are imported
only by the functions that need them, and the download machinery only when
first used.
"""

from typing import Any

from zoo._ids import ModelId, parse_model_id
from zoo._version import __version__
from zoo.registry import (
    ModelInfo,
    ModelSummary,
    compare,
    info,
    list_models,
    search,
)
from zoo.registry import (
    validate_paths as validate_registry,
)

__all__ = [
    "__version__",
    "Cache",
    "ModelId",
    "ModelInfo",
    "ModelSummary",
    "Stage",
    "build_site",
    "compare",
    "embed",
    "encode",
    "export",
    "export_classifier",
    "info",
    "list_models",
    "load",
    "load_vectors",
    "lock_models",
    "parse_model_id",
    "preprocess",
    "probe",
    "pull",
    "search",
    "session",
    "stages",
    "tokenizer",
    "validate_registry",
    "verify",
]

# name -> (module, attribute), imported on first access (PEP 562).
_LAZY = {
    "Cache": ("zoo.cache", "Cache"),
    "lock_models": ("zoo.resolve", "lock_models"),
    "Stage": ("zoo.features", "Stage"),
    "build_site": ("zoo.site", "build_site"),
    "embed": ("zoo.transfer", "embed"),
    "encode": ("zoo.transfer", "encode"),
    "export": ("zoo.exporter", "export"),
    "export_classifier": ("zoo.transfer._classifier", "export_classifier"),
    "probe": ("zoo.transfer", "probe"),
    "session": ("zoo.exporter", "session"),
    "load": ("zoo.features", "load"),
    "load_vectors": ("zoo.features", "load_vectors"),
    "preprocess": ("zoo.features", "preprocess"),
    "stages": ("zoo.features", "stages"),
    "tokenizer": ("zoo.features", "tokenizer"),
    "pull": ("zoo.resolve", "pull"),
    "verify": ("zoo.resolve", "verify"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
