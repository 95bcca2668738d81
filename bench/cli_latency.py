"""Cold-process latency of `zoo list`, `zoo search`, `zoo info`, against timm's listing.

Each command runs as a new process (what a user types), with the registry index
already built (it is a cache, built once after any registry edit). The
baseline, `python -c "import timm; timm.list_models('resnet*')"`, is measured
in the same run on the same machine.

Goal (issue 2): each zoo median under 150 ms and at least 20x faster than the baseline.
At registry scale (>= 2,000 versions) see bench/registry_scale.py (issue 10: < 100 ms, >= 30x).

Usage: python bench/cli_latency.py [--runs N] [--baseline-runs M]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MS = 150.0
GOAL_RATIO = 20.0


def _time(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--baseline-runs", type=int, default=5)
    args = parser.parse_args()

    zoo_exe = Path(sys.executable).with_name("zoo")
    if not zoo_exe.exists():
        raise SystemExit(f"{zoo_exe} not found: install zoo into this interpreter's environment first")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ZOO_HOME": home}
        env.pop("ZOO_REGISTRY", None)
        # An installed zoo runs from bytecode (pip compiles it): let the warm-up runs write it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([str(zoo_exe), "list"], env=env, stdout=subprocess.DEVNULL, check=True)  # build the index

        commands = {
            "zoo list": [str(zoo_exe), "list"],
            "zoo search resnet imagenet": [str(zoo_exe), "search", "resnet", "imagenet"],
            "zoo info resnet50": [str(zoo_exe), "info", "resnet50"],
        }
        baseline_cmd = [sys.executable, "-c", "import timm; timm.list_models('resnet*')"]
        _time(baseline_cmd, env, 1)  # warm the disk cache for both sides
        for cmd in commands.values():
            _time(cmd, env, 2)
        baseline = statistics.median(_time(baseline_cmd, env, args.baseline_runs))
        results = {name: statistics.median(_time(cmd, env, args.runs)) for name, cmd in commands.items()}

    print(f"baseline  python -c \"import timm; timm.list_models('resnet*')\": median {baseline:.0f} ms over {args.baseline_runs} runs")
    print(f"{'command':<30}{'median ms':>10}{'x faster':>10}  goal (<{GOAL_MS:.0f} ms, >={GOAL_RATIO:.0f}x)")
    all_met = True
    for name, ms in results.items():
        ratio = baseline / ms
        met = ms < GOAL_MS and ratio >= GOAL_RATIO
        all_met &= met
        print(f"{name:<30}{ms:>10.1f}{ratio:>10.1f}  {'met' if met else 'NOT met'}")
    print(f"runs per zoo command: {args.runs}; overall goal {'met' if all_met else 'NOT met'}")


if __name__ == "__main__":
    main()
