"""Models that come as Caffe files: ``deploy.prototxt`` + ``.caffemodel``, converted to ONNX by :mod:`zoo.caffe`.

The prototxt is the architecture: every top blob is a stage (measured by
:func:`zoo.caffe.stages_of`); the main ones are the last blob at each
resolution. Deriving them needs only the prototxt, which is fetched alone
through the resolver (cache, locks, mirrors, checks) when the model is not
pulled yet.

``build`` returns an ONNX Runtime callable (:class:`zoo.adapters._onnx.OnnxStage`)
over the converted graph, cut at the stages' top blobs; the exporter's parity
reference is :class:`zoo.caffe.TorchNet`, an independent interpretation of
the same layers with torch.

The version's ``arch`` names its prototxt among its files (else the first
``.prototxt`` is used). ``arch_args: {channel_order: bgr}`` (the default)
says the net was trained on BGR images: the model then takes RGB, like every
zoo vision model, and reverses the channels itself; ``channel_order: rgb``
feeds the input through unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo._stages import Stage, StageSet
from zoo.adapters._base import Cut, tag
from zoo.adapters._onnx import OnnxNativeAdapter, OnnxStage
from zoo.adapters._stage_files import file_with_suffix, prototxt
from zoo.errors import WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["CaffeAdapter"]


def _rgb_input(info: ModelInfo) -> bool:
    order = str(info.arch_args.get("channel_order", "bgr")).lower()
    if order not in ("bgr", "rgb"):
        raise WeightsError(f"{info.id}: arch_args channel_order must be 'bgr' or 'rgb', not {order!r}")
    return order == "bgr"


def _until(cut: Cut) -> str | list[str] | None:
    if cut.head or not cut.stages:
        return None
    return cut.names[0] if len(cut.names) == 1 else list(cut.names)


class CaffeAdapter(OnnxNativeAdapter):
    """BVLC-style Caffe models (``arch`` names the deploy prototxt)."""

    export_kind = "caffe"

    def _prototxt(self, info: ModelInfo, folder: Path | None) -> Path:
        """The prototxt: in ``folder`` when pulled, else fetched alone (the caffemodel is not needed for shapes)."""
        path = prototxt(info)[0]
        if folder is None or not (folder / path).is_file():
            folder = self.architecture_folder(info, None)
        return folder / path

    def _net(self, info: ModelInfo, folder: Path | None, weights: bool) -> Any:
        from zoo.caffe import load_net, random_weights

        prototxt = self._prototxt(info, folder)
        if not weights or folder is None:
            # No weights: random ones of the right shapes, for shape and parameter checks.
            return random_weights(load_net(prototxt))
        return load_net(prototxt, folder / file_with_suffix(info, ".caffemodel").path)

    def derive_stages(self, info: ModelInfo, folder: Path | None) -> StageSet:
        from zoo.caffe import load_net, stages_of

        found = stages_of(load_net(self._prototxt(info, folder)))
        stages = []
        for i, s in enumerate(found):
            nxt = found[i + 1] if i + 1 < len(found) else None
            main = nxt is None or nxt["stride"] != s["stride"]
            stages.append(Stage(s["name"], int(s["channels"]), int(s["stride"]), (), None, main))
        return StageSet(info.id, tuple(stages))

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> OnnxStage:
        """Converts the version's Caffe files to ONNX, cut at the stages' top blobs, and opens it with ONNX Runtime."""
        from zoo.caffe import to_onnx

        self.check_options(info, options)
        model = to_onnx(self._net(info, folder, weights=True), until=_until(cut), rgb_input=_rgb_input(info))
        return tag(OnnxStage(model, [o.name for o in model.graph.output]), info, cut)

    def reference(self, info: ModelInfo, folder: Path | None, cut: Cut, module: Any) -> Any:
        """The same cut computed by torch layer by layer (:class:`zoo.caffe.TorchNet`, independent of the ONNX graph)."""
        from zoo.caffe import TorchNet

        return tag(TorchNet(self._net(info, folder, weights=True), _until(cut), rgb_input=_rgb_input(info)), info, cut)
