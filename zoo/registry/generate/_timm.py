"""timm: every pretrained tag of the installed timm, with the published ImageNet results and benchmarks.

Read from the installed timm (``timm.list_pretrained()``,
``timm.models.get_pretrained_cfg(tag)``): the Hub repo, input size, mean/std,
interpolation, crop_pct, license, paper, notes. Joined with
``timm/results-imagenet.csv`` (top-1/top-5 at each test size) and the two
``benchmark-infer-*.csv`` tables (GMACs; samples/s, hardware named) at the
pinned pytorch-image-models commit. Parameter counts are measured: each tag's
architecture is built on the meta device (no weights, no init; the results
CSV's ``param_count`` is rounded to 10k).

Naming: the model is the timm architecture (``resnet50``), the version is the
tag (``a1_in1k``), and ``resnet50.a1_in1k`` is its publisher id. Files are the
Hub's ``model.safetensors`` in ``timm/<arch>.<tag>``, named without a commit
or hash (the ``hub`` tier: the first pull pins both).
"""

from __future__ import annotations

import csv
import multiprocessing
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from zoo.registry.generate._common import (
    TIMM_RESULTS,
    Context,
    SourceOutput,
    arxiv_url,
    clean_text,
    meta_building,
)

__all__ = ["collect"]

# The two benchmark tables and the machines they name (file name -> hardware, from ../shared/manifests/README.md).
BENCHMARKS = {
    "benchmark-infer-amp-nchw-pt291-cu128-4090.csv": "NVIDIA RTX 4090, AMP, NCHW, torch 2.9.1, CUDA 12.8",
    "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv": "Intel Core i7-12700H CPU, fp32, NCHW, torch 2.4.0, torch.compile (dynamo)",
}
RESULTS = "results-imagenet.csv"
# Heads whose outputs are an image embedding (a CLIP-style projection), not class scores.
_EMBEDDING_WIDTHS = {384, 512, 640, 768, 1024, 1152, 1280}


def _task(arch: str, tag: str, num_classes: int) -> str:
    if num_classes == 0:
        return "feature-extraction"  # no head: pooled features
    if num_classes in _EMBEDDING_WIDTHS and ("clip" in f"{arch}.{tag}" or arch.startswith("vit_pe_core")):
        return "image-embedding"  # an image tower's projection (CLIP, SigLIP-like, Perception Encoder)
    return "image-classification"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _number(text: str) -> float:
    return float(text)


def _measure_chunk(tags: list[str]) -> list[tuple[str, int, str]]:
    import warnings

    import timm

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in tags:
            with meta_building():
                model = timm.create_model(tag, pretrained=False)
            out.append((tag, sum(p.numel() for p in model.parameters()), type(model).__name__))
    return out


