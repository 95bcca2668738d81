"""Parity: a model's outputs in ONNX Runtime against its reference, over every parity input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.errors import ParityError

__all__ = ["Parity", "as_numpy", "measure_parity"]


@dataclass(frozen=True)
class Parity:
    """How ONNX Runtime's output compares with torch's, over every parity input.

    Attributes:
        max_abs: Largest absolute difference.
        max_rel: Largest difference relative to torch's magnitude
            (``|ort - torch| / |torch|`` over elements with ``|torch| > atol``).
        cosine: Lowest cosine similarity between the flattened outputs of one input.
        atol, rtol: The tolerances checked (``|ort - torch| <= atol + rtol * |torch|``).
        inputs: How many inputs were compared.
        ok: Whether every element was within tolerance.
    """

    max_abs: float
    max_rel: float
    cosine: float
    atol: float
    rtol: float
    inputs: int
    ok: bool


def as_numpy(out: Any) -> list[Any]:
    import numpy as np
    import torch

    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o.detach().cpu().numpy() if isinstance(o, torch.Tensor) else np.asarray(o) for o in outs]


def measure_parity(reference: Callable[..., Any], sess: Any, inputs: Sequence[tuple[Any, ...]], atol: float, rtol: float) -> Parity:
    """Runs every input through the reference and ONNX Runtime and compares every output."""
    import numpy as np
    import torch

    names = [i.name for i in sess.get_inputs()]
    max_abs = max_rel = 0.0
    cosine = 1.0
    ok = True
    for args in inputs:
        with torch.no_grad():
            expected_all = as_numpy(reference(*args))
        feeds = {n: (a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)) for n, a in zip(names, args)}
        actual_all = sess.run(None, feeds)
        if len(actual_all) != len(expected_all):
            raise ParityError(f"ONNX Runtime gives {len(actual_all)} outputs, the reference {len(expected_all)}")
        for actual, expected in zip(actual_all, expected_all):
            if actual.shape != expected.shape:
                raise ParityError(f"ONNX Runtime output shape {actual.shape} differs from the reference's {expected.shape}")
            a64, e64 = actual.astype(np.float64), expected.astype(np.float64)
            diff = np.abs(a64 - e64)
            max_abs = max(max_abs, float(diff.max(initial=0.0)))
            big = np.abs(e64) > atol
            if big.any():
                max_rel = max(max_rel, float((diff[big] / np.abs(e64[big])).max()))
            ok &= bool(np.allclose(a64, e64, atol=atol, rtol=rtol))
            denom = float(np.linalg.norm(a64) * np.linalg.norm(e64))
            cos = float((a64.ravel() @ e64.ravel()) / denom) if denom > 0 else (1.0 if not a64.any() and not e64.any() else 0.0)
            cosine = min(cosine, cos)
    return Parity(max_abs, max_rel, cosine, atol, rtol, len(inputs), ok)
