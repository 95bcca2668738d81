"""The accuracy gate of int8 and fp16 exports: features against the float32 torch reference, on held-back inputs.

Inputs come from the user's dataset (``calibrate=``: an image folder or a text
file, read as ``zoo embed`` reads it; even items calibrate, odd items are held
back for the gate) or, without one, are made here: natural-looking images
(:func:`zoo.adapters._inputs.natural_image`, varied) or real sentences through
the model's tokenizer. Per input the flattened features of the variant and the
reference are compared by cosine similarity; the gate reports the mean and the
worst, the largest relative error, and for classifiers the top-1 agreement.
Held-back sentences are run one at a time (no padding); images in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from zoo.errors import DatasetError

__all__ = ["Gate", "measure_gate", "gate_inputs"]

_MAX_ITEMS = 128  # items read from a calibration dataset (half calibrate, half gate)
_BATCH = 8

# Held-back sentences when the user gives none: varied topics, lengths and punctuation (half calibrate, half gate).
GATE_SENTENCES = (
    "A man is playing a guitar on the street.",
    "The quick brown fox jumps over the lazy dog.",
    "Pretrained backbones make transfer learning cheap.",
    "The central bank raised interest rates by a quarter of a point on Tuesday.",
    "Heavy rain is expected across the north of the country this weekend.",
    "She scored twice in the second half and her team won the cup.",
    "Preheat the oven to 200 degrees and bake the bread for forty minutes.",
    "The new phone has a larger battery, but the camera is no better.",
    "Researchers found that the drug lowered blood pressure in most patients.",
    "Can you tell me how to get to the railway station from here?",
    "Our flight was delayed for three hours because of fog in Frankfurt.",
    "The museum reopens in May with an exhibition of early photographs.",
    "Stocks fell sharply after the company cut its forecast for the year.",
    "He planted tomatoes, beans and a row of sunflowers along the fence.",
    "Please restart the router and check whether the light turns green.",
    "The orchestra played Beethoven's seventh symphony to a full hall.",
    "Volcanic ash closed the airport for the second time this month.",
    "I think the sequel is even funnier than the first film.",
    "The committee will publish its report on school funding next week.",
    "Add a pinch of salt, stir well, and let the soup simmer.",
    "Two astronauts repaired the solar panel during a six-hour spacewalk.",
    "The striker was injured in training and will miss the final.",
    "Why does the sky look blue during the day and red at sunset?",
    "Hotel prices in the city doubled during the music festival.",
    "The software update fixes a bug that drained the battery overnight.",
    "Farmers are worried that the dry summer will ruin the harvest.",
    "The children built a sandcastle and watched the tide wash it away.",
    "Inflation slowed for the third month in a row, official figures show.",
    "This recipe needs ripe bananas, flour, eggs and a little butter.",
    "The bridge will be closed to traffic while engineers inspect it.",
    "A rare bird was spotted in the park, drawing crowds of photographers.",
    "Machine translation has improved, but idioms still trip it up.",
)


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


def _batches(arrays: list[Any], size: int) -> list[tuple[Any, ...]]:
    import numpy as np

    return [(np.stack(arrays[i : i + size]).astype(np.float32),) for i in range(0, len(arrays), size)]


def _images_from(info: Any, source: str) -> list[Any]:
    from zoo.adapters._inputs import preprocess_for
    from zoo.datasets import load_image, read_dataset

    dataset = read_dataset(source)
    if dataset.kind != "image":
        raise DatasetError(f"{source}: {info.id} is an image model; give an image folder to calibrate it", path=source)
    transform, arrays = preprocess_for(info), []
    for item in dataset.items[:_MAX_ITEMS]:
        try:
            arrays.append(transform.array(load_image(item)))
        except DatasetError:
            continue  # an unreadable image only costs that item
    return arrays


def _generated_images(info: Any, count: int = 32) -> list[Any]:
    import numpy as np

    from zoo.adapters._inputs import natural_image, preprocess_for

    transform, rng = preprocess_for(info), np.random.default_rng(0)
    arrays = []
    for seed in range(count):
        image = natural_image((int(rng.integers(200, 320)), int(rng.integers(240, 400))), seed=seed)
        if seed % 2:
            image = image[:, ::-1].copy()
        arrays.append(transform.array(image))
    return arrays


def _texts(info: Any, texts: list[str], tokenizer: Any, size: int) -> list[tuple[Any, ...]]:
    max_length = info.input.max_length if info.input is not None and info.input.max_length else tokenizer.model_max_length
    out = []
    for i in range(0, len(texts), size):
        batch = tokenizer(texts[i : i + size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        out.append((batch["input_ids"], batch["attention_mask"]))
    return out


def gate_inputs(
    info: Any, calibrate: str | None, tokenizer: Callable[[], Any] | None, text_field: str | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
    """(calibration batches, held-back batches, source) for one model version.

    Args:
        calibrate: A dataset path or URL, or None for generated inputs.
        tokenizer: Returns the model's tokenizer (text models).

    Raises:
        DatasetError: The dataset does not fit the model or holds too few usable items.
    """
    if info.modality == "text":
        if tokenizer is None:
            raise DatasetError(f"{info.id} has no tokenizer files pinned; int8 and fp16 gates need real sentences")
        if calibrate is not None:
            from zoo.datasets import read_dataset

            dataset = read_dataset(calibrate, text_field=text_field)
            if dataset.kind != "text":
                raise DatasetError(f"{calibrate}: {info.id} is a text model; give a text file to calibrate it", path=calibrate)
            texts, source = [str(item.text) for item in dataset.items[:_MAX_ITEMS]], "data"
        else:
            texts, source = list(GATE_SENTENCES), "generated"
        tok = tokenizer()
        if len(texts) < 4:
            raise DatasetError(f"{calibrate}: {len(texts)} texts; calibration needs at least 4", path=calibrate)
        # Held-back sentences go one at a time: padded positions are no features to compare, and dynamic
        # int8 would take its scales from the padding too (measured: MiniLM@encoder.layer.5 mean cosine
        # 0.984 in padded batches of 8, max rel error 1 at padded positions).
        return _texts(info, texts[0::2], tok, _BATCH), _texts(info, texts[1::2], tok, 1), source
    arrays, source = (_images_from(info, calibrate), "data") if calibrate is not None else (_generated_images(info), "generated")
    if len(arrays) < 4:
        raise DatasetError(f"{calibrate}: {len(arrays)} readable images; calibration needs at least 4", path=calibrate)
    calibration = arrays[0::2]
    # Equal batches: ORT's histogram calibrators (Percentile) fail on a shorter last batch.
    size = max(d for d in range(1, _BATCH + 1) if len(calibration) % d == 0)
    return _batches(calibration, size), _batches(arrays[1::2], _BATCH), source


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
