"""A team mirror served by a real nginx (issue 15): `zoo mirror create` writes the folder, nginx serves it over https.

nginx is Debian's package (``make test`` installs it), started by the fixture on a loopback port with a
generated config and a trustme certificate; its access log says what crossed the wire. The origin is
the Python https test server, stopped wherever a test proves the mirror alone served the pull.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import file_entry, model_entry, run_zoo, sha256, write_registry
from nginx import Nginx, available

from zoo.cache import Cache

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's nginx (apt-get install -y nginx-light; make test installs it)")

MIB = 1 << 20


def _payload(n: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


@pytest.fixture
def team(https_server, tmp_path: Path) -> Iterator[tuple[Path, dict[str, bytes], Path, Nginx]]:  # noqa: ANN001
    """Model 'teamnet' (two files) at an https origin, mirrored with `zoo mirror create`, the mirror served by nginx."""
    weights, config = _payload(6 * MIB + 7, 1), b'{"hidden_size": 8}\n'
    https_server.add("/o/weights.bin", weights)
    https_server.add("/o/config.json", config)
    files = [
        file_entry("weights.bin", weights, {"url": https_server.url("/o/weights.bin")}),
        file_entry("config.json", config, {"url": https_server.url("/o/config.json")}),
    ]
    reg = write_registry(tmp_path / "reg" / "teamnet.yaml", {"teamnet": model_entry(files)})
    mirror = tmp_path / "mirror"
    r = run_zoo("--registry", str(reg), "mirror", "create", str(mirror), "teamnet")
    assert r.returncode == 0, r.stderr
    server = Nginx(mirror, tmp_path / "nginx").start()
    yield reg, {"weights.bin": weights, "config.json": config}, mirror, server
    server.stop()


def _env(server: Nginx, home: Path, reg: Path, **extra: str) -> dict[str, str]:
    # The origin's CA and nginx's CA in one bundle: this process trusts both.
    bundle = home.parent / f"{home.name}-ca.pem"
    bundle.write_text(Path(os.environ["SSL_CERT_FILE"]).read_text() + server.ca.read_text())
    return {"ZOO_HOME": str(home), "ZOO_MIRROR": server.url, "ZOO_REGISTRY": str(reg), "SSL_CERT_FILE": str(bundle), **extra}


def test_a_pull_from_nginx_never_asks_the_origin(team, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data, _, server = team
    https_server.stop()  # only the mirror can serve it now
    r = run_zoo("pull", "teamnet", env=_env(server, tmp_path / "node", reg))
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip())
    assert {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")} == data
    served = [(q.method, q.path, q.status) for q in server.requests()]
    assert sorted(served) == sorted(("GET", f"/sha256/{sha256(d)}", 200) for d in data.values())


def test_nginx_resumes_a_partial_with_one_range_request(team, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data, _, server = team
    home = tmp_path / "node"
    weights = data["weights.bin"]
    digest = sha256(weights)
    partial = Cache(home).partial_path(digest)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(weights[: 2 * MIB])  # an earlier pull cut off after 2 MiB
    r = run_zoo("pull", "teamnet", env=_env(server, home, reg))
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "weights.bin").read_bytes() == weights
    (request,) = [q for q in server.requests() if q.path == f"/sha256/{digest}"]
    assert (request.status, request.range, request.sent) == (206, f"bytes={2 * MIB}-", len(weights) - 2 * MIB)
    assert not partial.exists()


def test_a_blob_missing_from_the_mirror_comes_from_the_origin(team, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data, mirror, server = team
    (mirror / "sha256" / sha256(data["config.json"])).unlink()
    r = run_zoo("pull", "teamnet", "--json", env=_env(server, tmp_path / "node", reg))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "node" / "models" / "teamnet" / "v1" / "config.json").read_bytes() == data["config.json"]
    statuses = {q.path: q.status for q in server.requests()}
    assert statuses[f"/sha256/{sha256(data['config.json'])}"] == 404 and statuses[f"/sha256/{sha256(data['weights.bin'])}"] == 200
    assert '"source": "url"' in r.stdout and '"source": "mirror"' in r.stdout


def test_wrong_bytes_on_the_mirror_are_rejected(team, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data, mirror, server = team
    blob = mirror / "sha256" / sha256(data["weights.bin"])
    blob.write_bytes(data["weights.bin"][:-1] + bytes([data["weights.bin"][-1] ^ 1]))  # same size, one bit flipped
    home = tmp_path / "node"
    r = run_zoo("pull", "teamnet", "--json", env=_env(server, home, reg))
    assert r.returncode == 0, r.stderr  # the origin served the true bytes
    assert (home / "models" / "teamnet" / "v1" / "weights.bin").read_bytes() == data["weights.bin"]
    assert '"event": "fallback"' in r.stdout and "sha256" in r.stdout
    # With the origin gone as well, the pull fails and says which source gave what; nothing bad is cached.
    https_server.stop()
    other = tmp_path / "node2"
    r = run_zoo("pull", "teamnet", env=_env(server, other, reg))
    assert r.returncode in (4, 5), r.stderr
    assert server.url in r.stderr and "sha256" in r.stderr.lower()
    assert not (Cache(other).blob_path(sha256(data["weights.bin"]))).exists()


def test_eight_nodes_pull_three_models_from_one_nginx_then_a_shared_cache_serves_them(https_server, tmp_path: Path) -> None:  # noqa: ANN001
    """8 processes, each its own ZOO_HOME (a node), pull the same 3 models at once: every file crosses the wire
    once per node, all verified. Then 8 more nodes with one node's cache mounted as the shared tier: zero bytes."""
    data = {f"m{i}/w.bin": _payload(3 * MIB + i, 10 + i) for i in range(3)} | {"m0/config.json": b'{"k": 1}\n'}
    for rel, blob in data.items():
        https_server.add(f"/o/{rel}", blob)
    models = {
        f"m{i}": model_entry([file_entry(rel.split("/", 1)[1], blob, {"url": https_server.url(f"/o/{rel}")})
                              for rel, blob in data.items() if rel.startswith(f"m{i}/")])
        for i in range(3)
    }
    reg = write_registry(tmp_path / "reg" / "three.yaml", models)
    mirror = tmp_path / "mirror"
    assert run_zoo("--registry", str(reg), "mirror", "sync", str(mirror), "m0", "m1", "m2").returncode == 0
    server = Nginx(mirror, tmp_path / "nginx").start()
    try:
        https_server.stop()

        def nodes(homes: list[Path], **extra: str) -> None:
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "zoo_cli", "pull", "m0", "m1", "m2"], env={**os.environ, **_env(server, home, reg, **extra)},
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                for home in homes
            ]
            for proc in procs:
                out, err = proc.communicate(timeout=180)
                assert proc.returncode == 0, err
            for home in homes:
                for rel, blob in data.items():
                    model, name = rel.split("/", 1)
                    assert (home / "models" / model / "v1" / name).read_bytes() == blob
                assert run_zoo("verify", env={"ZOO_HOME": str(home), "ZOO_REGISTRY": str(reg)}).returncode == 0

        first = [tmp_path / f"node{i}" for i in range(8)]
        nodes(first)
        counts = Counter((q.path, q.status) for q in server.requests())
        assert counts == Counter({(f"/sha256/{sha256(d)}", 200): 8 for d in data.values()})
        assert sum(q.sent for q in server.requests()) == 8 * sum(map(len, data.values()))  # no byte sent twice to a node

        shared = first[0]
        before = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in shared.rglob("*") if p.is_file())
        served = len(server.requests())
        nodes([tmp_path / f"late{i}" for i in range(8)], ZOO_SHARED_CACHE=str(shared))
        assert len(server.requests()) == served  # zero bytes downloaded: every file came from the shared tier
        after = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in shared.rglob("*") if p.is_file())
        assert after == before  # nothing written to the shared tier, not even a lock
    finally:
        server.stop()
