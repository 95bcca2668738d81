"""ONNX Runtime sessions as zoo makes them: on the CPU, quiet, a set number of threads.

Layer 0 (it imports nothing of zoo, and onnxruntime only when called), so the
ONNX adapter, the exporter, the embedding runtime and the classifier share one
session maker without importing each other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ort_session"]


def ort_session(model_bytes: bytes | str, threads: int | None = None) -> Any:
    """A CPU ONNX Runtime session, quiet; ``threads`` intra-op threads (None: ONNX Runtime's default).

    Args:
        model_bytes: A serialized ModelProto, or the path of an ``.onnx`` file
            (which keeps external data beside it readable).
        threads: Intra-op threads.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
