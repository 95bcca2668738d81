"""torchvision: every weight of every builder of the installed torchvision.

Read from ``torchvision.models.list_models()`` and
``get_model_weights(name)``: the URL, ``meta`` (``num_params``, ``_metrics``,
``_ops``, ``recipe``, ``_docs``, ``license``) and the transforms. The builder's
docstring gives the paper (its first link), its return type the architecture.
Detection, segmentation, video and optical-flow weights come with the task
their module says.

The keyword arguments the builder sets when it is given these weights
(``transform_input=True`` for Inception v3, ``num_classes=91`` for COCO
detectors) are found by calling the builder with the weights on the meta
device and recording what it overrides (``_ovewrite_named_param``), stopping
before it would download anything; those that differ from the class's
defaults become ``arch_args``.

Files are pinned by the sha256 prefix torchvision's file names carry (which
``torch.hub`` checks), or, when OpenVINO Open Model Zoo publishes the same URL
with its exact size and SHA-384, by those (stronger). The ``_file_size`` in
meta is rounded megabytes: never a size.

Naming: the model is the builder (``resnet50``), the version ``tv_`` + the
weight's enum member lowercased (``tv_imagenet1k_v2``: timm tags never start
so), and ``ResNet50_Weights.IMAGENET1K_V2`` (and ``.DEFAULT``) its ids.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from functools import cache
from typing import Any

from zoo.registry.generate._common import (
    Context,
    SourceOutput,
    clean_text,
    https,
    meta_building,
)

__all__ = ["collect", "weight_urls"]

# Module (under torchvision.models) -> task.
_TASKS = (
    ("torchvision.models.detection.mask_rcnn", "instance-segmentation"),
    ("torchvision.models.detection.keypoint_rcnn", "keypoint-detection"),
    ("torchvision.models.detection", "object-detection"),
    ("torchvision.models.segmentation", "semantic-segmentation"),
    ("torchvision.models.video", "video-classification"),
    ("torchvision.models.optical_flow", "optical-flow"),
    ("torchvision.models", "image-classification"),
)
# _metrics keys -> (metric name); datasets are lowercased keys of _metrics.
_METRICS = {"acc@1": "top1", "acc@5": "top5"}
_HASH = re.compile(r"-([a-f0-9]{8,63})\.[a-z]+$")
_LINK = re.compile(r"`([^`<]+?)\s*<(https?://[^>]+)>`_")
_INTERPOLATION = {"InterpolationMode.BILINEAR": "bilinear", "InterpolationMode.BICUBIC": "bicubic", "InterpolationMode.NEAREST": "nearest"}


class _Stop(Exception):
    def __init__(self, model: Any):
        super().__init__("stopped before loading weights")
        self.model = model


def _task(module: str) -> str:
    return next(task for prefix, task in _TASKS if module == prefix or module.startswith(prefix + "."))


def _docs_url(builder: Any) -> str:
    package = builder.__module__.rsplit(".", 1)[0]
    import torchvision

    release = ".".join(torchvision.__version__.split("+")[0].split(".")[:2])
    return f"https://docs.pytorch.org/vision/{release}/models/generated/{package}.{builder.__name__}.html"


def _paper(builder: Any) -> dict[str, Any] | None:
    match = _LINK.search(builder.__doc__ or "")
    if match is None:
        return None
    url = https(match[2])
    title = re.sub(r"\s+", " ", match[1]).strip()
    return {"title": title, "url": url} if url and title else None


def _overrides(builder: Any, weights: Any) -> tuple[dict[str, Any], Any]:
    """The kwargs ``builder(weights=weights)`` sets beyond what it sets without weights, and the model it builds."""
    with_weights, model = _recorded(builder, weights)
    without = _baseline(builder)
    return {k: v for k, v in with_weights.items() if k not in without or without[k] != v or k == "quantize"}, model


@cache
def _baseline(builder: Any) -> dict[str, Any]:
    return _recorded(builder, None)[0]


def _recorded(builder: Any, weights: Any) -> tuple[dict[str, Any], Any]:
    """The kwargs ``builder(weights=weights)`` sets, and the model it builds (on the meta device)."""
    import warnings

    import torch
    from torchvision.models import _api

    recorded: dict[str, Any] = {}

    def record(kwargs: dict[str, Any], param: str, new_value: Any) -> None:
        recorded[param] = new_value
        kwargs[param] = new_value

    patched = [m for name, m in sys.modules.items() if name.startswith("torchvision.models") and hasattr(m, "_ovewrite_named_param")]
    saved = [(m, m._ovewrite_named_param) for m in patched]

    def load_state_dict(self: Any, *args: Any, **kwargs: Any) -> None:
        raise _Stop(self)

    original_get, original_load = _api.WeightsEnum.get_state_dict, torch.nn.Module.load_state_dict
    model = None
    kwargs: dict[str, Any] = {"quantize": True} if builder.__module__.startswith("torchvision.models.quantization") else {}
    try:
        for m in patched:
            m._ovewrite_named_param = record
        _api.WeightsEnum.get_state_dict = lambda self, *a, **k: {}  # type: ignore[method-assign]
        torch.nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]
        with meta_building(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            builder(weights=weights, progress=False, **kwargs)
    except _Stop as stop:
        model = stop.model
    except Exception:  # noqa: BLE001 - quantized models cannot be calibrated on meta tensors; what was recorded stands
        model = None
    finally:
        for m, fn in saved:
            m._ovewrite_named_param = fn
        _api.WeightsEnum.get_state_dict = original_get  # type: ignore[method-assign]
        torch.nn.Module.load_state_dict = original_load  # type: ignore[method-assign]
    out = dict(kwargs)
    for param, value in recorded.items():
        if not isinstance(value, (bool, int, float, str)):
            continue
        if model is not None:
            default = inspect.signature(type(model).__init__).parameters.get(param)
            if default is not None and default.default is not inspect.Parameter.empty and default.default == value:
                continue
        out[param] = value
    return out, model


def _input(weights: Any) -> dict[str, Any] | None:
    transform = weights.transforms()
    kind = type(transform).__name__
    mean, std = getattr(transform, "mean", None), getattr(transform, "std", None)
    spec: dict[str, Any] = {}
    if kind == "ImageClassification":
        crop = int(transform.crop_size[0])
        resize = int(transform.resize_size[0])
        spec["shape"] = [3, crop, crop]
        spec["crop_pct"] = crop / resize
    if mean is not None and std is not None:
        spec["mean"] = [float(x) for x in mean]
        spec["std"] = [float(x) for x in std]
    interpolation = _INTERPOLATION.get(str(getattr(transform, "interpolation", "")))
    if interpolation and spec:
        spec["interpolation"] = interpolation
    return spec or None


def _metrics(weights: Any, spec: dict[str, Any] | None, source: str) -> list[dict[str, Any]]:
    meta = weights.meta
    resolution = (spec or {}).get("shape", [None, None, None])[-1]
    out = []
    for dataset, values in (meta.get("_metrics") or {}).items():
        for key, value in values.items():
            if math.isnan(value):
                continue  # NaN: torchvision's way of saying "not measured" (VGG16 IMAGENET1K_FEATURES)
            metric = {"name": _METRICS.get(key, key), "value": float(value), "source": source, "dataset": dataset.lower()}
            if resolution:
                metric["resolution"] = resolution
            out.append(metric)
    if meta.get("_ops"):
        metric = {"name": "gflops", "value": float(meta["_ops"]), "source": source}
        if resolution:
            metric["resolution"] = resolution
        out.append(metric)
    return out


def weight_urls() -> dict[str, tuple[str, str]]:
    """URL -> (builder name, weight enum member name) of every current torchvision weight."""
    from torchvision import models

    return {w.url: (name, w.name) for name in models.list_models() for w in models.get_model_weights(name)}


def collect(ctx: Context) -> SourceOutput:
    """Reads every torchvision weight; joins the OMZ manifests' sizes and SHA-384 by URL."""
    import torchvision
    from torchvision import models

    from zoo.registry.generate import _omz

    out = SourceOutput("torchvision")
    omz = {}
    for model in _omz.manifests(ctx.manifests / "openvino-omz"):
        for f in model.data.get("files") or ():
            digest = _omz.pin(f)
            if digest and isinstance(f.get("original_source"), str):
                omz[f["original_source"]] = (model.name, digest)
    joined = 0
    for name in models.list_models():
        builder = models.get_model_builder(name)
        enum = models.get_model_weights(name)
        task = _task(builder.__module__)
        source = _docs_url(builder)
        aliases = {member: alias for alias, member in enum.__members__.items() if alias != member.name}
        for weights in enum:
            meta = weights.meta
            match = _HASH.search(weights.url)
            path = weights.url.rsplit("/", 1)[-1]
            file: dict[str, Any] = {"path": path}
            if weights.url in omz:
                file.update(omz[weights.url][1])
                joined += 1
            elif match:
                file["hash"] = {"sha256_prefix": match[1]}
            else:
                out.skipped["file name without a sha256 prefix and no published digest"] += 1
                continue
            file["source"] = {"url": weights.url}
            arch_args, built = _overrides(builder, weights)
            spec = _input(weights)
            version: dict[str, Any] = {"adapter": "torchvision", "arch": name}
            if arch_args:
                version["arch_args"] = arch_args
            version["license"] = https(meta.get("license")) or meta.get("license") or "bsd-3-clause"
            docs = clean_text(meta.get("_docs"))
            recipe = https(meta.get("recipe"))
            parts = [p for p in (docs, f"Recipe: {recipe}" if recipe else None) if p]
            if parts:
                version["description"] = " ".join(parts)
            version["params"] = int(meta["num_params"])
            if spec:
                version["input"] = spec
            metrics = _metrics(weights, spec, source)
            if metrics:
                version["metrics"] = metrics
            version["files"] = [file]
            ids = [f"{type(weights).__name__}.{weights.name}"]
            ids += [f"{type(weights).__name__}.{alias}" for alias in sorted(a for m, a in aliases.items() if m is weights)]
            if weights.url in omz:
                ids.append(omz[weights.url][0])
            version["ids"] = ids
            architecture = inspect.signature(builder).return_annotation
            architecture = getattr(architecture, "__name__", None) or (type(built).__name__ if built is not None else name)
            default = aliases_default(enum)
            model = {"task": task, "modality": "vision", "architecture": architecture, "default": default}
            paper = _paper(builder)
            if paper:
                model["paper"] = paper
            out.add(ctx.model_name(name), model, f"tv_{weights.name.lower()}", version, origin=name)
    out.joined["torchvision weights pinned by OMZ's size + SHA-384 (same URL)"] = joined
    out.header = [
        f"torchvision {torchvision.__version__.split('+')[0]}: torchvision.models.list_models(), get_model_weights(name)",
        "  (url, meta, transforms); builder docstrings (paper) and return types (architecture).",
        "Files pinned by the sha256 prefix in torchvision's file names (checked by torch.hub), or by the exact",
        "  size + SHA-384 OpenVINO Open Model Zoo publishes for the same URL (openvino-omz/**/model.yml).",
        "License: meta['license'] where torchvision gives one, else torchvision's own (bsd-3-clause).",
    ]
    return out


def aliases_default(enum: Any) -> str:
    """The version name of the enum's ``DEFAULT`` member (else its first)."""
    member = enum.__members__.get("DEFAULT") or next(iter(enum))
    return f"tv_{member.name.lower()}"
