"""A text model's own embedding rule, read from its sentence-transformers files in the pulled folder.

sentence-transformers describes how a model turns token states into one
vector in small JSON files next to the weights:

* ``modules.json``: the modules in order. zoo reproduces ``Transformer`` →
  ``Pooling`` → optionally ``Normalize``; any other module (``Dense``,
  ``LayerNorm``, ``WordEmbeddings``...) would change the vectors, so such a
  model is refused (:class:`~zoo.errors.UnsupportedModelError`), and a module
  from outside the ``sentence_transformers`` package is remote code
  (:class:`~zoo.errors.RemoteCodeError`);
* ``<pooling path>/config.json``: the pooling modes (the legacy
  ``pooling_mode_*_token(s)`` booleans, concatenated in sentence-transformers'
  order cls, max, mean, mean_sqrt_len, weightedmean, lasttoken; or the newer
  ``pooling_mode`` name or list, in its order) and ``include_prompt``;
* ``sentence_bert_config.json``: ``max_seq_length`` and ``do_lower_case``;
* ``config_sentence_transformers.json``: ``prompts`` and ``default_prompt_name``.

:meth:`SentenceConfig.read` returns None for a folder without
``modules.json``: sentence-transformers then mean-pools a plain transformers
model, which is zoo's default too. The files are read as JSON only, each at
most :data:`zoo.adapters._hf_files.JSON_LIMIT` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.adapters import read_json
from zoo.errors import InvalidOptionError, RemoteCodeError, UnsupportedModelError

__all__ = ["SentenceConfig"]

# Legacy pooling keys in the order sentence-transformers concatenates them, with zoo's names.
_LEGACY = (
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
)
_NAMES = {"cls": "cls", "max": "max", "mean": "mean", "mean_sqrt_len_tokens": "mean_sqrt_len", "weightedmean": "weightedmean", "lasttoken": "lasttoken"}
_KINDS = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class SentenceConfig:
    """How a sentence-transformers model turns token states into its embedding.

    Attributes:
        pool: The pooling, in :mod:`zoo.transfer._pooling`'s names (``mean``,
            ``lasttoken``, ``cls+mean`` for several concatenated).
        include_prompt: False: a prompt's tokens are left out of the pooling.
        normalize: The vectors are L2-normalized (a ``Normalize`` module).
        max_seq_length: Texts are truncated to this many tokens (None: the
            tokenizer's limit, capped at the model's position embeddings).
        do_lower_case: Texts are lowercased before tokenizing.
        prompts: Prompt name -> text prepended to each input (``query`` -> ``"query: "``).
        default_prompt_name: The prompt used when none is asked for (None: no prompt).
    """

    pool: str = "mean"
    include_prompt: bool = True
    normalize: bool = False
    max_seq_length: int | None = None
    do_lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    @classmethod
    def read(cls, folder: Path, model: str) -> SentenceConfig | None:
        """The configuration in a pulled folder, or None when it has no ``modules.json``.

        Raises:
            UnsupportedModelError: A module zoo does not reproduce, or a malformed file.
            RemoteCodeError: A module from outside sentence-transformers.
            UnsafeFileError: A file over the size limit, or a link out of the folder.
        """
        folder = Path(folder)
        modules = _modules(folder, model)
        if modules is None:
            return None
        kinds = [kind for kind, _ in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            raise UnsupportedModelError(
                f"{model}: modules.json chains {' -> '.join(kinds)}; zoo reproduces Transformer -> Pooling "
                "(-> Normalize) only, so its vectors would differ from the publisher's. Use a model without extra modules.",
                model=model, reason="sentence-module", file="modules.json",
            )
        transformer_path, pooling_path = modules[0][1], modules[1][1]
        bert_file = _join(transformer_path, "sentence_bert_config.json")
        bert = read_json(folder, bert_file, model=model) or {}
        _check_transformer(bert, model, bert_file)
        pooling_file = _join(pooling_path, "config.json")
        pooling = read_json(folder, pooling_file, model=model)
        if pooling is None:
            raise UnsupportedModelError(
                f"{model}: modules.json names a Pooling module at {pooling_path or '.'}/ but {pooling_file} is not among "
                "the pulled files; the registry entry must pin it",
                model=model, reason="sentence-config", file=pooling_file,
            )
        st = read_json(folder, "config_sentence_transformers.json", model=model) or {}
        prompts = st.get("prompts") or {}
        if not isinstance(prompts, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in prompts.items()):
            raise _malformed(model, "config_sentence_transformers.json", "prompts must map names to texts")
        default = st.get("default_prompt_name")
        if default is not None and (not isinstance(default, str) or default not in prompts):
            raise _malformed(model, "config_sentence_transformers.json", f"default_prompt_name {default!r} is not one of its prompts")
        max_len = bert.get("max_seq_length")
        if max_len is not None and (not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1):
            raise _malformed(model, bert_file, f"max_seq_length {max_len!r} is not a positive integer")
        include = pooling.get("include_prompt", True)
        if not isinstance(include, bool):
            raise _malformed(model, pooling_file, f"include_prompt {include!r} is not true or false")
        return cls(
            pool=_pool_name(pooling, model, pooling_file),
            include_prompt=include,
            normalize=len(modules) == 3,
            max_seq_length=max_len,
            do_lower_case=bool(bert.get("do_lower_case", False)),
            prompts={k: v or "" for k, v in prompts.items()},
            default_prompt_name=default,
        )

    def prompt_for(self, model: str, name: str | None = None, text: str | None = None) -> str:
        """The text to prepend: ``text`` if given, else prompt ``name``, else the default prompt ('' for none).

        Raises:
            InvalidOptionError: ``name`` is not one of the model's prompts (the message lists them).
        """
        if text is not None:
            return text
        if name is not None:
            if name not in self.prompts:
                known = ", ".join(sorted(self.prompts)) or "none"
                raise InvalidOptionError(
                    f"{model} has no prompt named {name!r}; its prompts: {known}. Pass one of them, or the text itself with --prompt-text"
                )
            return self.prompts[name]
        return self.prompts.get(self.default_prompt_name, "") if self.default_prompt_name else ""


def _join(base: str, name: str) -> str:
    return f"{base.strip('/')}/{name}" if base.strip("/") else name


def _malformed(model: str, file: str, what: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"{model}: {file}: {what}", model=model, reason="sentence-config", file=file)


def _modules(folder: Path, model: str) -> list[tuple[str, str]] | None:
    """``modules.json`` as (kind, path) pairs in order, or None when there is none."""
    data = read_json(folder, "modules.json", model=model, expect=list)
    if data is None:
        return None
    if not all(isinstance(m, dict) for m in data):
        raise _malformed(model, "modules.json", "must be a list of modules")
    out = []
    for m in data:  # in the listed order, as sentence-transformers chains them
        kind = str(m.get("type", ""))
        if not kind.startswith("sentence_transformers."):
            raise RemoteCodeError(
                f"{model}: modules.json names the module {kind!r}, the publisher's own Python code, which zoo never runs; "
                "nothing was run. Choose a model built from sentence-transformers' own modules.",
                model=model, file="modules.json",
            )
        short = kind.rsplit(".", 1)[-1]
        out.append((short if short in _KINDS else kind, str(m.get("path", "") or "")))
    return out


def _check_transformer(bert: dict[str, Any], model: str, file: str) -> None:
    """Refuses a Transformer module whose output is not the last hidden state of a feature-extraction model."""
    task = bert.get("transformer_task", "feature-extraction")
    config = bert.get("modality_config") or {}
    text = (config.get("text") if isinstance(config, dict) else None) or {}
    if not isinstance(text, dict):
        raise _malformed(model, file, "modality_config.text must be an object")
    method = text.get("method", "forward")
    output = text.get("method_output_name", "last_hidden_state")
    if isinstance(output, list) and len(output) == 1:
        output = output[0]
    if task != "feature-extraction" or method != "forward" or output != "last_hidden_state":
        raise UnsupportedModelError(
            f"{model}: {file} takes the text embedding from {method}() -> {output} of a {task} model; zoo reproduces "
            "feature-extraction models read at last_hidden_state only",
            model=model, reason="sentence-module", file=file,
        )


def _pool_name(config: dict[str, Any], model: str, file: str) -> str:
    """zoo's pooling name for a Pooling module's config (legacy booleans or ``pooling_mode``)."""
    mode = config.get("pooling_mode")
    if mode is None:
        modes = [name for key, name in _LEGACY if config.get(key)] or ["mean"]
    else:
        given = [mode] if isinstance(mode, str) else mode
        if not isinstance(given, list) or not given or not all(isinstance(m, str) and m in _NAMES for m in given):
            raise _malformed(model, file, f"pooling_mode {mode!r} is not one of {', '.join(_NAMES)} (or a list of them)")
        modes = [_NAMES[m] for m in given]
    return "+".join(modes)
