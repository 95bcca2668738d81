"""Peak memory of `zoo.load` on resnet50-sized safetensors weights, against plain timm + safetensors.

Method: a resnet50 (timm, random weights) is saved with safetensors.torch.save_file
(~102 MB) into a temporary folder, described by a one-model extra registry
(`bench-resnet50`: adapter timm, arch resnet50, the stages and input of the shipped
resnet50@a1_in1k, the file's real size and sha256, an https source that is never
fetched) and put into a fresh cache (`ZOO_HOME` is a temporary folder) with
`Cache.add_file` + `Cache.link`, so loading is offline and reads the cached blob.

Every case runs in a fresh Python process that imports torch, timm, safetensors and
zoo and warms up (reads the registry) first. Linux cannot reset the peak-RSS mark, so
the baseline is VmHWM (peak resident set) from /proc/self/status after the warm-up;
the case's peak is VmHWM after the load, and its cost is the difference. VmRSS at the
baseline is printed too: if the warm-up had peaked well above it, the difference would
understate the load's cost. The weights file is in the page cache (just written), so
times are warm-cache times.

Resident pages of a memory-mapped file count in RSS, but only once they are read: a
load that keeps the weights as the mmap costs almost nothing until the weights are
used. So each process then reads every tensor of the returned model's state dict
(a sum per tensor, no copy) and VmHWM is read again ("+read"): a zero-copy load is
then about 1x the file size (the kept weights' pages), one that copied is about 2x.
The goal is judged on both figures.

Cases:
  zoo full     zoo.load("bench-resnet50", until=None, offline=True)
  zoo layer3   zoo.load("bench-resnet50", until="layer3", offline=True)
  baseline     timm.create_model("resnet50"); m.load_state_dict(safetensors.torch.load_file(path))
               (what users do today)

Goal (issue): loading uses safetensors memory-mapping where possible: the full load's
peak RSS is at most 1.2x the file size above the process baseline.

Usage: python bench/load_memory.py [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

GOAL_RATIO = 1.2
MB = 1024 * 1024
NAME = "bench-resnet50"

# Run in a fresh interpreter: argv[1] is a JSON job {case, registry, weights}; prints one JSON line.
CHILD = r"""
import json, sys, time

def status():
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024  # kB -> bytes
    return fields

job = json.loads(sys.argv[1])
import torch, timm, safetensors.torch, zoo, zoo.features, zoo.resolve, zoo.adapters._timm  # noqa: E401
torch.zeros(8, 8) @ torch.zeros(8, 8)  # warm-up: torch's allocator and kernels
info = zoo.info(job["name"], registries=[job["registry"]])  # warm-up: the registry index
base = status()
start = time.perf_counter()
if job["case"] == "baseline":
    model = timm.create_model("resnet50")
    model.load_state_dict(safetensors.torch.load_file(job["weights"]))
else:
    model = zoo.load(job["name"], until=job["until"], registries=[job["registry"]], offline=True)
seconds = time.perf_counter() - start
after = status()
with torch.no_grad():
    for tensor in model.state_dict().values():
        tensor.sum()  # reads every page of every kept weight
