"""Export a cut model to ONNX, proven equal to its reference, with its provenance inside.

``export("resnet50", until="layer3", output="r50.onnx")`` (or
``until=["layer2", "layer3"]``: one file, one output per stage):

1. builds the cut module through the version's adapter (pulling if needed);
2. has the adapter write the graph (:meth:`zoo.adapters._base.Adapter.export_graph`):
   torch models through ``torch.onnx.export``, the dynamo exporter first, the
   TorchScript one if dynamo fails (the result says which), with a dynamic
   batch axis (and sequence axis for text); ONNX and Caffe models as the
   cut/converted graph;
3. runs the adapter's parity inputs (random ones plus, for vision, a
   natural-looking image made in code, for text, real sentences through the
   model's tokenizer) through the adapter's reference (the torch module; the
   whole original ONNX graph; Caffe's independent torch implementation) and
   ONNX Runtime, and fails with :class:`ParityError` (writing nothing at
   ``output``) when any output differs beyond ``atol + rtol * |reference|``;
4. writes the file atomically with ``metadata_props`` (model, version, stage,
   channels, stride, input spec, source sha256s, parity, zoo version) after
   ``onnx.checker.check_model``; over 2 GB, weights go to external data.

Exports are cached under ``$ZOO_HOME/exports/``, keyed by the weights' sha256,
the stage, opset, batch mode, exporter choice and zoo version; an identical
second export is a file copy.

The package: :mod:`._export` (the export and its cache), :mod:`._parity` (ONNX
Runtime against the reference), :mod:`._files` (metadata, atomic saves,
external data: also what :mod:`zoo.transfer` uses to write classifiers),
:mod:`._session` (sessions over cached exports), :mod:`._variants` (optimized,
int8 and fp16 graphs, per family) and :mod:`._gate` (their accuracy gate).
"""

from __future__ import annotations

from zoo.exporter._export import DEFAULT_OPSET, ExportResult, export
from zoo.exporter._files import (
    META_PREFIX,
    finalize_graph,
    prepare_output,
    read_metadata,
    save_model,
    tensor_dims,
)
from zoo.exporter._gate import Gate
from zoo.exporter._parity import Parity, as_numpy, measure_parity
from zoo.exporter._session import Session, session
from zoo.exporter._variants import Variant, build_variant

__all__ = [
    "ExportResult",
    "Parity",
    "Gate",
    "export",
    "read_metadata",
    "session",
    "Session",
    "DEFAULT_OPSET",
    # For zoo's own writers of ONNX files (zoo.transfer's classifiers):
    "META_PREFIX",
    "finalize_graph",
    "prepare_output",
    "save_model",
    "tensor_dims",
    "as_numpy",
    "measure_parity",
    "Variant",
    "build_variant",
]
