"""timm models: build with ``pretrained=False``, load the cached weights, cut with timm's own machinery.

Cutting uses ``prune_intermediate_layers`` (which really drops the layers and
the head after the stage) and ``forward_intermediates`` (which returns the
stage's feature map, NCHW, exactly as ``features_only`` would). The stage index
is the stage's position in the registry, which mirrors timm's ``feature_info``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch

from zoo.adapters._common import build_with_weights, read_state_dict, tag, weights_file

__all__ = ["build", "TimmStage"]


class TimmStage(torch.nn.Module):
    """A timm model cut after one feature stage; ``forward`` returns that stage's map."""

    def __init__(self, model: torch.nn.Module, index: int):
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_intermediates(x, indices=[self.index], intermediates_only=True)[0]


def build(info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False) -> torch.nn.Module:
    """Builds ``info.arch`` with timm, loads the weights from ``folder``, cuts at ``stage``."""
    kwargs = dict(info.arch_args) if getattr(info, "arch_args", None) else {}
    state = read_state_dict(weights_file(info, folder), info.id) if folder is not None else None
    model = build_with_weights(lambda: timm.create_model(info.arch, pretrained=False, **kwargs), state, info.id)
    if head or stage is None:
        return tag(model, info, None)
    index = [s["name"] for s in info.stages].index(stage["name"])
    model.prune_intermediate_layers(indices=[index], prune_head=True, prune_norm=True)
    return tag(TimmStage(model, index), info, stage)
