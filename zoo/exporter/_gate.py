"""The accuracy gate of int8 and fp16 exports: features against the float32 torch reference, on held-back inputs.

Inputs come from the model's modality
(:meth:`zoo.adapters._modality.Modality.gate_inputs`): from the user's dataset
(``calibrate=``: an image folder or a text file, read as ``zoo embed`` reads
it; even items calibrate, odd items are held back for the gate) or, without
one, natural-looking images (:func:`zoo.adapters._inputs.natural_image`,
varied) or real sentences through the model's tokenizer. Per input the flattened features of the variant and the
reference are compared by cosine similarity; the gate reports the mean and the
worst, the largest relative error, and for classifiers the top-1 agreement.
Held-back sentences are run one at a time (no padding); images in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Gate", "measure_gate"]


@dataclass(frozen=True)
class Gate:
    """How a quantized or fp16 variant compares with the float32 reference.

    Attributes:
        mean_cosine, worst_cosine: Cosine similarity of each held-back input's features.
        max_rel: Largest ``|variant - reference| / max|reference|`` over an input's features.
        agreement: Top-1 agreement (classifiers; None otherwise).
        inputs: Held-back inputs compared.
        min_cosine, min_agreement: The bounds checked.
        source: Where the inputs came from (``data`` or ``generated``).
        ok: Whether the bounds hold.
        reference: What the variant was compared with: the float32 torch model,
            or for a transfer classifier the float32 classifier file (itself
            checked against torch + the head).
    """

    mean_cosine: float
    worst_cosine: float
    max_rel: float
    agreement: float | None
    inputs: int
    min_cosine: float
    min_agreement: float
    source: str
    ok: bool
    reference: str = "float32 torch"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        agree = f", top-1 agreement {self.agreement:.1%} (bound {self.min_agreement:.1%})" if self.agreement is not None else ""
        return (
            f"mean cosine {self.mean_cosine:.5f} (bound {self.min_cosine}), worst {self.worst_cosine:.5f}, "
            f"max rel error {self.max_rel:.3g}{agree} over {self.inputs} {self.source} inputs"
        )


def measure_gate(
    reference: Callable[..., Any], session: Any, inputs: Sequence[tuple[Any, ...]], *,
    classifier: bool, min_cosine: float, min_agreement: float, source: str, reference_name: str = "float32 torch",
) -> Gate:
    """Runs the held-back inputs through the reference and the variant's session; compares per input."""
    import numpy as np
    import torch

    from zoo.exporter._parity import as_numpy

    names = [i.name for i in session.get_inputs()]
    cosines: list[float] = []
    max_rel = 0.0
    agree = total = 0
    for args in inputs:
        args = tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args)
        with torch.no_grad():
            expected_all = as_numpy(reference(*args))
        feeds = {n: (a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)) for n, a in zip(names, args)}
        actual_all = session.run(None, feeds)
        for actual, expected in zip(actual_all, expected_all):
            a = actual.astype(np.float64).reshape(actual.shape[0], -1)
            e = expected.astype(np.float64).reshape(expected.shape[0], -1)
            for row_a, row_e in zip(a, e):
                denom = float(np.linalg.norm(row_a) * np.linalg.norm(row_e))
                cosines.append(float(row_a @ row_e / denom) if denom > 0 else float(not row_a.any() and not row_e.any()))
                scale = float(np.abs(row_e).max(initial=0.0))
                if scale > 0:
                    max_rel = max(max_rel, float(np.abs(row_a - row_e).max() / scale))
            if classifier:
                agree += int((a.argmax(axis=1) == e.argmax(axis=1)).sum())
                total += a.shape[0]
    mean, worst = float(np.mean(cosines)), float(np.min(cosines))
    agreement = agree / total if classifier and total else None
    ok = mean >= min_cosine and (agreement is None or agreement >= min_agreement)
    return Gate(mean, worst, max_rel, agreement, len(cosines), min_cosine, min_agreement, source, ok, reference_name)
