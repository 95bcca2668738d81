"""Models that come as ONNX: cut at a named tensor with ``onnx.utils.Extractor``, run with ONNX Runtime.

The result is a callable with the same contract as the torch adapters'
modules: call it with the model's inputs (numpy arrays or torch tensors),
get the stage's tensor back in the same kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import StageNotFoundError, WeightsError

__all__ = ["build", "OnnxStage"]


class OnnxStage:
    """An ONNX Runtime session over a (possibly cut) ONNX graph.

    Attributes:
        model: The (cut) ONNX ModelProto.
        input_names: The graph's inputs, in order.
        output_name: The tensor it returns.
        zoo_model, zoo_stage, zoo_input: As on the torch adapters' modules.
    """

    def __init__(self, model: Any, output_name: str, info: Any, stage: dict[str, Any] | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.model = model
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = output_name
        self.zoo_model = info.id
        self.zoo_stage = dict(stage) if stage else None
        self.zoo_input = dict(info.input) if info.input else None

    def __call__(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise TypeError(f"{self.zoo_model} takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), got {len(inputs)}")
        torch_in = any(type(x).__module__.startswith("torch") for x in inputs)
        feeds = {
            name: (x.detach().cpu().numpy() if type(x).__module__.startswith("torch") else np.asarray(x))
            for name, x in zip(self.input_names, inputs)
        }
        (out,) = self.session.run([self.output_name], feeds)
        if torch_in:
            import torch

            return torch.from_numpy(out)
        return out

    def eval(self) -> OnnxStage:
        """No-op, for symmetry with torch modules."""
        return self


def _tensor_names(model: Any) -> list[str]:
    names = [o for node in model.graph.node for o in node.output]
    return names + [o.name for o in model.graph.output if o.name not in names]


def build(info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False) -> OnnxStage:
    """Loads the version's ``.onnx`` file and cuts it at the stage's tensor."""
    import onnx
    import onnx.shape_inference
    import onnx.utils

    if folder is None:
        raise WeightsError(f"{info.id}: an ONNX model cannot be built without its file; pull it first")
    onnx_files = [f["path"] for f in info.files if f["path"].endswith(".onnx")]
    if not onnx_files:
        raise WeightsError(f"{info.id}: none of its files is an .onnx model")
    model = onnx.load(str(folder / onnx_files[0]))
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if head or stage is None:
        return OnnxStage(model, model.graph.output[0].name, info, None)
    names = _tensor_names(model)
    if stage["name"] not in names:
        raise StageNotFoundError(info.id, stage["name"], [n for n in names if n][:50])
    # The extractor needs a type for the tensor it turns into an output.
    model = onnx.shape_inference.infer_shapes(model)
    cut = onnx.utils.Extractor(model).extract_model(inputs, [stage["name"]])
    return OnnxStage(cut, stage["name"], info, stage)
