"""The adapter table: every framework adapter zoo knows, registered once.

Each row names the adapter (the registry's ``adapter:`` value), the class that
implements :class:`zoo.adapters.Adapter` (imported only when used: adapters
import torch and friends), and the pip extra that installs what it needs.
The schema's list of valid adapters (and of third-party weights layouts, and
which adapter converts each) and the install hints of
:class:`zoo.errors.MissingDependencyError` are derived from this table, so a
new adapter is one row here plus one module under ``zoo/adapters/``. What an
adapter can do beyond the contract (finish a pull, convert a weights layout,
read its architecture from some of its files) is a field of its row, never a
test of its name elsewhere.

This module is light on purpose (no imports beyond the standard library):
the schema, which sits below the adapters, reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdapterSpec", "ADAPTERS", "WEIGHTS_LAYOUTS", "adapter_names", "layout_adapters"]


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
        weights_layouts: Third-party key layouts of a weights file it converts
            into its architecture's keys (the registry's ``weights_layout:``;
            one module each under ``zoo/adapters/layouts/``).
        stage_files: For file-defined architectures, ``module:function``
            called as ``function(info)``: the paths the stages are read from
            (fetched alone before a pull); None: every file of the version.
        input_from_graph: The input's shape and normalization are read from
            the model's own graph (ONNX files): the registry need not state them.
        word_vectors: The model is a table of word vectors
            (:func:`zoo.load_vectors`): looked up by word, with no tokenizer.
    """

    name: str
    target: str
    extra: str
    frameworks: tuple[str, ...] = ()
    file_defined: bool = False
    after_pull: str | None = None
    weights_layouts: tuple[str, ...] = ()
    stage_files: str | None = None
    input_from_graph: bool = False
    word_vectors: bool = False


ADAPTERS: dict[str, AdapterSpec] = {
    spec.name: spec
    for spec in (
        AdapterSpec(
            "timm", "zoo.adapters._timm:TimmAdapter", "torch", ("torch", "timm"), weights_layouts=("lukemelas-efficientnet",)
        ),
        AdapterSpec("torchvision", "zoo.adapters._torchvision:TorchvisionAdapter", "torch", ("torch", "torchvision")),
        AdapterSpec(
            "transformers", "zoo.adapters._transformers:TransformersAdapter", "torch", ("torch", "transformers"), file_defined=True,
            stage_files="zoo.adapters._stage_files:config_json",
        ),
        AdapterSpec("onnx", "zoo.adapters._onnx:OnnxAdapter", "onnx", ("onnx",), file_defined=True, input_from_graph=True),
        AdapterSpec(
            "word-vectors", "zoo.adapters._word_vectors:WordVectorsAdapter", "torch", file_defined=True,
            after_pull="zoo.adapters._vector_files:finish_pull", word_vectors=True,
        ),
        AdapterSpec(
            "caffe", "zoo.adapters._caffe:CaffeAdapter", "onnx", ("onnx", "protobuf"), file_defined=True,
            stage_files="zoo.adapters._stage_files:prototxt",
        ),
    )
}


# Every third-party weights layout some adapter converts (the schema's valid ``weights_layout:`` values).
WEIGHTS_LAYOUTS: tuple[str, ...] = tuple(dict.fromkeys(layout for spec in ADAPTERS.values() for layout in spec.weights_layouts))


def adapter_names() -> tuple[str, ...]:
    """The registered adapter names, in table order."""
    return tuple(ADAPTERS)


def layout_adapters(layout: str) -> tuple[str, ...]:
    """The adapters that convert weights in ``layout`` (a :data:`WEIGHTS_LAYOUTS` name)."""
    return tuple(spec.name for spec in ADAPTERS.values() if layout in spec.weights_layouts)
