"""Hugging Face transformers encoders: load the cached folder offline, keep the first k layers.

Stages are derived from the architecture built from its config on the meta
device: ``embeddings`` and each layer of the encoder's layer list, named by
its module path (``encoder.layer.2`` for BERT, ``transformer.layer.2`` for
DistilBERT), measured through ``hidden_states``.

Truncation sets the config's layer count before loading, so the dropped
layers are never built or read (memory and compute shrink with the cut); each
stage's output is ``hidden_states[k]`` of the cut model, which equals the full
model's: a model whose last hidden state passes through a final norm (T5,
ModernBERT, Qwen2/3 and other decoders) has that norm replaced by the
identity when it is cut before its last layer, since the full model's
``hidden_states[k]`` of an inner layer is the layer's own output. The first
stage is always ``embeddings`` (``hidden_states[0]``).

Encoder-decoder configurations (T5, mT5, UMT5, LongT5) are built as their
encoder alone (``T5EncoderModel``...), as sentence-transformers loads them.
``arch: auto`` means the ``model_type`` of the pinned ``config.json``: the
architecture, and so its stages, exist only once that file is pulled.

``trust_remote_code`` is always False, and a model whose pinned
``config.json`` or ``tokenizer_config.json`` has an ``auto_map`` (or whose
registry entry says ``requires: [remote-code]``) is refused before
transformers is imported (:func:`zoo.adapters._hf_files.check_remote_code`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo._stages import StageSet
from zoo.adapters._base import Cut, TorchAdapter, stage_from_shape, tag
from zoo.adapters._hf_files import check_remote_code
from zoo.errors import NotCachedError, WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

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


# Encoder-decoder model types whose encoder alone is the feature trunk (sentence-transformers' table).
_ENCODERS = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel", "longt5": "LongT5EncoderModel"}
# Where a model keeps the norm applied after its last layer (and so to the last hidden state only).
_FINAL_NORMS = ("norm", "final_norm", "final_layer_norm", "encoder.final_layer_norm", "ln_f")


def _config(info: ModelInfo, folder: Path | None) -> Any:
    check_remote_code(info, folder)  # before transformers is imported: nothing of a remote-code model runs
    has_config = folder is not None and (folder / "config.json").is_file()
    if info.arch == "auto" and not has_config:
        raise NotCachedError(
            f"{info.id}: the architecture is 'auto' (the model_type of its config.json), so it and its stage count "
            f"come with config.json once the model is pulled; run 'zoo pull {info.id}' first"
        )
    from transformers import AutoConfig

    kwargs = dict(info.arch_args) if getattr(info, "arch_args", None) else {}
    if has_config:
        return AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False, **kwargs)
    # Some registry versions pin only the weights (no published hash for config.json):
    # the architecture's defaults are then the configuration.
    return AutoConfig.for_model(info.arch, **kwargs)


def _model_class(config: Any) -> Any:
    """``AutoModel``, or the encoder class of an encoder-decoder configuration."""
    import transformers

    name = _ENCODERS.get(getattr(config, "model_type", ""))
    return getattr(transformers, name) if name else transformers.AutoModel


def _from_config(config: Any) -> Any:
    cls = _model_class(config)
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(config)


def _drop_final_norm(model: torch.nn.Module) -> None:
    """Replaces the norm after the last layer by the identity (the model is cut before its last layer)."""
    for name in _FINAL_NORMS:
        try:
            model.get_submodule(name)
        except AttributeError:
            continue
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, torch.nn.Identity())
        return


class TransformersAdapter(TorchAdapter):
    """Hugging Face encoders (``arch: bert``; ``arch_args`` mirror the pinned config.json)."""


    def derive_stages(self, info: ModelInfo, folder: Path | None) -> StageSet:
        config = _config(info, folder)
        count = int(config.num_hidden_layers)
        states = None
        for device in ("meta", "cpu"):  # meta: no memory; some attention masks need real values
            with _quiet(), torch.device(device):
                model = _from_config(config)
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
        # hidden_states[0] is the embeddings' output in every architecture (T5 and decoders keep
        # them as embed_tokens, not an ``embeddings`` module).
        names = ["embeddings"] + [f"{prefix}.{i}" for i in range(count)]
        stages = tuple(stage_from_shape(name, tuple(int(d) for d in h.shape[1:]), info) for name, h in zip(names, states))
        return StageSet(info.id, stages)

    def export_graph(
        self, module: Any, info: ModelInfo, cut: Cut, path: Path, *, opset: int, batch: str | int, exporter: str
    ) -> tuple[str, int]:
        """As for every torch model, but decoders (causal attention) go to TorchScript first.

        The dynamo export of a decoder fixes the causal + padding mask for its example inputs (every
        token real), so left-padded batches then differ from torch (max abs ~1 on tiny Qwen2/Qwen3,
        caught by the parity check); the TorchScript export keeps the mask's operations.
        """
        if exporter == "auto" and any(getattr(m, "is_causal", False) is True for m in module.modules()):
            exporter = "torchscript"
        return super().export_graph(module, info, cut, path, opset=opset, batch=batch, exporter=exporter)

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> torch.nn.Module:
        """Loads the encoder from ``folder`` (offline), keeping the layers up to the last stage asked for."""
        self.check_options(info, options)
        config = _config(info, folder)
        count = int(config.num_hidden_layers)
        order = [s.name for s in self.stages(info, folder).stages]
        # hidden_states index of each stage: 0 for the embeddings, k + 1 for layer k.
        hidden = [order.index(s.name) + (0 if "embeddings" in order else 1) for s in cut.stages]
        if not cut.head:
            config.num_hidden_layers = max(hidden)
        with _quiet():
            if folder is None:
                model = _from_config(config)
            else:
                try:
                    model = _model_class(config).from_pretrained(
                        str(folder), config=config, local_files_only=True, trust_remote_code=False
                    )
                except (OSError, ValueError) as exc:
                    raise WeightsError(f"{info.id}: transformers could not load {folder}: {exc}") from exc
        if cut.head:
            return tag(_Whole(model), info, cut)
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # the pooler reads the last layer, which a cut model does not have
        if max(hidden) < count:
            _drop_final_norm(model)
        return tag(TextStages(model, hidden), info, cut)
