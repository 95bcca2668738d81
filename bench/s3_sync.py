"""`zoo mirror sync s3://...` throughput against a real S3-protocol server (moto_server), and a second sync moving nothing.

A registry of ``--files`` models, one file of random bytes each (``--mib`` in all, default 1 GiB), is
put into a cache (``zoo cache import``), then synced to ``s3://zoo-bench/mirror`` on a local
``moto_server`` process (tests/s3.py). Baseline in the same run: s3fs ``put_file`` of the same files to
another prefix, the upload alone (no listing, no index, no registry snapshot), alternating with zoo.
The second sync of the same models must move zero bytes; its time is what a sync costs when the
mirror is up to date (a listing of ``sha256/``, the index and the snapshot rewritten).

moto keeps objects in memory and is slower than real S3 or MinIO (FINDINGS.md: ~64-100 MB/s
writes), so the MB/s are moto's; the ratio to the raw upload is what zoo adds.

Usage: python bench/s3_sync.py [--quick] [--mib 1024] [--files 8] [--runs 2]
  --quick (CI): 256 MiB in 4 files, 1 run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import s3  # noqa: E402
from _payload import payload_registry  # noqa: E402

MIB = 1024 * 1024



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mib", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    args.mib = args.mib or (256 if args.quick else 1024)
    args.files = args.files or (4 if args.quick else 8)
    args.runs = args.runs or (1 if args.quick else 2)
    if not s3.available():
        raise SystemExit("moto[server] is not installed: pip install 'moto[server]'")
    for key in [k for k in os.environ if k.startswith(("ZOO_", "AWS_"))]:
        del os.environ[key]

    with tempfile.TemporaryDirectory(prefix="zoo-bench-s3-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        server = s3.S3Server(tmp / "moto").start()
        try:
            os.environ.update(server.env())
            os.environ["ZOO_HOME"] = str(tmp / "home")
            size = args.mib * MIB // args.files
            src = tmp / "src"
            src.mkdir()
            files = {}
            for i in range(args.files):
                data = os.urandom(size)
                (src / f"f{i}.bin").write_bytes(data)
                files[f"bench-s3-{i}"] = (size, hashlib.sha256(data).hexdigest())
                del data
            registry = payload_registry(tmp / "reg" / "bench.yaml", files)

            import s3fs

            from zoo import mirror
            from zoo.resolve import import_folder

            import_folder(src, registries=[registry])
            total = size * args.files
            rows = []
            for run in range(1, args.runs + 1):
                bucket = f"zoo-bench-{run}"
                server.make_bucket(bucket)
                fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
                start = time.perf_counter()
                for i in range(args.files):
                    fs.put_file(str(src / f"f{i}.bin"), f"{bucket}/raw/f{i}.bin", chunksize=16 * MIB)
                raw = time.perf_counter() - start
                start = time.perf_counter()
                first = mirror.sync(f"s3://{bucket}/mirror", list(files), registries=[registry], offline=True)
                zoo_s = time.perf_counter() - start
                start = time.perf_counter()
                second = mirror.sync(f"s3://{bucket}/mirror", list(files), registries=[registry], offline=True)
                again = time.perf_counter() - start
                if (first.files, first.bytes, second.files, second.bytes, second.kept) != (args.files, total, 0, 0, args.files):
                    print(f"run {run}: unexpected sync reports: {first} / {second}")
                    return 1
                check = mirror.verify_mirror(f"s3://{bucket}/mirror")
                if not check.ok or check.checked != args.files:
                    print(f"run {run}: the mirror does not verify: {check}")
                    return 1
                rows.append((total / raw / 1e6, total / zoo_s / 1e6, again, second.bytes))
                print(f"run {run}: raw put_file {rows[-1][0]:.0f} MB/s, zoo mirror sync {rows[-1][1]:.0f} MB/s "
                      f"(ratio {rows[-1][1] / rows[-1][0]:.2f}); second sync {again:.2f} s, {second.bytes} bytes moved; "
                      f"verify re-hashed {check.checked} blobs", flush=True)
        finally:
            server.stop()
            shutil.rmtree(tmp / "src", ignore_errors=True)

    raw_med = statistics.median(r[0] for r in rows)
    zoo_med = statistics.median(r[1] for r in rows)
    print(f"\nS3 sync of {args.mib} MiB in {args.files} blobs to moto_server ({args.runs} run(s), medians):")
    print(f"  raw s3fs put_file {raw_med:.0f} MB/s · zoo mirror sync {zoo_med:.0f} MB/s · ratio {zoo_med / raw_med:.2f}")
    print(f"  second sync (mirror up to date): {statistics.median(r[2] for r in rows):.2f} s, "
          f"{max(r[3] for r in rows)} bytes moved (goal: 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
