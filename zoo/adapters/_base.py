"""The adapter contract: one class per framework, one protocol, registered in :mod:`zoo._plugins`.

An adapter turns a model version's registry facts (``info``) and its pulled
files (``folder``) into a runnable model cut at named stages, and tells the
exporter how to turn that into ONNX and how to check it:

=====================  ====================================================
``stages(info)``       the architecture's cut points (:class:`StageSet`),
                       derived without weights, cached on disk
``measure(info, n)``   one accepted cut point that is not measured yet
``build(info, f, c)``  the model with ``f``'s weights (None: random), cut at
                       :class:`Cut` ``c``; eval mode, tagged with zoo_*
``example_inputs``     inputs for tracing and shape measurement
``parity_inputs``      inputs the exporter compares torch and ORT on
``export_graph``       writes the raw ONNX graph; returns exporter and opset
``reference``          the independent implementation parity compares with
``export_metadata``    extra ``zoo.*`` metadata for the file
``keyed_vectors``      word vectors only: the vocabulary and matrix
=====================  ====================================================

:class:`TorchAdapter` implements the export half for every adapter whose
model is a ``torch.nn.Module`` (timm, torchvision, transformers, word
vectors); ONNX-native adapters (onnx, caffe) implement their own.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _stages
from zoo._plugins import AdapterSpec
from zoo._stages import Stage, StageSet
from zoo.adapters._modality import modality_of
from zoo.errors import ExportError, InvalidOptionError, StageNotFoundError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = [
    "Adapter",
    "TorchAdapter",
    "Cut",
    "tag",
    "export_torch",
    "measure_module",
    "stage_from_shape",
    "main_flags",
    "output_names",
]


@dataclass(frozen=True)
class Cut:
    """Where to cut: the stages whose outputs the model returns, or the whole model.

    Attributes:
        stages: The stages to return, in order (one: the model returns a
            tensor; several: a tuple in this order). Empty with ``head``.
        head: Keep the whole model, classifier included.
    """

    stages: tuple[Stage, ...] = ()
    head: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The stage names, in order."""
        return tuple(s.name for s in self.stages)

    @property
    def multi(self) -> bool:
        """Whether the model returns several outputs."""
        return len(self.stages) > 1

    @property
    def label(self) -> str:
        """For messages: ``layer3``, ``layer2,layer3``, or ``the whole model``."""
        return ",".join(self.names) if self.stages else "the whole model"

    def to_dict(self) -> dict[str, Any] | None:
        """What ``zoo_stage`` holds on a built module: the single stage, or None."""
        if len(self.stages) != 1:
            return None
        s = self.stages[0]
        return {"name": s.name, "channels": s.channels, "stride": s.stride, "aliases": list(s.aliases)}


def tag(module: Any, info: ModelInfo, cut: Cut) -> Any:
    """Marks a built model with where it came from, and puts it in eval mode."""
    if hasattr(module, "eval"):
        module.eval()
    module.zoo_model = info.id
    module.zoo_stage = cut.to_dict()
    module.zoo_stages = list(cut.names)
    module.zoo_input = info.input.to_dict() if info.input else None
    return module


