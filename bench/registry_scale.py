"""`zoo list` / `zoo search` / `zoo info` at registry scale (>= 2,000 versions), against timm's listing.

By default a synthetic registry is built in a temporary folder from the
metadata installed packages and the shared manifests carry (nothing is
downloaded):

* every ``timm.list_pretrained()`` tag (``get_pretrained_cfg``: hub file,
  input size, mean/std, interpolation, crop_pct, license, paper ids), with
  top-1/top-5 from ``../shared/manifests/timm/results-imagenet.csv`` and
  GMACs and samples/s from the CPU benchmark CSV, as ``hub``-tier files;
* every torchvision weight (``get_model_weights``: URL, num_params,
  ``_metrics``, ``_ops``), as ``prefix``-tier files, merged into the model of
  the same architecture when timm has one;
* every ONNX Model Zoo file of ``ONNX_HUB_MANIFEST.json`` (sha256 + size).

It is passed to zoo as an extra registry (``ZOO_REGISTRY``), over the shipped
one. With ``--registry-dir registry/`` the real shipped registry is measured
instead (any other folder is added as an extra registry).

Each command runs as a new process (what a user types); medians over
``--runs``. Measured: the first ``zoo list`` (validates every file and builds
the index), a rebuild after one file changed, then cold ``zoo list``,
``zoo search "resnet50 a1"``, ``zoo info resnet50``, their peak RSS, and the
baseline ``python -c "import timm; timm.list_models('resnet*')"`` in the same
run.

Goal (issue 10): each command's median < 100 ms and >= 30x faster than the
baseline; rebuild < 2 s; RSS < 60 MB.

Usage: python bench/registry_scale.py [--runs N] [--baseline-runs M] [--registry-dir DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO.parent / "shared" / "manifests"
TIMM_COMMIT = "aa4b5850c1543fa488abf260f18390eda46cf85d"
TIMM_RESULTS = f"https://github.com/huggingface/pytorch-image-models/blob/{TIMM_COMMIT}/results"
ONNX_COMMIT = "b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d"

GOAL_MS = 100.0
GOAL_RATIO = 30.0
GOAL_REBUILD_S = 2.0
GOAL_RSS_MB = 60.0


# --------------------------------------------------------------------------
# Building the synthetic registry
# --------------------------------------------------------------------------


def _paper(paper_ids: str | None, fallback: str) -> dict[str, Any]:
    for pid in (paper_ids or "").split(","):
        pid = pid.strip()
        if pid.lower().startswith("arxiv:"):
            return {"title": pid, "url": f"https://arxiv.org/abs/{pid[6:]}"}
    return {"title": fallback, "url": "https://github.com/huggingface/pytorch-image-models"}


def _number(text: str) -> float:
    return float(text.replace(",", ""))  # the CSVs write 1,012.56 for big models


def _csv_rows(name: str) -> list[dict[str, str]]:
    with open(MANIFESTS / "timm" / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _timm_models() -> dict[str, dict[str, Any]]:
    import timm
    from timm.models import get_pretrained_cfg

    results: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _csv_rows("results-imagenet.csv"):
        results[row["model"]].append(row)
    bench: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _csv_rows("benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv"):
        bench[row["model"]].append(row)
    models: dict[str, dict[str, Any]] = {}
    for tag in timm.list_pretrained():
        cfg = get_pretrained_cfg(tag).to_dict()
        if not cfg.get("hf_hub_id"):
            continue  # weights only at a URL without any hash: nothing to pin
        arch, _, version = tag.partition(".")
        c, h, w = cfg["input_size"]
        metrics = []
        params = None
        for row in results.get(tag, []):
            src = f"{TIMM_RESULTS}/results-imagenet.csv"
            res = int(row["img_size"])
            metrics.append({"name": "top1", "value": _number(row["top1"]), "dataset": "imagenet-1k", "resolution": res, "source": src})
            metrics.append({"name": "top5", "value": _number(row["top5"]), "dataset": "imagenet-1k", "resolution": res, "source": src})
            params = params or int(_number(row["param_count"]) * 1e6)
        rows = bench.get(arch, [])
        row = next((r for r in rows if int(r["infer_img_size"]) == h), rows[0] if rows else None)
        if row is not None:
            src = f"{TIMM_RESULTS}/benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv"
            res = int(row["infer_img_size"])
            metrics.append({"name": "gmacs", "value": _number(row["infer_gmacs"]), "resolution": res, "source": src})
            metrics.append(
                {"name": "samples_per_s", "value": _number(row["infer_samples_per_sec"]), "resolution": res,
                 "hardware": "i7-12700H, fp32, torch 2.4 dynamo", "source": src}
            )
            params = params or int(_number(row["param_count"]) * 1e6)
        interpolation = cfg.get("interpolation")
        entry = {
            "adapter": "timm",
            "arch": tag,
            "ids": [tag],
            "license": cfg.get("license") or "unknown",
            "dataset": version.rsplit("_", 1)[-1],
            **({"params": params} if params else {}),
            **({"metrics": metrics} if metrics else {}),
            "input": {
                "shape": [c, h, w],
                "mean": [float(x) for x in cfg["mean"]],
                "std": [float(x) for x in cfg["std"]],
                **({"interpolation": interpolation} if interpolation in ("nearest", "bilinear", "bicubic") else {}),
                **({"crop_pct": float(cfg["crop_pct"])} if 0 < (cfg.get("crop_pct") or 0) <= 1 else {}),
            },
            "files": [{"path": "model.safetensors", "source": {"hf": cfg["hf_hub_id"], "file": "model.safetensors"}}],
        }
        model = models.setdefault(
            arch,
            {
                "task": "image-classification" if cfg.get("num_classes") else "feature-extraction",
                "modality": "vision",
                "architecture": arch,
                "paper": _paper(cfg.get("paper_ids"), arch),
                "tags": ["timm"],
                "default": version,
                "versions": {},
            },
        )
        model["versions"][version] = entry
    return models


def _torchvision_models(models: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Adds torchvision's weights: into ``models`` when timm has the architecture, else as new models."""
    import torchvision.models as tvm

    own: dict[str, dict[str, Any]] = {}
    for arch in tvm.list_models():
        for weights in tvm.get_model_weights(arch):
            meta = weights.meta
            metrics_meta = meta.get("_metrics", {})
            dataset = next(iter(metrics_meta), "")
            if dataset.startswith("ImageNet"):
                task = "image-classification"
            elif dataset == "COCO-val2017" and "box_map" in metrics_meta[dataset]:
                task = "object-detection"
            elif dataset.startswith("COCO-val2017"):
                task = "semantic-segmentation"
            else:
                continue  # video and optical flow: no such task in the schema
            metrics = []
            for key, value in metrics_meta[dataset].items():
                name = {"acc@1": "top1", "acc@5": "top5"}.get(key, key)
                metrics.append({"name": name, "value": float(value), "dataset": dataset.lower(),
                                "source": "https://pytorch.org/vision/0.29/models.html"})
            if meta.get("_ops"):
                metrics.append({"name": "gflops", "value": float(meta["_ops"]), "source": "https://pytorch.org/vision/0.29/models.html"})
            file_name = weights.url.rsplit("/", 1)[-1]
            found = re.search(r"[-_]([0-9a-f]{8,64})\.\w+$", file_name)
            if found is None:
                continue  # no sha256 prefix in the file name: nothing to check
            prefix = found[1]
            entry = {
                "adapter": "torchvision",
                "arch": arch,
                "ids": [f"{type(weights).__name__}.{weights.name}"],
                "license": "bsd-3-clause",
                "params": int(meta["num_params"]),
                "metrics": metrics,
                "input": {"shape": [3, 224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
                "files": [{"path": file_name, "hash": {"sha256_prefix": prefix}, "source": {"url": weights.url}}],
            }
            version = "tv_" + weights.name.lower()
            target = models.get(arch)
            if target is None:
                target = own.setdefault(
                    arch,
                    {
                        "task": task,
                        "modality": "vision",
                        "architecture": arch,
                        "paper": {"title": f"torchvision {arch}", "url": meta.get("recipe") or "https://github.com/pytorch/vision"},
                        "tags": ["torchvision"],
                        "default": version,
                        "versions": {},
                    },
                )
            target["versions"][version] = entry
    return own


def _onnx_zoo_models(taken: set[str]) -> dict[str, dict[str, Any]]:
    manifest = json.loads((MANIFESTS / "onnx-model-zoo" / "ONNX_HUB_MANIFEST.json").read_text())
    models: dict[str, dict[str, Any]] = {}
    for item in manifest:
        path = item["model_path"]
        file_name = path.rsplit("/", 1)[-1]
        stem = file_name.rsplit(".", 1)[0]
        name = stem.lower().replace("_", "-")
        if name in taken or name in models:
            name = f"{name}-onnx"
        meta = item["metadata"]
        tags = [t.lower() for t in meta.get("tags", [])]
        vision = "vision" in tags
        task = (
            "object-detection" if any("detection" in t for t in tags)
            else "semantic-segmentation" if any("segmentation" in t for t in tags)
            else "image-classification" if vision
            else "feature-extraction"
        )
        version: dict[str, Any] = {
            "adapter": "onnx",
            "arch": stem,
            **({"ids": [stem]} if stem.lower() != name else {}),
            "license": "apache-2.0",
            "files": [
                {
                    "path": file_name,
                    "size": meta["model_bytes"],
                    "sha256": meta["model_sha"],
                    "source": {"url": f"https://huggingface.co/onnxmodelzoo/{stem}/resolve/main/{file_name}"},
                }
            ],
        }
        if vision:
            shape = (meta.get("io_ports", {}).get("inputs") or [{}])[0].get("shape", [])
            dims = [d for d in shape[-3:] if isinstance(d, int) and d > 0]
            if len(dims) != 3 or dims[0] not in (1, 3):
                dims = [3, 224, 224]
            mean = [0.485, 0.456, 0.406][: dims[0]]
            std = [0.229, 0.224, 0.225][: dims[0]]
            version["input"] = {"shape": dims, "mean": mean, "std": std}
        models[name] = {
            "task": task,
            "modality": "vision" if vision else "text",
            "architecture": item["model"],
            "paper": {"title": item["model"], "url": f"https://github.com/onnx/models/tree/{ONNX_COMMIT}/{path.rsplit('/model/', 1)[0]}"},
            "tags": sorted({"onnx", *(t.replace(" ", "-") for t in tags if t.replace(" ", "-").replace("-", "").isalnum())}),
            "default": f"opset{item['opset_version']}",
            "versions": {f"opset{item['opset_version']}": version},
        }
    return models


def _shipped() -> tuple[set[str], dict[str, str]]:
    """The shipped registry's aliases, and its publisher ids (lowercased) -> the model holding each."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    aliases: set[str] = set()
    ids: dict[str, str] = {}
    for path in sorted((REPO / "registry").rglob("*.yaml")):
        for name, entry in (yaml.load(path.read_text(), Loader=loader).get("models") or {}).items():  # noqa: S506
            aliases.update(entry.get("aliases", []))
            for version in entry["versions"].values():
                ids.update((i.lower(), name) for i in version.get("ids", ()))
    return aliases, ids


def build_synthetic(folder: Path) -> dict[str, int]:
    """Writes the synthetic registry into ``folder/generated/`` (one file per source, as the generator does); returns counts."""
    import yaml

    folder = folder / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    shipped_aliases, shipped_ids = _shipped()
    timm_models = _timm_models()
    tv_models = _torchvision_models(timm_models)
    onnx_models = _onnx_zoo_models(set(timm_models) | set(tv_models))
    for model in onnx_models.values():
        for version in model["versions"].values():
            version.pop("ids", None)  # the shipped registry names these files its own way
    # This registry is a layer over the shipped one: it replaces the shipped models it names, and may not
    # take a name, alias or publisher id that a shipped model it does not replace still holds.
    taken = shipped_aliases | set(shipped_ids)
    sources = {
        source: {n: m for n, m in sorted(models.items()) if n not in taken}
        for source, models in (("timm", timm_models), ("torchvision", tv_models), ("onnx-zoo", onnx_models))
    }
    replaced = {name for models in sources.values() for name in models}
    counts = {}
    for source, models in sources.items():
        for model in models.values():
            for version in model["versions"].values():
                holders = [shipped_ids.get(i.lower()) for i in version.get("ids", ())]
                kept = [i for i, holder in zip(version.get("ids", ()), holders) if holder is None or holder in replaced]
                if kept:
                    version["ids"] = kept
                else:
                    version.pop("ids", None)
        doc = {"schema_version": 1, "description": f"synthetic registry for bench/registry_scale.py ({source})", "models": models}
        (folder / f"{source}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, width=200))
        counts[source] = sum(len(m["versions"]) for m in models.values())
    return counts


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------


def _run(cmd: list[str], env: dict[str, str], tty: bool = False) -> tuple[float, float]:
    """Runs ``cmd`` once, its stdout to /dev/null or a terminal; returns (wall ms, peak RSS MB of that process)."""
    master = slave = None
    reader = None
    if tty:
        import pty
        import threading

        master, slave = pty.openpty()
        # Drain the terminal, or a full pty buffer would stall the command.
        reader = threading.Thread(target=lambda: _drain(master), daemon=True)
        reader.start()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=slave if tty else subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if slave is not None:
        os.close(slave)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    if reader is not None:
        reader.join(timeout=5)
    return elapsed, usage.ru_maxrss / 1024


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass  # the terminal closed
    finally:
        os.close(fd)


def _median(cmd: list[str], env: dict[str, str], runs: int, tty: bool = False) -> tuple[float, float]:
    results = [_run(cmd, env, tty) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--registry-dir", type=Path, help="Measure this registry folder instead of a synthetic one.")
    parser.add_argument("--keep", type=Path, help="Write the synthetic registry here and keep it.")
    parser.add_argument("--build-only", type=Path, metavar="DIR", help="Only write the synthetic registry into DIR.")
    args = parser.parse_args()
    if args.build_only is not None:
        print(json.dumps(build_synthetic(args.build_only)))
        return

    zoo_exe = Path(sys.executable).with_name("zoo")
    if not zoo_exe.exists():
        raise SystemExit(f"{zoo_exe} not found: install zoo into this interpreter's environment first")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ZOO_HOME": str(Path(tmp) / "home"), "COLUMNS": "160"}
        env.pop("ZOO_REGISTRY", None)
        # An installed zoo runs from bytecode (pip compiles it; timm's is compiled too): let the warm-up runs
        # write it, as they would on any machine without PYTHONDONTWRITEBYTECODE.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if args.registry_dir is not None:
            folder = args.registry_dir.resolve()
            if folder != (REPO / "registry").resolve():
                env["ZOO_REGISTRY"] = str(folder)
            print(f"registry: {folder}")
        else:
            folder = args.keep or Path(tmp) / "registry"
            start = time.perf_counter()
            # In a child process: importing timm here would make this process big, and the zoo processes
            # it forks would start with (and report) its RSS.
            built = subprocess.run(
                [sys.executable, __file__, "--build-only", str(folder)], capture_output=True, text=True, check=True
            )
            counts = json.loads(built.stdout)
            print(f"synthetic registry in {folder}: {counts} versions, written in {time.perf_counter() - start:.1f} s")
            env["ZOO_REGISTRY"] = str(folder)

        first_ms, first_rss = _run([str(zoo_exe), "list"], env)
        listing = subprocess.run([str(zoo_exe), "list", "--all-versions", "--json"], env=env, capture_output=True, check=True)
        doc = json.loads(listing.stdout)
        rows = doc["rows"] if isinstance(doc, dict) else doc
        models = len({r["name"] for r in rows})
        with_metrics = sum(1 for r in rows if r.get("top1") is not None)
        print(f"{len(rows)} versions of {models} models ({with_metrics} with a top-1)")

        # A rebuild after one registry file changed: touch the biggest one.
        target = max((p for p in folder.rglob("*.y*ml")), key=lambda p: p.stat().st_size)
        rebuild = []
        for i in range(3):
            ns = time.time_ns() + (i + 1) * 10**9
            os.utime(target, ns=(ns, ns))
            rebuild.append(_run([str(zoo_exe), "list"], env)[0])
        rebuild_ms = statistics.median(rebuild)

        # (command, stdout is a terminal): piped, a table has every row; on a terminal, a screenful.
        commands = {
            f"zoo list (piped: {models} rows)": ([str(zoo_exe), "list"], False),
            "zoo list (terminal)": ([str(zoo_exe), "list"], True),
            'zoo search "resnet50 a1"': ([str(zoo_exe), "search", "resnet50 a1"], False),
            'zoo search "resnet50 a1" (terminal)': ([str(zoo_exe), "search", "resnet50 a1"], True),
            "zoo info resnet50": ([str(zoo_exe), "info", "resnet50"], False),
            "zoo info resnet50 (terminal)": ([str(zoo_exe), "info", "resnet50"], True),
        }
        baseline_cmd = [sys.executable, "-c", "import timm; timm.list_models('resnet*')"]
        _run(baseline_cmd, env)  # warm the disk cache for both sides
        for cmd, tty in commands.values():
            _median(cmd, env, 2, tty)
        baseline, _ = _median(baseline_cmd, env, args.baseline_runs)
        results = {name: _median(cmd, env, args.runs, tty) for name, (cmd, tty) in commands.items()}

    print(f"first zoo list (validate + index): {first_ms:.0f} ms, {first_rss:.0f} MB")
    ok = rebuild_ms < GOAL_REBUILD_S * 1000
    print(f"index rebuild after a change: median {rebuild_ms:.0f} ms of 3 (goal < {GOAL_REBUILD_S:.0f} s: {'met' if ok else 'NOT met'})")
    print(f"baseline  python -c \"import timm; timm.list_models('resnet*')\": median {baseline:.0f} ms over {args.baseline_runs} runs")
    print(f"{'command':<40}{'median ms':>10}{'x faster':>10}{'RSS MB':>8}  goal (<{GOAL_MS:.0f} ms, >={GOAL_RATIO:.0f}x, <{GOAL_RSS_MB:.0f} MB)")
    all_met = ok
    for name, (ms, rss) in results.items():
        ratio = baseline / ms
        met = ms < GOAL_MS and ratio >= GOAL_RATIO and rss < GOAL_RSS_MB
        all_met &= met
        print(f"{name:<40}{ms:>10.1f}{ratio:>10.1f}{rss:>8.1f}  {'met' if met else 'NOT met'}")
    print(f"runs per zoo command: {args.runs}; overall goal {'met' if all_met else 'NOT met'}")


if __name__ == "__main__":
    main()
