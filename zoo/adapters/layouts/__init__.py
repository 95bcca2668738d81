"""Third-party checkpoint layouts: rename a state dict into the target architecture's keys.

Some real weights are published in another project's key layout (lukemelas'
EfficientNet-PyTorch names ``_blocks.3._depthwise_conv.weight`` what timm
names ``blocks.1.1.conv_dw.weight``). A registry version says so with
``weights_layout: <name>``; the adapter reads the file, calls :func:`convert`
with the architecture it built (on the meta device is enough: only key names,
block structure and shapes are read), and loads the result with strict key
matching.

Design: one small module per layout, named like the layout (``-`` as ``_``),
whose mapping is data (rename tables) plus at most one structural rule, and
which exposes ``convert(state, target, label)``. The layout names are the
``weights_layouts`` of the adapters converting them in :mod:`zoo._plugins`
(:data:`zoo._plugins.WEIGHTS_LAYOUTS`; the schema validates registry values
against them and sits below the adapters); :data:`LAYOUTS` is derived from
that table, so a new layout is one name there plus one module here.

Every converter raises :class:`~zoo.errors.WeightsError` naming the keys it
cannot map, keys that map to nothing in the target, and shape mismatches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from zoo._plugins import WEIGHTS_LAYOUTS
from zoo.errors import WeightsError

if TYPE_CHECKING:
    import torch

__all__ = ["LAYOUTS", "convert"]

# Layout name -> "module:function" that converts it.
LAYOUTS: dict[str, str] = {name: f"{__name__}.{name.replace('-', '_')}:convert" for name in WEIGHTS_LAYOUTS}


def convert(
    layout: str, state: dict[str, torch.Tensor], target: torch.nn.Module, label: str
) -> dict[str, torch.Tensor]:
    """Returns ``state`` renamed into ``target``'s key layout (tensors are not copied).

    Args:
        layout: A name from :data:`LAYOUTS` (the registry's ``weights_layout``).
        state: The checkpoint's state dict, in that layout.
        target: The architecture to load into (meta-device parameters are fine).
        label: Names the model in error messages (``name@version``).

    Raises:
        WeightsError: Unknown layout, or keys that cannot be mapped, map to
            nothing in ``target``, or have another shape there; names them.
    """
    spec = LAYOUTS.get(layout)
    if spec is None:
        raise WeightsError(f"{label}: unknown weights layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)(state, target, label)
