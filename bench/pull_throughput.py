"""Throughput of `zoo.pull` over loopback against `curl -o` of the same URL, in one run.

A 512 MiB file of random bytes is served by the test suite's threaded server
(tests/servers.py) on 127.0.0.1, over https (a trustme CA; origins must be
https) and over plain http (the path a local mirror takes). For each, curl
downloads it to a file, then zoo pulls it (download + sha256 + atomic rename +
link) into an empty cache; medians of several runs are compared.

Goal (issue 3): zoo >= 0.9x curl's throughput with hashing on.

Usage: python bench/pull_throughput.py [--mib 512] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import FileServer, make_tls  # noqa: E402

from _payload import payload_registry  # noqa: E402

GOAL = 0.9



def _curl(url: str, out: Path, ca: Path | None) -> float:
    cmd = ["curl", "-s", "-f", "-o", str(out), url] + (["--cacert", str(ca)] if ca else [])
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    elapsed = time.perf_counter() - start
    out.unlink()
    return elapsed


def _zoo(registry: Path, home: Path, mirror: str | None) -> float:
    import zoo
    from zoo import registry as reg
    from zoo.cache import Cache

    reg._CATALOGS.clear()
    shutil.rmtree(home / "blobs", ignore_errors=True)
    shutil.rmtree(home / "models", ignore_errors=True)
    start = time.perf_counter()
    zoo.pull("bench-blob", registries=[registry], cache=Cache(home), mirrors=[mirror] if mirror else [], offline=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed: the baseline cannot be measured")

    size = args.mib * 1024 * 1024
    data = os.urandom(size)
    sha = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ctx, ca = make_tls(tmp)
        os.environ["SSL_CERT_FILE"] = str(ca)
        os.environ["ZOO_HOME"] = str(tmp / "home")
        https = FileServer(ssl_context=ctx)
        plain = FileServer()
        https.start()
        plain.start()
        try:
            https.add("/blob.bin", data)
            plain.add("/blob.bin", data)
            plain.add(f"/mirror/sha256/{sha}", data)
            reg_dir = tmp / "reg"
            reg_dir.mkdir()
            registry = payload_registry(reg_dir / "bench.yaml", {"bench-blob": (size, sha)}, url=lambda _: https.url("/blob.bin"))
            home = tmp / "home"
            rows = []
            for label, url, ca_file, mirror in [
                ("https origin", https.url("/blob.bin"), ca, None),
                ("http mirror (loopback)", plain.url("/blob.bin"), None, plain.url("/mirror")),
            ]:
                _curl(url, tmp / "warm.bin", ca_file)  # warm both ends
                curl_s = statistics.median(_curl(url, tmp / "curl.bin", ca_file) for _ in range(args.runs))
                zoo_s = statistics.median(_zoo(registry, home, mirror) for _ in range(args.runs))
                rows.append((label, size / curl_s / 1e6, size / zoo_s / 1e6))
        finally:
            https.stop()
            plain.stop()

    print(f"payload {args.mib} MiB, {args.runs} runs each, medians")
    print(f"{'path':<26}{'curl MB/s':>11}{'zoo MB/s':>10}{'zoo/curl':>10}  goal >= {GOAL}")
    for label, curl_mbs, zoo_mbs in rows:
        ratio = zoo_mbs / curl_mbs
        print(f"{label:<26}{curl_mbs:>11.0f}{zoo_mbs:>10.0f}{ratio:>10.2f}  {'met' if ratio >= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
