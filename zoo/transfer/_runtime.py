"""The embedding runtime: a batch of dataset items in, one pooled vector per item and stage out.

An :class:`Encoder` holds what it needs to run anywhere (a Ray worker
builds its own from the same fields): the resolved version, the stages, the
pooling, and for the ``onnx`` runtime the exported cut model's file (from the
export cache, parity-checked when it was written). Preprocessing is the
registry's: :func:`zoo.preprocess` for images (resize, crop_pct,
interpolation, mean/std), :func:`zoo.tokenizer` for texts (max_length,
padding to the longest text of the batch, truncation). An image that cannot
be decoded is returned as skipped, with the reason, never raised.

A text model whose pulled folder holds sentence-transformers files
(:class:`~zoo.transfer._sentence.SentenceConfig`) is run as
sentence-transformers runs it: its pooling (unless one is asked for), its
``Normalize``, its ``max_seq_length`` and ``do_lower_case``, and its prompt
(the one named, the text given, else ``default_prompt_name``) prepended to
every text, with the prompt's tokens left out of the pooling when the
pooling says ``include_prompt: false``. Without a ``max_seq_length`` texts
are truncated at the tokenizer's limit capped at the model's
``max_position_embeddings``, as sentence-transformers does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.adapters import Modality, modality_of
from zoo.datasets import Item, Skipped, load_image
from zoo.errors import DatasetError, InvalidOptionError
from zoo.registry import ModelInfo, load_catalog
from zoo.transfer._pooling import TOKEN_POOLS, check_pool, normalize, pool, pool_modes
from zoo.transfer._sentence import SentenceConfig

__all__ = ["RUNTIMES", "Encoder", "Encoded", "encoder_for"]

RUNTIMES = ("onnx", "torch")


@dataclass
class Encoded:
    """One encoded batch: the items kept, a ``(N, D)`` float32 array per stage, the items skipped."""

    items: list[Item]
    vectors: dict[str, Any]
    skipped: list[Skipped]


@dataclass
class Encoder:
    """Runs a cut model over batches of items.

    Attributes:
        info: The resolved model version.
        stages: The stages to return (canonical names), in order.
        pool: The pooling (see :mod:`zoo.transfer._pooling`).
        runtime: ``onnx`` (ONNX Runtime on the exported cut) or ``torch``.
        onnx_path: The exported cut (``onnx`` runtime).
        threads: Intra-op threads (None: the runtime's default).
        registries, offline: As for :func:`zoo.pull` (a worker resolves the same files).
        sentence: The model's sentence-transformers configuration (None: it has none, or it is not used).
        prompt: The text prepended to every input ('' for none).
        normalize: L2-normalize each pooled vector.
        position_limit: The model's ``max_position_embeddings`` (texts are cut to fit), when known.
    """

    info: ModelInfo
    stages: tuple[str, ...]
    pool: str
    runtime: str = "onnx"
    onnx_path: str | None = None
    threads: int | None = None
    registries: tuple[str, ...] = ()
    offline: bool | None = None
    sentence: SentenceConfig | None = None
    prompt: str = ""
    normalize: bool = False
    position_limit: int | None = None
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # Sessions, modules and tokenizers are rebuilt where the encoder runs (a Ray worker).
        return {**self.__dict__, "_state": {}}

    @property
    def modality(self) -> Modality:
        """The model's modality (what it reads, how it is fed)."""
        return modality_of(self.info)

    def encode(self, items: Sequence[Item]) -> Encoded:
        """Preprocesses, runs and pools one batch."""
        if self.modality.tokens:
            kept, skipped = [i for i in items if i.text], [Skipped(i.id, "empty text") for i in items if not i.text]
            if not kept:
                return Encoded([], {}, skipped)
            return Encoded(kept, self.texts([i.text for i in kept]), skipped)  # type: ignore[misc]
        kept, skipped, inputs = self._images(items)
        if not kept:
            return Encoded([], {}, skipped)
        outputs = self._run(inputs)
        vectors = {stage: self._finish(pool(out, self.pool)) for stage, out in zip(self.stages, outputs)}
        return Encoded(kept, vectors, skipped)

    def texts(self, texts: Sequence[str]) -> dict[str, Any]:
        """One batch of texts (empty ones too) to a ``(N, D)`` float32 array per stage."""
        ids, mask, prompt_length = self._tokenize(list(texts))
        outputs = self._run((ids, mask))
        return {stage: self._finish(pool(out, self.pool, mask, prompt_length=prompt_length)) for stage, out in zip(self.stages, outputs)}

    def _finish(self, vectors: Any) -> Any:
        return normalize(vectors) if self.normalize else vectors

    # ---- preprocessing ----------------------------------------------------------------------

    def _images(self, items: Sequence[Item]) -> tuple[list[Item], list[Skipped], Any]:
        import numpy as np

        from zoo.adapters import (
            preprocess_for,  # numpy only: a Ray actor need not import torch
        )

        transform = self._state.get("preprocess") or self._state.setdefault("preprocess", preprocess_for(self.info))
        kept, skipped, arrays = [], [], []
        for item in items:
            try:
                image = load_image(item)
            except DatasetError as exc:
                skipped.append(Skipped(item.id, str(exc)))
                continue
            arrays.append(transform.array(image))
            kept.append(item)
        return kept, skipped, (np.stack(arrays).astype(np.float32),) if arrays else None

    def _tokenizer(self) -> Any:
        tok = self._state.get("tokenizer")
        if tok is None:
            from zoo.features import tokenizer

            tok = tokenizer(self.info.id, registries=list(self.registries), offline=self.offline)
            if self.sentence is not None and self.sentence.do_lower_case:
                _lowercase(tok)
            self._state["tokenizer"] = tok
        return tok

    def max_length(self) -> int:
        """The most tokens a text keeps (sentence-transformers' rule when the model has its files)."""
        tok = self._tokenizer()
        if self.sentence is not None and self.sentence.max_seq_length:
            return self.sentence.max_seq_length
        if self.info.input is not None and self.info.input.max_length:
            return self.info.input.max_length
        limit = int(tok.model_max_length)
        return min(limit, self.position_limit) if self.position_limit else limit

    def _tokenize(self, texts: list[str]) -> tuple[Any, Any, int]:
        """input_ids, attention_mask (int64) and the prompt's length in tokens to leave out of the pooling (0: none)."""
        tok = self._tokenizer()
        kwargs = {"padding": True, "truncation": "longest_first", "max_length": self.max_length(), "return_tensors": "np"}
        batch = tok([self.prompt + t for t in texts], **kwargs)
        prompt_length = 0
        if self.prompt and self.sentence is not None and not self.sentence.include_prompt:
            # sentence-transformers' measure: the prompt tokenized alone, less a trailing special token.
            ids = tok([self.prompt], **kwargs)["input_ids"][0]
            prompt_length = len(ids) - (1 if int(ids[-1]) in set(tok.all_special_ids) else 0)
        return batch["input_ids"].astype("int64"), batch["attention_mask"].astype("int64"), prompt_length

    # ---- running ----------------------------------------------------------------------------

    def _run(self, inputs: Any) -> list[Any]:
        if self.runtime == "onnx":
            sess = self._state.get("session")
            if sess is None:
                from zoo._ort import ort_session

                sess = self._state["session"] = ort_session(str(self.onnx_path), self.threads)
            names = [i.name for i in sess.get_inputs()]
            if self.modality.tokens:
                given = {"input_ids": inputs[0], "attention_mask": inputs[1]}
                feeds = {n: given[n] for n in names if n in given} or dict(zip(names, inputs))
            else:
                feeds = dict(zip(names, inputs))
            return list(sess.run(None, feeds))
        import torch

        module = self._state.get("module")
        if module is None:
            from zoo.features import load

            if self.threads:
                torch.set_num_threads(self.threads)
            until = list(self.stages) if len(self.stages) > 1 else self.stages[0]
            module = self._state["module"] = load(self.info.id, until, registries=list(self.registries), offline=self.offline)
        with torch.inference_mode():
            out = module(*(torch.from_numpy(x) for x in inputs))
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return [o.float().numpy() for o in outs]


def encoder_for(
    model_id: str,
    until: str | Sequence[str] | None = None,
    *,
    pool_: str | None = None,
    runtime: str = "onnx",
    threads: int | None = None,
    registries: Sequence[str | os.PathLike[str]] | None = None,
    offline: bool | None = None,
    progress: Any = None,
    prompt: str | None = None,
    prompt_text: str | None = None,
    normalize: bool | None = None,
    sentence: bool = True,
) -> Encoder:
    """Resolves the model and its stages and, for the ``onnx`` runtime, exports the cut (cached).

    Args:
        model_id: ``[family/]name[@version]``.
        until: A stage, several stages (one vector per stage), or None (the
            whole feature trunk: the last main stage).
        pool_: The pooling; None: a text model's own (its sentence-transformers
            pooling), else ``avg`` for images, ``mean`` for texts.
        runtime: ``onnx`` or ``torch``.
        threads, registries, offline, progress: As for :func:`zoo.export`.
        prompt: A text model's prompt, by name (``query``); None: its ``default_prompt_name``, if any.
        prompt_text: The prompt's text itself (wins over ``prompt``).
        normalize: L2-normalize the vectors; None: as the model's ``modules.json`` says (no for other models).
        sentence: Follow the model's sentence-transformers files (False: zoo's
            plain defaults, as the probes use, whose heads export without a normalization).

    Raises:
        StageNotFoundError: A stage is not one of the architecture's.
        DatasetError: The pooling does not apply to a stage's output (``cls``
            on a feature map, ``none`` on tokens of texts), known from the
            stage's measured shape before anything is exported.
        RemoteCodeError: The model needs its publisher's code; refused before anything is pulled or run.
        UnsupportedModelError: Its sentence-transformers modules are not ones zoo reproduces.
        ValueError: Unknown runtime, pooling or prompt name.
    """
    from zoo.adapters import check_remote_code, check_requires
    from zoo.features import cut_for, pull_info

    if runtime not in RUNTIMES:
        raise InvalidOptionError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    info = load_catalog(registries).info(model_id)
    check_requires(info)
    modality = modality_of(info)
    text = modality.tokens
    if not text and (prompt is not None or prompt_text is not None):
        raise InvalidOptionError(f"{info.id} is a {info.modality} model; prompts are for text models")
    if pool_ is not None:
        check_pool(pool_)
    cut = cut_for(info, until)
    config, position_limit = None, None
    if text:
        folder = pull_info(info, offline=offline, progress=progress)
        check_remote_code(info, folder)
        config = SentenceConfig.read(folder, info.id) if sentence else None
        position_limit = _position_limit(folder, info.id)
    how = check_pool(pool_ or (config.pool if config is not None else modality.default_pool))
    _check_pool_fits(info, cut.stages, how)
    if config is not None:
        prompt_value = config.prompt_for(info.id, prompt, prompt_text)
    elif prompt is not None:
        raise InvalidOptionError(
            f"{info.id} has no named prompts (no sentence-transformers config_sentence_transformers.json); "
            "give the prompt's text with --prompt-text (prompt_text=)"
        )
    else:
        prompt_value = prompt_text or ""
    norm = bool(config.normalize) if normalize is None and config is not None else bool(normalize)
    stages = cut.names or (cut.label,)
    regs = tuple(os.fspath(r) for r in registries or ())
    onnx_path = None
    if runtime == "onnx":
        from zoo import _layout
        from zoo.exporter import export

        stem = "-".join(stages)
        if len(stem) > 80:  # probing every stage of a deep model: keep the file name under the 255-byte limit
            stem = f"{len(stages)}stages-{hashlib.sha256(stem.encode()).hexdigest()[:16]}"
        target = _layout.current().session(f"{info.name}-{info.version}-{stem}.onnx".replace("/", "_"))
        result = export(info.id, list(stages) if len(stages) > 1 else stages[0], target, registries=registries, offline=offline, progress=progress)
        onnx_path = str(Path(result.path))
    return Encoder(info, tuple(stages), how, runtime, onnx_path, threads, regs, offline, config, prompt_value, norm, position_limit)


def _position_limit(folder: Path, model: str) -> int | None:
    """``max_position_embeddings`` of the pulled ``config.json`` (None: none, or -1 for no limit)."""
    from zoo.adapters import read_json

    value = (read_json(folder, "config.json", model=model) or {}).get("max_position_embeddings")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _lowercase(tok: Any) -> None:
    """Lowercases before tokenizing, as sentence-transformers does for ``do_lower_case`` (Lowercase first)."""
    from tokenizers.normalizers import Lowercase
    from tokenizers.normalizers import Sequence as Normalizers

    current = tok.backend_tokenizer.normalizer
    if isinstance(current, Lowercase) or (isinstance(current, Normalizers) and any(isinstance(n, Lowercase) for n in current)):
        return
    rest = list(current) if isinstance(current, Normalizers) else [current] if current is not None else []
    tok.backend_tokenizer.normalizer = Normalizers([Lowercase(), *rest])


def _check_pool_fits(info: ModelInfo, stages: Sequence[Any], how: str) -> None:
    """Refuses, before the export, a pooling that :func:`pool` would refuse on the first batch."""
    tokens_only = [mode for mode in pool_modes(how) if mode in TOKEN_POOLS]
    for stage in stages:
        shape = tuple(stage.shape or ())  # without the batch axis; () when not measured
        if tokens_only and len(shape) >= 3:
            raise DatasetError(
                f"pooling {tokens_only[0]!r} is for token sequences; {info.id} at {stage.name} gives feature maps {shape}: use avg or max",
                field="pool",
            )
        if how == "none" and modality_of(info).tokens and len(shape) == 2:
            raise DatasetError("pooling 'none' needs a fixed-size output; texts vary in length: use mean, cls or max", field="pool")
