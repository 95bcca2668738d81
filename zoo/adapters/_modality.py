"""What differs between image and text models, decided once per version.

A version's ``modality:`` (``vision`` or ``text``) is turned into one
:class:`Modality` object by :func:`modality_of`; every caller asks that object
instead of comparing the string. Each object supplies what its models need:

=======================  ===================================================
``example_inputs``       zero inputs for tracing and measuring shapes
``parity_inputs``        what the exporter compares torch and ORT on
``transform``            a session's image transform (None for texts)
``io_spec``              input names and dynamic axes of an exported graph
``stage``                a stage from a measured output shape (stride rule)
``default_pool``         the pooling when none is asked for
``int8_recipe``          how int8 quantization is done (``zoo.variant``)
``gate_inputs``          calibration and held-back inputs of the int8/fp16 gate
``dataset_kind``         the :mod:`zoo.datasets` kind it embeds, and the
                         check that a dataset is of that kind
``tokens``               inputs are token ids of varying length (texts:
                         tokenizer, attention mask, prompts, batches by length)
=======================  ===================================================

Word vectors are text models (``modality: text``) with their own adapter:
they pool, read datasets and are gated as texts, and their adapter answers
the rest itself (one ``input_ids`` input, no mask, parity inputs from the
vocabulary), so they need no object of their own.

This module is light (the standard library at import): the site, the
exporter and the transfer package use it, and heavy work is imported inside
the methods that need it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo._stages import Stage, power_of_two_stride
from zoo.errors import DatasetError, InvalidOptionError

if TYPE_CHECKING:
    from zoo.datasets import Dataset
    from zoo.registry import ModelInfo

__all__ = ["Modality", "Vision", "Text", "VISION", "TEXT", "MODALITIES", "modality_of", "modality_named"]

_MAX_ITEMS = 128  # items read from a calibration dataset (half calibrate, half gate)
_BATCH = 8

IO = tuple[list[str], list[str], dict[str, dict[int, str]]]


class Modality:
    """The contract of a modality (see the module docstring).

    Attributes:
        name: The registry value (``vision``, ``text``).
        dataset_kind: The :class:`zoo.datasets.Dataset` kind its models embed (``image``, ``text``).
        dataset_hint: What to give instead, for messages.
        default_pool: The pooling of ``zoo embed`` when none is asked for.
        tokens: Inputs are token ids of varying length with an attention mask.
        sample_data: The data shown in a catalogue card's ``zoo embed`` command.
    """

    name: str = ""
    dataset_kind: str = ""
    dataset_hint: str = ""
    default_pool: str = ""
    tokens: bool = False
    sample_data: str = ""

    def __repr__(self) -> str:
        return f"<modality {self.name}>"

    def example_inputs(self, info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
        """Zero inputs for tracing and for measuring shapes (torch tensors)."""
        raise NotImplementedError

    def parity_inputs(self, info: ModelInfo, folder: Path | None, vocab: int, batch: int) -> list[tuple[Any, ...]]:
        """Inputs the exporter runs through torch and ONNX Runtime: random ones plus natural ones."""
        raise NotImplementedError

    def io_spec(self, outputs: list[str], batch: str | int) -> IO:
        """Input names, output names and dynamic axes of a graph with ``outputs``."""
        raise NotImplementedError

    def transform(self, info: ModelInfo) -> Callable[[Any], Any] | None:
        """The input transform of a session (images: :func:`zoo.preprocess`); None when a tokenizer does the job."""
        return None

    def mask_input(self, names: Sequence[str]) -> str | None:
        """Which of a graph's inputs (``names``) is the attention mask; None for none."""
        return "attention_mask" if "attention_mask" in names else None

    def stage(self, name: str, shape: tuple[int, ...], info: ModelInfo, *, main: bool = True) -> Stage:
        """A stage from an output shape (batch axis dropped): its channels and stride."""
        raise NotImplementedError

    def int8_recipe(self, calibrate: bool) -> tuple[str, dict[str, Any]]:
        """The int8 mode (``int8-dynamic``, ``int8-static``) and its settings, as ``zoo.variant`` records them."""
        raise NotImplementedError

    def gate_inputs(
        self, info: ModelInfo, calibrate: str | None, tokenizer: Callable[[], Any] | None, text_field: str | None = None
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
        """(calibration batches, held-back batches, source) for the int8/fp16 gate.

        Args:
            calibrate: A dataset path or URL, or None for generated inputs.
            tokenizer: Returns the model's tokenizer (text models).
            text_field: For text datasets, the field holding the text.

        Raises:
            DatasetError: The dataset does not fit the model or holds too few usable items.
        """
        raise NotImplementedError

    def check_dataset(self, info: ModelInfo, dataset: Dataset) -> None:
        """Raises DatasetError when the dataset is not of this modality's kind, or is empty."""
        if dataset.kind != self.dataset_kind:
            raise DatasetError(
                f"{dataset.root}: {info.id} is a {info.modality} model but this is a{'n' if dataset.kind == 'image' else ''} "
                f"{dataset.kind} dataset; give {self.dataset_hint}",
                path=dataset.root,
            )
        if not dataset.items:
            raise DatasetError(f"{dataset.root}: the dataset has no items", path=dataset.root)


class Vision(Modality):
    """Images: one ``image`` input of the registry's shape, NCHW feature maps, static int8 calibrated on images."""

    name = "vision"
    dataset_kind = "image"
    dataset_hint = "an image folder"
    default_pool = "avg"
    sample_data = "photos/"

    def example_inputs(self, info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
        from zoo.adapters._inputs import image_example

        return image_example(info, batch)

    def parity_inputs(self, info: ModelInfo, folder: Path | None, vocab: int, batch: int) -> list[tuple[Any, ...]]:
        from zoo.adapters._inputs import vision_inputs

        return vision_inputs(info, batch)

    def transform(self, info: ModelInfo) -> Callable[[Any], Any] | None:
        from zoo.adapters._inputs import preprocess_for

        return preprocess_for(info)

    def io_spec(self, outputs: list[str], batch: str | int) -> IO:
        names = ["image"]
        axes = {n: {0: "batch"} for n in names + outputs} if batch == "dynamic" else {}
        return names, outputs, axes

    def stage(self, name: str, shape: tuple[int, ...], info: ModelInfo, *, main: bool = True) -> Stage:
        """(C, H, W) maps are NCHW unless the last axis is clearly the channels.

        (NHWC, as torchvision's Swin gives: H == W != C with a square input);
        (C, T, H, W) is a video map; (T, C) token sequences have the stride of
        a square grid of tokens. The stride compares output and input heights
        (the input's second-to-last axis).
        """
        size = int(info.input.shape[-2] if info.input is not None and info.input.shape else 224)
        if len(shape) == 3:
            c, h, w = shape
            if h != w and shape[0] == shape[1]:  # (H, W, C)
                h, c = shape[0], shape[2]
            return Stage(name, int(c), power_of_two_stride(size, int(h)), (), shape, main)
        if len(shape) == 4:  # (C, T, H, W)
            return Stage(name, int(shape[0]), power_of_two_stride(size, int(shape[2])), (), shape, main)
        if len(shape) == 2:
            tokens, c = shape
            grid = int(tokens**0.5)
            return Stage(name, int(c), power_of_two_stride(size, grid) if grid > 0 else size, (), shape, main)
        return Stage(name, int(shape[-1]) if shape else 1, size, (), shape, main)

    def int8_recipe(self, calibrate: bool) -> tuple[str, dict[str, Any]]:
        return "int8-static", {
            "format": "QDQ", "weight_type": "QInt8", "activation_type": "QUInt8", "per_channel": True,
            "calibrate_method": "Percentile",
            "calibration": "user data" if calibrate else "generated natural-looking images",
            "tool": "onnxruntime.quantization.quantize_static",
        }

    def gate_inputs(
        self, info: ModelInfo, calibrate: str | None, tokenizer: Callable[[], Any] | None, text_field: str | None = None
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
        from zoo.adapters._inputs import generated_images, image_batches

        if calibrate is not None:
            arrays, source = self._images_from(info, calibrate), "data"
        else:
            arrays, source = generated_images(info), "generated"
        if len(arrays) < 4:
            raise DatasetError(f"{calibrate}: {len(arrays)} readable images; calibration needs at least 4", path=calibrate)
        calibration = arrays[0::2]
        # Equal batches: ORT's histogram calibrators (Percentile) fail on a shorter last batch.
        size = max(d for d in range(1, _BATCH + 1) if len(calibration) % d == 0)
        return image_batches(calibration, size), image_batches(arrays[1::2], _BATCH), source

    def _images_from(self, info: ModelInfo, source: str) -> list[Any]:
        from zoo.adapters._inputs import preprocess_for
        from zoo.datasets import load_image, read_dataset

        dataset = read_dataset(source)
        if dataset.kind != self.dataset_kind:
            raise DatasetError(f"{source}: {info.id} is an image model; give an image folder to calibrate it", path=source)
        transform, arrays = preprocess_for(info), []
        for item in dataset.items[:_MAX_ITEMS]:
            try:
                arrays.append(transform.array(load_image(item)))
            except DatasetError:
                continue  # an unreadable image only costs that item
        return arrays


class Text(Modality):
    """Texts: ``input_ids`` + ``attention_mask`` of varying length, token outputs, dynamic int8."""

    name = "text"
    dataset_kind = "text"
    dataset_hint = "a text file (.csv, .jsonl, .txt, .parquet)"
    default_pool = "mean"
    tokens = True
    sample_data = "sentences.txt"

    def example_inputs(self, info: ModelInfo, batch: int = 1, seq_len: int = 16) -> tuple[Any, ...]:
        import torch

        ids = torch.ones(batch, seq_len, dtype=torch.long)
        return ids, torch.ones(batch, seq_len, dtype=torch.long)

    def parity_inputs(self, info: ModelInfo, folder: Path | None, vocab: int, batch: int) -> list[tuple[Any, ...]]:
        from zoo.adapters._inputs import text_inputs

        return text_inputs(info, folder, vocab)

    def io_spec(self, outputs: list[str], batch: str | int) -> IO:
        names = ["input_ids", "attention_mask"]
        axes = {n: {1: "sequence", **({0: "batch"} if batch == "dynamic" else {})} for n in names + outputs}
        return names, outputs, axes

    def mask_input(self, names: Sequence[str]) -> str | None:
        """``attention_mask``, else the second input (graphs that name it otherwise)."""
        found = super().mask_input(names)
        return found if found is not None else (names[1] if len(names) > 1 else None)

    def stage(self, name: str, shape: tuple[int, ...], info: ModelInfo, *, main: bool = True) -> Stage:
        """Token outputs: the last axis is the width, the stride is 1."""
        return Stage(name, int(shape[-1]), 1, (), shape, main)

    def int8_recipe(self, calibrate: bool) -> tuple[str, dict[str, Any]]:
        return "int8-dynamic", {
            "weight_type": "QInt8", "per_channel": True, "op_types": ["MatMul", "Gather"],
            "tool": "onnxruntime.quantization.quantize_dynamic",
        }

    def gate_inputs(
        self, info: ModelInfo, calibrate: str | None, tokenizer: Callable[[], Any] | None, text_field: str | None = None
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
        from zoo.adapters._inputs import GATE_SENTENCES, tokenized

        if tokenizer is None:
            raise DatasetError(f"{info.id} has no tokenizer files pinned; int8 and fp16 gates need real sentences")
        if calibrate is not None:
            from zoo.datasets import read_dataset

            dataset = read_dataset(calibrate, text_field=text_field)
            if dataset.kind != self.dataset_kind:
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
        return tokenized(info, texts[0::2], tok, _BATCH), tokenized(info, texts[1::2], tok, 1), source


VISION = Vision()
TEXT = Text()
MODALITIES: dict[str, Modality] = {m.name: m for m in (VISION, TEXT)}


def modality_named(name: str) -> Modality:
    """The modality object for a registry value (``vision``, ``text``).

    Raises:
        InvalidOptionError: No such modality.
    """
    try:
        return MODALITIES[name]
    except KeyError:
        raise InvalidOptionError(f"unknown modality {name!r}; use one of {', '.join(MODALITIES)}") from None


def modality_of(info: ModelInfo) -> Modality:
    """The modality object of a version (its registry ``modality:``)."""
    return modality_named(info.modality)
