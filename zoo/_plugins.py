"""The adapter table: every framework adapter zoo knows, registered once.

Each row names the adapter (the registry's ``adapter:`` value), the class that
implements :class:`zoo.adapters.Adapter` (imported only when used: adapters
import torch and friends), and the pip extra that installs what it needs.
The schema's list of valid adapters and the install hints of
:class:`zoo.errors.MissingDependencyError` are derived from this table, so a
new adapter is one row here plus one module under ``zoo/adapters/``.

This module is light on purpose (no imports beyond the standard library):
the schema, which sits below the adapters, reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdapterSpec", "ADAPTERS", "adapter_names"]


@dataclass(frozen=True)
class AdapterSpec:
    """One registered adapter.

    Attributes:
        name: The registry value (``adapter: timm``).
        target: ``module:Class`` of the implementation.
        extra: The pip extra that installs its dependencies (``zoo[torch]``).
        frameworks: Packages whose versions can change the derived stages
            (part of the stage cache key, read without importing them).
        file_defined: The architecture is read from the version's files
            (ONNX graphs, Caffe prototxts, a pinned ``config.json``): their
            hashes key the stage cache, and deriving stages fetches them.
        after_pull: ``module:function`` called as ``function(info, folder)``
            once a version's files are verified (word vectors: the one
            conversion); None for nothing. Kept apart from the adapter class
            so that a pull imports no framework.
    """

    name: str
    target: str
    extra: str
    frameworks: tuple[str, ...] = ()
    file_defined: bool = False
    after_pull: str | None = None


ADAPTERS: dict[str, AdapterSpec] = {
    spec.name: spec
    for spec in (
        AdapterSpec("timm", "zoo.adapters._timm:TimmAdapter", "torch", ("torch", "timm")),
        AdapterSpec("torchvision", "zoo.adapters._torchvision:TorchvisionAdapter", "torch", ("torch", "torchvision")),
        AdapterSpec(
            "transformers", "zoo.adapters._transformers:TransformersAdapter", "torch", ("torch", "transformers"), file_defined=True
        ),
        AdapterSpec("onnx", "zoo.adapters._onnx:OnnxAdapter", "onnx", ("onnx",), file_defined=True),
        AdapterSpec(
            "word-vectors", "zoo.adapters._word_vectors:WordVectorsAdapter", "torch", file_defined=True,
            after_pull="zoo.adapters._vector_files:finish_pull",
        ),
        AdapterSpec("caffe", "zoo.adapters._caffe:CaffeAdapter", "onnx", ("onnx", "protobuf"), file_defined=True),
    )
}


def adapter_names() -> tuple[str, ...]:
    """The registered adapter names, in table order."""
    return tuple(ADAPTERS)
