"""timm models: build with ``pretrained=False``, load the cached weights, cut with timm's own machinery.

Stages are timm's ``feature_info`` of the built architecture (module name,
channels, reduction), measured with ``forward_intermediates`` on the meta
device. A cut is found by *name* in that list, whatever a registry entry
lists. Cutting uses ``prune_intermediate_layers`` (which really drops the
layers and the head after the last stage kept) and ``forward_intermediates``
(which returns each stage's map exactly as ``features_only`` would).

A few timm models give one module name to several feature stages (CoaT's
``parallel_blocks``); the repeats are named ``<module>#2``, ``<module>#3``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import timm
import torch

from zoo._stages import Stage, StageSet
from zoo.adapters._base import Cut, TorchAdapter, tag
from zoo.adapters._common import (
    build_with_weights,
    on_meta_device,
    read_state_dict,
    weights_file,
    without_inplace,
)

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["TimmAdapter", "TimmStages"]


class TimmStages(torch.nn.Module):
    """A timm model cut after its last kept feature stage; returns the stages' maps.

    ``forward`` returns one tensor for one stage, else a tuple in the order asked.
    """

    def __init__(self, model: torch.nn.Module, indices: list[int]):
        super().__init__()
        self.model = model
        self.indices = indices
        self._order = sorted(indices)

    def forward(self, x: torch.Tensor) -> Any:
        outs = self.model.forward_intermediates(x, indices=self._order, intermediates_only=True)
        by_index = dict(zip(self._order, outs))
        if len(self.indices) == 1:
            return by_index[self.indices[0]]
        return tuple(by_index[i] for i in self.indices)


def _stage_names(feature_info: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for f in feature_info:
        base = str(f["module"])
        repeat = sum(1 for n in names if n == base or n.startswith(base + "#"))
        names.append(base if repeat == 0 else f"{base}#{repeat + 1}")
    return names


class TimmAdapter(TorchAdapter):
    """timm architectures (``arch: resnet50.a1_in1k``)."""


    def _create(self, info: ModelInfo) -> torch.nn.Module:
        kwargs = dict(info.arch_args) if info.arch_args else {}
        return timm.create_model(info.arch, pretrained=False, **kwargs)

    def derive_stages(self, info: ModelInfo, folder: Path | None) -> StageSet:
        model = on_meta_device(lambda: self._create(info)).eval()
        feature_info = list(getattr(model, "feature_info", None) or [])
        names = _stage_names(feature_info)
        shapes: list[tuple[int, ...] | None] = [None] * len(names)
        device = next(model.parameters()).device
        try:
            x = torch.zeros(1, *info.input.shape, device=device)
            with torch.no_grad():
                outs = model.forward_intermediates(x, indices=list(range(len(names))), intermediates_only=True)
            shapes = [tuple(int(d) for d in o.shape[1:]) for o in outs]
        except (NotImplementedError, RuntimeError, TypeError, AttributeError):
            pass  # shapes stay unmeasured; channels and stride come from feature_info
        stages = tuple(
            Stage(name, int(f["num_chs"]), int(f["reduction"]), (), shape)
            for name, f, shape in zip(names, feature_info, shapes)
        )
        return StageSet(info.id, stages)

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> torch.nn.Module:
        self.check_options(info, options)
        state = read_state_dict(weights_file(info, folder), info.id) if folder is not None else None
        layout = getattr(info, "weights_layout", None)
        if state is not None and layout:
            from zoo.adapters.layouts import convert

            target = on_meta_device(lambda: self._create(info))
            state = convert(layout, state, target, info.id)
        model = build_with_weights(lambda: self._create(info), state, info.id)
        if cut.head:
            return tag(model, info, cut)
        order = [s.name for s in self.stages(info).stages]
        indices = [order.index(s.name) for s in cut.stages]
        model.prune_intermediate_layers(indices=indices, prune_head=True, prune_norm=True)
        without_inplace(model)
        return tag(TimmStages(model, indices), info, cut)
