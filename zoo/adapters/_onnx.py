"""Models that come as ONNX: cut at named tensors with ``onnx.utils.Extractor``, run with ONNX Runtime.

The file is the architecture: every tensor the graph computes is a cut point.
Stages are read from the graph with ONNX shape inference at the registry's
input size: the main ones are the last 4-D map at each resolution and the
graph's outputs; every other tensor name is accepted too.

The built model is a callable with the same contract as the torch adapters'
modules: call it with the model's inputs (numpy arrays or torch tensors), get
the stage's tensor back (a tuple for several stages) in the same kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo._ort import ort_session  # re-exported: the session maker lives in layer 0
from zoo._stages import Stage, StageSet
from zoo.adapters._base import Adapter, Cut, main_flags, stage_from_shape, tag
from zoo.errors import WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["OnnxAdapter", "OnnxNativeAdapter", "OnnxStage", "ort_session", "cut_graph", "with_outputs"]


class OnnxStage:
    """An ONNX Runtime session over a (possibly cut) ONNX graph.

    Attributes:
        model: The (cut) ONNX ModelProto.
        input_names: The graph's inputs, in order.
        output_names: The tensors it returns, in order.
        zoo_model, zoo_stage, zoo_input: As on the torch adapters' modules.
    """

    def __init__(self, model: Any, output_names: list[str]):
        self.model = model
        self.session = ort_session(model.SerializeToString())
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = output_names

    @property
    def output_name(self) -> str:
        """The first output (the only one for a single stage)."""
        return self.output_names[0]

    def __call__(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise TypeError(f"{self.zoo_model} takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), got {len(inputs)}")
        torch_in = any(type(x).__module__.startswith("torch") for x in inputs)
        feeds = {
            name: (x.detach().cpu().numpy() if type(x).__module__.startswith("torch") else np.asarray(x))
            for name, x in zip(self.input_names, inputs)
        }
        outs = self.session.run(self.output_names, feeds)
        if torch_in:
            import torch

            outs = [torch.from_numpy(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def eval(self) -> OnnxStage:
        """No-op, for symmetry with torch modules."""
        return self


def onnx_file(info: ModelInfo) -> str:
    """The path of the version's ``.onnx`` file."""
    files = [f.path for f in info.files if f.path.endswith(".onnx")]
    if not files:
        raise WeightsError(f"{info.id}: none of its files is an .onnx model ({', '.join(f.path for f in info.files)})")
    return files[0]


def graph_inputs(model: Any) -> list[str]:
    """The graph's real inputs (initializers listed as inputs left out)."""
    weights = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in weights]


def cut_graph(model: Any, outputs: list[str]) -> Any:
    """The subgraph computing ``outputs`` from the graph's inputs (``onnx.utils.Extractor``)."""
    import onnx.shape_inference
    import onnx.utils

    # The extractor needs a type for every tensor it turns into an output.
    inferred = onnx.shape_inference.infer_shapes(model)
    return onnx.utils.Extractor(inferred).extract_model(graph_inputs(model), outputs)


def with_outputs(model: Any, names: list[str]) -> Any:
    """The whole graph with ``names`` added as outputs (for an independent reference run)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    typed = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(typed.get(name) or onnx.helper.make_empty_tensor_value_info(name))
    return model


def _shapes(model: Any, info: ModelInfo) -> dict[str, tuple[int, ...]]:
    """Static output shapes (batch dropped) of every tensor, at the registry's input size."""
    import onnx
    import onnx.shape_inference

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    shape = info.input.shape if info.input is not None else None
    weights = {t.name for t in fixed.graph.initializer}
    for vi in fixed.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in weights and shape and len(dims) == len(shape) + 1:
            # Dynamic batch and spatial axes get the registry's input size, so every map has a shape.
            for d, value in zip(dims, [1, *shape]):
                d.ClearField("dim_param")
                d.dim_value = int(value)
    inferred = onnx.shape_inference.infer_shapes(fixed)
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims[1:]):
            out[vi.name] = tuple(int(d.dim_value) for d in dims[1:])
    return out


class OnnxNativeAdapter(Adapter):
    """What adapters whose built model is already an ONNX graph share: numpy inputs, the graph saved as is."""

    export_kind = "onnx"

    def export_graph(
        self, module: Any, info: ModelInfo, cut: Cut, path: Path, *, opset: int, batch: str | int, exporter: str
    ) -> tuple[str, int]:
        import onnx

        onnx.save(module.model, str(path))
        used = next((o.version for o in module.model.opset_import if o.domain in ("", "ai.onnx")), opset)
        return self.export_kind, used

    def example_inputs(self, info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
        return tuple(x.numpy() for x in super().example_inputs(info, batch, seq_len))


class OnnxAdapter(OnnxNativeAdapter):
    """ONNX files (``arch`` names the graph; the ``.onnx`` file is the architecture)."""


    def _model(self, info: ModelInfo, folder: Path | None) -> Any:
        """The graph (its file is its architecture and its weights: fetched even for ``pretrained=False``).

        The file comes from a registry, so it is checked before it is loaded
        (:func:`zoo._onnx_files.load_onnx`: external data inside its folder or
        zoo's blob store, declared sizes under ``ZOO_MAX_ONNX_BYTES``, an acyclic
        graph with every input defined).
        """
        from zoo._onnx_files import load_onnx
        from zoo.cache import Cache

        folder = self.architecture_folder(info, folder)
        return load_onnx(folder / onnx_file(info), trusted_roots=[Cache().blobs])

    def derive_stages(self, info: ModelInfo, folder: Path | None) -> StageSet:
        model = self._model(info, folder)
        shapes = _shapes(model, info)
        outputs = {o.name for o in model.graph.output}
        tensors = list(dict.fromkeys(t for node in model.graph.node for t in node.output if t))
        measured = [stage_from_shape(t, shapes[t], info) for t in tensors if t in shapes and len(shapes[t]) == 3]
        flagged = [s if s.name not in outputs else Stage(s.name, s.channels, s.stride, (), s.shape, True) for s in main_flags(measured)]
        known = {s.name for s in flagged}
        final = [stage_from_shape(t, shapes[t], info) for t in tensors if t in outputs and t not in known and t in shapes]
        stages = tuple(flagged + final)
        return StageSet(info.id, stages, tuple(t for t in tensors if t not in {s.name for s in stages}))

    def measure(self, info: ModelInfo, folder: Path | None, name: str) -> Stage:
        shape = _shapes(self._model(info, folder), info).get(name)
        if shape is None:
            # No static shape (dynamic axes): run the cut graph once on the registry's input.
            cut = OnnxStage(cut_graph(self._model(info, folder), [name]), [name])
            shape = tuple(np.asarray(cut(*[np.asarray(x) for x in self.example_inputs(info)])).shape[1:])
        return stage_from_shape(name, shape, info, main=False)

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> OnnxStage:
        self.check_options(info, options)
        model = self._model(info, folder)
        if cut.head:
            return tag(OnnxStage(model, [o.name for o in model.graph.output]), info, cut)
        return tag(OnnxStage(cut_graph(model, list(cut.names)), list(cut.names)), info, cut)

    def reference(self, info: ModelInfo, folder: Path | None, cut: Cut, module: Any) -> Any:
        """The original graph, with the stage tensors added as outputs: computed by the whole model."""
        model = self._model(info, folder)
        names = list(cut.names) or [o.name for o in model.graph.output]
        full = OnnxStage(with_outputs(model, names), names)
        return full
