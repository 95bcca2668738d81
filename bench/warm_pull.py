"""A `zoo.pull` whose files are all cached: library time, and requests the server sees.

Serves a two-file model over https on 127.0.0.1 (the test suite's server),
pulls it once, then times `zoo.pull` again:
  first call in a new process (the registry index on disk, nothing in memory),
  repeated calls in one process.
Goal (issue 3): < 100 ms, and zero requests seen by the server.

Usage: python bench/warm_pull.py [--runs 20]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import FileServer, make_tls  # noqa: E402

GOAL_MS = 100.0
_CHILD = """
import sys, time
t = time.perf_counter()
import zoo
from zoo import resolve
resolve.pull('warm-model', registries=[sys.argv[1]])
print((time.perf_counter() - t) * 1000)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    files = {"model.bin": os.urandom(8 * 1024 * 1024), "config.json": b'{"a": 1}\n'}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ctx, ca = make_tls(tmp)
        os.environ.update({"SSL_CERT_FILE": str(ca), "ZOO_HOME": str(tmp / "home")})
        server = FileServer(ssl_context=ctx).start()
        try:
            entries = []
            for name, data in files.items():
                server.add(f"/{name}", data)
                entries.append(
                    {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "source": {"url": server.url(f"/{name}")}}
                )
            doc = {
                "schema_version": 1,
                "models": {
                    "warm-model": {
                        "task": "feature-extraction",
                        "modality": "text",
                        "architecture": "benchmark payload",
                        "paper": {"title": "none", "url": "https://example.org/"},
                        "default": "v1",
                        "versions": {"v1": {"adapter": "transformers", "arch": "bert", "license": "none", "files": entries}},
                    }
                },
            }
            registry = tmp / "warm.yaml"
            registry.write_text(yaml.safe_dump(doc))

            import zoo

            zoo.pull("warm-model", registries=[registry])  # cold: downloads
            server.clear_requests()
            fresh = [
                float(subprocess.run([sys.executable, "-c", _CHILD, str(registry)], capture_output=True, text=True, check=True).stdout)
                for _ in range(5)
            ]
            in_process = []
            for _ in range(args.runs):
                start = time.perf_counter()
                zoo.pull("warm-model", registries=[registry])
                in_process.append((time.perf_counter() - start) * 1000)
            requests = len(server.requests)
        finally:
            server.stop()
    first = statistics.median(fresh)
    again = statistics.median(in_process)
    print(f"warm pull, new process (import zoo + pull): median {first:.1f} ms over 5 processes")
    print(f"warm pull, repeated in one process:         median {again:.2f} ms over {args.runs} calls")
    print(f"requests seen by the server during warm pulls: {requests}")
    met = first < GOAL_MS and again < GOAL_MS and requests == 0
    print(f"goal (< {GOAL_MS:.0f} ms, 0 requests): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
