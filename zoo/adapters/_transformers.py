"""Hugging Face transformers encoders: load the cached folder offline, keep the first k layers.

Stages are derived from the architecture built from its config on the meta
device: ``embeddings`` and each layer of the encoder's layer list, named by
its module path (``encoder.layer.2`` for BERT, ``transformer.layer.2`` for
DistilBERT), measured through ``hidden_states``.

Truncation sets the config's layer count before loading, so the dropped
layers are never built or read (memory and compute shrink with the cut); each
stage's output is ``hidden_states[k]`` of the cut model, which equals the full
model's. ``trust_remote_code`` is always False.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from zoo._stages import StageSet
from zoo.adapters._base import Cut, TorchAdapter, stage_from_shape, tag
from zoo.errors import WeightsError

__all__ = ["TransformersAdapter", "TextStages", "layer_list"]


class TextStages(torch.nn.Module):
    """An encoder (possibly cut); returns the hidden states of the stages asked for, (B, T, H) each.

    ``hidden`` holds, per stage, its index in ``hidden_states`` (0: the
    embeddings, k + 1: layer k); one stage gives a tensor, several a tuple.
    """

    def __init__(self, model: torch.nn.Module, hidden: list[int]):
        super().__init__()
        self.model = model
        self.hidden = hidden
        self._accepts = set(inspect.signature(model.forward).parameters)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "output_hidden_states": True}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        if token_type_ids is not None and "token_type_ids" in self._accepts:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs)
        states = tuple(out.hidden_states or ())
        if len(states) <= max(self.hidden):
            # A model cut to 0 layers records no hidden states: its output is the embeddings.
            states = states + (out.last_hidden_state,)
        if len(self.hidden) == 1:
            return states[self.hidden[0]]
        return tuple(states[i] for i in self.hidden)


class _Whole(torch.nn.Module):
    """The uncut encoder (``head=True``): returns the last hidden state."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self._accepts = set(inspect.signature(model.forward).parameters)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": input_ids}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        return self.model(**kwargs).last_hidden_state


def layer_list(model: torch.nn.Module, count: int) -> str | None:
    """The module path of the encoder's list of ``count`` layers (``encoder.layer``), shallowest first."""
    found = [
        name for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == count and name
    ]
    return min(found, key=lambda n: n.count(".")) if found else None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # Loading a cut model leaves the later layers' weights unused; transformers
    # reports each of them, which is expected here and only noise.
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _config(info: Any, folder: Path | None) -> Any:
    from transformers import AutoConfig

    kwargs = dict(info.arch_args) if getattr(info, "arch_args", None) else {}
    if folder is not None and (folder / "config.json").is_file():
        return AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False, **kwargs)
    # Some registry versions pin only the weights (no published hash for config.json):
    # the architecture's defaults are then the configuration.
    return AutoConfig.for_model(info.arch, **kwargs)


class TransformersAdapter(TorchAdapter):
    """Hugging Face encoders (``arch: bert``; ``arch_args`` mirror the pinned config.json)."""


    def stage_files(self, info: Any) -> list[str] | None:
        """The pinned ``config.json`` is the architecture; without one, ``arch`` + ``arch_args`` are."""
        return [f.path for f in info.files if f.path == "config.json"]

    def derive_stages(self, info: Any, folder: Path | None) -> StageSet:
        from transformers import AutoModel

        config = _config(info, folder)
        count = int(config.num_hidden_layers)
        states = None
        for device in ("meta", "cpu"):  # meta: no memory; some attention masks need real values
            with _quiet(), torch.device(device):
                model = AutoModel.from_config(config)
            try:
                ids = torch.ones(1, 16, dtype=torch.long, device=device)
                with torch.no_grad():
                    states = model(input_ids=ids, output_hidden_states=True).hidden_states
                break
            except RuntimeError:
                continue
        prefix = layer_list(model, count)
        if prefix is None or states is None:
            raise WeightsError(f"{info.id}: found no list of {count} layers in {type(model).__name__}; cannot derive stages")
        names = (["embeddings"] if hasattr(model, "embeddings") else ["(embeddings)"]) + [f"{prefix}.{i}" for i in range(count)]
        stages = tuple(
            stage_from_shape(name, tuple(int(d) for d in h.shape[1:]), info)
            for name, h in zip(names, states)
            if not name.startswith("(")
        )
        return StageSet(info.id, stages)

    def build(self, info: Any, folder: Path | None, cut: Cut, **options: Any) -> torch.nn.Module:
        """Loads the encoder from ``folder`` (offline), keeping the layers up to the last stage asked for."""
        from transformers import AutoModel

        self.check_options(info, options)
        config = _config(info, folder)
        order = [s.name for s in self.stages(info).stages]
        # hidden_states index of each stage: 0 for the embeddings, k + 1 for layer k.
        hidden = [order.index(s.name) + (0 if "embeddings" in order else 1) for s in cut.stages]
        if not cut.head:
            config.num_hidden_layers = max(hidden)
        with _quiet():
            if folder is None:
                model = AutoModel.from_config(config)
            else:
                try:
                    model = AutoModel.from_pretrained(
                        str(folder), config=config, local_files_only=True, trust_remote_code=False
                    )
                except (OSError, ValueError) as exc:
                    raise WeightsError(f"{info.id}: transformers could not load {folder}: {exc}") from exc
        if cut.head:
            return tag(_Whole(model), info, cut)
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # the pooler reads the last layer, which a cut model does not have
        return tag(TextStages(model, hidden), info, cut)
