"""Hugging Face transformers encoders: load the cached folder offline, keep the first k layers.

Truncation sets the config's layer count before loading, so the dropped
layers are never built or read (memory and compute shrink with the cut); the
output is the last kept layer's hidden state, which equals the full model's
``hidden_states[k]``. ``trust_remote_code`` is always False.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from zoo.adapters._common import tag
from zoo.errors import WeightsError

__all__ = ["build", "TextStage", "layers_for"]

_LAYER = re.compile(r"^(?P<prefix>.+)\.(?P<index>\d+)$")


class TextStage(torch.nn.Module):
    """An encoder (possibly cut); ``forward`` returns the last kept layer's hidden states (B, T, H)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self._accepts = set(inspect.signature(model.forward).parameters)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": input_ids}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        if token_type_ids is not None and "token_type_ids" in self._accepts:
            kwargs["token_type_ids"] = token_type_ids
        return self.model(**kwargs).last_hidden_state


def layers_for(stage: dict[str, Any] | None) -> int | None:
    """How many transformer layers a stage keeps: ``embeddings`` -> 0, ``encoder.layer.2`` -> 3."""
    if stage is None:
        return None
    if stage["name"] == "embeddings":
        return 0
    match = _LAYER.match(stage["name"])
    if match is None:
        raise WeightsError(f"stage {stage['name']!r} is not 'embeddings' or '<layers>.<index>'")
    return int(match["index"]) + 1


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


def build(info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False) -> torch.nn.Module:
    """Loads the encoder from ``folder`` (offline), keeping the layers up to ``stage``."""
    from transformers import AutoModel

    config = _config(info, folder)
    keep = None if head else layers_for(stage)
    if keep is not None:
        config.num_hidden_layers = keep
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
    if keep is not None and getattr(model, "pooler", None) is not None:
        model.pooler = None  # the pooler reads the last layer, which a cut model does not have
    return tag(TextStage(model), info, None if head else stage)
