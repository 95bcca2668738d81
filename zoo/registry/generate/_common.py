"""What every source module shares: the run context, one source's output, naming helpers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TIMM_COMMIT",
    "TIMM_RESULTS",
    "Context",
    "SourceOutput",
    "arxiv_url",
    "clean_text",
    "https",
    "meta_building",
]

# The commit of huggingface/pytorch-image-models whose results/ tables ../shared/manifests/timm holds.
TIMM_COMMIT = "aa4b5850c1543fa488abf260f18390eda46cf85d"
TIMM_RESULTS = f"https://github.com/huggingface/pytorch-image-models/blob/{TIMM_COMMIT}/results"

_ARXIV = re.compile(r"^arxiv:\s*(\d{4}\.\d{4,5})(v\d+)?$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclass
class Context:
    """What a source module reads besides its own manifest.

    Attributes:
        manifests: The folder of upstream manifests (``../shared/manifests``).
        aliases: Hand-written alias -> the hand-written model that owns it.
            A generated model whose name is one joins that model (the
            hand-written registry said the name means it).
        reserved: Every hand-written model name and alias (publisher ids
            equal to one of another model would never resolve).
    """

    manifests: Path
    aliases: dict[str, str] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)

    def model_name(self, name: str) -> str:
        """The registry name for a publisher's model name: itself, or the hand-written owner of that alias."""
        return self.aliases.get(name, name)


@dataclass
class SourceOutput:
    """What one source module read.

    Attributes:
        source: ``timm``, ``torchvision``, ``onnx-zoo``, ``omz`` or ``gensim``.
        models: Model name -> entry (the schema's shape, plain data).
        skipped: Why upstream entries were left out -> how many.
        joined: Upstream entries that are not versions of their own but pin
            another source's version (same file) -> how many, by kind.
        header: Provenance lines for the file's comment header.
    """

    source: str
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    joined: Counter[str] = field(default_factory=Counter)
    header: list[str] = field(default_factory=list)

    @property
    def versions(self) -> int:
        """How many versions the source defines."""
        return sum(len(m["versions"]) for m in self.models.values())

    def add(self, name: str, model: dict[str, Any], version: str, entry: dict[str, Any], origin: str | None = None) -> None:
        """Adds one version to model ``name`` (created with ``model``'s fields if new).

        Two upstream models that map to one registry name (through a
        hand-written alias) can bring the same version name: the later one is
        prefixed with its own upstream name (``origin``), so nothing is lost.

        Raises:
            ValueError: The version name is taken even so (a generator bug).
        """
        target = self.models.setdefault(name, {**model, "versions": {}})
        versions = target["versions"]
        if version in versions and origin and origin != name:
            version = f"{origin}-{version}"
        if version in versions:
            raise ValueError(f"{self.source}: {name}@{version} generated twice")
        versions[version] = entry


def https(url: str | None) -> str | None:
    """``url`` as https when it is one, or an http arXiv link (same page over https); else None."""
    if not url:
        return None
    if url.startswith(("http://arxiv.org/", "http://www.arxiv.org/")):
        url = "https://" + url[len("http://") :]
    return url if url.startswith("https://") and len(url) > len("https://") else None


def arxiv_url(paper_id: str | None) -> str | None:
    """``https://arxiv.org/abs/<id>`` for ``arXiv:2110.00476``; None for anything else."""
    match = _ARXIV.match((paper_id or "").strip())
    return f"https://arxiv.org/abs/{match[1]}{match[2] or ''}" if match else None


def clean_text(text: str | None, limit: int = 400) -> str | None:
    """Whitespace collapsed, reStructuredText links and markup reduced to their words, cut at a sentence."""
    if not text:
        return None
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`_+", r"\1", text)
    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: m[1].rsplit(".", 1)[-1], text)
    text = text.replace("``", "").replace("`", "")
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        cut = text.rfind(". ", 0, limit)
        text = text[: cut + 1] if cut > limit // 2 else text[:limit].rstrip() + " ..."
    return text or None


@contextmanager
def meta_building() -> Iterator[None]:
    """Builds modules on the meta device, skipping their weight initialisation.

    Initialisers (``normal_``, ``kaiming_uniform_``, ``zero_``, ...) run
    tensor math even on meta tensors, and that is most of the time a build
    takes; their results are never used here (only shapes and parameter
    counts are), so every in-place call on a meta tensor returns it unchanged.
    One function mode does what ``torch.device("meta")`` does, too: new
    tensors are created on the meta device.
    """
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._device import _device_constructors

    constructors = _device_constructors()
    meta = torch.device("meta")

    class _Meta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = getattr(func, "__name__", "")
            if name.endswith("_") and not name.endswith("__"):
                first = args[0] if args else next(iter(kwargs.values()), None)
                if isinstance(first, torch.Tensor) and first.is_meta:
                    return first
            if func in constructors and kwargs.get("device") is None:
                kwargs["device"] = meta
            return func(*args, **kwargs)

    with _Meta():
        yield
