"""Defaults of the export options, in a module light enough for the CLI to import at start-up.

``zoo.exporter`` and the ``zoo export`` command both read them from here, so the
library and the CLI cannot disagree.
"""

from __future__ import annotations

__all__ = ["EXPORT_OPSET", "EXPORT_ATOL", "EXPORT_RTOL", "EXPORTERS"]

EXPORT_OPSET = 18
EXPORT_ATOL = 1e-4  # parity: |ort - torch| <= atol + rtol * |torch|
EXPORT_RTOL = 1e-3
EXPORTERS = ("auto", "dynamo", "torchscript")  # auto: dynamo, then TorchScript
