"""Throughput of pulls from a team mirror served by a real nginx (https, loopback) against curl, in one run.

A mirror is a folder of blobs named ``sha256/<hex>``; here Debian's nginx serves it over https with a
trustme certificate (tests/nginx.py). Every zoo figure is divided by a curl figure measured in the same
run, runs alternating curl / zoo, so a busy or slow machine moves both. Each zoo pull downloads,
hashes sha256 on its hasher thread, fsyncs and commits the blob into an empty cache; curl only writes.

1. Single pull: one file of random bytes (``--mib``, default 1 GiB). Baseline
   ``curl -s -f --cacert CA -o OUT URL``; zoo: ``zoo.pull`` of a registry model with that one file
   (size + sha256 pinned; its origin URL is on ``.invalid``, so only the mirror can serve it).
   One untimed pull of a 4 KiB model first (imports, this registry's index), as curl warms up once.
   Goal: zoo >= 0.95x curl reliably, i.e. the MIN ratio over ``--runs`` (default 5) runs >= 0.95.
   Also printed: CPU seconds per GiB of client and nginx (both share the 2 cores here, so a client
   that needs more CPU than curl -- sha256 alone is ~0.6 s/GiB -- cannot keep up), and what a
   ``zoo pull`` process costs around its bytes (start, registry index in a fresh ZOO_HOME).
2. The same pull with ``connections=4`` (parallel Range requests), against the same curl runs.
   Printed as "not available in this build" when ``zoo.pull`` has no ``connections`` parameter.
3. Many machines: 8 "nodes" started at once, each a ``zoo pull A B C`` process (the console script)
   with its own ZOO_HOME, pulling 3 models of one file each (``--node-mib`` in all per node, default
   384 MiB). Aggregate MB/s = 8 x bytes per node / wall time from the first start to the last exit.
   Baseline: 8 concurrent curl processes, each fetching the same 3 URLs in sequence to a folder of
   its own. Goal: median zoo/curl >= 0.9 over ``--node-runs`` (default 3). After each zoo run every
   node's 3 blobs are re-hashed, and nginx's access log must show each blob sent whole exactly 8
   times (once per node); either failing invalidates the figure (exit 1). Each run also times 8
   nodes whose ZOO_HOME was set up before (``zoo list`` built its registry index, untimed): a
   fresh ZOO_HOME first validates and indexes the whole shipped registry (~0.7 s of CPU per
   process), which on 2 cores weighs more than the bytes; a node pays it once, not per pull.
   And against 8 curls that each ``sync -d`` their files: zoo fsyncs every blob before it is
   trusted by name, and this machine's disk takes ~340 MB/s durably (dd conv=fdatasync) against
   the page cache's GB/s, which is where 8 curls' bytes stay.

The served files sit in the page cache (written just before, then read once by a curl). Outputs and
caches are deleted after every run; at most the served files plus one run's outputs are on disk
(about 2 GiB in part 1, 3.4 GiB in part 3 with the defaults). This is a measurement, not a test: it
exits 0 whatever the ratios, and non-zero only when something is broken (a failed pull, a wrong byte).

Usage: python bench/mirror_throughput.py [--quick] [--mib 1024] [--runs 5] [--node-mib 384] [--node-runs 3]
  --quick (for CI): 512 MiB, 3 runs, 192 MiB per node, 2 node runs; explicit options still win.

Time on the 2-core CI machine (measured): about 110 s with the defaults, about 40 s with --quick;
150 s and 60 s while other work loaded the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _payload import payload_registry
from nginx import Nginx, available

MIB = 1024 * 1024
NODES = 8
SINGLE_GOAL = 0.95  # of the MIN ratio
NODES_GOAL = 0.9  # of the median ratio
ZOO_CLI = Path(sys.executable).parent / "zoo"
QUICK = {"mib": 512, "runs": 3, "node_mib": 192, "node_runs": 2}
FULL = {"mib": 1024, "runs": 5, "node_mib": 384, "node_runs": 3}


# ---------------------------------------------------------------- fixtures


def _random_file(path: Path, size: int) -> str:
    """Writes ``size`` random bytes to ``path``; returns their sha256."""
    h = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 16 * MIB))
            fh.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()



def _import_zoo(attempts: int = 5):
    """``import zoo``, retried for a while: the library may be mid-refactor."""
    for i in range(attempts):
        try:
            import zoo
            from zoo.cache import Cache

            return zoo, Cache
        except Exception as exc:
            if i == attempts - 1:
                raise
            print(f"import zoo failed ({exc.__class__.__name__}: {exc}); retrying in 60 s", file=sys.stderr)
            for mod in [m for m in sys.modules if m == "zoo" or m.startswith("zoo.")]:
                del sys.modules[mod]
            time.sleep(60)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- CPU accounting


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process: in-process pulls
    return r.ru_utime + r.ru_stime


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # children waited for: curl and zoo processes (not nginx)
    return r.ru_utime + r.ru_stime


def _nginx_cpu(server: Nginx) -> float:
    """CPU seconds nginx's master and workers have used so far (from /proc)."""
    assert server.process is not None
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if pid == server.process.pid or int(fields[1]) == server.process.pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class _Meter:
    """Wall time, client CPU and nginx CPU of a ``with`` block."""

    def __init__(self, server: Nginx, client: Callable[[], float]):
        self.server, self.client = server, client

    def __enter__(self) -> _Meter:  # noqa: PYI034
        self._cpu, self._ngx, self._t = self.client(), _nginx_cpu(self.server), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t
        self.cpu = self.client() - self._cpu
        self.nginx = _nginx_cpu(self.server) - self._ngx