class Adapter:
    """The contract every adapter implements (see the module docstring).

    Attributes:
        spec: Its row in :data:`zoo._plugins.ADAPTERS` (``name``, ``extra``,
            ``frameworks``, ``file_defined``).
    """

    def __init__(self, spec: AdapterSpec):
        self.spec = spec

    @property
    def name(self) -> str:
        """The registry value."""
        return self.spec.name

    # ---- stages --------------------------------------------------------------

    def stage_files(self, info: ModelInfo) -> list[str] | None:
        """For file-defined architectures: the paths the stages are read from (None: every file).

        The adapter table's ``stage_files`` ability (:class:`~zoo._plugins.AdapterSpec`) answers.
        """
        if self.spec.stage_files is None:
            return None
        module, _, name = self.spec.stage_files.partition(":")
        return getattr(importlib.import_module(module), name)(info)  # type: ignore[no-any-return]

    def stages(self, info: ModelInfo, folder: Path | None = None) -> StageSet:
        """The architecture's cut points, with the registry's aliases (derived once, then cached).

        Args:
            info: The version.
            folder: Its pulled files. File-defined architectures (``spec.file_defined``)
                fetch just the files they need when it is None.
        """
        key = _stages.cache_key(info, self.spec)
        found = _stages.load_cached(info.id, key)
        if found is None:
            found = self.derive_stages(info, self.architecture_folder(info, folder))
            _stages.store(key, found)
        return found.with_aliases(info.stages)

    def architecture_folder(self, info: ModelInfo, folder: Path | None) -> Path | None:
        """``folder``, or for file-defined architectures a folder holding just the files they are read from."""
        needed = self.stage_files(info) if self.spec.file_defined else []
        if folder is not None or needed == []:
            return folder
        from zoo.resolve import pull_version

        return pull_version(info, paths=needed)

    def derive_stages(self, info: ModelInfo, folder: Path | None) -> StageSet:
        """Derives the stages from the built architecture (no weights)."""
        raise NotImplementedError

    def measure(self, info: ModelInfo, folder: Path | None, name: str) -> Stage:
        """Measures one accepted cut point that the stage set does not measure up front."""
        raise StageNotFoundError(info.id, name, [])

    # ---- building ------------------------------------------------------------

    def build(self, info: ModelInfo, folder: Path | None, cut: Cut, **options: Any) -> Any:
        """The model cut at ``cut``, with the weights in ``folder`` (None: random weights)."""
        raise NotImplementedError

    def check_options(self, info: ModelInfo, options: dict[str, Any]) -> None:
        """Refuses load options this adapter does not take."""
        if options:
            raise InvalidOptionError(f"{', '.join(options)}= does not apply to {info.id} (a {self.name} model)")

    def keyed_vectors(self, info: ModelInfo, folder: Path | None) -> Any:
        """The version as :class:`zoo.vectors.KeyedVectors` (word-vector adapters; None folder: only check)."""
        raise InvalidOptionError(f"{info.id} is a {self.name} model, not word vectors; use zoo.load")

    # ---- export --------------------------------------------------------------

    def example_inputs(self, info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
        """Inputs for tracing and for measuring shapes (the modality's)."""
        return modality_of(info).example_inputs(info, batch, seq_len)

    def parity_inputs(self, info: ModelInfo, folder: Path | None, module: Any, batch: int) -> list[tuple[Any, ...]]:
        """Inputs the exporter runs through torch and ONNX Runtime: random ones plus natural ones (the modality's)."""
        config = getattr(getattr(module, "model", None), "config", None)
        return modality_of(info).parity_inputs(info, folder, int(getattr(config, "vocab_size", 100) or 100), batch)

    def export_graph(
        self, module: Any, info: ModelInfo, cut: Cut, path: Path, *, opset: int, batch: str | int, exporter: str
    ) -> tuple[str, int]:
        """Writes the raw ONNX graph of ``module`` to ``path``; returns (exporter used, opset)."""
        raise NotImplementedError

    def reference(self, info: ModelInfo, folder: Path | None, cut: Cut, module: Any) -> Any:
        """What the exported graph is compared with (default: the built module itself)."""
        return module

    def export_metadata(self, module: Any) -> dict[str, str]:
        """Extra ``zoo.*`` metadata (keys without the prefix) for the exported file."""
        return {}


# --------------------------------------------------------------------------
# Torch models
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silences the exporters' progress prints and tracer warnings (they are reported through our result)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OP = re.compile(r"(aten::[A-Za-z0-9_.]+|torch\.ops\.[A-Za-z0-9_.]+|prims::[A-Za-z0-9_.]+)")


def output_names(cut: Cut) -> list[str]:
    """ONNX output names: ``features`` for one stage, the stage names for several."""
    return list(cut.names) if cut.multi else ["features"]


class TorchAdapter(Adapter):
    """Export for adapters whose model is a ``torch.nn.Module``: ``torch.onnx.export``, dynamo then TorchScript."""

    def io_spec(self, info: ModelInfo, cut: Cut, batch: str | int) -> tuple[list[str], list[str], dict[str, dict[int, str]]]:
        """Input names, output names and dynamic axes of the exported graph (the modality's)."""
        return modality_of(info).io_spec(output_names(cut), batch)

    def export_graph(
        self, module: Any, info: ModelInfo, cut: Cut, path: Path, *, opset: int, batch: str | int, exporter: str
    ) -> tuple[str, int]:
        """Exports with dynamo, falling back to TorchScript; returns the exporter used."""
        args = self.example_inputs(info, batch=batch if isinstance(batch, int) else 2, seq_len=16)
        return export_torch(module, args, path, self.io_spec(info, cut, batch), label=f"{info.id} at {cut.label}",
                            opset=opset, exporter=exporter), opset


def export_torch(
    module: Any,
    args: tuple[Any, ...],
    path: Path,
    io: tuple[list[str], list[str], dict[str, dict[int, str]]],
    *,
    label: str,
    opset: int,
    exporter: str = "auto",
) -> str:
    """``torch.onnx.export`` with dynamo first, TorchScript second; returns the one that worked.

    Raises:
        ExportError: Both failed; names the unsupported ops when the exporters do.
    """
    import torch

    names, outputs, axes = io
    order = {"auto": ["dynamo", "torchscript"], "dynamo": ["dynamo"], "torchscript": ["torchscript"]}[exporter]
    failures = []
    for kind in order:
        for stale in (path, path.with_name(path.name + ".data")):
            stale.unlink(missing_ok=True)
        try:
            with _quiet():
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    input_names=names,
                    output_names=outputs,
                    dynamic_axes=axes or None,
                    opset_version=opset,
                    dynamo=kind == "dynamo",
                    verbose=False,
                )
            return kind
        except Exception as exc:  # noqa: BLE001 - every exporter failure is reported below
            failures.append((kind, exc))
    ops = sorted({op for _, exc in failures for op in _OP.findall(str(exc))})
    detail = "; ".join(f"{kind}: {_ANSI.sub('', str(exc)).strip().splitlines()[0][:300]}" for kind, exc in failures)
    what = f"unsupported op(s) {', '.join(ops)}" if ops else "the exporter failed"
    raise ExportError(
        f"{label}: cannot export at opset {opset}: {what} ({detail}). "
        "Try an earlier stage (--until) or another opset (--opset)."
    )


