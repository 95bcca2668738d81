"""Generating registry files from upstream manifests, and comparing two registries.

``generate()`` reads real upstream metadata only (never inventing a value)
and writes one file per source into a folder (``registry/generated/``)::

    registry/
    ├── resnet.yaml ...          hand-written: merged over the generated files, version by version
    └── generated/
        ├── gensim.yaml          gensim-data list.json
        ├── omz.yaml             OpenVINO Open Model Zoo model.yml files
        ├── onnx-zoo.yaml        ONNX Model Zoo ONNX_HUB_MANIFEST.json
        ├── mteb.yaml            MTEB's model metas + MTEB(eng, v2) per-task scores
        ├── timm.yaml            the installed timm + its results/benchmark tables
        └── torchvision.yaml     the installed torchvision

One module per source (``_timm``, ``_torchvision``, ``_onnx_zoo``, ``_omz``,
``_gensim``) turns its manifest into models; ``_writer`` writes them, the
same data always giving the same bytes; ``_diff`` compares two registries.

Naming (README "Naming"): a model is an architecture as its publisher names
it (timm architecture, torchvision builder, ONNX Model Zoo file stem without
the opset, OMZ name, gensim name); its versions are weights from any
publisher (timm tag, ``tv_`` + torchvision enum member, ``opset<N>``,
``omz``/``omz-caffe``/``omz-onnx``, ``gensim``); the publisher's own id of
each version (``resnet50.a1_in1k``, ``ResNet50_Weights.IMAGENET1K_V2``,
``mobilenetv2-7``, ``resnet-50-pytorch``) is listed in its ``ids``. Models
of several sources with one name are one model: the loader merges the files
version by version. A generated model whose name is an alias of a
hand-written model joins that model.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo.errors import InvalidOptionError
from zoo.registry.generate._common import Context, SourceOutput
from zoo.registry.generate._diff import Change, RegistryDiff, diff

__all__ = ["FILES", "SOURCES", "Change", "RegistryDiff", "Report", "default_manifests", "diff", "generate"]

SOURCES = ("timm", "torchvision", "onnx-zoo", "omz", "gensim", "mteb")
FILES = {source: f"{source}.yaml" for source in SOURCES}


@dataclass
class Report:
    """What a run wrote and left out.

    Attributes:
        files: Source -> the file written.
        models, versions: Source -> how many.
        tiers: Source -> verification tier -> versions.
        skipped: Source -> reason -> upstream entries left out.
        joined: Source -> kind -> upstream entries that pin another version instead of being one.
        shadowed: Publisher ids not written because a hand-written name or alias (or
            another model's name) already means something else.
    """

    files: dict[str, Path] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, Counter[str]] = field(default_factory=dict)
    skipped: dict[str, Counter[str]] = field(default_factory=dict)
    joined: dict[str, Counter[str]] = field(default_factory=dict)
    shadowed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "files": {k: str(v) for k, v in self.files.items()},
            "models": self.models,
            "versions": self.versions,
            "tiers": {k: dict(sorted(v.items())) for k, v in self.tiers.items()},
            "skipped": {k: dict(v.most_common()) for k, v in self.skipped.items()},
            "joined": {k: dict(v.most_common()) for k, v in self.joined.items()},
            "shadowed": self.shadowed,
        }


def default_manifests() -> Path:
    """``$ZOO_MANIFESTS``, else ``../shared/manifests`` beside the source checkout."""
    value = os.environ.get("ZOO_MANIFESTS", "").strip()
    if value:
        return Path(value).expanduser()
    return Path(__file__).resolve().parents[3].parent / "shared" / "manifests"


def _hand_written(folder: Path | None) -> tuple[dict[str, str], set[str]]:
    """(alias -> owner, every name and alias) of the hand-written files of a registry folder."""
    import yaml

    from zoo.registry._load import _folder_files

    aliases: dict[str, str] = {}
    reserved: set[str] = set()
    if folder is None or not folder.is_dir():
        return aliases, reserved
    for path in _folder_files(folder):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, entry in (data.get("models") or {}).items():
            reserved.add(name)
            for alias in entry.get("aliases") or ():
                aliases[alias] = name
                reserved.add(alias)
    return aliases, reserved


def _collect(source: str, ctx: Context) -> SourceOutput:
    if source == "timm":
        from zoo.registry.generate import _timm

        return _timm.collect(ctx)
    if source == "torchvision":
        from zoo.registry.generate import _torchvision

        return _torchvision.collect(ctx)
    if source == "onnx-zoo":
        from zoo.registry.generate import _omz, _onnx_zoo

        omz_ids = {}
        for model in _omz.manifests(ctx.manifests / "openvino-omz"):
            files = model.data.get("files") or []
            if model.data.get("framework") == "onnx" and len(files) == 1 and isinstance(files[0].get("size"), int):
                omz_ids[(files[0]["name"].rsplit("/", 1)[-1], files[0]["size"])] = model.name
        return _onnx_zoo.collect(ctx, omz_ids)
    if source == "omz":
        from zoo.registry.generate import _omz, _onnx_zoo, _torchvision

        return _omz.collect(ctx, set(_torchvision.weight_urls()), _onnx_zoo.files(ctx.manifests))
    if source == "gensim":
        from zoo.registry.generate import _gensim

        return _gensim.collect(ctx)
    if source == "mteb":
        from zoo.registry.generate import _mteb

        return _mteb.collect(ctx)
    raise InvalidOptionError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")


def _drop_shadowed(outputs: dict[str, SourceOutput], reserved: set[str]) -> list[str]:
    """Removes publisher ids that are a hand-written name/alias or another generated model's name."""
    names = {name for out in outputs.values() for name in out.models}
    taken = {n.lower() for n in reserved | names}
    dropped = []
    for out in outputs.values():
        for name, model in out.models.items():
            for vname, v in model["versions"].items():
                keep = [i for i in v.get("ids", ()) if i.lower() not in taken or i.lower() == name]
                dropped += [f"{i} ({name}@{vname})" for i in v.get("ids", ()) if i not in keep]
                keep = [i for i in keep if i.lower() != name]  # an id that is the model's own name adds nothing
                if keep:
                    v["ids"] = keep
                else:
                    v.pop("ids", None)
    return sorted(dropped)


def generate(
    output: str | os.PathLike[str],
    sources: Sequence[str] = SOURCES,
    *,
    manifests: str | os.PathLike[str] | None = None,
    curated: str | os.PathLike[str] | None = None,
) -> Report:
    """Writes one registry file per source into ``output`` (other files there are left alone).

    Args:
        output: The folder to write (``registry/generated``).
        sources: Which of :data:`SOURCES` to read.
        manifests: The upstream manifests (default :func:`default_manifests`).
        curated: The registry folder whose hand-written names and aliases the
            generated names must respect (default: the shipped registry).

    Returns:
        The :class:`Report` of the run.

    Raises:
        ValueError: An unknown source, or two generated versions with one name.
        FileNotFoundError: A manifest is missing.
    """
    from zoo import _settings
    from zoo._hashing import tier_of_version
    from zoo.registry.generate import _writer

    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise InvalidOptionError(f"unknown source {unknown[0]!r}; use one of {', '.join(SOURCES)}")
    folder = Path(manifests) if manifests is not None else default_manifests()
    if not folder.is_dir():
        raise FileNotFoundError(f"no manifests folder at {folder}; pass --manifests DIR or set ZOO_MANIFESTS")
    aliases, reserved = _hand_written(Path(curated) if curated is not None else _settings.shipped_registry())
    ctx = Context(folder, aliases, reserved)
    outputs = {source: _collect(source, ctx) for source in SOURCES if source in sources}
    report = Report(shadowed=_drop_shadowed(outputs, reserved))
    target = Path(output)
    target.mkdir(parents=True, exist_ok=True)
    for source, out in outputs.items():
        header = [
            f"Generated by 'zoo registry generate --source {source}' from upstream metadata only. Do not edit:",
            "regenerate (tests/test_generate.py fails when these bytes differ from a fresh run).",
            "Hand-written registry files merge over this one version by version (zoo/registry/_load.py).",
            "",
            *out.header,
        ]
        text = _writer.dump(out.models, header)
        path = target / FILES[source]
        _atomic.write_text(path, text)
        report.files[source] = path
        report.models[source] = len(out.models)
        report.versions[source] = out.versions
        report.tiers[source] = Counter(tier_of_version(v) for m in out.models.values() for v in m["versions"].values())
        report.skipped[source] = out.skipped
        report.joined[source] = out.joined
    return report
