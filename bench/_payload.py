"""A registry of benchmark payloads: one model per file of random bytes the bench made (shared by the pull benches)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml


def payload_registry(
    path: Path, files: dict[str, tuple[int, str]], url: Callable[[str], str] = lambda name: f"https://origin.invalid/{name}/blob.bin"
) -> Path:
    """Writes a registry of one model per entry of ``files`` ({model: (size, sha256)}), one file ``blob.bin`` each.

    ``url(name)`` is the origin of a model's file; by default on ``.invalid`` (never resolves), so a pull
    that does not come from a mirror or the cache fails.
    """
    models = {}
    for name, (size, sha) in files.items():
        models[name] = {
            "task": "feature-extraction",
            "modality": "text",
            "architecture": "benchmark payload",
            "paper": {"title": "none", "url": "https://example.org/"},
            "default": "v1",
            "versions": {
                "v1": {
                    "adapter": "onnx",
                    "arch": "none",
                    "license": "none",
                    "files": [{"path": "blob.bin", "size": size, "sha256": sha, "source": {"url": url(name)}}],
                }
            },
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"schema_version": 1, "models": models}))
    return path
