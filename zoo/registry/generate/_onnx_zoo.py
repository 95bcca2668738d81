"""The ONNX Model Zoo: every file of the validated zoo (the list ``onnx.hub`` used), pinned by sha256 + size.

Read from ``onnx-model-zoo/ONNX_HUB_MANIFEST.json``: file path, sha256, size,
opset, input/output ports, tags. The files are served from the Hugging Face
Hub at ``https://huggingface.co/onnxmodelzoo/<file stem>/resolve/main/<file>``
(GitHub stopped serving them through LFS); the manifest's sha256 pins the
content, so the URL is only a locator.

Naming: the model is the file stem without its opset number
(``mobilenetv2-7.onnx`` -> ``mobilenetv2``, ``resnet50-v1-12-int8.onnx`` ->
``resnet50-v1``), the version ``opset<N>`` plus the quantisation suffix
(``opset12-int8``), and the stem (``mobilenetv2-7``) its publisher id.

Vision inputs: the graph's own input shape (batch dropped) when it is a fixed
NCHW image; the manifest gives no normalisation, so none is written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from zoo.registry.generate._common import Context, SourceOutput

__all__ = ["collect", "files"]

MANIFEST = "ONNX_HUB_MANIFEST.json"
COMMIT = "b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d"
_SUFFIX = re.compile(r"^(?P<base>.+?)[-_](?P<opset>\d+)(?P<suffix>-(?:int8|qdq|fp32))?$")
_QUANT = re.compile(r"^(?P<base>.+?)-(?P<suffix>int8|qdq|fp32)$")

# The model's folder in the zoo (validated/<modality>/<category>/<folder>) -> task.
_FOLDER_TASKS = {
    "arcface": "image-embedding",
    "emotion_ferplus": "image-classification",
    "ultraface": "object-detection",
    "duc": "semantic-segmentation",
    "fcn": "semantic-segmentation",
    "mask-rcnn": "instance-segmentation",
    "fast_neural_style": "image-to-image",
    "sub_pixel_cnn_2016": "image-to-image",
    "bert-squad": "question-answering",
    "bidirectional_attention_flow": "question-answering",
    "gpt-2": "text-generation",
    "roberta": "feature-extraction",
    "t5": "feature-extraction",
}
# Category -> task, for folders not listed above.
_CATEGORY_TASKS = {"classification": "image-classification", "object_detection_segmentation": "object-detection"}
# Files whose task differs from their folder's (by file stem prefix).
_FILE_TASKS = {
    "roberta-sequence-classification": "text-classification",
    "t5-decoder-with-lm-head": "text-generation",
    "gpt2-lm-head": "text-generation",
}


def url(path: str) -> str:
    """Where the Hugging Face Hub serves a zoo file."""
    name = path.rsplit("/", 1)[-1]
    return f"https://huggingface.co/onnxmodelzoo/{name.rsplit('.', 1)[0]}/resolve/main/{name}"


def files(manifests: Any) -> set[tuple[str, int]]:
    """(file name, size) of every file in the manifest."""
    data = json.loads((manifests / "onnx-model-zoo" / MANIFEST).read_text(encoding="utf-8"))
    return {(e["model_path"].rsplit("/", 1)[-1], e["metadata"]["model_bytes"]) for e in data}


def naming(stem: str, opset: int) -> tuple[str, str]:
    """(model name, version) of a zoo file: ``resnet50-v1-12-int8`` at opset 12 -> (``resnet50-v1``, ``opset12-int8``)."""
    low = stem.lower()
    match = _SUFFIX.match(low)
    if match and int(match["opset"]) == opset:
        return match["base"], f"opset{opset}{match['suffix'] or ''}"
    quant = _QUANT.match(low)
    if quant:
        return quant["base"], f"opset{opset}-{quant['suffix']}"
    return low, f"opset{opset}"


def _task(entry: dict[str, Any], stem: str) -> str | None:
    parts = entry["model_path"].split("/")
    category, folder = parts[2], parts[3]
    for prefix, task in _FILE_TASKS.items():
        if stem.lower().startswith(prefix):
            return task
    return _FOLDER_TASKS.get(folder) or _CATEGORY_TASKS.get(category)


def _shape(entry: dict[str, Any]) -> list[int] | None:
    inputs = (entry["metadata"].get("io_ports") or {}).get("inputs") or []
    if not inputs:
        return None
    dims = inputs[0].get("shape") or []
    if len(dims) != 4 or inputs[0].get("type") != "tensor(float)":
        return None
    c, h, w = dims[1:]
    if all(isinstance(d, int) and d > 0 for d in (c, h, w)) and c in (1, 3) and h > 4 and w > 4:
        return [c, h, w]
    return None


def collect(ctx: Context, omz_ids: dict[tuple[str, int], str] | None = None) -> SourceOutput:
    """Reads the ONNX Model Zoo manifest.

    Args:
        ctx: The run's context.
        omz_ids: (file name, size) -> OpenVINO Open Model Zoo name, for files
            OMZ publishes too: that name becomes one more id of the version.
    """
    out = SourceOutput("onnx-zoo")
    entries = json.loads((ctx.manifests / "onnx-model-zoo" / MANIFEST).read_text(encoding="utf-8"))
    out.header = [
        f"ONNX Model Zoo: onnx/models @ {COMMIT}, {MANIFEST} ({len(entries)} files): sha256, size, opset, io ports.",
        "Files from the Hugging Face Hub copy: https://huggingface.co/onnxmodelzoo/<file stem>/resolve/main/<file>.",
        "License: the manifest names none ('unknown'); each model's README in onnx/models does.",
    ]
    drafts: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {}
    for entry in entries:
        meta = entry["metadata"]
        path = entry["model_path"]
        name = path.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        if "preprocessing" in meta.get("tags", ()):
            out.skipped["a preprocessing graph, not a model (no weights)"] += 1
            continue
        task = _task(entry, stem)
        if task is None:
            out.skipped["no task known for its category"] += 1
            continue
        model_name, version_name = naming(stem, int(entry["opset_version"]))
        vision = path.split("/")[1] != "text"  # the zoo's folder says (validated/<modality>/...)
        modality = "vision" if vision else "text"
        version: dict[str, Any] = {
            "adapter": "onnx",
            "arch": name,
            "license": "unknown",
            "description": f"{entry['model']}: ONNX Model Zoo {path} (opset {entry['opset_version']}, onnx {entry['onnx_version']}).",
        }
        shape = _shape(entry) if vision else None
        if shape:
            version["input"] = {"shape": shape}
        version["files"] = [
            {"path": name, "size": int(meta["model_bytes"]), "sha256": meta["model_sha"], "source": {"url": url(path)}}
        ]
        ids = [stem]
        omz = (omz_ids or {}).get((name, int(meta["model_bytes"])))
        if omz:
            ids.append(omz)
        version["ids"] = ids
        version["tags"] = sorted({re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-") for t in meta.get("tags", ())} - {""})
        version["task"] = task
        model = {"modality": modality, "architecture": entry["model"]}
        drafts.setdefault(model_name, []).append((version_name, model, version))
    for model_name, items in sorted(drafts.items()):
        # Default: the newest opset of the unquantised file, else the newest opset.
        plain = [i for i in items if "-" not in i[0]] or items
        default_name, default_model, default_version = max(plain, key=lambda i: int(re.match(r"opset(\d+)", i[0])[1]))
        task = default_version["task"]
        model = {"task": task, **default_model, "default": default_name}
        for version_name, _, version in sorted(items, key=lambda i: i[0]):
            if version["task"] == task:
                del version["task"]
            out.add(ctx.model_name(model_name), model, version_name, version, origin=model_name)
    return out
