"""Models that come as Caffe files: ``deploy.prototxt`` + ``.caffemodel``, converted to ONNX by :mod:`zoo.caffe`.

``build`` returns an ONNX Runtime callable (:class:`zoo.adapters._onnx.OnnxStage`)
over the converted graph, cut at the stage's top blob; ``reference`` returns
the independent torch interpretation (:class:`zoo.caffe.TorchNet`) of the same
cut, for the exporter's parity check.

The version's ``arch`` names its prototxt among its files (else the first
``.prototxt`` is used). ``arch_args: {channel_order: bgr}`` (the default)
says the net was trained on BGR images: the model then takes RGB, like every
zoo vision model, and reverses the channels itself; ``channel_order: rgb``
feeds the input through unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import WeightsError

__all__ = ["build", "reference"]


def _file(info: Any, suffix: str, preferred: str | None = None) -> dict[str, Any]:
    files = [f for f in info.files if f["path"].endswith(suffix)]
    for f in files:
        if f["path"] == preferred:
            return f
    if not files:
        raise WeightsError(
            f"{info.id}: none of its files is a {suffix} ({', '.join(f['path'] for f in info.files)}); "
            "a Caffe model needs its deploy .prototxt and its .caffemodel"
        )
    return files[0]


def _rgb_input(info: Any) -> bool:
    order = str(info.arch_args.get("channel_order", "bgr")).lower()
    if order not in ("bgr", "rgb"):
        raise WeightsError(f"{info.id}: arch_args channel_order must be 'bgr' or 'rgb', not {order!r}")
    return order == "bgr"


def _cached_prototxt(info: Any, file: dict[str, Any]) -> Path:
    """The prototxt alone, from the cache or fetched by itself (the caffemodel is not needed for shapes)."""
    from zoo import _settings
    from zoo._hashing import Expected
    from zoo.cache import Cache

    cache = Cache()
    sha256 = cache.recall(file)
    if sha256 is not None and cache.has_blob(sha256):
        return cache.blob_path(sha256)
    url = file["source"].get("url")
    if _settings.offline() or not url:
        raise WeightsError(
            f"{info.id}: building the architecture needs its prototxt {file['path']}, which is not in the cache; "
            f"run 'zoo pull {info.id}' first"
        )
    from zoo.download import fetch_url

    result = fetch_url(url, cache, Expected.of(file, sha256), label=f"{info.id}: {file['path']}")
    return cache.blob_path(result.sha256)


def _net(info: Any, folder: Path | None) -> Any:
    from zoo.caffe import load_net, random_weights

    prototxt = _file(info, ".prototxt", info.arch)
    if folder is None:
        # No weights: random ones of the right shapes, for shape and parameter checks.
        return random_weights(load_net(_cached_prototxt(info, prototxt)))
    return load_net(folder / prototxt["path"], folder / _file(info, ".caffemodel")["path"])


def _until(stage: dict[str, Any] | None, head: bool) -> str | None:
    return None if head or stage is None else stage["name"]


def build(info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False) -> Any:
    """Converts the version's Caffe files to ONNX, cut at the stage's top blob, and opens it with ONNX Runtime."""
    from zoo.adapters._onnx import OnnxStage
    from zoo.caffe import to_onnx

    until = _until(stage, head)
    model = to_onnx(_net(info, folder), until=until, rgb_input=_rgb_input(info))
    return OnnxStage(model, model.graph.output[0].name, info, stage if until else None)


def reference(info: Any, folder: Path | None, stage: dict[str, Any] | None, *, head: bool = False) -> Any:
    """The same cut as :func:`build`, computed by torch layer by layer (independent of the ONNX graph)."""
    from zoo.caffe import TorchNet

    until = _until(stage, head)
    module = TorchNet(_net(info, folder), until, rgb_input=_rgb_input(info))
    module.eval()
    module.zoo_model = info.id
    module.zoo_stage = dict(stage) if until and stage else None
    module.zoo_input = dict(info.input) if info.input else None
    return module
