"""torchvision models: build with ``weights=None``, load the ``.pth`` safely, cut by node name.

Cutting uses ``torchvision.models.feature_extraction.create_feature_extractor``,
which traces the model and keeps only the graph up to the stage.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
import torchvision

from zoo.adapters._common import build_with_weights, read_state_dict, tag, weights_file

__all__ = ["build", "GraphStage"]


class GraphStage(torch.nn.Module):
    """A traced feature extractor with one output; ``forward`` returns that tensor."""

    def __init__(self, graph: torch.nn.Module, output: str):
        super().__init__()
        self.graph = graph
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)[self.output]


def build(info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False) -> torch.nn.Module:
    """Builds ``info.arch`` with torchvision, loads the weights from ``folder``, cuts at ``stage``."""
    from torchvision.models.feature_extraction import create_feature_extractor

    kwargs = dict(info.arch_args) if getattr(info, "arch_args", None) else {}
    state = read_state_dict(weights_file(info, folder), info.id) if folder is not None else None
    model = build_with_weights(lambda: torchvision.models.get_model(info.arch, weights=None, **kwargs), state, info.id)
    model.eval()
    if head or stage is None:
        return tag(model, info, None)
    with warnings.catch_warnings():
        # torchvision notes that train and eval graphs may differ; we only use eval.
        warnings.simplefilter("ignore", UserWarning)
        graph = create_feature_extractor(model, return_nodes={stage["name"]: "out"})
    return tag(GraphStage(graph, "out"), info, stage)