# ---------------------------------------------------------------- one pull


def _curl(url: str, out: Path, server: Nginx) -> _Meter:
    with _Meter(server, _cpu_children) as m:
        subprocess.run(["curl", "-s", "-f", "--cacert", str(server.ca), "-o", str(out), url], check=True)
    out.unlink(missing_ok=True)
    return m


def _zoo_pull(model: str, registry: Path, server: Nginx, sha: str, connections: int | None) -> _Meter:
    """One in-process ``zoo.pull`` into an empty cache; checks the blob landed; deletes the cache."""
    zoo, Cache = _import_zoo()
    try:
        from zoo.registry import _CATALOGS

        _CATALOGS.clear()  # every run parses the registry, as a first pull does
    except ImportError:
        pass
    extra = {"connections": connections} if connections else {}
    with tempfile.TemporaryDirectory(prefix="zoo-bench-home-", dir="/tmp") as home:
        with _Meter(server, _cpu_self) as m:
            zoo.pull(model, registries=[registry], cache=Cache(home), mirrors=[server.url], offline=False, **extra)
        blob = Cache(home).blob_path(sha)
        if not blob.is_file():
            raise SystemExit(f"zoo.pull returned but {blob} is missing")
    return m


def _hash_rate() -> float:
    """hashlib sha256 alone, MB/s, on 256 MiB in 1 MiB pieces (zoo's block size)."""
    data = memoryview(os.urandom(256 * MIB))
    h = hashlib.sha256()
    start = time.perf_counter()
    for i in range(0, len(data), MIB):
        h.update(data[i : i + MIB])
    return len(data) / (time.perf_counter() - start) / 1e6


