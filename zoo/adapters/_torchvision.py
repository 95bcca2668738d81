"""torchvision models: build with ``weights=None``, load the ``.pth`` safely, cut by node name.

Stages come from the built architecture on the meta device: the outputs of
its top-level modules, with the usual trunk containers (``features``,
``encoder.layers``, ``trunk_output``, ``blocks``, ``layers``, ``stages``)
opened one level, in the order they run. The main stages are the last module
at each resolution (``relu``, ``layer1`` .. ``layer4`` for a ResNet), and
every block of a token-sequence trunk (ViT). Any node that torchvision's
``get_graph_node_names`` knows (and any module path above one) is a valid cut
too; it is measured when asked for.

Cutting uses ``torchvision.models.feature_extraction.create_feature_extractor``,
which traces the model and keeps only the graph up to the stages asked for.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torchvision

from zoo._stages import Stage, StageSet
from zoo.adapters._base import (
    Cut,
    TorchAdapter,
    main_flags,
    measure_module,
    stage_from_shape,
    tag,
)
from zoo.adapters._common import (
    build_with_weights,
    on_meta_device,
    read_state_dict,
    weights_file,
    without_inplace,
)

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["TorchvisionAdapter", "GraphStages"]

_TRUNKS = ("features", "encoder.layers", "trunk_output", "blocks", "layers", "stages")
_HEADS = frozenset({"fc", "classifier", "head", "heads", "avgpool", "AuxLogits", "aux1", "aux2", "dropout"})


class GraphStages(torch.nn.Module):
    """A traced feature extractor; returns one tensor for one stage, else a tuple in the order asked."""

    def __init__(self, graph: torch.nn.Module, outputs: list[str]):
        super().__init__()
        self.graph = graph
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> Any:
        out = self.graph(x)
        if len(self.outputs) == 1:
            return out[self.outputs[0]]
        return tuple(out[name] for name in self.outputs)


def _trunk(model: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """The part of the model stages live in, and its module path prefix.

    Detection and segmentation models keep their feature trunk in
    ``backbone`` (``backbone.body`` under an FPN); their heads take lists of
    images and return dicts, so stages are read and cut there.
    """
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, torch.nn.Module):
        body = getattr(backbone, "body", None)
        if isinstance(body, torch.nn.Module):
            return body, "backbone.body."
        return backbone, "backbone."
    return model, ""


def _candidates(model: torch.nn.Module) -> list[str]:
    """Module paths whose outputs are candidate stages: top-level modules, trunks opened one level."""
    out = []
    for name, child in model.named_children():
        if name in _HEADS:
            continue
        if name == "encoder" and isinstance(getattr(child, "layers", None), torch.nn.Module):
            out.extend(f"encoder.layers.{n}" for n, _ in child.layers.named_children())
        elif name in _TRUNKS and len(list(child.children())) > 1:
            out.extend(f"{name}.{n}" for n, _ in child.named_children())
        else:
            out.append(name)
    return out


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    # torchvision notes that train and eval graphs may differ; zoo only uses eval.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


class TorchvisionAdapter(TorchAdapter):
    """torchvision architectures (``arch: resnet50``)."""


    def _create(self, info: ModelInfo) -> torch.nn.Module:
        import inspect

        kwargs = dict(info.arch_args) if info.arch_args else {}
        builder = torchvision.models.get_model_builder(info.arch)
        if "weights_backbone" in inspect.signature(builder).parameters:
            kwargs.setdefault("weights_backbone", None)  # never fetch backbone weights: the version's file has them
        return builder(weights=None, **kwargs).eval()

    def derive_stages(self, info: ModelInfo, folder: Path | None) -> StageSet:
        from torchvision.models.feature_extraction import get_graph_node_names

        model = on_meta_device(lambda: self._create(info))
        trunk, prefix = _trunk(model)
        seen: dict[str, Any] = {}
        handles = [
            trunk.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: seen.setdefault(name, o))
            for name in _candidates(trunk)
        ]
        try:
            with torch.no_grad():
                trunk(*self._probe_inputs(info, model))
        finally:
            for h in handles:
                h.remove()
        stages = [
            stage_from_shape(prefix + name, tuple(int(d) for d in out.shape[1:]), info)
            for name, out in seen.items()  # insertion order: the order the modules ran
            if isinstance(out, torch.Tensor) and out.dim() >= 2
        ]
        with _quiet_tracing():
            _, nodes = get_graph_node_names(trunk)
        known = {s.name for s in stages}
        paths = dict.fromkeys(
            prefix + ".".join(n.split(".")[: k + 1]) for n in nodes if n != "x" for k in range(len(n.split(".")))
        )
        return StageSet(info.id, tuple(main_flags(stages)), tuple(p for p in paths if p not in known))

    def _probe_inputs(self, info: ModelInfo, model: torch.nn.Module) -> tuple[Any, ...]:
        # Quantized models (quantized_resnet50...) keep their weights packed: no parameters, and they run on the CPU.
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        return tuple(t.to(device) for t in self.example_inputs(info))

    def measure(self, info: ModelInfo, folder: Path | None, name: str) -> Stage:
        model = on_meta_device(lambda: self._create(info))
        cut = self._extract(model, [name])
        (shape,) = measure_module(cut, self._probe_inputs(info, model))
        return stage_from_shape(name, shape, info, main=False)

    def _extract(self, model: torch.nn.Module, names: list[str]) -> GraphStages:
        from torchvision.models.feature_extraction import create_feature_extractor

        trunk, prefix = _trunk(model)
        inner = [n[len(prefix):] if prefix and n.startswith(prefix) else n for n in names]
        with _quiet_tracing():
            graph = create_feature_extractor(trunk, return_nodes={n: n for n in inner})
        return GraphStages(graph, inner)

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> torch.nn.Module:
        self.check_options(info, options)
        state = read_state_dict(weights_file(info, folder), info.id) if folder is not None else None
        model = build_with_weights(lambda: self._create(info), state, info.id).eval()
        if cut.head:
            return tag(model, info, cut)
        return tag(self._extract(without_inplace(model), list(cut.names)), info, cut)
