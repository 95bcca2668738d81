"""What every torch adapter shares: safe weight loading, key checks, building without a second copy."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zoo.errors import WeightsError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["read_state_dict", "load_weights", "build_with_weights", "on_meta", "weights_file", "on_meta_device", "without_inplace"]

_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def weights_file(info: ModelInfo, folder: Path) -> Path:
    """The version's weights file: the first ``.safetensors``, else the first ``.pth``/``.bin``."""
    paths = [f.path for f in info.files]
    for suffix in _WEIGHT_SUFFIXES:
        for p in paths:
            if p.endswith(suffix):
                return folder / p
    raise WeightsError(f"{info.id}: none of its files is a weights file ({', '.join(paths)})")


def read_state_dict(path: Path, label: str) -> dict[str, torch.Tensor]:
    """Reads tensors from safetensors (memory-mapped) or a torch pickle, safely.

    Pickles are read with ``torch.load(weights_only=True)``: only tensors and
    plain containers are allowed, so a file that would run code is refused
    before anything in it runs.

    Raises:
        WeightsError: The file would run code, or holds no state dict.
    """
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc) and "zipfile" not in str(exc):
                raise
            # Files from the legacy (pre-zip) torch.save format cannot be memory-mapped.
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{label}: refused to load {path.name}: the pickle asks to run code or build objects "
            f"that are not tensors ({str(exc).splitlines()[0]}). zoo only loads weights with "
            "torch.load(weights_only=True); convert the file to safetensors if you trust it."
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{label}: {path.name} does not hold a state dict of tensors")
    return obj


def _listing(keys: list[str], n: int = 8) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], label: str, *, assign: bool) -> None:
    """Loads ``state`` into ``model`` with strict key matching.

    Raises:
        WeightsError: Keys are missing or unexpected, or shapes differ; names them.
    """
    try:
        result = model.load_state_dict(state, strict=False, assign=assign)
    except RuntimeError as exc:
        raise WeightsError(f"{label}: the weights do not fit the architecture: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        parts = []
        if result.missing_keys:
            parts.append(f"missing keys: {_listing(list(result.missing_keys))}")
        if result.unexpected_keys:
            parts.append(f"unexpected keys: {_listing(list(result.unexpected_keys))}")
        raise WeightsError(
            f"{label}: the weights do not match the architecture ({'; '.join(parts)}). "
            "Check the registry's arch/arch_args for this version."
        )


def on_meta(model: torch.nn.Module) -> bool:
    """True if any parameter or buffer is still on the meta device."""
    return any(t.is_meta for t in list(model.parameters()) + list(model.buffers()))


def build_with_weights(
    factory: Callable[[], torch.nn.Module], state: dict[str, torch.Tensor] | None, label: str
) -> torch.nn.Module:
    """Builds a module and fills it with ``state`` without a second copy of the weights.

    The module is built on the meta device (no memory, no random init) and the
    loaded tensors are assigned in place, so memory-mapped safetensors stay
    shared with the page cache. Modules with buffers the state dict does not
    carry are rebuilt on the CPU and loaded by copy instead.
    """
    if state is None:
        return factory()
    with torch.device("meta"):
        model = factory()
    load_weights(model, state, label, assign=True)
    if on_meta(model):
        model = factory()
        load_weights(model, state, label, assign=False)
    return model


def on_meta_device(factory: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Builds a module on the meta device (no memory, no init) to read its structure and shapes.

    Some builders compute values from tensors while constructing (torchvision's
    RegNet), which the meta device cannot do: those are built on the CPU.
    """
    try:
        with torch.device("meta"):
            return factory()
    except (NotImplementedError, RuntimeError):
        return factory()


def without_inplace(model: torch.nn.Module) -> torch.nn.Module:
    """Turns off in-place activations, so an earlier stage's output is not overwritten by a later layer.

    ``ReLU(inplace=True)`` after ``bn1`` rewrites ``bn1``'s output tensor: a
    model returning both would return the activated values twice. Values are
    unchanged; only a few buffers are no longer reused.
    """
    for module in model.modules():
        if isinstance(getattr(module, "inplace", None), bool):
            module.inplace = False
    return model