def _single(args: argparse.Namespace, tmp: Path, server: Nginx, mirror: Path) -> dict:
    size = args.mib * MIB
    sha = _serve(mirror, size)
    tiny = _serve(mirror, 4096)
    url = f"{server.url}/sha256/{sha}"
    registry = payload_registry(tmp / "reg" / "single.yaml", {"bench-single": (size, sha), "bench-tiny": (4096, tiny)})
    zoo, _ = _import_zoo()
    has_connections = "connections" in inspect.signature(zoo.pull).parameters
    out = tmp / "curl.out"
    _curl(url, out, server)  # page cache and nginx warm
    # Untimed: imports the download stack and writes this registry's index into ZOO_HOME, so run 1 is
    # like the others (what a first pull in a fresh process costs is measured apart, in _process_costs).
    _zoo_pull("bench-tiny", registry, server, tiny, None)
    print(f"\n1-2. single pull of {args.mib} MiB over https from nginx, {args.runs} runs alternating (MB/s)")
    print(f"{'run':>4}{'curl':>9}{'zoo':>9}{'ratio':>8}" + (f"{'zoo x4':>9}{'ratio':>8}{'x4 hash after':>15}{'ratio':>8}" if has_connections else ""))
    rows, after = [], []
    for run in range(1, args.runs + 1):
        c = _curl(url, out, server)
        z = _zoo_pull("bench-single", registry, server, sha, None)
        z4 = _zoo_pull("bench-single", registry, server, sha, 4) if has_connections else None
        za = _hash_after_assembly(registry, server, sha) if has_connections else None
        rows.append((c, z, z4))
        after.append(za)
        line = f"{run:>4}{size / c.wall / 1e6:>9.0f}{size / z.wall / 1e6:>9.0f}{c.wall / z.wall:>8.2f}"
        if z4 is not None and za is not None:
            line += f"{size / z4.wall / 1e6:>9.0f}{c.wall / z4.wall:>8.2f}{size / za.wall / 1e6:>15.0f}{c.wall / za.wall:>8.2f}"
        print(line, flush=True)
    if has_connections:
        ranged = [q for q in server.requests() if q.path == f"/sha256/{sha}" and q.status == 206]
        print(f"     (nginx answered {len(ranged)} Range requests for connections=4 over {args.runs} pulls)")
    gib = size / 1024**3
    print("     CPU seconds per GiB, medians (2 cores = 2 CPU s per wall s):")
    for label, i in (("curl", 0), ("zoo", 1), ("zoo x4", 2)):
        if rows[0][i] is None:
            continue
        wall = statistics.median(r[i].wall for r in rows) / gib
        cpu = statistics.median(r[i].cpu for r in rows) / gib
        ngx = statistics.median(r[i].nginx for r in rows) / gib
        print(f"     {label:<7} wall {wall:.2f}  client {cpu:.2f}  nginx {ngx:.2f}  sum {cpu + ngx:.2f} ({(cpu + ngx) / wall / 2:.0%} of both cores)")
    rate = _hash_rate()
    print(f"     hashlib sha256 alone: {rate:.0f} MB/s = {1024**3 / rate / 1e6:.2f} CPU s per GiB, which zoo adds to curl's work")
    (mirror / "sha256" / sha).unlink()
    costs = _process_costs(tmp, server, registry, tiny)
    return {"rows": rows, "after": after, "has_connections": has_connections, "costs": costs, "hash": rate}


def _hash_after_assembly(registry: Path, server: Nginx, sha: str) -> _Meter:
    """connections=4 with the segments hashed after the whole file is assembled, instead of in order as they arrive."""
    from zoo.fetch import _ranges

    _ranges.HASH_IN_ORDER = False
    try:
        return _zoo_pull("bench-single", registry, server, sha, 4)
    finally:
        _ranges.HASH_IN_ORDER = True


def _serve(mirror: Path, size: int) -> str:
    """Puts ``size`` random bytes on the mirror as ``sha256/<hex>``; returns the hex."""
    staged = mirror / "sha256" / "pending"
    sha = _random_file(staged, size)
    staged.rename(mirror / "sha256" / sha)
    return sha


def _median_run(cmd: list[str], env: dict[str, str] | None = None, fresh: Path | None = None, runs: int = 3) -> float:
    """Median wall seconds of a process; ``fresh``: a folder emptied before each run."""
    times = []
    for _ in range(runs):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        start = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}")
    return statistics.median(times)


def _process_costs(tmp: Path, server: Nginx, registry: Path, tiny: str) -> dict[str, float]:
    """What a `zoo pull` process costs before and after its bytes: each node of part 3 pays it."""
    home = tmp / "costs-home"
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env = {**base, **server.env(), "ZOO_HOME": str(home), "ZOO_MIRROR": server.url, "ZOO_REGISTRY": str(registry)}
    pull = [str(ZOO_CLI), "pull", "bench-tiny"]
    costs = {
        "curl of a 4 KiB blob": _median_run(["curl", "-s", "-f", "--cacert", str(server.ca), "-o", "/dev/null", f"{server.url}/sha256/{tiny}"]),
        "zoo --version": _median_run([str(ZOO_CLI), "--version"], env),
        "zoo pull 4 KiB, fresh ZOO_HOME (registry index built)": _median_run(pull, env, fresh=home),
        "zoo pull 4 KiB, already cached (index read)": _median_run(pull, env),
    }
    shutil.rmtree(home, ignore_errors=True)
    print("     per-process costs, median of 3 (a node's first pull pays the fresh-home figure):")
    for label, seconds in costs.items():
        print(f"     {label:<56}{seconds * 1000:>6.0f} ms")
    return costs