def measure_module(module: Any, inputs: Sequence[Any]) -> list[tuple[int, ...]]:
    """Output shapes (batch axis dropped) of a built module on ``inputs``."""
    import torch

    with torch.no_grad():
        out = module(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [tuple(int(d) for d in o.shape[1:]) for o in outs]


def stage_from_shape(name: str, shape: tuple[int, ...], info: ModelInfo, *, main: bool = True) -> Stage:
    """A stage from an output shape (batch dropped): channels and stride as the version's modality reads them.

    See :meth:`zoo.adapters._modality.Vision.stage` (feature maps, video maps,
    grids of tokens) and :meth:`~zoo.adapters._modality.Text.stage` (stride 1).
    """
    return modality_of(info).stage(name, shape, info, main=main)


def main_flags(stages: list[Stage]) -> list[Stage]:
    """Marks the last map at each resolution, and every token-sequence block, as main."""
    out = []
    for i, s in enumerate(stages):
        shape = s.shape or ()
        nxt = stages[i + 1] if i + 1 < len(stages) else None
        if len(shape) == 2 and shape[0] > 1:  # (tokens, channels): each block is a stage
            main = True
        elif len(shape) in (3, 4):
            main = nxt is None or len(nxt.shape or ()) != len(shape) or nxt.stride != s.stride
        else:
            main = False
        out.append(Stage(s.name, s.channels, s.stride, s.aliases, s.shape, main))
    return out
