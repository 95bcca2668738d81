"""`zoo verify` against `openssl dgst -sha256` on the same files, in one run.

Two cases, each on 1 GiB of random blobs in a fresh cache (page cache warm):
  one file   1 x 1 GiB: zoo must reach >= 0.9x openssl's throughput;
  four files 4 x 256 MiB: openssl hashes them one after another in one process;
             zoo hashes several at once (hashlib releases the GIL), goal >= 1.6x openssl
             on this 2-core machine.

Usage: python bench/verify_throughput.py [--gib 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from zoo.cache import Cache


def _make_blobs(cache: Cache, count: int, size: int) -> list[Path]:
    cache.blobs.mkdir(parents=True, exist_ok=True)
    paths = []
    for _ in range(count):
        data = os.urandom(size)
        path = cache.blob_path(hashlib.sha256(data).hexdigest())
        path.write_bytes(data)
        paths.append(path)
    return paths


def _openssl(paths: list[Path]) -> float:
    start = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sha256", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _zoo(cache: Cache) -> float:
    start = time.perf_counter()
    report = cache.verify()
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"verify found corrupt blobs in a fresh cache: {report.corrupt}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is not installed: the baseline cannot be measured")
    total = int(args.gib * 1024**3)
    rows = []
    for label, count, goal in [("1 file", 1, 0.9), ("4 files", 4, 1.6)]:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Cache(tmp)
            paths = _make_blobs(cache, count, total // count)
            _openssl(paths)  # warm the page cache
            ssl_s = statistics.median(_openssl(paths) for _ in range(args.runs))
            zoo_s = statistics.median(_zoo(cache) for _ in range(args.runs))
            rows.append((label, total / ssl_s / 1e6, total / zoo_s / 1e6, goal))
    print(f"{args.gib:g} GiB per case, {args.runs} runs each, medians, {os.cpu_count()} CPUs")
    print(f"{'case':<10}{'openssl MB/s':>14}{'zoo MB/s':>10}{'zoo/openssl':>13}  goal")
    for label, ssl_mbs, zoo_mbs, goal in rows:
        ratio = zoo_mbs / ssl_mbs
        print(f"{label:<10}{ssl_mbs:>14.0f}{zoo_mbs:>10.0f}{ratio:>13.2f}  >= {goal} {'met' if ratio >= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