# ---------------------------------------------------------------- 8 nodes


def _split(total: int) -> list[int]:
    """Three file sizes summing to ``total`` (1/2, 1/3, 1/6: a weights file, a smaller one, a small one)."""
    a, b = total // 2, total // 3
    return [a, b, total - a - b]


def _wait_all(procs: list[subprocess.Popen], what: str) -> None:
    for i, proc in enumerate(procs):
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"{what} on node {i} exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")


def _nodes_curl(urls: list[str], work: Path, server: Nginx, durable: bool = False) -> _Meter:
    """8 curls at once; ``durable``: each then flushes its files to disk (``sync -d``), as zoo fsyncs a blob before trusting it."""
    dirs = [work / f"curl{i}{'d' if durable else ''}" for i in range(NODES)]
    for d in dirs:
        d.mkdir()
    cmds = []
    for d in dirs:
        cmd = ["curl", "-s", "-f", "--cacert", str(server.ca)]
        for j, url in enumerate(urls):
            cmd += [url, "-o", str(d / f"f{j}")]
        if durable:
            files = " ".join(f"'{d / f'f{j}'}'" for j in range(len(urls)))
            cmd = ["sh", "-c", " ".join(f"'{a}'" for a in cmd) + f" && sync -d {files}"]
        cmds.append(cmd)
    with _Meter(server, _cpu_children) as m:  # from the first start to the last exit
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for cmd in cmds]
        _wait_all(procs, "curl")
    for d in dirs:
        shutil.rmtree(d)
    return m


def _nodes_zoo(models: list[str], registry: Path, work: Path, server: Nginx, warm: bool = False) -> tuple[list[Path], _Meter]:
    """8 node pulls at once; ``warm``: each node's ZOO_HOME was set up before (``zoo list`` built its registry index)."""
    homes = [work / f"node{i}{'w' if warm else ''}" for i in range(NODES)]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    envs = [{**base, **server.env(), "ZOO_HOME": str(h), "ZOO_MIRROR": server.url, "ZOO_REGISTRY": str(registry)} for h in homes]
    if warm:
        for env in envs:  # untimed: what a node does once, when zoo is installed
            subprocess.run([str(ZOO_CLI), "list"], env=env, check=True, stdout=subprocess.DEVNULL)
    cmd = [str(ZOO_CLI), "pull", *models]
    with _Meter(server, _cpu_children) as m:  # from the first start to the last exit
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for env in envs]
        _wait_all(procs, "zoo pull")
    return homes, m


def _check_nodes(homes: list[Path], files: dict[str, tuple[int, str]], server: Nginx, log_from: int) -> list[str]:
    """What is wrong with a zoo run: a blob missing or with other bytes, a blob not sent exactly once per node."""
    _, Cache = _import_zoo()
    problems = []
    for home in homes:
        for name, (_, sha) in files.items():
            blob = Cache(home).blob_path(sha)
            if not blob.is_file():
                problems.append(f"{home.name}: {name} missing ({blob})")
            elif (got := _sha256(blob)) != sha:
                problems.append(f"{home.name}: {name} has sha256 {got}, not {sha}")
    served = server.requests()[log_from:]
    counts = Counter((q.path, q.status) for q in served)
    want = Counter({(f"/sha256/{sha}", 200): NODES for _, sha in files.values()})
    if counts != want:
        problems.append(f"nginx served {dict(counts)}, expected each blob 200 x {NODES}")
    sent, expected = sum(q.sent for q in served), NODES * sum(size for size, _ in files.values())
    if sent != expected:
        problems.append(f"nginx sent {sent} bytes, expected {expected}")
    return problems


