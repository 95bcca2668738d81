"""gensim-data: every word-vector model of ``gensim-data/list.json``, pinned by its md5 + size.

Each model is one gzipped file (``parts: 1``) in word2vec text or binary
format, read by zoo's own parsers (``arch: auto`` detects which from the
bytes). Refused, and counted: models split into several parts (zoo's source
is one file per entry; none in the list today), pickled ``.model`` files (zoo
never unpickles), and the test fixtures (``__testing_*``, no size). Corpora
are not models: not read at all.

Naming: the model is the gensim name (``glove-twitter-25``), the version
``gensim``. The parameter count is the publisher's ``num_records`` times its
``dimension``.
"""

from __future__ import annotations

import json
from typing import Any

from zoo.registry.generate._common import Context, SourceOutput, clean_text, https

__all__ = ["collect"]

COMMIT = "bd93f51f7536dbf84f194cd8a81c0644b7b95b41"
RELEASES = "https://github.com/RaRe-Technologies/gensim-data/releases/download"
# The first word of a gensim name -> the method that made the vectors.
_ARCHITECTURES = {
    "glove": "GloVe",
    "word2vec": "word2vec",
    "fasttext": "fastText",
    "conceptnet": "ConceptNet Numberbatch",
}


def collect(ctx: Context) -> SourceOutput:
    """Reads gensim-data's list.json."""
    out = SourceOutput("gensim")
    data = json.loads((ctx.manifests / "gensim-data" / "list.json").read_text(encoding="utf-8"))
    out.header = [
        f"gensim-data: RaRe-Technologies/gensim-data @ {COMMIT}, list.json: file name, file_size, md5 checksum, parts.",
        "md5 is all gensim-data publishes (weak): the first pull checks it and records the file's sha256.",
    ]
    out.skipped["a corpus, not a model (gensim-data 'corpora')"] += len(data.get("corpora", {}))
    for name, entry in sorted(data["models"].items()):
        _one(ctx, out, name, entry)
    return out


def _one(ctx: Context, out: SourceOutput, name: str, entry: dict[str, Any]) -> None:
    if name.startswith("__testing"):
        out.skipped["a test fixture of gensim-data (no size, not a published model)"] += 1
        return
    file_name = entry.get("file_name", "")
    if int(entry.get("parts", 1)) != 1:
        out.skipped["split into several parts: zoo pins one file per entry"] += 1
        return
    if file_name.endswith(".model") or ".model." in file_name:
        out.skipped["a pickled gensim .model file: zoo never unpickles"] += 1
        return
    size, md5 = entry.get("file_size"), entry.get("checksum")
    if not isinstance(size, int) or size <= 0 or not isinstance(md5, str):
        out.skipped["no size or md5 in list.json"] += 1
        return
    dimension = (entry.get("parameters") or {}).get("dimension")
    license_ = entry.get("license") or "unknown"
    if license_ == "not found":
        license_ = "not stated by the publisher (gensim-data lists it as 'not found')"
    version: dict[str, Any] = {
        "adapter": "word-vectors",
        "arch": "auto",
        "license": https(license_) or license_,
        "dataset": entry.get("base_dataset"),
    }
    if isinstance(dimension, int) and isinstance(entry.get("num_records"), int):
        version["params"] = entry["num_records"] * dimension
    version["files"] = [
        {"path": file_name, "size": size, "hash": {"md5": md5}, "source": {"url": f"{RELEASES}/{name}/{file_name}"}}
    ]
    version = {k: v for k, v in version.items() if v is not None}
    architecture = _ARCHITECTURES.get(name.split("-", 1)[0], name)
    model: dict[str, Any] = {"task": "word-embedding", "modality": "text", "architecture": architecture}
    reading = next((u for u in (https(x) for x in entry.get("read_more", ())) if u), None)
    description = " ".join(p for p in (clean_text(entry.get("description")), f"More: {reading}" if reading else None) if p)
    if description:
        model["description"] = description
    model["default"] = "gensim"
    out.add(ctx.model_name(name), model, "gensim", version, origin=name)