def measure(tags: list[str]) -> dict[str, tuple[int, str]]:
    """Parameter count and model class of each ``arch.tag``, built on the meta device (in parallel processes)."""
    workers = max(1, min(len(tags) // 50, os.cpu_count() or 1))
    if workers == 1:
        return {t: (n, c) for t, n, c in _measure_chunk(tags)}
    chunks = [tags[i::workers] for i in range(workers)]
    # fork: the children inherit the imported timm (an import costs seconds) and build nothing shared.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_measure_chunk, chunks)
    return {t: (n, c) for chunk in results for t, n, c in chunk}


def collect(ctx: Context) -> SourceOutput:
    """Reads timm's pretrained tags and the results/benchmark tables."""
    import timm

    out = SourceOutput("timm")
    folder = ctx.manifests / "timm"
    results: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _read_csv(folder / RESULTS):
        results[row["model"]].append(row)
    bench: dict[str, dict[tuple[str, int], dict[str, str]]] = {}
    for name in BENCHMARKS:
        table: dict[tuple[str, int], dict[str, str]] = {}
        for row in _read_csv(folder / name):
            table.setdefault((row["model"], int(row["infer_img_size"])), row)
        bench[name] = table
    out.header = [
        f"timm {timm.__version__}: timm.list_pretrained() and timm.models.get_pretrained_cfg(tag).",
        f"Metrics: huggingface/pytorch-image-models @ {TIMM_RESULTS.split('/blob/')[1].split('/')[0]},",
        f"  results/{RESULTS} (top-1/top-5) and results/{', results/'.join(BENCHMARKS)}.",
        "Parameter counts: each architecture built on the meta device and its parameters counted.",
    ]

    cfgs = {}
    for tag in timm.list_pretrained():
        cfg = timm.models.get_pretrained_cfg(tag)
        if not cfg.hf_hub_id:
            out.skipped["no Hugging Face Hub copy: only a URL with no published hash"] += 1
            continue
        if not cfg.hf_hub_id.startswith("timm/"):
            out.skipped["weights outside the Hub's timm org: file name and key layout not known offline"] += 1
            continue
        cfgs[tag] = cfg
    measured = measure(list(cfgs))
    defaults = {}
    for tag, cfg in cfgs.items():
        arch = cfg.architecture
        if arch not in defaults:
            default_tag = timm.models.get_pretrained_cfg(arch).tag
            defaults[arch] = default_tag if f"{arch}.{default_tag}" in cfgs else cfg.tag
    for tag, cfg in cfgs.items():
        arch, name = cfg.architecture, cfg.tag
        params, cls = measured[tag]
        task = _task(arch, name, cfg.num_classes)
        version: dict[str, Any] = {"adapter": "timm", "arch": tag, "license": cfg.license or "unknown"}
        notes = [n for n in (cfg.notes or ()) if n]
        if cfg.paper_ids and not (cfg.paper_name and arxiv_url(cfg.paper_ids)):
            notes.append(f"Paper: {cfg.paper_ids}.")
        if cfg.origin_url:
            notes.append(f"Origin: {cfg.origin_url}")
        description = clean_text(" ".join(n if n.endswith(".") or n.startswith("Origin") else f"{n}." for n in notes))
        if description:
            version["description"] = description
        if cfg.paper_name and arxiv_url(cfg.paper_ids):
            version["paper"] = {"title": cfg.paper_name, "url": arxiv_url(cfg.paper_ids)}
        version["params"] = params
        version["metrics"] = _metrics(tag, cfg, results, bench)
        if not version["metrics"]:
            del version["metrics"]
        spec: dict[str, Any] = {
            "shape": list(cfg.input_size),
            "mean": [float(x) for x in cfg.mean],
            "std": [float(x) for x in cfg.std],
            "interpolation": cfg.interpolation,
        }
        if cfg.crop_pct:
            spec["crop_pct"] = float(cfg.crop_pct)
        version["input"] = spec
        version["files"] = [{"path": "model.safetensors", "source": {"hf": cfg.hf_hub_id, "file": "model.safetensors"}}]
        version["ids"] = [tag]
        version["task"] = task
        model_name = ctx.model_name(arch)
        model = {"task": task, "modality": "vision", "architecture": cls, "default": defaults[arch]}
        out.add(model_name, model, name, version, origin=arch)
    for model in out.models.values():
        default_task = model["versions"][model["default"]]["task"]
        model["task"] = default_task
        for v in model["versions"].values():
            if v["task"] == default_task:
                del v["task"]
    return out


def _metrics(tag: str, cfg: Any, results: dict[str, list[dict[str, str]]], bench: dict[str, Any]) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    source = f"{TIMM_RESULTS}/{RESULTS}"
    for row in sorted(results.get(tag, ()), key=lambda r: int(r["img_size"])):
        size = int(row["img_size"])
        for key in ("top1", "top5"):
            metrics.append({"name": key, "value": _number(row[key]), "source": source, "dataset": "imagenet-1k", "resolution": size})
    size = int(cfg.input_size[-1])
    gmacs_done = False
    for name, hardware in BENCHMARKS.items():
        row = bench[name].get((cfg.architecture, size))
        if row is None:
            continue
        source = f"{TIMM_RESULTS}/{name}"
        if not gmacs_done and row.get("infer_gmacs"):
            metrics.append({"name": "gmacs", "value": _number(row["infer_gmacs"]), "source": source, "resolution": size})
            gmacs_done = True
        if row.get("infer_samples_per_sec"):
            metrics.append(
                {
                    "name": "samples_per_s",
                    "value": _number(row["infer_samples_per_sec"]),
                    "source": source,
                    "resolution": size,
                    "hardware": f"{hardware}, batch {row['infer_batch_size']}",
                }
            )
    return metrics
