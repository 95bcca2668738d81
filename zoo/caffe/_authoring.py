"""Caffe Model Zoo folders: the readme's YAML frontmatter, and registry entries built from a folder.

A BVLC Model Zoo folder (``models/bvlc_googlenet/``) holds a ``readme.md``
whose frontmatter names the caffemodel, its URL and its SHA-1, and the
``deploy.prototxt``. :func:`registry_entry` turns one into a zoo registry
entry: the prototxt pinned by size and sha256, the caffemodel by the
frontmatter's SHA-1 (weakly verified), stages measured from the prototxt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoo._hashing import hash_file
from zoo.caffe._net import load_net, param_count, read_limited
from zoo.caffe._stages import stages_of
from zoo.errors import CaffeFormatError, InvalidOptionError

__all__ = ["read_frontmatter", "registry_entry"]

_MAX_README_BYTES = 1024 * 1024
_REQUIRED_KEYS = ("caffemodel", "caffemodel_url", "sha1")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def read_frontmatter(model_dir: str | Path) -> dict[str, Any]:
    """Reads the YAML frontmatter of a Caffe Model Zoo folder's ``readme.md``.

    As BVLC's ``scripts/download_model_binary.py``: the YAML between the first
    ``---`` line and the next one (lines stripped), read with
    ``yaml.safe_load``; ``caffemodel``, ``caffemodel_url`` and ``sha1`` are
    required. ``sha1`` is returned as 40 lowercase hex characters.

    Raises:
        CaffeFormatError: No readme, no frontmatter, invalid YAML, or a
            required key missing; names the file and what to fix.
    """
    import yaml

    path = Path(model_dir) / "readme.md"
    text = read_limited(path, _MAX_README_BYTES, "readme.md").decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    example = "---\\nname: ...\\ncaffemodel: NAME.caffemodel\\ncaffemodel_url: https://...\\nsha1: <40 hex>\\n---"
    try:
        top = lines.index("---")
        bottom = lines.index("---", top + 1)
    except ValueError:
        raise CaffeFormatError(
            f"{path}: no YAML frontmatter (a block between two '---' lines); add one as the BVLC readmes do: {example}"
        ) from None
    try:
        data = yaml.safe_load("\n".join(lines[top + 1 : bottom]))
    except yaml.YAMLError as exc:
        raise CaffeFormatError(f"{path}: the frontmatter is not valid YAML ({exc}); fix it") from None
    if not isinstance(data, dict):
        raise CaffeFormatError(f"{path}: the frontmatter must be a YAML mapping of keys to values, like {example}")
    missing = [k for k in _REQUIRED_KEYS if data.get(k) in (None, "")]
    if missing:
        raise CaffeFormatError(
            f"{path}: the frontmatter lacks {', '.join(missing)}; Caffe Model Zoo readmes need "
            f"{', '.join(_REQUIRED_KEYS)} (see BVLC's models/*/readme.md)"
        )
    sha1 = str(data["sha1"]).strip().lower()
    if not _SHA1.match(sha1):
        raise CaffeFormatError(
            f"{path}: sha1 {data['sha1']!r} is not 40 hex characters; copy it exactly (quote it if YAML reads it as a number)"
        )
    data["sha1"] = sha1
    return data


_PAPERS = {
    "bvlc_googlenet": {"title": "Going Deeper with Convolutions", "url": "https://arxiv.org/abs/1409.4842", "year": 2014},
    "bvlc_alexnet": {
        "title": "ImageNet Classification with Deep Convolutional Neural Networks",
        "url": "https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
        "year": 2012,
    },
}
_PAPERS["bvlc_reference_caffenet"] = _PAPERS["bvlc_alexnet"]

# BVLC's ImageNet mean, per channel in the BGR order the nets take (0-255 scale).
_BGR_MEAN = (104.0, 117.0, 123.0)


def registry_entry(
    model_dir: str | Path,
    *,
    prototxt_url: str,
    caffemodel_url: str | None = None,
    paper: dict[str, Any] | None = None,
    prototxt: str = "deploy.prototxt",
    name: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Builds a registry entry (for ``zoo registry import-caffe``) from a Caffe Model Zoo folder.

    Input convention: the entry's ``input`` is zoo's RGB 0-1 spec with
    ``mean = [123, 117, 104] / 255`` (RGB order of BVLC's BGR mean
    ``[104, 117, 123]``) and ``std = [1 / 255] * 3``, so zoo's preprocessing
    yields RGB in 0-255 minus the mean; ``arch_args: {channel_order: bgr}``
    makes the caffe adapter reverse the channels to BGR inside the model.

    Args:
        model_dir: The folder with ``readme.md`` (frontmatter) and the prototxt.
        prototxt_url: Where the prototxt is published (https); pinned by the
            local file's size and sha256.
        caffemodel_url: Where the weights are (default: the frontmatter's
            ``caffemodel_url``); ``http://`` is rewritten to ``https://``
            because zoo fetches origins over https only. Pinned by the
            frontmatter's sha1 (weakly verified), without a size.
        paper: ``{title, url, year}``; required unless the caffemodel is one
            of bvlc_googlenet, bvlc_alexnet, bvlc_reference_caffenet.
        prototxt: The prototxt's file name in ``model_dir``.
        name: The registry name (default: the folder's name, lowercased).

    Returns:
        ``(model_name, entry)`` in the registry schema.

    Raises:
        CaffeFormatError: The readme or prototxt is malformed.
        ValueError: No paper for an unknown model, or a non-3-channel input.
    """
    model_dir = Path(model_dir)
    front = read_frontmatter(model_dir)
    caffemodel = str(front["caffemodel"]).strip()
    if "/" in caffemodel or "\\" in caffemodel or caffemodel in ("", ".", ".."):
        raise CaffeFormatError(f"{model_dir / 'readme.md'}: caffemodel {caffemodel!r} must be a plain file name")
    model_name = name or re.sub(r"[^a-z0-9._-]+", "-", model_dir.resolve().name.lower()).strip("-._")
    stem = caffemodel.removesuffix(".caffemodel")
    paper = paper or _PAPERS.get(stem)
    if paper is None:
        raise InvalidOptionError(
            f"{model_dir}: zoo does not know the paper of {caffemodel}; pass paper={{'title': ..., 'url': 'https://...', 'year': ...}}"
        )
    path = model_dir / prototxt
    net = load_net(path)
    shape = [int(d) for d in next(iter(net.inputs.values()))[1:]]
    if len(shape) != 3 or shape[0] != 3:
        raise InvalidOptionError(f"{path}: input shape {shape} is not a 3-channel image (C, H, W); write this entry by hand")
    sha256, size = hash_file(path)
    original_url = str(caffemodel_url or front["caffemodel_url"]).strip()
    url = "https://" + original_url[len("http://") :] if original_url.startswith("http://") else original_url
    provenance = [f"Caffe Model Zoo weights '{front.get('name', stem)}' ({caffemodel}), trained with Caffe"]
    if front.get("caffe_commit"):
        provenance.append(f"at commit {front['caffe_commit']}")
    if front.get("gist_id"):
        provenance.append(f"(gist {front['gist_id']})")
    description = (
        " ".join(provenance)
        + f". Published at {original_url} with only a SHA-1 and no size: weakly verified, zoo records the "
        "sha256 on first pull. The net takes BGR images in 0-255 minus the mean [104, 117, 123] (B, G, R); "
        "zoo's preprocessing gives RGB normalized with that mean in RGB order and std 1/255, and the model "
        "reverses the channels to BGR (arch_args channel_order: bgr). Converted to ONNX by zoo's own Caffe reader."
    )
    version: dict[str, Any] = {
        "adapter": "caffe",
        "arch": prototxt,
        "arch_args": {"channel_order": "bgr"},
        "license": str(front.get("license") or "unknown"),
        "description": description,
    }
    params = param_count(net)
    if params:
        version["params"] = params
    version["input"] = {
        "shape": shape,
        "mean": [m / 255.0 for m in reversed(_BGR_MEAN)],
        "std": [1.0 / 255.0] * 3,
        "interpolation": "bilinear",
        # BVLC nets were trained on 256x256 images, center-cropped at test time.
        "crop_pct": min(1.0, shape[1] / 256.0),
    }
    version["stages"] = stages_of(net)
    version["files"] = [
        {"path": prototxt, "size": size, "sha256": sha256, "source": {"url": prototxt_url}},
        {"path": caffemodel, "hash": {"sha1": front["sha1"]}, "source": {"url": url}},
    ]
    entry = {
        "task": "image-classification",
        "modality": "vision",
        "architecture": str(front.get("name") or stem),
        "paper": dict(paper),
        "tags": ["caffe"],
        "default": "bvlc",
        "versions": {"bvlc": version},
    }
    return model_name, entry