def _many(args: argparse.Namespace, tmp: Path, server: Nginx, mirror: Path) -> dict:
    sizes = _split(args.node_mib * MIB)
    files = {}
    for i, size in enumerate(sizes):
        files[f"bench-node-{i}"] = (size, _serve(mirror, size))
    registry = payload_registry(tmp / "reg" / "nodes.yaml", files)
    urls = [f"{server.url}/sha256/{sha}" for _, sha in files.values()]
    total = NODES * sum(sizes)
    subprocess.run(["curl", "-s", "-f", "--cacert", str(server.ca)] + [a for u in urls for a in (u, "-o", "/dev/null")], check=True)
    print(f"\n3. {NODES} nodes at once, each pulling 3 models ({' + '.join(f'{s / MIB:.0f}' for s in sizes)} MiB),"
          f" {args.node_runs} runs alternating (aggregate MB/s = {NODES} x {sum(sizes) / MIB:.0f} MiB / wall)")
    print("     zoo: fresh ZOO_HOMEs (each builds its registry index first); zoo warm: homes set up before (zoo list)")
    print(f"{'run':>4}{'curl':>9}{'zoo':>9}{'ratio':>8}{'warm':>7}{'ratio':>7}   CPU s curl+nginx / zoo+nginx / warm   checks")
    rows, warm_rows, durable_rows, problems = [], [], [], []
    for run in range(1, args.node_runs + 1):
        with tempfile.TemporaryDirectory(prefix="zoo-bench-nodes-", dir="/tmp") as work_name:
            work = Path(work_name)
            cm = _nodes_curl(urls, work, server)
            dm = _nodes_curl(urls, work, server, durable=True)
            log_from = len(server.requests())
            homes, zm = _nodes_zoo(list(files), registry, work, server)
            found = _check_nodes(homes, files, server, log_from)
            for home in homes:
                shutil.rmtree(home)
            log_from = len(server.requests())
            homes, wm = _nodes_zoo(list(files), registry, work, server, warm=True)
            found += _check_nodes(homes, files, server, log_from)
            c, z, w = total / cm.wall / 1e6, total / zm.wall / 1e6, total / wm.wall / 1e6
        rows.append((c, z))
        warm_rows.append((c, w))
        durable_rows.append((total / dm.wall / 1e6, w))
        problems += [f"run {run}: {p}" for p in found]
        verdict = f"{NODES}x3 blobs sha256 ok, each sent {NODES}x" if not found else "FAILED: " + "; ".join(found)
        cpu = f"{cm.cpu:.1f}+{cm.nginx:.1f} / {zm.cpu:.1f}+{zm.nginx:.1f} / {wm.cpu:.1f}+{wm.nginx:.1f}"
        print(f"{run:>4}{c:>9.0f}{z:>9.0f}{z / c:>8.2f}{w:>7.0f}{w / c:>7.2f}   {cpu:<36}  {verdict}", flush=True)
    for sha in (s for _, s in files.values()):
        (mirror / "sha256" / sha).unlink()
    return {"rows": rows, "warm_rows": warm_rows, "durable_rows": durable_rows, "problems": problems, "sizes": sizes}


