"""OpenVINO Open Model Zoo: the public models an adapter here can load, pinned by OMZ's size + SHA-384.

Read from ``openvino-omz/**/model.yml`` (one manifest per model, from the
newest OMZ release holding it: ``index.tsv``). Registered:

* ``framework: pytorch`` whose conversion builds a torchvision or timm model
  (``--import-module=torchvision.models`` or ``timm.models...``) from one
  weights file: that file is the builder's state dict. The model is the
  builder (``resnet50``), the version ``omz``. A file that is also a current
  torchvision weight (same URL) is not a version of its own: it pins that
  torchvision version (see ``_torchvision``).
* ``framework: caffe`` with one ``.prototxt`` and one ``.caffemodel``: the
  model is the OMZ name, the version ``omz-caffe``.
* ``framework: onnx`` with one ``.onnx`` file: the OMZ name, version
  ``omz-onnx``. A file the ONNX Model Zoo also publishes (same name and size)
  pins that ONNX Model Zoo version instead (see ``_onnx_zoo``).

Everything else is skipped and counted by reason (tf, mxnet, paddle, caffe2;
pytorch models built by OMZ's own code; archives; audio). Input shape comes
from ``input_info`` (or ``--input_shape``), mean and scale from
``model_optimizer_args`` (0-255 values, in the original model's channel
order: RGB when OMZ reverses the channels, else BGR), over 255 for zoo's
[0, 1] images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.registry.generate._common import Context, SourceOutput, clean_text, https

__all__ = ["OmzModel", "collect", "manifests", "pin"]

# OMZ task_type -> zoo task (vision models only; audio and text tasks are not listed, so skipped).
TASKS = {
    "classification": "image-classification",
    "detection": "object-detection",
    "semantic_segmentation": "semantic-segmentation",
    "instance_segmentation": "instance-segmentation",
    "face_recognition": "image-embedding",
    "object_attributes": "image-embedding",  # OMZ files re-identification (embedding) models here
    "style_transfer": "image-to-image",
    "background_matting": "image-matting",
    "action_recognition": "video-classification",
    "human_pose_estimation": "keypoint-detection",
    "monocular_depth_estimation": "depth-estimation",
}
_NO_ADAPTER = ("tf", "mxnet", "paddle", "caffe2")
_VALUES = re.compile(r"^(?:([^\[]*))?\[([^\]]*)\]$")


@dataclass(frozen=True)
class OmzModel:
    """One OMZ manifest: its name (``resnet-50-pytorch``), where it was read, its data and release."""

    name: str
    where: str
    path: Path
    data: dict[str, Any]
    tag: str
    commit: str


def _tag_key(tag: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", tag))


@lru_cache(maxsize=4)
def manifests(folder: Path) -> tuple[OmzModel, ...]:
    """Every OMZ model once, from the newest release that holds it (``index.tsv``)."""
    import yaml

    index: dict[str, tuple[str, str]] = {}
    for line in (folder / "index.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            where, tag, commit = line.split("\t")
            index[where] = (tag, commit)
    best: dict[str, OmzModel] = {}
    for where, (tag, commit) in index.items():
        path = folder / where / "model.yml"
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        model = OmzModel(where.rsplit("/", 1)[-1], where, path, data, tag, commit)
        old = best.get(model.name)
        if old is None or _tag_key(tag) > _tag_key(old.tag):
            best[model.name] = model
    return tuple(best[name] for name in sorted(best))


def _args(values: list[Any] | None) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    for item in values or ():
        text = str(item)
        key, sep, value = text.partition("=")
        out[key] = value if sep else True
    return out


def pin(f: dict[str, Any]) -> dict[str, Any] | None:
    """The size and digest OMZ gives one file (``{size, hash: {sha384}}`` or ``{size, sha256}``), or None."""
    size = f.get("size")
    if not isinstance(size, int) or size <= 0:
        return None
    if isinstance(f.get("checksum"), str) and re.fullmatch(r"[0-9a-f]{96}", f["checksum"]):
        return {"size": size, "hash": {"sha384": f["checksum"]}}
    if isinstance(f.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", f["sha256"]):
        return {"size": size, "sha256": f["sha256"]}
    return None


def _file(f: dict[str, Any]) -> dict[str, Any] | None:
    digest = pin(f)
    url = https(f.get("source")) if isinstance(f.get("source"), str) else None
    if digest is None or url is None:
        return None
    return {"path": f["name"], **digest, "source": {"url": url}}


def _values(args: dict[str, Any], key: str, name: str | None) -> list[float] | None:
    text = args.get(key)
    if not isinstance(text, str):
        return None
    match = _VALUES.match(text)
    if match is None or (match[1] and name and match[1] != name):
        return None
    values = [float(v) for v in match[2].split(",") if v.strip()]
    return values * 3 if len(values) == 1 else values


def _input(model: OmzModel, rgb_original: bool) -> dict[str, Any] | None:
    """Input shape (C, H, W) and mean/std for [0, 1] RGB images, as far as the manifest says."""
    data = model.data
    args = _args(data.get("model_optimizer_args"))
    info = (data.get("input_info") or [{}])[0]
    name = info.get("name")
    shape = info.get("shape")
    layout = info.get("layout", "NCHW")
    if shape is None and isinstance(args.get("--input_shape"), str):
        shape = [int(x) for x in re.findall(r"\d+", args["--input_shape"])]
    spec: dict[str, Any] = {}
    if shape and len(shape) == 4 and layout == "NCHW" and all(isinstance(d, int) and d > 0 for d in shape):
        spec["shape"] = list(shape[1:])
    channels = spec.get("shape", [3])[0]
    mean = _values(args, "--mean_values", name)
    scale = _values(args, "--scale_values", name)
    if channels == 3 and (mean is None or len(mean) == 3) and (scale is None or len(scale) == 3):
        mean = mean or [0.0, 0.0, 0.0]
        scale = scale or [1.0, 1.0, 1.0]
        if not rgb_original:
            # Listed in the model's BGR order; zoo's preprocessing gives RGB (the adapter reverses it).
            mean, scale = mean[::-1], scale[::-1]
        spec["mean"] = [m / 255 for m in mean]
        spec["std"] = [s / 255 for s in scale]
    return spec or None


def collect(ctx: Context, torchvision_urls: set[str] | None = None, onnx_zoo_files: set[tuple[str, int]] | None = None) -> SourceOutput:
    """Reads the OMZ manifests.

    Args:
        ctx: The run's context.
        torchvision_urls: URLs of current torchvision weights: an OMZ pytorch
            file at one of them pins that torchvision version instead.
        onnx_zoo_files: (file name, size) of ONNX Model Zoo files: an OMZ onnx
            file among them pins that ONNX Model Zoo version instead.
    """
    out = SourceOutput("omz")
    folder = ctx.manifests / "openvino-omz"
    models = manifests(folder)
    tags = sorted({m.tag for m in models}, key=_tag_key)
    out.header = [
        f"OpenVINO Open Model Zoo: openvino-omz/**/model.yml, {len(models)} models, each from the newest",
        f"  openvinotoolkit/open_model_zoo release holding it (index.tsv: releases {tags[0]} .. {tags[-1]}).",
        "Sizes and SHA-384 (or SHA-256, older manifests) per file as OMZ publishes them.",
    ]
    out.skipped["an older manifest of a model also in a newer release"] += sum(
        1 for line in (folder / "index.tsv").read_text(encoding="utf-8").splitlines()[1:] if line.strip()
    ) - len(models)
    for model in models:
        _one(ctx, out, model, torchvision_urls or set(), onnx_zoo_files or set())
    return out


def _one(ctx: Context, out: SourceOutput, model: OmzModel, tv_urls: set[str], onnx_files: set[tuple[str, int]]) -> None:
    data = model.data
    framework = data.get("framework")
    if framework in _NO_ADAPTER:
        out.skipped[f"framework {framework}: no zoo adapter"] += 1
        return
    task = TASKS.get(data.get("task_type", ""))
    if task is None:
        out.skipped[f"task {data.get('task_type')!r}: not a vision task zoo has"] += 1
        return
    files = data.get("files") or []
    args = _args(data.get("model_optimizer_args"))
    rgb = bool(args.get("--reverse_input_channels"))
    license_ = https(data.get("license")) or str(data.get("license") or "unknown")
    version: dict[str, Any] = {}
    if framework == "pytorch":
        conv = _args(data.get("conversion_to_onnx_args"))
        module, builder, weights = conv.get("--import-module"), conv.get("--model-name"), conv.get("--weights")
        if not isinstance(module, str) or not (module == "torchvision.models" or module.startswith("timm.models")):
            out.skipped["pytorch model built by OMZ's own code, not a torchvision/timm builder"] += 1
            return
        if conv.get("--model-param") or not isinstance(weights, str) or not isinstance(builder, str):
            out.skipped["pytorch model with builder arguments or no weights file"] += 1
            return
        wname = weights.rsplit("/", 1)[-1]
        wfile = next((f for f in files if f.get("name") == wname), None)
        entry = _file(wfile) if wfile else None
        if entry is None:
            out.skipped["a file without size + digest or without an https source"] += 1
            return
        if isinstance(wfile.get("original_source"), str) and wfile["original_source"] in tv_urls:
            out.joined["pytorch file that is a current torchvision weight (pins it)"] += 1
            return
        if module == "torchvision.models":
            adapter, arch, name = "torchvision", builder, builder
        else:
            import timm.models._registry as registry

            arch = registry._deprecated_models.get(builder, builder)
            adapter, name = "timm", arch.split(".")[0]
        version = {"adapter": adapter, "arch": arch}
        suffix, files_out = "omz", [entry]
    elif framework == "caffe":
        proto = [f for f in files if str(f.get("name", "")).endswith(".prototxt")]
        weights = [f for f in files if str(f.get("name", "")).endswith(".caffemodel")]
        if len(files) != 2 or len(proto) != 1 or len(weights) != 1:
            out.skipped["caffe model that is not one .prototxt + one .caffemodel (archives, extra files)"] += 1
            return
        entries = [_file(proto[0]), _file(weights[0])]
        if None in entries:
            out.skipped["a file without size + digest or without an https source"] += 1
            return
        name = model.name.lower()
        version = {"adapter": "caffe", "arch": proto[0]["name"], "arch_args": {"channel_order": "rgb" if rgb else "bgr"}}
        suffix, files_out = "omz-caffe", entries
    elif framework == "onnx":
        onnx = [f for f in files if str(f.get("name", "")).endswith(".onnx")]
        if len(files) != 1 or len(onnx) != 1:
            out.skipped["onnx model that is not one .onnx file"] += 1
            return
        entry = _file(onnx[0])
        if entry is None:
            out.skipped["a file without size + digest or without an https source"] += 1
            return
        if (onnx[0]["name"].rsplit("/", 1)[-1], onnx[0].get("size")) in onnx_files:
            out.joined["onnx file the ONNX Model Zoo also publishes (pins it)"] += 1
            return
        name = model.name.lower()
        version = {"adapter": "onnx", "arch": onnx[0]["name"]}
        suffix, files_out = "omz-onnx", [entry]
    else:
        out.skipped[f"framework {framework}: no zoo adapter"] += 1
        return
    spec = _input(model, rgb)
    if framework == "onnx" and not rgb and spec:
        # The graph takes BGR and zoo cannot reorder an ONNX graph's input: keep the shape, not a normalisation.
        spec.pop("mean", None)
        spec.pop("std", None)
    if task in ("image-classification", "image-embedding") and framework != "onnx" and not (spec and "shape" in spec and "mean" in spec):
        out.skipped["no input shape in the manifest (a fixed-size model must state one)"] += 1
        return
    version["license"] = license_
    description = clean_text((data.get("description") or "").split("\n\n")[0])
    release = f"OMZ {model.tag} ({model.commit[:12]}) models/public/{model.where}"
    version["description"] = f"{description} [{release}]" if description else f"[{release}]"
    if spec:
        version["input"] = spec
    version["files"] = files_out
    version["ids"] = [model.name]
    entry_model = {"task": task, "modality": "vision", "architecture": name if framework == "pytorch" else model.name, "default": suffix}
    out.add(ctx.model_name(name), entry_model, suffix, version, origin=name)