read = status()
params = sum(p.numel() for p in model.parameters())
print(json.dumps({"base": base, "after": after, "read": read, "seconds": seconds, "params": params}))
"""

CASES: dict[str, dict[str, Any]] = {
    "zoo full (until=None)": {"case": "zoo", "until": None},
    "zoo until=layer3": {"case": "zoo", "until": "layer3"},
    "baseline timm+load_file": {"case": "baseline"},
}


def _prepare(root: Path) -> tuple[Path, Path, int]:
    """Writes the weights and the registry, fills the cache; returns (registry, weights, size)."""
    import timm
    import torch
    import yaml
    from safetensors.torch import save_file

    import zoo
    from zoo.cache import Cache

    torch.manual_seed(0)
    model = timm.create_model("resnet50", pretrained=False)
    weights = root / "src" / "model.safetensors"
    weights.parent.mkdir(parents=True)
    save_file(model.state_dict(), str(weights))
    del model
    data = weights.read_bytes()
    sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    del data

    shipped = zoo.info("resnet50@a1_in1k")
    entry = {
        "task": "image-classification",
        "modality": "vision",
        "architecture": "ResNet-50 (benchmark copy, random weights)",
        "paper": shipped.paper.to_dict(),
        "default": "v1",
        "versions": {
            "v1": {
                "adapter": "timm",
                "arch": "resnet50",
                "license": "apache-2.0",
                "input": shipped.input.to_dict(),
                "stages": [s.to_dict() for s in shipped.stages],
                "files": [
                    {
                        "path": "model.safetensors",
                        "size": size,
                        "sha256": sha256,
                        # Never fetched: the file is in the cache before any load.
                        "source": {"url": "https://example.org/bench/resnet50/model.safetensors"},
                    }
                ],
            }
        },
    }
    registry = root / "bench.yaml"
    registry.write_text(yaml.safe_dump({"schema_version": 1, "models": {NAME: entry}}, sort_keys=False))

    from zoo._hashing import Expected

    cache = Cache()  # under ZOO_HOME, set by main()
    cache.add_file(weights, Expected(size, sha256))
    cache.link(NAME, "v1", {"model.safetensors": sha256})
    zoo.info(NAME, registries=[registry])  # builds the registry index, so children only read it
    return registry, weights, size


def _run(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(job)], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"case {job} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per case (medians are printed)")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        raise SystemExit("this benchmark reads VmHWM from /proc/self/status: Linux only")

    with tempfile.TemporaryDirectory(prefix="zoo-load-memory-") as tmp:
        root = Path(tmp)
        home = root / "zoo_home"
        os.environ["ZOO_HOME"] = str(home)
        os.environ.pop("ZOO_REGISTRY", None)
        env = {**os.environ, "ZOO_HOME": str(home), "ZOO_OFFLINE": "1"}
        registry, weights, size = _prepare(root)

        results: dict[str, list[dict[str, Any]]] = {label: [] for label in CASES}
        for _ in range(args.runs):  # interleaved, so drift affects every case alike
            for label, case in CASES.items():
                job = {**case, "name": NAME, "registry": str(registry), "weights": str(weights)}
                results[label].append(_run(job, env))

    print(f"weights file: {size / MB:.1f} MB ({size} bytes), resnet50 safetensors; {args.runs} fresh processes per case")
    print(
        f"{'case':<26}{'load dHWM MB':>13}{'x file':>8}{'+read dHWM MB':>14}{'x file':>8}{'load s':>8}"
        f"{'base RSS MB':>12}{'base HWM MB':>12}{'params':>11}"
    )
    ratios: dict[str, tuple[float, float]] = {}
    for label, runs in results.items():
        delta = statistics.median(r["after"]["VmHWM"] - r["base"]["VmHWM"] for r in runs)
        read = statistics.median(r["read"]["VmHWM"] - r["base"]["VmHWM"] for r in runs)
        ratios[label] = (delta / size, read / size)
        print(
            f"{label:<26}{delta / MB:>13.1f}{delta / size:>8.2f}{read / MB:>14.1f}{read / size:>8.2f}"
            f"{statistics.median(r['seconds'] for r in runs):>8.2f}"
            f"{statistics.median(r['base']['VmRSS'] for r in runs) / MB:>12.1f}"
            f"{statistics.median(r['base']['VmHWM'] for r in runs) / MB:>12.1f}{runs[0]['params']:>11}"
        )
    at_load, with_read = ratios["zoo full (until=None)"]
    verdict = "met" if max(at_load, with_read) <= GOAL_RATIO else "NOT met"
    print(
        f"goal: zoo full load peak dRSS <= {GOAL_RATIO}x file size: {at_load:.2f}x at load, "
        f"{with_read:.2f}x with every weight read; {verdict}"
    )


if __name__ == "__main__":
    main()