# ---------------------------------------------------------------- report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI sizes: 512 MiB, 3 runs, 192 MiB per node, 2 node runs")
    parser.add_argument("--mib", type=int, help="single-pull file size (default 1024; --quick 512)")
    parser.add_argument("--runs", type=int, help="single-pull runs (default 5; --quick 3)")
    parser.add_argument("--node-mib", type=int, help="MiB each node pulls, in 3 files (default 384; --quick 192)")
    parser.add_argument("--node-runs", type=int, help="8-node runs (default 3; --quick 2)")
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed: the baseline cannot be measured")
    if not available():
        raise SystemExit("nginx is not installed (apt-get install -y nginx-light)")
    if not ZOO_CLI.exists():
        raise SystemExit(f"no zoo console script at {ZOO_CLI}: pip install -e . in this environment")
    for key in [k for k in os.environ if k.startswith("ZOO_")]:
        del os.environ[key]  # a user's mirror, shared cache or registry would change what is measured

    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        mirror = tmp / "mirror"
        (mirror / "sha256").mkdir(parents=True)
        server = Nginx(mirror, tmp / "nginx").start()
        os.environ.update(server.env())
        os.environ["ZOO_HOME"] = str(tmp / "home")  # nothing should land there; pulls get caches of their own
        try:
            single = _single(args, tmp, server, mirror)
            many = _many(args, tmp, server, mirror)
        finally:
            server.stop()
    took = time.perf_counter() - began

    def verdict(value: float, goal: float) -> str:
        return "met" if value >= goal else f"NOT met ({value:.2f})"

    size = args.mib * MIB
    rows = [(size / c.wall / 1e6, size / z.wall / 1e6, size / z4.wall / 1e6 if z4 else None) for c, z, z4 in single["rows"]]
    ratios = [z / c for c, z, _ in rows]
    print(f"\nsummary ({'--quick' if args.quick else 'defaults'}; nginx over https on loopback; MB/s = 1e6 bytes/s; medians)")
    print(f"{'benchmark':<44}{'curl':>7}{'zoo':>7}{'median':>8}{'min':>7}  goal")
    curl_med = statistics.median(c for c, _, _ in rows)
    print(f"{f'single pull {args.mib} MiB, {args.runs} runs':<44}{curl_med:>7.0f}{statistics.median(z for _, z, _ in rows):>7.0f}"
          f"{statistics.median(ratios):>8.2f}{min(ratios):>7.2f}  min >= {SINGLE_GOAL}: {verdict(min(ratios), SINGLE_GOAL)}")
    label = "single pull, connections=4"
    if single["has_connections"]:
        r4 = [z4 / c for c, _, z4 in rows]
        print(f"{label:<44}{'(same)':>7}{statistics.median(z4 for _, _, z4 in rows):>7.0f}{statistics.median(r4):>8.2f}{min(r4):>7.2f}"
              f"  min >= {SINGLE_GOAL}: {verdict(min(r4), SINGLE_GOAL)}")
        ra = [c.wall / za.wall for (c, _, _), za in zip(single["rows"], single["after"])]
        label = "connections=4, hashed after assembly"
        print(f"{label:<44}{'(same)':>7}{statistics.median(size / za.wall / 1e6 for za in single['after']):>7.0f}"
              f"{statistics.median(ra):>8.2f}{min(ra):>7.2f}  (against hashing in order as segments arrive: the row above)")
    else:
        print(f"{label:<44}  not available in this build (zoo.pull has no 'connections' parameter)")
    node_rows = many["rows"]
    nr = [z / c for c, z in node_rows]
    label = f"{NODES} nodes x {args.node_mib} MiB (3 files), {args.node_runs} runs"
    valid = "" if not many["problems"] else "  INVALID: a check failed (see above)"
    print(f"{label:<44}{statistics.median(c for c, _ in node_rows):>7.0f}{statistics.median(z for _, z in node_rows):>7.0f}"
          f"{statistics.median(nr):>8.2f}{min(nr):>7.2f}  median >= {NODES_GOAL}: {verdict(statistics.median(nr), NODES_GOAL)}{valid}")
    warm = many["warm_rows"]
    wr = [w / c for c, w in warm]
    label = f"{NODES} nodes, homes set up before (index built)"
    print(f"{label:<44}{statistics.median(c for c, _ in warm):>7.0f}{statistics.median(w for _, w in warm):>7.0f}"
          f"{statistics.median(wr):>8.2f}{min(wr):>7.2f}  median >= {NODES_GOAL}: {verdict(statistics.median(wr), NODES_GOAL)}{valid}")
    durable = many["durable_rows"]
    dr = [w / d for d, w in durable]
    label = "  the same against curls + sync -d (durable)"
    print(f"{label:<44}{statistics.median(d for d, _ in durable):>7.0f}{statistics.median(w for _, w in durable):>7.0f}"
          f"{statistics.median(dr):>8.2f}{min(dr):>7.2f}  (zoo fsyncs each blob before trusting it by name; curl leaves it to the page cache)")
    print(f"bench took {took:.0f} s; load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
          f" on {os.cpu_count()} CPUs (other work on the machine lowers both sides, and the ratios less so)")
    return 1 if many["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
